"""Signals with pre-trade risk checks, and the backtest: hand examples and no look-ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from foxml_dagster.backtest import (
    SERIES_COLUMNS,
    BacktestConfig,
    run_backtest,
    summarize_backtest,
    tearsheet_markdown,
)
from foxml_dagster.signals import SIGNALS_SCHEMA, RiskLimits, SignalConfig, signals_from_predictions

UTC_US = pl.Datetime("us", "UTC")
DAY0 = datetime(2024, 1, 1, tzinfo=UTC)


def day(i: int) -> datetime:
    return DAY0 + timedelta(days=i)


def predictions(rows: list[tuple[str, int, float]], family: str = "ensemble") -> pl.DataFrame:
    """(symbol, day index, y_score) -> predictions-contract frame for target 't'."""
    return pl.DataFrame(
        {
            "model_id": f"{family}:t",
            "family": family,
            "target": "t",
            "fold": pl.Series([0] * len(rows), dtype=pl.Int32),
            "symbol": [r[0] for r in rows],
            "ts": [day(r[1]) for r in rows],
            "y_true": pl.Series([1] * len(rows), dtype=pl.Int8),
            "y_score": [r[2] for r in rows],
        },
        schema_overrides={"ts": UTC_US},
    )


def bars(closes: dict[str, list[float]], start: int = 0) -> pl.DataFrame:
    parts = []
    for sym, cs in closes.items():
        parts.append(
            pl.DataFrame({"symbol": sym, "ts": [day(start + i) for i in range(len(cs))], "close": cs}).with_columns(
                open=pl.col("close"), high=pl.col("close"), low=pl.col("close"), volume=pl.lit(1.0)
            )
        )
    return pl.concat(parts).with_columns(pl.col("ts").cast(UTC_US)).sort("symbol", "ts")


def signals(rows: list[tuple[str, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": [r[0] for r in rows], "ts": [day(r[1]) for r in rows], "target_weight": [r[2] for r in rows]},
        schema_overrides={"ts": UTC_US},
    )


# --------------------------------------------------------------------------- signals


def test_each_row_gets_the_reason_code_of_the_check_that_set_its_weight() -> None:
    preds = predictions(
        [
            # day 0: gross 0.16 + 0.25 + 0.25 = 0.66 <= 1, no scaling
            ("A", 0, 0.51),  # |edge| 0.01 < 0.02 -> dead zone
            ("B", 0, 0.52),  # edge 0.02, raw 0.16 -> pass
            ("C", 0, 0.60),  # raw 0.8 -> clipped to 0.25
            ("D", 0, 0.45),  # raw -0.4 -> clipped to -0.25
            ("E", 0, 0.50),  # no edge -> dead zone
            # day 1: five symbols clipped to 0.25 each -> gross 1.25 -> scaled by 0.8
            *[(s, 1, 0.9) for s in "ABCD"],
            ("E", 1, 0.1),
            # day 2: dead zone rows stay dead zone even when the gross limit binds
            *[(s, 2, 0.8) for s in "ABCDE"][:4],
            ("E", 2, 0.505),
        ]
    )
    out = signals_from_predictions(preds, target="t", limits=RiskLimits(), gain=4.0)
    assert dict(out.schema) == SIGNALS_SCHEMA
    got = {(r["symbol"], r["ts"].day - 1): r for r in out.iter_rows(named=True)}

    def check(sym: str, d: int, action: str, weight: float, raw: float) -> None:
        row = got[(sym, d)]
        assert row["risk_action"] == action, (sym, d)
        assert row["target_weight"] == pytest.approx(weight), (sym, d)
        assert row["raw_weight"] == pytest.approx(raw), (sym, d)

    check("A", 0, "dead_zone", 0.0, 0.08)
    check("B", 0, "pass", 0.16, 0.16)
    check("C", 0, "clipped_symbol_limit", 0.25, 0.8)
    check("D", 0, "clipped_symbol_limit", -0.25, -0.4)
    check("E", 0, "dead_zone", 0.0, 0.0)
    for s in "ABCD":
        check(s, 1, "scaled_gross_limit", 0.2, 1.0)
    check("E", 1, "scaled_gross_limit", -0.2, -1.0)
    for s in "ABCD":
        check(s, 2, "clipped_symbol_limit", 0.25, 1.0)  # gross exactly 1.0: not above the limit
    check("E", 2, "dead_zone", 0.0, 0.04)
    assert set(out.get_column("source")) == {"ensemble"} and set(out.get_column("target")) == {"t"}
    assert out.equals(out.sort("symbol", "ts"))


def test_a_tighter_gross_limit_scales_and_relabels_clipped_rows() -> None:
    preds = predictions([("A", 0, 0.9), ("B", 0, 0.52)])
    out = signals_from_predictions(preds, target="t", limits=RiskLimits(max_gross=0.2), gain=4.0)
    scale = 0.2 / (0.25 + 0.16)
    assert out.get_column("target_weight").to_list() == pytest.approx([0.25 * scale, 0.16 * scale])
    assert out.get_column("risk_action").to_list() == ["scaled_gross_limit", "scaled_gross_limit"]


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(st.floats(0, 1), min_size=1, max_size=30),
    max_symbol=st.floats(0.05, 1.0),
    max_gross=st.floats(0.1, 3.0),
    dead_zone=st.floats(0.0, 0.2),
    gain=st.floats(0.5, 10.0),
)
def test_risk_limits_always_hold(scores, max_symbol, max_gross, dead_zone, gain) -> None:
    rows = [(f"S{i % 7}", i // 7, s) for i, s in enumerate(scores)]
    limits = RiskLimits(max_symbol_weight=max_symbol, max_gross=max_gross, dead_zone=dead_zone)
    out = signals_from_predictions(predictions(rows), target="t", limits=limits, gain=gain)
    w = out.get_column("target_weight")
    assert (w.abs() <= max_symbol + 1e-12).all()
    gross = out.group_by("ts").agg(pl.col("target_weight").abs().sum()).get_column("target_weight")
    assert (gross <= max_gross * (1 + 1e-12)).all()
    assert (out.filter(pl.col("risk_action") == "dead_zone").get_column("target_weight") == 0).all()
    passed = out.filter(pl.col("risk_action") == "pass")
    assert (passed.get_column("target_weight") == passed.get_column("raw_weight")).all()
    assert set(out.get_column("risk_action")) <= {"pass", "clipped_symbol_limit", "scaled_gross_limit", "dead_zone"}


@pytest.mark.parametrize(
    "kwargs",
    [{"max_symbol_weight": 0}, {"max_symbol_weight": 1.5}, {"max_gross": -1}, {"dead_zone": 0.5}, {"other": 1}],
)
def test_invalid_risk_limits_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        RiskLimits(**kwargs)


def test_non_positive_gain_is_rejected() -> None:
    with pytest.raises(ValidationError):
        SignalConfig(gain=0)
    with pytest.raises(ValidationError):
        signals_from_predictions(predictions([("A", 0, 0.7)]), target="t", gain=-1)


def test_several_families_need_an_explicit_choice() -> None:
    both = pl.concat([predictions([("A", 0, 0.7)], "lightgbm"), predictions([("A", 0, 0.3)], "logistic")])
    with pytest.raises(ValueError, match="family="):
        signals_from_predictions(both, target="t")
    out = signals_from_predictions(both, target="t", family="logistic")
    assert out.get_column("source").to_list() == ["logistic"]
    assert out.get_column("target_weight").item() < 0
    with pytest.raises(ValueError, match="no predictions"):
        signals_from_predictions(both, target="other")


# --------------------------------------------------------------------------- backtest


def test_two_symbol_hand_example() -> None:
    px = bars({"A": [100, 100, 110, 99, 99], "B": [50, 50, 50, 55, 44]}, start=-1)
    sig = signals([("A", 0, 0.5), ("A", 1, 0.5), ("B", 0, -0.5), ("B", 1, 0.25), ("B", 2, 0.25)])
    out = run_backtest(sig, px, BacktestConfig(cost_bps=10))
    assert out.columns == SERIES_COLUMNS
    # Starts at the first signal (day 0), ends one bar after the last signal (day 3) to close out.
    assert out.get_column("ts").to_list() == [day(0), day(1), day(2), day(3)]
    # day 0: A +0.5 * 10%, B -0.5 * 0%;   trade 0.5 + 0.5
    # day 1: A +0.5 * -10%, B 0.25 * 10%; trade 0 + 0.75
    # day 2: A flat (no signal),  B 0.25 * -20%; trade 0.5 + 0
    # day 3: both flat; B closes its 0.25
    gross = [0.05, -0.025, -0.05, 0.0]
    turnover = [1.0, 0.75, 0.5, 0.25]
    cost = [t * 0.001 for t in turnover]
    net = [g - c for g, c in zip(gross, cost, strict=True)]
    assert out.get_column("gross_return").to_list() == pytest.approx(gross)
    assert out.get_column("turnover").to_list() == pytest.approx(turnover)
    assert out.get_column("cost").to_list() == pytest.approx(cost)
    assert out.get_column("net_return").to_list() == pytest.approx(net)
    assert out.get_column("gross_exposure").to_list() == pytest.approx([1.0, 0.75, 0.25, 0.0])
    assert out.get_column("n_positions").to_list() == [2, 2, 1, 0]
    assert out.get_column("equity").to_list() == pytest.approx(np.cumprod(1 + np.array(net)).tolist())


def _zigzag(n: int = 40) -> tuple[pl.DataFrame, np.ndarray]:
    """Closes whose bar returns alternate +1 %, -1 %, ..."""
    rets = np.array([0.01 if i % 2 == 0 else -0.01 for i in range(n - 1)])
    closes = 100 * np.concatenate([[1.0], np.cumprod(1 + rets)])
    return bars({"Z": closes.tolist()}), rets


def test_a_signal_earns_only_the_return_after_its_bar() -> None:
    """Off-by-one guard in both directions on a zigzag price.

    Same-bar "foresight" (the sign of the return that ended at t, known at t's close) must lose
    exactly 1 % a bar, since the next return is always the opposite; a backtest that credited
    the same-bar return would show +1 %. The legitimate forward oracle (sign of the t -> t+1
    return) must earn exactly +1 %; a backtest lagging one bar too many would show -1 %.
    """
    px, rets = _zigzag()
    n = len(rets)
    same_bar = signals([("Z", t, float(np.sign(rets[t - 1]))) for t in range(1, n)])
    forward = signals([("Z", t, float(np.sign(rets[t]))) for t in range(1, n)])
    free = BacktestConfig(cost_bps=0)

    lagging = run_backtest(same_bar, px, free).filter(pl.col("ts") < day(n))
    assert lagging.get_column("gross_return").to_list() == pytest.approx([-0.01] * (n - 1))
    oracle = run_backtest(forward, px, free).filter(pl.col("ts") < day(n))
    assert oracle.get_column("gross_return").to_list() == pytest.approx([0.01] * (n - 1))


def test_rows_up_to_t_do_not_depend_on_prices_after_t_plus_one() -> None:
    px, rets = _zigzag()
    sig = signals([("Z", t, 0.3 if t % 3 else -0.6) for t in range(len(rets))])
    base = run_backtest(sig, px)
    k = 20
    shocked = px.with_columns(
        pl.when(pl.col("ts") > day(k + 1)).then(pl.col("close") * 3).otherwise(pl.col("close")).alias("close")
    )
    moved = run_backtest(sig, shocked)
    upto = pl.col("ts") <= day(k)
    assert moved.filter(upto).equals(base.filter(upto))
    assert not moved.equals(base)


def test_costs_are_charged_only_when_the_weight_changes() -> None:
    px = bars({"A": [100.0] * 6})
    held = signals([("A", t, 0.4) for t in range(5)])
    out = run_backtest(held, px, BacktestConfig(cost_bps=20))
    # Enter 0.4 on day 0, hold, exit on day 5 (the first bar without a signal).
    assert out.get_column("turnover").to_list() == pytest.approx([0.4, 0, 0, 0, 0, 0.4])
    assert out.get_column("cost").to_list() == pytest.approx([0.4 * 0.002, 0, 0, 0, 0, 0.4 * 0.002])
    assert out.get_column("equity")[-1] == pytest.approx((1 - 0.0008) ** 2)


def test_a_signal_without_a_bar_is_an_error() -> None:
    px = bars({"A": [100.0, 101.0]})
    with pytest.raises(ValueError, match="no bar"):
        run_backtest(signals([("A", 5, 0.1)]), px)
    with pytest.raises(ValueError, match="no bar"):
        run_backtest(signals([("B", 0, 0.1)]), px)


def test_signals_flow_into_the_backtest() -> None:
    preds = predictions([("A", 0, 0.9), ("B", 0, 0.1), ("A", 1, 0.5), ("B", 1, 0.3)])
    sig = signals_from_predictions(preds, target="t")
    out = run_backtest(sig, bars({"A": [10.0, 11.0, 11.0], "B": [20.0, 18.0, 18.0]}), BacktestConfig(cost_bps=0))
    # day 0: A +0.25 * 10%, B -0.25 * -10% = 0.05; day 1: A flat (dead zone), B -0.25 * 0%
    assert out.get_column("gross_return").to_list() == pytest.approx([0.05, 0.0, 0.0])


def test_summary_statistics_by_hand() -> None:
    series = pl.DataFrame(
        {
            "ts": [day(i) for i in range(4)],
            "gross_return": [0.1, -0.2, 0.05, 0.0],
            "cost": [0.0] * 4,
            "net_return": [0.1, -0.2, 0.05, 0.0],
            "turnover": [1.0, 0.0, 0.5, 0.5],
            "gross_exposure": [1.0, 1.0, 0.5, 0.0],
            "n_positions": [1, 1, 1, 0],
        }
    ).with_columns((1 + pl.col("net_return")).cum_prod().alias("equity"))
    s = summarize_backtest(series, BacktestConfig(periods_per_year=4))
    final = 1.1 * 0.8 * 1.05
    r = np.array([0.1, -0.2, 0.05, 0.0])
    assert s["total_return"] == pytest.approx(final - 1)
    assert s["cagr"] == pytest.approx(final - 1)  # exactly one year of 4 periods
    assert s["ann_vol"] == pytest.approx(r.std(ddof=1) * 2)
    assert s["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * 2)
    assert s["sortino"] == pytest.approx(r.mean() / np.sqrt(np.mean(np.minimum(r, 0) ** 2)) * 2)
    assert s["max_drawdown"] == pytest.approx(-0.2)
    assert s["hit_rate"] == pytest.approx(2 / 3)  # 3 exposed periods, 2 winners
    assert s["avg_turnover"] == pytest.approx(0.5)
    assert (s["n_periods"], s["start"], s["end"]) == (4, day(0), day(3))


def test_max_drawdown_counts_a_loss_from_the_start() -> None:
    series = pl.DataFrame(
        {
            "ts": [day(0), day(1)],
            "net_return": [-0.1, 0.05],
            "gross_exposure": [1.0, 1.0],
            "turnover": [1.0, 0.0],
            "cost": [0.0, 0.0],
        }
    )
    s = summarize_backtest(series.with_columns((1 + pl.col("net_return")).cum_prod().alias("equity")))
    assert s["max_drawdown"] == pytest.approx(-0.1)


def test_tearsheet_has_headline_and_monthly_tables() -> None:
    px = bars({"A": [100 * 1.001**i for i in range(70)]})
    sig = signals([("A", t, 0.5) for t in range(69)])
    series = run_backtest(sig, px)
    md = tearsheet_markdown(summarize_backtest(series), series)
    assert md.startswith("# Backtest")
    assert "| Sharpe |" in md and "| max drawdown |" in md
    assert "| 2024 |" in md and "Mar" in md
    jan = (1 + series.filter(pl.col("ts").dt.month() == 1)["net_return"]).product() - 1
    assert f"{100 * jan:.2f}%" in md


def test_the_batched_backtest_gives_each_strategy_the_series_run_backtest_gives_it() -> None:
    from foxml_dagster.backtest import hold_equity, run_backtests

    rng = np.random.default_rng(3)
    start = datetime(2022, 1, 3, tzinfo=UTC)
    bars = pl.concat(
        pl.DataFrame(
            {
                "symbol": s,
                "ts": [start + timedelta(days=i) for i in range(first, 90)],
                "close": 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 90 - first))),
            }
        )
        for s, first in (("A", 0), ("B", 5), ("C", 20))  # symbols listed at different times
    ).cast({"ts": pl.Datetime("us", "UTC")})
    strategies = {}
    for name, symbols, lo, hi in (("s1", "AB", 10, 60), ("s2", "ABC", 25, 89), ("s3", "C", 30, 40)):
        rows = bars.filter(
            pl.col("symbol").is_in(list(symbols))
            & pl.col("ts").is_between(start + timedelta(days=lo), start + timedelta(days=hi))
        )
        strategies[name] = rows.select("symbol", "ts", pl.Series("target_weight", rng.uniform(-0.5, 0.5, rows.height)))
    # A benchmark that starts after some strategies do (its level is unknown before).
    benchmark = hold_equity(bars.filter(pl.col("ts") >= start + timedelta(days=15)))
    config = BacktestConfig(cost_bps=7.0)
    batched = run_backtests(
        pl.concat(w.with_columns(pl.lit(n).alias("strategy")) for n, w in strategies.items()),
        bars,
        config,
        benchmark_equity=benchmark,
    )
    for name, weights in strategies.items():
        alone = run_backtest(weights, bars, config, benchmark_equity=benchmark)
        mine = batched.filter(pl.col("strategy") == name).drop("strategy")
        assert mine["ts"].equals(alone["ts"]), name
        for column in alone.columns[1:]:
            np.testing.assert_allclose(
                mine[column].to_numpy(), alone[column].to_numpy(), rtol=0, atol=1e-15, err_msg=f"{name} {column}"
            )
    with pytest.raises(ValueError, match="duplicate"):
        run_backtests(pl.concat([strategies["s1"], strategies["s1"]]).with_columns(pl.lit("x").alias("strategy")), bars)
