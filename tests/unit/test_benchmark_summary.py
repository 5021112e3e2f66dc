"""The benchmark beside every backtest, the relative statistics, and the caveats that go with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import empyrical
import numpy as np
import pandas as pd
import polars as pl
import pytest

from foxml_dagster.backtest import (
    BacktestConfig,
    BenchmarkConfig,
    flags,
    hold_equity,
    infer_periods_per_year,
    run_backtest,
    summarize_backtest,
)
from foxml_dagster.backtest.benchmark import align_to

UTC_US = pl.Datetime("us", "UTC")
DAY0 = datetime(2024, 1, 1, tzinfo=UTC)


def prices(closes: dict[str, list[float | None]]) -> pl.DataFrame:
    """symbol, ts, close; None: no bar of that symbol that day."""
    rows = [(sym, DAY0 + timedelta(days=i), c) for sym, cs in closes.items() for i, c in enumerate(cs) if c is not None]
    return pl.DataFrame(rows, schema=["symbol", "ts", "close"], orient="row").with_columns(pl.col("ts").cast(UTC_US))


def test_equal_weight_buy_and_hold_lets_weights_drift():
    equity = hold_equity(prices({"A": [100, 110, 121], "B": [100, 90, 90]}))["equity"].to_list()
    # Half in each; A's half grows 21 %, B's loses 10 %: no rebalancing back to 50/50.
    assert equity == pytest.approx([1.0, 0.5 * 1.1 + 0.5 * 0.9, 0.5 * 1.21 + 0.5 * 0.9])


def test_a_symbol_listed_later_joins_with_an_equal_share():
    equity = hold_equity(prices({"A": [100, 120, 120, 132], "B": [None, 50, 60, 60]}))["equity"].to_list()
    # Day 1: A alone is worth 1.2; B joins with half of it, A keeps the other half.
    assert equity == pytest.approx([1.0, 1.2, 0.6 + 0.6 * 1.2, 0.6 * 1.1 + 0.6 * 1.2])


def test_a_symbol_whose_bars_end_is_sold_and_its_value_spread_over_the_rest():
    equity = hold_equity(prices({"A": [100, 100, 110], "B": [100, 120, None]}))["equity"].to_list()
    # Day 1: B is sold at its last close (0.6), the book (1.1) is all in A for day 2 (+10 %).
    assert equity == pytest.approx([1.0, 1.1, 1.1 * 1.1])


def test_a_missing_bar_holds_the_last_price():
    equity = hold_equity(prices({"A": [100, None, 110], "B": [100, 100, 100]}))["equity"].to_list()
    assert equity == pytest.approx([1.0, 1.0, 1.05])


def test_the_benchmark_row_earns_the_same_interval_as_the_strategy_row():
    equity = pl.DataFrame({"ts": [DAY0 + timedelta(days=i) for i in range(4)], "equity": [1.0, 1.1, 1.21, 1.0]})
    equity = equity.with_columns(pl.col("ts").cast(UTC_US))
    rows = align_to(equity, equity["ts"].gather([0, 2, 3]))
    # Rows at days 0, 2, 3: day 0 earns 0 -> 2 (+21 %), day 2 earns 2 -> 3, the last row nothing.
    assert rows["benchmark_return"].to_list() == pytest.approx([0.21, 1.0 / 1.21 - 1, 0.0])
    assert rows["benchmark_equity"].to_list() == pytest.approx([1.21, 1.0, 1.0])


def test_the_backtest_carries_the_universe_benchmark_and_the_book_exposure():
    bars = prices({"A": [100, 110, 121, 121], "B": [100, 90, 90, 99], "C": [50, 50, 55, 55]})
    # Long A, short B on days 0-1; C is never traded but is part of the universe benchmark.
    signals = pl.DataFrame(
        {"symbol": ["A", "B", "A", "B"], "ts": [DAY0, DAY0, DAY0 + timedelta(1), DAY0 + timedelta(1)]}
    ).with_columns(pl.col("ts").cast(UTC_US), pl.Series("target_weight", [0.5, -0.25, 0.5, -0.25]))
    series = run_backtest(signals, bars, BacktestConfig(cost_bps=0))
    expected = hold_equity(bars)["equity"].to_numpy()
    assert series["benchmark_return"].to_list()[:2] == pytest.approx(list(expected[1:3] / expected[:2] - 1))
    assert series["net_exposure"].to_list() == pytest.approx([0.25, 0.25, 0.0])
    assert series["long_exposure"].to_list() == pytest.approx([0.5, 0.5, 0.0])
    assert series["short_exposure"].to_list() == pytest.approx([-0.25, -0.25, 0.0])
    one = run_backtest(signals, bars, BacktestConfig(benchmark=BenchmarkConfig(kind="symbol", symbol="C")))
    assert one["benchmark_return"].to_list() == pytest.approx([0.0, 0.1, 0.0])
    with pytest.raises(ValueError, match="SPY.*data.symbols"):
        run_backtest(signals, bars, BacktestConfig(benchmark=BenchmarkConfig(kind="symbol", symbol="SPY")))


def random_series(n: int = 750, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    bench = rng.normal(0.0004, 0.011, n)
    net = 0.0002 + 0.6 * bench + rng.normal(0, 0.006, n)
    stamps = pl.Series([DAY0 + timedelta(days=i) for i in range(n)]).cast(UTC_US)
    return pl.DataFrame(
        {
            "ts": stamps,
            "gross_return": net,
            "cost": np.zeros(n),
            "net_return": net,
            "turnover": np.full(n, 0.1),
            "gross_exposure": np.full(n, 0.8),
            "net_exposure": np.where(np.arange(n) % 4 == 0, -0.2, 0.6),
            "n_positions": np.full(n, 3),
            "equity": np.cumprod(1 + net),
            "benchmark_return": bench,
            "benchmark_equity": np.cumprod(1 + bench),
        }
    )


def test_statistics_agree_with_empyrical_on_the_same_series():
    series = random_series()
    s = summarize_backtest(series, BacktestConfig(periods_per_year=252))
    idx = pd.date_range("2024-01-01", periods=series.height, freq="D")
    r = pd.Series(series["net_return"].to_numpy(), index=idx)
    b = pd.Series(series["benchmark_return"].to_numpy(), index=idx)
    assert s["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=252), rel=1e-9)
    assert s["sortino"] == pytest.approx(empyrical.sortino_ratio(r, annualization=252), rel=1e-9)
    assert s["max_drawdown"] == pytest.approx(empyrical.max_drawdown(r), rel=1e-9)
    assert s["cagr"] == pytest.approx(empyrical.annual_return(r, annualization=252), rel=1e-9)
    assert s["ann_vol"] == pytest.approx(empyrical.annual_volatility(r, annualization=252), rel=1e-9)
    alpha, beta = empyrical.alpha_beta(r, b, annualization=252)
    assert s["alpha"] == pytest.approx(alpha, rel=1e-9) and s["beta"] == pytest.approx(beta, rel=1e-9)
    assert s["benchmark_sharpe"] == pytest.approx(empyrical.sharpe_ratio(b, annualization=252), rel=1e-9)


def test_relative_statistics_by_hand():
    series = random_series(seed=3)
    s = summarize_backtest(series, BacktestConfig(periods_per_year=252))
    r, b = series["net_return"].to_numpy(), series["benchmark_return"].to_numpy()
    active = r - b
    assert s["tracking_error"] == pytest.approx(active.std(ddof=1) * np.sqrt(252))
    assert s["information_ratio"] == pytest.approx(active.mean() / active.std(ddof=1) * np.sqrt(252))
    assert s["excess_return"] == pytest.approx(np.prod(1 + r) - np.prod(1 + b))
    assert s["correlation"] == pytest.approx(np.corrcoef(r, b)[0, 1])
    book = series["net_exposure"].to_numpy()
    assert s["share_net_long"] == pytest.approx(np.mean(book > 0)) and s["share_net_short"] == pytest.approx(
        0.25, abs=0.01
    )
    # alpha's t statistic from an OLS fit done independently with numpy's least squares.
    design = np.column_stack([np.ones_like(b), b])
    coef, res, *_ = np.linalg.lstsq(design, r, rcond=None)
    s2 = res[0] / (len(r) - 2)
    se = np.sqrt(s2 * np.linalg.inv(design.T @ design)[0, 0])
    assert s["alpha_tstat"] == pytest.approx(coef[0] / se, rel=1e-9)


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        # Five years of weekday bars: what was observed, about 261 a year.
        (pl.datetime_range(datetime(2015, 1, 1), datetime(2019, 12, 31), "1d", eager=True), 365),
        (
            pl.date_range(datetime(2015, 1, 1), datetime(2019, 12, 31), "1d", eager=True)
            .filter(pl.date_range(datetime(2015, 1, 1), datetime(2019, 12, 31), "1d", eager=True).dt.weekday() < 6)
            .cast(pl.Datetime("us")),
            261,
        ),
    ],
)
def test_periods_per_year_over_years_are_what_was_observed(stamps, expected):
    assert infer_periods_per_year(stamps) == pytest.approx(expected, abs=1)


def test_periods_per_year_of_a_short_intraday_sample():
    # Two weekdays of 5-minute bars over the 6.5-hour session: 78 a day, 252 days a year.
    day = [datetime(2024, 3, 4, 14, 30) + timedelta(minutes=5 * i) for i in range(78)]
    stamps = pl.Series(day + [t + timedelta(days=1) for t in day]).cast(pl.Datetime("us", "UTC"))
    assert infer_periods_per_year(stamps) == 78 * 252
    # Around the clock, every day (crypto): 24 hourly bars on 365.25 days.
    hours = pl.Series([datetime(2024, 3, 2) + timedelta(hours=i) for i in range(24 * 10)]).cast(UTC_US)
    assert infer_periods_per_year(hours) == round(24 * 365.25)


def test_a_short_backtest_is_flagged_and_a_long_one_is_not():
    short = summarize_backtest(random_series(n=60), BacktestConfig(periods_per_year=252))
    assert any(c.startswith("short sample: 60 periods") for c in flags(short))
    tiny = summarize_backtest(random_series(n=3), BacktestConfig(periods_per_year=252))
    assert flags(tiny)[0].startswith("too short: 3 periods")
    long = summarize_backtest(random_series(n=600), BacktestConfig(periods_per_year=252))
    assert not [c for c in flags(long) if "short" in c]


def test_weak_and_market_riding_books_are_flagged():
    s = summarize_backtest(random_series(), BacktestConfig(periods_per_year=252))
    s.update(dsr=0.4, n_trials=57, pbo=0.7)
    caveats = " | ".join(flags(s))
    assert "not significant: deflated Sharpe 0.40 after 57 trials" in caveats
    assert "likely overfit: PBO 0.70" in caveats
    assert "tracks the benchmark: correlation" in caveats
    s.update(dsr=0.99, pbo=0.1, correlation=0.1, share_net_long=0.95)
    assert flags(s) == ["directional: net long in 95% of periods"]
