"""The Rust kernels behind foxml_dagster.native, checked against plain-Python references.

The references below are deliberately naive loops, written from the definitions in the facade's
docstrings, not from the Rust code.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from foxml_dagster import _native, native

NAN = math.nan
INF = math.inf


# ---------------------------------------------------------------------------------------------
# References: one series at a time, gaps (non-finite values) handled explicitly.
# ---------------------------------------------------------------------------------------------


def ref_recursive(values, n, alpha):
    """SMA-seeded recursion ``s = alpha * x + (1 - alpha) * s`` restarting after a gap."""
    out = [NAN] * len(values)
    run, seed_sum, s = 0, 0.0, NAN
    for i, x in enumerate(values):
        if not math.isfinite(x):
            run, seed_sum = 0, 0.0
            continue
        run += 1
        if run <= n:
            seed_sum += x
            if run == n:
                s = seed_sum / n
                out[i] = s
        else:
            s = alpha * x + (1 - alpha) * s
            out[i] = s
    return out


def ref_ema(values, n):
    return ref_recursive(values, n, 2 / (n + 1))


def ref_wilder(values, n):
    return ref_recursive(values, n, 1 / n)


def ref_rsi(close, n):
    """Wilder RSI as 100 - 100 / (1 + RS); 50 when flat; restarts after a gap."""

    def value(gain, loss):
        if loss == 0:
            return 50.0 if gain == 0 else 100.0
        return 100 - 100 / (1 + gain / loss)

    out = [NAN] * len(close)
    prev, changes, gain, loss = None, 0, 0.0, 0.0
    for i, x in enumerate(close):
        if not math.isfinite(x):
            prev, changes, gain, loss = None, 0, 0.0, 0.0
            continue
        if prev is not None:
            up, down = max(x - prev, 0.0), max(prev - x, 0.0)
            changes += 1
            if changes <= n:
                gain, loss = gain + up / n, loss + down / n
                if changes == n:
                    out[i] = value(gain, loss)
            else:
                gain = gain + (up - gain) / n
                loss = loss + (down - loss) / n
                out[i] = value(gain, loss)
        prev = x
    return out


def ref_rolling(values, w, stat):
    """``stat(window)`` for every window of ``w`` finite values, else NaN."""
    out = [NAN] * len(values)
    for i in range(w - 1, len(values)):
        window = values[i - w + 1 : i + 1]
        if all(math.isfinite(v) for v in window):
            out[i] = stat(window)
    return out


def ref_sma(values, w):
    return ref_rolling(values, w, lambda win: math.fsum(win) / w)


def ref_std(values, w, ddof):
    def std(win):
        mean = math.fsum(win) / w
        return math.sqrt(math.fsum((v - mean) ** 2 for v in win) / (w - ddof))

    return ref_rolling(values, w, std)


def ref_triple_barrier(close, upper, lower, horizon, offsets):
    n = len(close)
    touch, ret, barrier = [-1] * n, [NAN] * n, [0] * n
    for start, end in zip(offsets[:-1], offsets[1:], strict=True):
        for i in range(start, end):
            c0 = close[i]
            if not (math.isfinite(c0) and c0 > 0 and upper[i] > 0 and lower[i] > 0):
                continue
            for j in range(i + 1, min(i + horizon, end - 1) + 1):
                if not (math.isfinite(close[j]) and close[j] > 0):
                    continue
                r = math.log(close[j] / c0)
                if r >= upper[i]:
                    touch[i], ret[i], barrier[i] = j, r, 1
                    break
                if r <= -lower[i]:
                    touch[i], ret[i], barrier[i] = j, r, -1
                    break
            else:
                v = i + horizon
                if v <= end - 1 and math.isfinite(close[v]) and close[v] > 0:
                    touch[i], ret[i], barrier[i] = v, math.log(close[v] / c0), 0
    return np.array(touch), np.array(ret), np.array(barrier)


def ref_talib_stddev(values, n, nbdev):
    return [nbdev * s for s in ref_std(values, n, 0)]


def per_group(reference, values, offsets, params):
    """Runs a single-series reference on each group and concatenates the results."""
    out = []
    for start, end in zip(offsets[:-1], offsets[1:], strict=True):
        out += reference(list(values[start:end]), *params.values())
    return np.array(out, dtype=np.float64)


def assert_close(actual, expected, atol=1e-12):
    """Same NaN positions, values within 1e-9 relative."""
    assert actual.dtype == np.float64 and actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=atol, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# Data: a panel with the awkward groups every kernel must survive.
# ---------------------------------------------------------------------------------------------


def random_walk(rng, n, level, step=1.0):
    return level + np.cumsum(rng.standard_normal(n) * step)


@pytest.fixture(scope="module")
def panel():
    """Groups: long walk, empty, length 1, shorter than warm-up, constant, walk with gaps."""
    rng = np.random.default_rng(7)
    with_gaps = random_walk(rng, 400, 50.0)
    with_gaps[[3, 100, 101, 250]] = NAN
    with_gaps[300] = INF
    groups = [
        random_walk(rng, 1500, 1e4),
        np.array([]),
        np.array([101.0]),
        random_walk(rng, 9, 100.0),
        np.full(60, 42.5),
        with_gaps,
    ]
    values = np.concatenate(groups)
    offsets = np.cumsum([0] + [len(g) for g in groups])
    return values, offsets


# (facade function, reference, parameters) for every single-input kernel.
# Reference parameters are positional, in the order of the facade's keyword arguments.
KERNELS = [
    (native.ema, ref_ema, {"timeperiod": 14}),
    (native.ema, ref_ema, {"timeperiod": 1}),
    (native.wilder, ref_wilder, {"timeperiod": 14}),
    (native.rsi, ref_rsi, {"timeperiod": 14}),
    (native.rsi, ref_rsi, {"timeperiod": 2}),
    (native.sma, ref_sma, {"timeperiod": 20}),
    (native.stddev, ref_talib_stddev, {"timeperiod": 20, "nbdev": 2.0}),
    (native.rolling_std, ref_std, {"window": 20, "ddof": 1}),
    (native.rolling_std, ref_std, {"window": 2, "ddof": 1}),
]
KERNEL_IDS = [f"{f.__name__}-{'-'.join(map(str, p.values()))}" for f, _, p in KERNELS]


# ---------------------------------------------------------------------------------------------
# Single-input kernels vs references
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kernel", "reference", "params"), KERNELS, ids=KERNEL_IDS)
def test_kernel_matches_reference_on_every_group_of_a_panel(panel, kernel, reference, params):
    values, offsets = panel
    expected = per_group(reference, values, offsets, params)
    assert_close(kernel(values, offsets=offsets, **params), expected)


@pytest.mark.parametrize(("kernel", "reference", "params"), KERNELS, ids=KERNEL_IDS)
def test_each_group_equals_the_kernel_run_on_that_group_alone(panel, kernel, reference, params):
    values, offsets = panel
    out = kernel(values, offsets=offsets, **params)
    for start, end in zip(offsets[:-1], offsets[1:], strict=True):
        alone = kernel(values[start:end], **params)
        np.testing.assert_array_equal(out[start:end], alone)


def test_ema_matches_talib_seeding_and_never_crosses_symbols():
    values = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0])
    out = native.ema(values, timeperiod=3, offsets=[0, 4, 7])
    # Seed = mean of the first 3 values at index 2, then alpha = 2 / (3 + 1).
    expected = [NAN, NAN, 2.0, 2.0 + 0.5 * (4.0 - 2.0), NAN, NAN, 20.0]
    assert_close(out, np.array(expected))


def test_wilder_uses_alpha_one_over_timeperiod_after_an_sma_seed():
    out = native.wilder([2.0, 4.0, 9.0], timeperiod=2)
    assert_close(out, np.array([NAN, 3.0, (3.0 * 1 + 9.0) / 2]))


def test_recursive_smoothers_restart_warm_up_after_nan():
    values = np.array([1.0, 2.0, 3.0, NAN, 5.0, 6.0, 7.0])
    for kernel in (native.ema, native.wilder):
        out = kernel(values, timeperiod=2)
        assert np.isnan(out[[0, 3, 4]]).all()
        assert out[5] == 5.5  # a fresh SMA seed of the two values after the gap


def test_rsi_first_value_needs_timeperiod_changes():
    close = random_walk(np.random.default_rng(1), 50, 100.0)
    out = native.rsi(close, timeperiod=14)
    assert np.isnan(out[:14]).all() and np.isfinite(out[14:]).all()
    assert ((out[14:] >= 0) & (out[14:] <= 100)).all()


def test_rsi_is_100_with_only_gains_0_with_only_losses_and_50_when_flat():
    rising = np.arange(20, dtype=float)
    assert (native.rsi(rising, timeperiod=5)[5:] == 100).all()
    assert (native.rsi(rising[::-1], timeperiod=5)[5:] == 0).all()
    assert (native.rsi(np.full(20, 7.0), timeperiod=5)[5:] == 50).all()


def test_constant_series_has_exactly_zero_std_and_its_value_as_mean():
    values = np.full(300, 10_000.1)
    assert (native.rolling_std(values, window=7)[6:] == 0).all()
    assert (native.stddev(values, timeperiod=7)[6:] == 0).all()
    assert (native.sma(values, timeperiod=7)[6:] == 10_000.1).all()


def test_stddev_divides_by_n_and_scales_by_nbdev_like_talib():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    assert native.stddev(values, timeperiod=4, nbdev=2.0)[3] == pytest.approx(2 * np.std(values))
    assert native.rolling_std(values, window=4, ddof=0)[3] == pytest.approx(np.std(values))
    assert native.rolling_std(values, window=4)[3] == pytest.approx(np.std(values, ddof=1))


def _sliding(values, window, stat, chunk=100_000):
    """Two-pass numpy reference over every full window, in chunks to bound memory."""
    windows = np.lib.stride_tricks.sliding_window_view(values, window)
    parts = [stat(windows[s : s + chunk]) for s in range(0, len(windows), chunk)]
    return np.concatenate([np.full(window - 1, NAN), *parts])


@pytest.mark.parametrize(("n", "window"), [(1_000_000, 5), (1_000_000, 20), (200_000, 250)])
def test_rolling_statistics_do_not_drift_on_a_long_high_level_random_walk(n, window):
    values = random_walk(np.random.default_rng(window), n, 1e4)
    sample = _sliding(values, window, lambda w: w.std(axis=1, ddof=1))
    population = _sliding(values, window, lambda w: w.std(axis=1))
    mean = _sliding(values, window, lambda w: w.mean(axis=1))
    assert_close(native.rolling_std(values, window=window), sample, atol=0)
    assert_close(native.stddev(values, timeperiod=window), population, atol=0)
    assert_close(native.sma(values, timeperiod=window), mean, atol=0)


# ---------------------------------------------------------------------------------------------
# TA-Lib itself, where installed (the `ta-lib` wheel bundles the C library)
# ---------------------------------------------------------------------------------------------


def test_indicators_match_talib_on_a_high_level_random_walk():
    talib = pytest.importorskip("talib")
    x = random_walk(np.random.default_rng(3), 5000, 1e4)
    pairs = [
        (native.ema(x, timeperiod=30), talib.EMA(x, timeperiod=30)),
        (native.sma(x, timeperiod=30), talib.SMA(x, timeperiod=30)),
        (native.rsi(x, timeperiod=14), talib.RSI(x, timeperiod=14)),
        (native.stddev(x, timeperiod=5, nbdev=1.5), talib.STDDEV(x, timeperiod=5, nbdev=1.5)),
        # ATR with high = low = close is the Wilder average of |close change|.
        (native.wilder(np.abs(np.diff(x)), timeperiod=14), talib.ATR(x, x, x, timeperiod=14)[1:]),
    ]
    for ours, theirs in pairs:
        assert_close(ours, theirs)


def test_rsi_of_flat_prices_is_50_where_talib_says_0():
    talib = pytest.importorskip("talib")
    flat = np.full(30, 5.0)
    assert (talib.RSI(flat, timeperiod=14)[14:] == 0).all()
    assert (native.rsi(flat, timeperiod=14)[14:] == 50).all()


# ---------------------------------------------------------------------------------------------
# Triple barrier
# ---------------------------------------------------------------------------------------------


def barrier_of(close, upper, lower, horizon, offsets=None):
    t = native.triple_barrier(np.array(close), upper, lower, horizon=horizon, offsets=offsets)
    return t.touch_index.tolist(), t.ret, t.barrier.tolist()


def test_triple_barrier_upper_touch_first_wins():
    touch, ret, barrier = barrier_of([100, 101, 103, 90, 100], 0.02, 0.05, 3)
    assert (touch[0], barrier[0]) == (2, 1)
    assert ret[0] == math.log(103 / 100)


def test_triple_barrier_lower_touch_first_wins():
    touch, ret, barrier = barrier_of([100, 99, 94, 120, 100], 0.02, 0.05, 3)
    assert (touch[0], barrier[0]) == (2, -1)
    assert ret[0] == math.log(94 / 100)


def test_triple_barrier_exact_hit_counts_as_a_touch():
    touch, _, barrier = barrier_of([100, 110], math.log(110 / 100), 1.0, 1)
    assert (touch[0], barrier[0]) == (1, 1)


def test_triple_barrier_without_touch_ends_at_the_vertical_barrier():
    touch, ret, barrier = barrier_of([100, 100.5, 99.8, 100.2, 150], 0.05, 0.05, 3)
    assert (touch[0], barrier[0]) == (3, 0)
    assert ret[0] == math.log(100.2 / 100)


def test_triple_barrier_is_unknown_when_the_horizon_runs_past_the_series_end():
    touch, ret, barrier = barrier_of([100, 100.5, 99.8, 100.2], 0.05, 0.05, 3)
    assert touch == [3, -1, -1, -1]
    assert np.isnan(ret[1:]).all() and barrier == [0, 0, 0, 0]


def test_triple_barrier_group_boundary_stops_the_scan():
    close = [100, 100.1, 200, 200]
    # Bar 0 would touch the upper barrier at row 2, but row 2 belongs to the next symbol.
    touch, _, _ = barrier_of(close, 0.05, 0.05, 2, offsets=[0, 2, 4])
    assert touch == [-1, -1, -1, -1]
    touch, _, barrier = barrier_of(close, 0.05, 0.05, 1, offsets=[0, 2, 4])
    assert touch == [1, -1, 3, -1] and barrier == [0, 0, 0, 0]


def test_triple_barrier_infinite_width_disables_that_barrier():
    touch, _, barrier = barrier_of([100, 50, 200], 0.1, INF, 2)
    assert (touch[0], barrier[0]) == (2, 1)
    touch, ret, barrier = barrier_of([100, 50, 200], INF, INF, 2)
    assert (touch[0], barrier[0], ret[0]) == (2, 0, math.log(2))


def test_triple_barrier_invalid_close_or_width_gives_unknown():
    close = np.array([100, NAN, 100, 100, 0, 100, 100])
    upper = np.array([NAN, 0.1, 0.0, -0.1, 0.1, 0.1, 0.1])
    touch, ret, barrier = barrier_of(close, upper, 0.1, 1)
    assert touch == [-1, -1, -1, -1, -1, 6, -1]
    # A missing price inside the scan is skipped, never a touch.
    touch, _, barrier = barrier_of([100, NAN, 120], 0.1, 0.1, 2)
    assert (touch[0], barrier[0]) == (2, 1)


def test_triple_barrier_returns_typed_arrays_that_unpack_as_a_tuple():
    touch, ret, barrier = native.triple_barrier([1.0, 2.0], [0.1, 0.1], [0.1, 0.1], horizon=1)
    assert (touch.dtype, ret.dtype, barrier.dtype) == (np.int64, np.float64, np.int8)


def test_triple_barrier_matches_reference_on_a_random_panel():
    rng = np.random.default_rng(11)
    lengths = [0, 1, 7, 3000, 40, 2000]
    close = 100 * np.exp(np.concatenate([np.cumsum(rng.normal(0, 0.01, k)) for k in lengths]))
    close[[10, 500, 4000]] = NAN
    offsets = np.cumsum([0] + lengths)
    upper = rng.uniform(0.005, 0.04, len(close))
    lower = rng.uniform(0.005, 0.04, len(close))
    upper[::97] = INF
    got = native.triple_barrier(close, upper, lower, horizon=15, offsets=offsets)
    touch, ret, barrier = ref_triple_barrier(close, upper, lower, 15, offsets)
    np.testing.assert_array_equal(got.touch_index, touch)
    np.testing.assert_array_equal(got.barrier, barrier)
    assert_close(got.ret, ret)
    for start, end in zip(offsets[:-1], offsets[1:], strict=True):
        group = slice(start, end)
        alone = native.triple_barrier(close[group], upper[group], lower[group], horizon=15)
        shifted = np.where(alone.touch_index >= 0, alone.touch_index + start, -1)
        np.testing.assert_array_equal(got.touch_index[start:end], shifted)


# ---------------------------------------------------------------------------------------------
# Inputs: conversion and validation
# ---------------------------------------------------------------------------------------------


def test_facade_accepts_lists_ints_float32_and_non_contiguous_views():
    base = np.arange(40, dtype=np.float64)
    expected = native.sma(base[::2].copy(), timeperiod=3)
    assert_close(native.sma(base[::2], timeperiod=3), expected)
    assert_close(native.sma(list(base[::2]), timeperiod=3), expected)
    assert_close(native.sma(np.arange(0, 40, 2), timeperiod=3), expected)
    assert_close(native.sma(base[::2].astype(np.float32), timeperiod=3), expected)
    assert_close(native.sma(pl.Series(base[::2]), timeperiod=3), expected)


def test_raw_extension_rejects_non_contiguous_arrays_naming_the_argument():
    with pytest.raises(ValueError, match="close must be a C-contiguous"):
        _native.rsi(np.arange(20.0)[::2], timeperiod=3)


@pytest.mark.parametrize(
    "bad",
    [np.array(["a", "b"]), np.array([1 + 2j]), np.array([object()]), np.array([True]), ["x"]],
    ids=["str", "complex", "object", "bool", "list-of-str"],
)
def test_non_numeric_input_raises_type_error(bad):
    with pytest.raises(TypeError, match="values must hold real numbers"):
        native.ema(bad, timeperiod=2)


def test_two_dimensional_input_raises_type_error():
    with pytest.raises(TypeError, match=r"values must be 1-D, got an array of shape \(2, 3\)"):
        native.sma(np.ones((2, 3)), timeperiod=2)


@pytest.mark.parametrize("period", [0, -3])
@pytest.mark.parametrize("kernel", [native.ema, native.wilder, native.rsi, native.sma, native.stddev])
def test_non_positive_timeperiod_raises_value_error(kernel, period):
    with pytest.raises(ValueError, match=f"timeperiod must be >= 1, got {period}"):
        kernel(np.ones(5), timeperiod=period)


def test_bad_integer_parameters_raise():
    with pytest.raises(ValueError, match="window must be >= 1, got 0"):
        native.rolling_std(np.ones(5), window=0)
    with pytest.raises(ValueError, match="ddof must satisfy 0 <= ddof < window"):
        native.rolling_std(np.ones(5), window=2, ddof=2)
    with pytest.raises(ValueError, match="horizon must be >= 1, got 0"):
        native.triple_barrier(np.ones(5), 0.1, 0.1, horizon=0)
    with pytest.raises(TypeError, match="timeperiod must be an integer, got 14.0"):
        native.rsi(np.ones(5), timeperiod=14.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nbdev must be finite"):
        native.stddev(np.ones(5), timeperiod=2, nbdev=NAN)


def test_mismatched_lengths_raise_value_error():
    with pytest.raises(ValueError, match="upper has length 3 but close has length 4"):
        native.triple_barrier(np.ones(4), np.ones(3), np.ones(4), horizon=1)
    with pytest.raises(ValueError, match="lower has length 5 but close has length 4"):
        native.triple_barrier(np.ones(4), 0.1, np.ones(5), horizon=1)


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ([], "offsets is empty"),
        ([1, 5], r"offsets\[0\] is 1; the first group must start at 0"),
        ([0, 3, 2, 5], r"offsets decrease at position 2 \(3 -> 2\)"),
        ([0, 4], "offsets end at 4 but the series has length 5"),
        ([0, 6], "offsets end at 6 but the series has length 5"),
    ],
)
def test_invalid_offsets_raise_value_error_saying_what_is_wrong(offsets, message):
    with pytest.raises(ValueError, match=message):
        native.ema(np.ones(5), timeperiod=2, offsets=np.array(offsets, dtype=np.int64))
    with pytest.raises(ValueError, match=message):
        native.triple_barrier(np.ones(5), 0.1, 0.1, horizon=1, offsets=np.array(offsets))


def test_offsets_must_be_integers():
    with pytest.raises(TypeError, match="offsets must hold integers"):
        native.ema(np.ones(5), timeperiod=2, offsets=[0.0, 5.0])


def test_empty_input_gives_empty_output():
    assert native.ema(np.array([]), timeperiod=3).shape == (0,)
    assert native.triple_barrier([], [], [], horizon=3).touch_index.shape == (0,)


# ---------------------------------------------------------------------------------------------
# group_offsets
# ---------------------------------------------------------------------------------------------


def test_group_offsets_marks_the_start_of_each_run_of_labels():
    symbols = np.array(["AAPL", "AAPL", "MSFT", "IBM", "IBM", "IBM"])
    offsets = native.group_offsets(symbols)
    assert offsets.dtype == np.int64 and offsets.tolist() == [0, 2, 3, 6]
    assert native.group_offsets(pl.Series(symbols, dtype=pl.Categorical)).tolist() == [0, 2, 3, 6]
    assert native.group_offsets(np.array([], dtype=str)).tolist() == [0]


def test_group_offsets_rejects_labels_that_are_not_grouped():
    message = "symbols are not grouped: 'A' starts a run at row 0 and again at row 3"
    with pytest.raises(ValueError, match=message):
        native.group_offsets(["A", "A", "B", "A"])
