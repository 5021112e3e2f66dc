"""Labels: barrier outcomes, forward returns, causal barrier widths, and uniqueness weights."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from foxml_dagster.labels import LabelsConfig, TripleBarrierConfig, average_uniqueness, make_labels


def bars_from_closes(closes, symbol="AAA"):
    start = datetime(2021, 1, 1, tzinfo=UTC)
    closes = np.asarray(closes, dtype=float)
    return pl.DataFrame(
        {
            "symbol": [symbol] * len(closes),
            "ts": [start + timedelta(days=i) for i in range(len(closes))],
            "open": closes,
            "high": closes * 1.001,
            "low": closes * 0.999,
            "close": closes,
            "volume": np.ones(len(closes)),
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


def test_forward_return_label_is_the_sign_of_the_log_return_h_bars_ahead(make_bars):
    bars = make_bars(symbols=("AAA",), n=50)
    labels = make_labels(bars, LabelsConfig(forward_return_horizons=[3])).filter(pl.col("target") == "fwd_ret_3")
    close = bars["close"].to_numpy()
    expected = np.log(close[3:] / close[:-3])
    assert labels.height == 47  # the last 3 bars have no known outcome yet
    np.testing.assert_allclose(labels["ret"].to_numpy(), expected)
    assert (labels["label"].to_numpy() == np.sign(expected)).all()
    assert (labels["t1"] == bars["ts"][3:]).all()


def test_triple_barrier_hits_the_upper_barrier_first_on_a_jump():
    closes = [100 + 0.1 * ((-1) ** i) for i in range(30)] + [130] + [130] * 15
    cfg = LabelsConfig(
        triple_barrier=TripleBarrierConfig(horizon=10, vol_window=10, profit_taking=1, stop_loss=1),
        forward_return_horizons=[],
    )
    labels = make_labels(bars_from_closes(closes), cfg)
    before_jump = labels.filter(pl.col("ts").dt.day() == 27).row(0, named=True)  # index 26: jump 4 bars ahead
    assert before_jump["barrier"] == 1 and before_jump["label"] == 1
    assert before_jump["t1"].day == 31


def test_labels_never_cross_from_one_symbol_into_the_next(make_bars):
    bars = make_bars(symbols=("AAA", "BBB"), n=60)
    labels = make_labels(bars, LabelsConfig(forward_return_horizons=[5]))
    alone = make_labels(bars.filter(pl.col("symbol") == "AAA"), LabelsConfig(forward_return_horizons=[5]))
    together = labels.filter(pl.col("symbol") == "AAA")
    assert together.drop("weight").equals(alone.drop("weight"))
    last_bar = bars.group_by("symbol").agg(pl.col("ts").max().alias("last"))
    assert labels.join(last_bar, on="symbol").filter(pl.col("t1") > pl.col("last")).is_empty()


def test_barrier_width_uses_only_past_volatility(make_bars):
    # Changing bars after t must not change the barrier width at t: perturb the future, compare
    # labels whose outcome ended before the perturbation.
    bars = make_bars(symbols=("AAA",), n=120)
    cut = bars["ts"][80]
    shocked = bars.with_columns(
        pl.when(pl.col("ts") > cut).then(pl.col("close") * 3).otherwise(pl.col("close")).alias("close")
    )
    cfg = LabelsConfig(forward_return_horizons=[])
    a = make_labels(bars, cfg).filter(pl.col("t1") <= cut).drop("weight")
    b = make_labels(shocked, cfg).filter(pl.col("t1") <= cut).drop("weight")
    assert a.equals(b)


def test_average_uniqueness_matches_a_brute_force_count():
    rng = np.random.default_rng(0)
    n = 40
    starts = np.arange(0, n - 6)
    ends = starts + rng.integers(1, 6, len(starts))
    weights = average_uniqueness(starts, ends, n)
    concurrency = np.zeros(n)
    for s, e in zip(starts, ends, strict=True):
        concurrency[s + 1 : e + 1] += 1
    brute = np.array([np.mean(1 / concurrency[s + 1 : e + 1]) for s, e in zip(starts, ends, strict=True)])
    np.testing.assert_allclose(weights, brute / brute.mean())
    assert weights.mean() == pytest.approx(1.0)


def test_non_overlapping_labels_all_get_equal_weight():
    starts = np.array([0, 3, 6])
    assert average_uniqueness(starts, starts + 3, 10).tolist() == [1.0, 1.0, 1.0]
