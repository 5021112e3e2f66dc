"""Labels: barrier outcomes, forward returns, causal barrier widths, and uniqueness weights."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from foxml_dagster import native
from foxml_dagster.labels import (
    LabelsConfig,
    TripleBarrierConfig,
    average_uniqueness,
    make_labels,
    return_attribution,
    time_decay,
)


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
    labels = make_labels(bars, LabelsConfig(forward_returns={"horizons": [3]})).filter(pl.col("target") == "fwd_ret_3")
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
        forward_returns={"horizons": []},
    )
    labels = make_labels(bars_from_closes(closes), cfg)
    before_jump = labels.filter(pl.col("ts").dt.day() == 27).row(0, named=True)  # index 26: jump 4 bars ahead
    assert before_jump["barrier"] == 1 and before_jump["label"] == 1
    assert before_jump["t1"].day == 31


def test_labels_never_cross_from_one_symbol_into_the_next(make_bars):
    bars = make_bars(symbols=("AAA", "BBB"), n=60)
    labels = make_labels(bars, LabelsConfig(forward_returns={"horizons": [5]}))
    alone = make_labels(bars.filter(pl.col("symbol") == "AAA"), LabelsConfig(forward_returns={"horizons": [5]}))
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
    cfg = LabelsConfig(forward_returns={"horizons": []})
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


NO_FWD = {"horizons": []}


def test_meta_labels_are_one_when_the_sides_trade_made_money(make_bars):
    bars = make_bars(symbols=("AAA",), n=200)
    cfg = LabelsConfig(triple_barrier={"side": "momentum"}, forward_returns=NO_FWD)
    labels = make_labels(bars, cfg)
    assert labels["target"].unique().to_list() == ["meta_h10"]
    assert set(labels["label"].unique()) <= {0, 1}
    assert ((labels["label"] == 1) == (labels["ret"] > 0)).all()
    # A short side turns the price's fall into the trade's profit.
    short = -np.ones(200)
    flipped = make_labels(bars, cfg, side=short)
    plain = make_labels(bars, LabelsConfig(triple_barrier={"side": "none"}, forward_returns=NO_FWD))
    joined = plain.join(flipped, on=["symbol", "ts"], suffix="_s")
    np.testing.assert_allclose(joined["ret_s"], -joined["ret"])


def test_profit_taking_and_stop_loss_widths_are_separate():
    closes = [100.0] * 25 + [103.0, 96.0] + [100.0] * 15
    bars = bars_from_closes(np.array(closes) * np.exp(0.001 * np.sin(np.arange(len(closes)))))
    tight_profit = make_labels(
        bars,
        LabelsConfig(triple_barrier={"profit_taking": 0.5, "stop_loss": 50, "vol_window": 5}, forward_returns=NO_FWD),
    )
    tight_stop = make_labels(
        bars,
        LabelsConfig(triple_barrier={"profit_taking": 50, "stop_loss": 0.5, "vol_window": 5}, forward_returns=NO_FWD),
    )
    at = pl.col("ts") == bars["ts"][24]
    assert tight_profit.filter(at)["barrier"][0] == 1
    assert tight_stop.filter(at)["barrier"][0] == -1


def test_intrabar_tie_goes_to_the_stop_loss():
    close = np.array([100.0, 100.0, 100.0])
    high = np.array([100.0, 110.0, 100.0])
    low = np.array([100.0, 90.0, 100.0])
    t = native.trade_barrier(close, 0.05, 0.05, vertical=[2, 3, 4], high=high, low=low)
    assert (t.touch_index[0], t.barrier[0], t.ret[0]) == (1, -1, -0.05)
    short = native.trade_barrier(close, 0.05, 0.05, vertical=[2, 3, 4], high=high, low=low, side=[-1, -1, -1])
    assert (short.barrier[0], short.ret[0]) == (-1, -0.05)


def test_high_low_touches_fire_no_later_than_close_touches(make_bars):
    bars = make_bars(symbols=("AAA", "BBB"), n=300)
    by_close = make_labels(bars, LabelsConfig(forward_returns=NO_FWD))
    by_range = make_labels(bars, LabelsConfig(triple_barrier={"touch": "high_low"}, forward_returns=NO_FWD))
    joined = by_close.join(by_range, on=["symbol", "ts"], suffix="_r")
    assert (joined["t1_r"] <= joined["t1"]).all()
    assert (joined["t1_r"] < joined["t1"]).any()


def test_vertical_barrier_in_time_ends_at_the_last_bar_inside_the_window(make_bars):
    bars = make_bars(symbols=("AAA",), n=100)
    cfg = LabelsConfig(
        triple_barrier={"horizon_time": timedelta(days=7), "profit_taking": 100, "stop_loss": 100},
        forward_returns=NO_FWD,
    )
    labels = make_labels(bars, cfg)
    assert labels["target"][0] == "tb_t168h"
    assert ((labels["t1"] - labels["ts"]) == timedelta(days=7)).all()
    assert labels["ts"].max() == bars["ts"][-8]  # later bars: the week is not over yet


def test_forward_returns_simple_excess_and_quantile_classes(make_bars):
    bars = make_bars(symbols=("AAA", "BBB", "CCC"), n=60)
    base = make_labels(bars, LabelsConfig(forward_returns={"horizons": [2, 4]}))
    assert {"fwd_ret_2", "fwd_ret_4", "tb_h10"} == set(base["target"])
    simple = make_labels(bars, LabelsConfig(forward_returns={"horizons": [2], "kind": "simple"}))
    log_ret = base.filter(pl.col("target") == "fwd_ret_2")["ret"].to_numpy()
    np.testing.assert_allclose(simple.filter(pl.col("target") == "fwd_simple_2")["ret"], np.expm1(log_ret))
    xs = make_labels(bars, LabelsConfig(forward_returns={"horizons": [2], "excess": "universe"}))
    xs = xs.filter(pl.col("target") == "fwd_ret_xs_2")
    assert xs.group_by("ts").agg(pl.col("ret").sum().abs())["ret"].max() < 1e-12
    xb = make_labels(
        bars, LabelsConfig(forward_returns={"horizons": [2], "excess": "benchmark", "benchmark": "AAA"})
    ).filter(pl.col("target") == "fwd_ret_xb_2")
    assert (xb.filter(pl.col("symbol") == "AAA")["ret"] == 0).all()
    q = make_labels(bars, LabelsConfig(forward_returns={"horizons": [2], "classes": "quantile", "n_quantiles": 3}))
    q = q.filter(pl.col("target") == "fwd_ret_q3_2")
    per_ts = q.group_by("ts").agg(pl.col("label").sort())
    assert all(v == [-1, 0, 1] for v in per_ts["label"].to_list())
    with pytest.raises(ValueError, match="benchmark"):
        make_labels(bars, LabelsConfig(forward_returns={"excess": "benchmark", "benchmark": "ZZZ"}))


def test_cusum_events_sample_fewer_labels_and_only_at_events(make_bars):
    bars = make_bars(symbols=("AAA", "BBB"), n=300)
    every = make_labels(bars, LabelsConfig(forward_returns=NO_FWD))
    sampled = make_labels(bars, LabelsConfig(events={"method": "cusum", "threshold": 2.0}, forward_returns=NO_FWD))
    assert 0 < sampled.height < every.height / 2
    assert sampled.join(every, on=["symbol", "ts"], how="anti").is_empty()


def test_cusum_filter_fires_on_cumulated_moves_and_never_across_symbols():
    values = np.r_[np.cumsum(np.full(7, 0.4)), np.cumsum(np.full(7, -0.4))]
    events = native.cusum_filter(values, 1.0, offsets=[0, 7, 14])
    assert events.index.tolist() == [3, 6, 10, 13]
    assert events.direction.tolist() == [1, 1, -1, -1]


def test_return_attribution_weights_big_unshared_moves_most():
    returns = np.array([np.nan, 0.001, 0.001, 0.05, 0.001, 0.001])
    starts, ends = np.array([0, 2]), np.array([2, 4])
    weights = return_attribution(starts, ends, returns)
    assert weights[1] > weights[0]
    assert weights.mean() == pytest.approx(1.0)


def test_time_decay_is_linear_in_cumulative_uniqueness():
    u = np.ones(5)
    order = np.arange(5)
    np.testing.assert_allclose(time_decay(u, order, 1.0), np.ones(5))
    half = time_decay(u, order, 0.5)
    assert half[-1] == pytest.approx(1.0) and np.all(np.diff(half) > 0)
    np.testing.assert_allclose(half, 0.5 + 0.5 * np.arange(1, 6) / 5)
    zeroed = time_decay(u, order, -0.4)  # the oldest 40% get nothing
    assert (zeroed[:2] < 1e-12).all() and zeroed[-1] == pytest.approx(1.0)


def test_fused_volatility_barrier_equals_the_two_step_version(make_bars):
    close = make_bars(symbols=("AAA",), n=2000)["close"].to_numpy()
    fused, vol = native.triple_barrier_vol(close, horizon=20, vol_window=20, profit_mult=2.0, stop_mult=2.0)
    log_ret = np.r_[np.nan, np.log(close[1:] / close[:-1])]
    expected_vol = np.full(len(close), np.nan)
    expected_vol[20:] = np.lib.stride_tricks.sliding_window_view(log_ret[1:], 20).std(axis=1, ddof=1)
    np.testing.assert_allclose(vol, expected_vol, rtol=1e-9)
    plain = native.triple_barrier(close, 2 * expected_vol, 2 * expected_vol, horizon=20)
    np.testing.assert_array_equal(fused.touch_index, plain.touch_index)
    np.testing.assert_array_equal(fused.barrier, plain.barrier)


def test_a_time_horizon_scales_the_barriers_by_the_bars_it_spans(make_bars):
    # Weekday bars: 14 days always hold 10 bars, so a 14-day vertical barrier is a 10-bar one, and
    # its widths must scale by sqrt(10) whatever `horizon` (left at 3 here) says.
    bars = make_bars(symbols=("AAA", "BBB"), n=700)
    bars = bars.filter(pl.col("ts").dt.weekday() <= 5)
    by_time = make_labels(
        bars, LabelsConfig(triple_barrier={"horizon": 3, "horizon_time": timedelta(days=14)}, forward_returns=NO_FWD)
    )
    by_bars = make_labels(bars, LabelsConfig(triple_barrier={"horizon": 10}, forward_returns=NO_FWD))
    joined = by_time.join(by_bars, on=["symbol", "ts"], suffix="_bars")
    assert joined.height > 0.9 * by_time.height
    assert joined["t1"].equals(joined["t1_bars"], check_names=False)
    assert joined["label"].equals(joined["label_bars"], check_names=False)
    # Rows without a full 14 days of history before them get no label (the scale is unknown).
    first = bars.group_by("symbol").agg(pl.col("ts").min().alias("first"))
    early = by_time.join(first, on="symbol").filter(pl.col("ts") < pl.col("first") + timedelta(days=14))
    assert early.is_empty()
