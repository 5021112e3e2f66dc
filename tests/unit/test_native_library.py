"""The indicator library: TA-Lib parity, numpy references, awkward inputs and bad arguments.

Parity is checked where TA-Lib defines a value (after its warm-up): our value must exist there
and agree within 1e-9 relative (plus 1e-9 of the series' scale, for values crossing zero), on a
long random walk and on the real sample, where the sample is one panel with symbol offsets
compared against TA-Lib run on each symbol alone (the symbol-boundary case).
"""

# ruff: noqa: E741, E501  (o h l c v are the usual OHLCV names; the parity table reads best one case a line)
from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from foxml_dagster import _native, native

try:
    import talib
except ImportError:  # the dev extra: only the TA-Lib parity tests need it, the rest still run
    talib = None
needs_talib = pytest.mark.skipif(talib is None, reason="TA-Lib parity: install the dev extra (ta-lib)")
NAN = math.nan


def ohlcv(rng, n, level=100.0):
    close = level * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    volume = rng.lognormal(12, 0.5, n)
    return open_, high, low, close, volume


# (name, ours(o, h, l, c, v, offsets) -> array or tuple, theirs(o, h, l, c, v) -> array or tuple)
PARITY = [
    ("SMA", lambda o, h, l, c, v, g: native.sma(c, timeperiod=20, offsets=g), lambda o, h, l, c, v: talib.SMA(c, 20)),
    ("EMA", lambda o, h, l, c, v, g: native.ema(c, timeperiod=20, offsets=g), lambda o, h, l, c, v: talib.EMA(c, 20)),
    ("WMA", lambda o, h, l, c, v, g: native.wma(c, timeperiod=20, offsets=g), lambda o, h, l, c, v: talib.WMA(c, 20)),
    ("DEMA", lambda o, h, l, c, v, g: native.dema(c, timeperiod=10, offsets=g), lambda o, h, l, c, v: talib.DEMA(c, 10)),
    ("TEMA", lambda o, h, l, c, v, g: native.tema(c, timeperiod=10, offsets=g), lambda o, h, l, c, v: talib.TEMA(c, 10)),
    ("KAMA", lambda o, h, l, c, v, g: native.kama(c, timeperiod=30, offsets=g), lambda o, h, l, c, v: talib.KAMA(c, 30)),
    ("RSI", lambda o, h, l, c, v, g: native.rsi(c, timeperiod=14, offsets=g), lambda o, h, l, c, v: talib.RSI(c, 14)),
    (
        "STDDEV",
        lambda o, h, l, c, v, g: native.stddev(c, timeperiod=20, nbdev=1.5, offsets=g),
        lambda o, h, l, c, v: talib.STDDEV(c, 20, 1.5),
    ),
    ("VAR", lambda o, h, l, c, v, g: native.var(c, timeperiod=20, offsets=g), lambda o, h, l, c, v: talib.VAR(c, 20)),
    (
        "SUM",
        lambda o, h, l, c, v, g: native.rolling_sum(c, timeperiod=20, offsets=g),
        lambda o, h, l, c, v: talib.SUM(c, 20),
    ),
    (
        "MAX",
        lambda o, h, l, c, v, g: native.rolling_max(c, timeperiod=20, offsets=g),
        lambda o, h, l, c, v: talib.MAX(c, 20),
    ),
    (
        "MIN",
        lambda o, h, l, c, v, g: native.rolling_min(c, timeperiod=20, offsets=g),
        lambda o, h, l, c, v: talib.MIN(c, 20),
    ),
    (
        "CORREL",
        lambda o, h, l, c, v, g: native.correl(c, v, timeperiod=30, offsets=g),
        lambda o, h, l, c, v: talib.CORREL(c, v, 30),
    ),
    ("ROC", lambda o, h, l, c, v, g: native.roc(c, timeperiod=10, offsets=g), lambda o, h, l, c, v: talib.ROC(c, 10)),
    ("TRIX", lambda o, h, l, c, v, g: native.trix(c, timeperiod=15, offsets=g), lambda o, h, l, c, v: talib.TRIX(c, 15)),
    ("MACD", lambda o, h, l, c, v, g: native.macd(c, offsets=g), lambda o, h, l, c, v: talib.MACD(c, 12, 26, 9)),
    ("STOCH", lambda o, h, l, c, v, g: native.stoch(h, l, c, offsets=g), lambda o, h, l, c, v: talib.STOCH(h, l, c)),
    (
        "WILLR",
        lambda o, h, l, c, v, g: native.willr(h, l, c, timeperiod=14, offsets=g),
        lambda o, h, l, c, v: talib.WILLR(h, l, c, 14),
    ),
    (
        "CCI",
        lambda o, h, l, c, v, g: native.cci(h, l, c, timeperiod=14, offsets=g),
        lambda o, h, l, c, v: talib.CCI(h, l, c, 14),
    ),
    (
        "MFI",
        lambda o, h, l, c, v, g: native.mfi(h, l, c, v, timeperiod=14, offsets=g),
        lambda o, h, l, c, v: talib.MFI(h, l, c, v, 14),
    ),
    ("DMI", lambda o, h, l, c, v, g: native.dmi(h, l, c, offsets=g), lambda o, h, l, c, v: (
        talib.PLUS_DI(h, l, c, 14), talib.MINUS_DI(h, l, c, 14), talib.ADX(h, l, c, 14))),
    (
        "AROON",
        lambda o, h, l, c, v, g: native.aroon(h, l, timeperiod=14, offsets=g),
        lambda o, h, l, c, v: talib.AROON(h, l, 14),
    ),
    (
        "AROONOSC",
        lambda o, h, l, c, v, g: native.aroonosc(h, l, timeperiod=14, offsets=g),
        lambda o, h, l, c, v: talib.AROONOSC(h, l, 14),
    ),
    ("ULTOSC", lambda o, h, l, c, v, g: native.ultosc(h, l, c, offsets=g), lambda o, h, l, c, v: talib.ULTOSC(h, l, c)),
    ("TRANGE", lambda o, h, l, c, v, g: native.trange(h, l, c, offsets=g), lambda o, h, l, c, v: talib.TRANGE(h, l, c)),
    (
        "ATR",
        lambda o, h, l, c, v, g: native.atr(h, l, c, timeperiod=14, offsets=g),
        lambda o, h, l, c, v: talib.ATR(h, l, c, 14),
    ),
    (
        "NATR",
        lambda o, h, l, c, v, g: native.natr(h, l, c, timeperiod=14, offsets=g),
        lambda o, h, l, c, v: talib.NATR(h, l, c, 14),
    ),
    (
        "BBANDS",
        lambda o, h, l, c, v, g: native.bbands(c, timeperiod=20, offsets=g),
        lambda o, h, l, c, v: talib.BBANDS(c, 20, 2.0, 2.0),
    ),
    ("OBV", lambda o, h, l, c, v, g: native.obv(c, v, offsets=g), lambda o, h, l, c, v: talib.OBV(c, v)),
    ("AD", lambda o, h, l, c, v, g: native.ad(h, l, c, v, offsets=g), lambda o, h, l, c, v: talib.AD(h, l, c, v)),
    ("ADOSC", lambda o, h, l, c, v, g: native.adosc(h, l, c, v, offsets=g), lambda o, h, l, c, v: talib.ADOSC(h, l, c, v)),
]  # fmt: skip
PARITY_IDS = [p[0] for p in PARITY]


def assert_parity(ours, theirs, name):
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours) == len(theirs), name
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        defined = np.isfinite(b)
        assert defined.sum() > 0, name
        assert np.isfinite(a[defined]).all(), f"{name}[{k}]: NaN where TA-Lib has a value"
        scale = np.nanmax(np.abs(b))
        np.testing.assert_allclose(a[defined], b[defined], rtol=1e-9, atol=1e-9 * scale, err_msg=f"{name}[{k}]")
        # Our warm-up is never longer than TA-Lib's.
        first = np.argmax(defined)
        assert np.isfinite(a[first:]).all(), f"{name}[{k}]: gap after warm-up"


@pytest.fixture(scope="module")
def walk():
    return ohlcv(np.random.default_rng(42), 50_000)


@pytest.fixture(scope="module")
def sample_panel(sample_bars):
    bars = sample_bars.sort("symbol", "ts")
    cols = [bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
    return cols, native.group_offsets(bars["symbol"].to_numpy())


@needs_talib
@pytest.mark.parametrize(("name", "ours", "theirs"), PARITY, ids=PARITY_IDS)
def test_kernel_matches_talib_on_a_long_random_walk(walk, name, ours, theirs):
    assert_parity(ours(*walk, None), theirs(*walk), name)


@needs_talib
@pytest.mark.parametrize(("name", "ours", "theirs"), PARITY, ids=PARITY_IDS)
def test_kernel_matches_talib_per_symbol_on_the_real_sample_panel(sample_panel, name, ours, theirs):
    cols, offsets = sample_panel
    if name == "MFI":
        # Split-adjusted prices make equal typical prices differ by float noise (~1e-14); whether
        # such a bar is an inflow depends on the compiler's rounding (TA-Lib's and ours differ),
        # and we deliberately count a change below 1e-8 as none. Rounded prices take the noise out.
        cols = [np.round(c, 6) for c in cols]
    got = ours(*cols, offsets)
    got = got if isinstance(got, tuple) else (got,)
    for start, end in zip(offsets[:-1], offsets[1:], strict=True):
        alone = theirs(*(c[start:end] for c in cols))
        assert_parity(tuple(g[start:end] for g in got), alone if isinstance(alone, tuple) else (alone,), name)


@needs_talib
def test_maxindex_and_minindex_match_talib_on_a_walk(walk):
    c = walk[3]
    np.testing.assert_array_equal(native.maxindex(c, timeperiod=20)[19:], talib.MAXINDEX(c, 20)[19:])
    np.testing.assert_array_equal(native.minindex(c, timeperiod=20)[19:], talib.MININDEX(c, 20)[19:])


# ---------------------------------------------------------------------------------------------
# Kernels TA-Lib does not have, against numpy / polars references
# ---------------------------------------------------------------------------------------------


def sliding(x, w, stat):
    windows = np.lib.stride_tricks.sliding_window_view(x, w)
    return np.concatenate([np.full(w - 1, NAN), stat(windows)])


def wma_ref(x, n):
    weights = np.arange(1, n + 1, dtype=float)
    return sliding(x, n, lambda win: win @ weights / weights.sum())


def test_hull_moving_average_matches_its_wma_definition(walk):
    c = walk[3][:3000]
    raw = 2 * wma_ref(c, 8) - wma_ref(c, 16)
    expected = np.concatenate([np.full(15, NAN), wma_ref(raw[15:], 4)])
    np.testing.assert_allclose(native.hma(c, timeperiod=16), expected, rtol=1e-9, equal_nan=True)


def test_moments_zscore_rank_and_quantile_match_numpy(walk):
    r = np.diff(np.log(walk[3][:5000]))
    w = 30

    def central(win, k):
        return ((win - win.mean(axis=1, keepdims=True)) ** k).mean(axis=1)

    checks = [
        (native.skew(r, timeperiod=w), sliding(r, w, lambda x: central(x, 3) / central(x, 2) ** 1.5)),
        (native.kurt(r, timeperiod=w), sliding(r, w, lambda x: central(x, 4) / central(x, 2) ** 2 - 3)),
        (native.zscore(r, timeperiod=w), sliding(r, w, lambda x: (x[:, -1] - x.mean(axis=1)) / x.std(axis=1))),
        (native.quantile(r, timeperiod=w, q=0.25), sliding(r, w, lambda x: np.quantile(x, 0.25, axis=1))),
        (native.rank(r, timeperiod=w), sliding(r, w, lambda x: ((x < x[:, -1:]).sum(axis=1)) / (w - 1))),
    ]
    for got, expected in checks:
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-12, equal_nan=True)
    x, y = r[:-1], r[1:]
    beta = native.rolling_beta(y, x, timeperiod=w)
    for i in range(w - 1, len(x), 97):
        cov = np.cov(x[i - w + 1 : i + 1], y[i - w + 1 : i + 1], ddof=0)
        assert beta[i] == pytest.approx(cov[0, 1] / cov[0, 0], rel=1e-9)


def test_recursive_ema_matches_polars_ewm_mean(walk):
    c = walk[3][:5000]
    expected = pl.Series(c).ewm_mean(span=10, adjust=False).to_numpy()
    np.testing.assert_allclose(native.ema_recursive(c, timeperiod=10), expected, rtol=1e-12)


def test_range_volatility_estimators_match_their_formulas(walk):
    o, h, l_, c, v = (a[:3000] for a in walk)
    n = 20
    ln2 = math.log(2)
    mean = lambda t: sliding(t, n, lambda win: win.mean(axis=1))  # noqa: E731
    park = np.sqrt(mean(np.log(h / l_) ** 2 / (4 * ln2)))
    gk = np.sqrt(np.maximum(mean(0.5 * np.log(h / l_) ** 2 - (2 * ln2 - 1) * np.log(c / o) ** 2), 0))
    rs_term = np.log(h / c) * np.log(h / o) + np.log(l_ / c) * np.log(l_ / o)
    rs = np.sqrt(mean(rs_term))
    for got, expected in [
        (native.parkinson(o, h, l_, c, timeperiod=n), park),
        (native.garman_klass(o, h, l_, c, timeperiod=n), gk),
        (native.rogers_satchell(o, h, l_, c, timeperiod=n), rs),
    ]:
        np.testing.assert_allclose(got, expected, rtol=1e-9, equal_nan=True)
    overnight = np.log(o[1:] / c[:-1])
    intraday = np.log(c[1:] / o[1:])
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    var_o = sliding(overnight, n, lambda win: win.var(axis=1, ddof=1))
    var_c = sliding(intraday, n, lambda win: win.var(axis=1, ddof=1))
    yz = np.concatenate([[NAN], np.sqrt(var_o + k * var_c + (1 - k) * mean(rs_term[1:]))])
    np.testing.assert_allclose(native.yang_zhang(o, h, l_, c, timeperiod=n), yz, rtol=1e-9, equal_nan=True)


def test_vwap_and_fractional_differencing_match_direct_sums(walk):
    o, h, l_, c, v = (a[:3000] for a in walk)
    tp = (h + l_ + c) / 3
    expected = sliding(tp * v, 10, lambda w: w.sum(axis=1)) / sliding(v, 10, lambda w: w.sum(axis=1))
    np.testing.assert_allclose(native.vwap(h, l_, c, v, timeperiod=10), expected, rtol=1e-9, equal_nan=True)
    x = np.log(c)
    weights = native.ffd_weights(0.4, threshold=1e-3)
    width = len(weights)
    assert weights[0] == 1 and weights[1] == -0.4 and abs(weights[-1]) >= 1e-3
    ffd = sliding(x, width, lambda win: win @ weights[::-1])
    np.testing.assert_allclose(native.frac_diff(x, d=0.4, threshold=1e-3), ffd, rtol=1e-9, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# Every kernel on the awkward panel: boundaries, NaN, constant, very short, shorter than warm-up
# ---------------------------------------------------------------------------------------------

# name -> f(o, h, l, c, v, offsets) returning one array (the first output where there are several)
EVERY = {name: ours for name, ours, _ in PARITY} | {
    "HMA": lambda o, h, l, c, v, g: native.hma(c, timeperiod=9, offsets=g),
    "EMA_RECURSIVE": lambda o, h, l, c, v, g: native.ema_recursive(c, timeperiod=9, offsets=g),
    "ZSCORE": lambda o, h, l, c, v, g: native.zscore(c, timeperiod=9, offsets=g),
    "SKEW": lambda o, h, l, c, v, g: native.skew(c, timeperiod=9, offsets=g),
    "KURT": lambda o, h, l, c, v, g: native.kurt(c, timeperiod=9, offsets=g),
    "RANK": lambda o, h, l, c, v, g: native.rank(c, timeperiod=9, offsets=g),
    "QUANTILE": lambda o, h, l, c, v, g: native.quantile(c, timeperiod=9, q=0.9, offsets=g),
    "BETA": lambda o, h, l, c, v, g: native.rolling_beta(c, v, timeperiod=9, offsets=g),
    "BARS_SINCE_MAX": lambda o, h, l, c, v, g: native.bars_since_max(c, timeperiod=9, offsets=g),
    "PARKINSON": lambda o, h, l, c, v, g: native.parkinson(o, h, l, c, timeperiod=9, offsets=g),
    "GARMAN_KLASS": lambda o, h, l, c, v, g: native.garman_klass(o, h, l, c, timeperiod=9, offsets=g),
    "ROGERS_SATCHELL": lambda o, h, l, c, v, g: native.rogers_satchell(o, h, l, c, timeperiod=9, offsets=g),
    "YANG_ZHANG": lambda o, h, l, c, v, g: native.yang_zhang(o, h, l, c, timeperiod=9, offsets=g),
    "VWAP": lambda o, h, l, c, v, g: native.vwap(h, l, c, v, timeperiod=9, offsets=g),
    "FFD": lambda o, h, l, c, v, g: native.frac_diff(np.log(c), d=0.5, threshold=1e-2, offsets=g),
}


def first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.fixture(scope="module")
def awkward():
    """Groups: long walk, empty, one bar, shorter than every warm-up, constant, walk with gaps."""
    rng = np.random.default_rng(5)
    parts = [ohlcv(rng, 700), ohlcv(rng, 0), ohlcv(rng, 1), ohlcv(rng, 4)]
    parts.append(tuple(np.full(120, 50.0) for _ in range(4)) + (np.full(120, 1000.0),))
    gaps = [a.copy() for a in ohlcv(rng, 400)]
    for column in gaps:  # a missing bar is NaN in every column; a bad high is +inf
        column[[50, 51, 200]] = NAN
    gaps[1][300] = math.inf
    parts.append(tuple(gaps))
    cols = [np.concatenate([p[k] for p in parts]) for k in range(5)]
    offsets = np.cumsum([0] + [len(p[0]) for p in parts])
    return cols, offsets


@pytest.mark.parametrize("name", sorted(EVERY))
def test_every_kernel_computes_each_symbol_as_if_alone(awkward, name):
    cols, offsets = awkward
    out = first(EVERY[name](*cols, offsets))
    assert out.dtype == np.float64 and out.shape == cols[0].shape
    for start, end in zip(offsets[:-1], offsets[1:], strict=True):
        alone = first(EVERY[name](*(c[start:end] for c in cols), None))
        np.testing.assert_array_equal(out[start:end], alone)


@pytest.mark.parametrize("name", sorted(EVERY))
def test_every_kernel_gives_nan_for_a_symbol_shorter_than_warm_up_and_numbers_when_constant(awkward, name):
    cols, offsets = awkward
    out = first(EVERY[name](*cols, offsets))
    short = slice(offsets[2], offsets[4])  # one bar, then four bars
    cumulative = {"OBV", "AD", "EMA_RECURSIVE", "TRANGE", "ROC"}
    if name not in cumulative:
        assert np.isnan(out[short]).all(), name
    constant = out[offsets[4] : offsets[5]]
    assert np.isfinite(constant[-50:]).all(), f"{name}: a constant series gave NaN/inf after warm-up"


@pytest.mark.parametrize("name", sorted(EVERY))
def test_every_kernel_keeps_nan_inside_and_never_spreads_it_past_its_window(awkward, name):
    cols, offsets = awkward
    out = first(EVERY[name](*cols, offsets))
    gaps = out[offsets[5] : offsets[6]]
    assert np.isnan(gaps[200]), name
    assert np.isfinite(gaps[-20:]).all(), f"{name}: the gap poisoned the rest of the series"


SINGLE_PASS = {  # kernels that check finiteness inside their own loop instead of a separate scan
    "SMA": lambda h, l, c: native.sma(c, timeperiod=9),
    "EMA": lambda h, l, c: native.ema(c, timeperiod=9),
    "STDDEV": lambda h, l, c: native.stddev(c, timeperiod=9, nbdev=2.0),
    "RSI": lambda h, l, c: native.rsi(c, timeperiod=9),
    "ATR": lambda h, l, c: native.atr(h, l, c, timeperiod=9),
    "ADX": lambda h, l, c: native.adx(h, l, c, timeperiod=5),
    "PLUS_DI": lambda h, l, c: native.dmi(h, l, c, timeperiod=5)[0],
    "MACD_SIGNAL": lambda h, l, c: native.macd(c, fastperiod=3, slowperiod=6, signalperiod=4).macdsignal,
    "MAX": lambda h, l, c: native.rolling_max(c, timeperiod=9),
    "MIN": lambda h, l, c: native.rolling_min(h, timeperiod=9),  # reads high
}


@pytest.mark.parametrize("name", sorted(SINGLE_PASS))
@pytest.mark.parametrize("bad", [NAN, math.inf, -math.inf])
@pytest.mark.parametrize("column", [0, 1, 2])
def test_a_non_finite_value_in_any_input_splits_the_series_exactly_there(name, bad, column):
    rng = np.random.default_rng(11)
    _, h, l, c, _ = ohlcv(rng, 300)
    cols = [h.copy(), l.copy(), c.copy()]
    reads = {0, 1, 2} if name in {"ATR", "ADX", "PLUS_DI"} else {0} if name == "MIN" else {2}
    column = column if column in reads else min(reads)  # put the gap where the kernel looks
    cols[column][[0, 120, 299]] = bad
    out = SINGLE_PASS[name](*cols)
    expected = np.full(300, NAN)
    for start, end in [(1, 120), (121, 299)]:  # the finite runs, each computed on its own
        expected[start:end] = SINGLE_PASS[name](*(x[start:end] for x in cols))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("window", [2, 30, 500])
def test_rolling_extremes_match_a_brute_force_window_where_the_extreme_leaves_every_window(window):
    # A steady fall (rise) puts the maximum (minimum) at the oldest row of every window, the
    # case where a rescan per row would cost O(window).
    falling = -np.arange(5000.0) + np.sin(np.arange(5000.0)) * 0.1
    for values in (falling, -falling):
        windows = np.lib.stride_tricks.sliding_window_view(values, window)
        expected_max = np.r_[np.full(window - 1, NAN), windows.max(axis=1)]
        expected_min = np.r_[np.full(window - 1, NAN), windows.min(axis=1)]
        np.testing.assert_array_equal(native.rolling_max(values, timeperiod=window), expected_max)
        np.testing.assert_array_equal(native.rolling_min(values, timeperiod=window), expected_min)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_mismatched_lengths_name_both_arrays():
    with pytest.raises(ValueError, match="low has length 4 but high has length 5"):
        native.atr(np.ones(5), np.ones(4), np.ones(5))
    with pytest.raises(ValueError, match="volume has length 3 but high has length 5"):
        native.mfi(np.ones(5), np.ones(5), np.ones(5), np.ones(3))
    with pytest.raises(ValueError, match="y has length 2 but x has length 5"):
        native.correl(np.ones(5), np.ones(2))


@pytest.mark.parametrize(
    "call",
    [
        lambda: native.kama(np.ones(5), timeperiod=0),
        lambda: native.atr(np.ones(5), np.ones(5), np.ones(5), timeperiod=-1),
        lambda: native.stoch(np.ones(5), np.ones(5), np.ones(5), fastk_period=0),
        lambda: native.macd(np.ones(50), fastperiod=26, slowperiod=12),
        lambda: native.hma(np.ones(5), timeperiod=1),
        lambda: native.rank(np.ones(5), timeperiod=1),
        lambda: native.quantile(np.ones(5), timeperiod=3, q=1.5),
        lambda: native.yang_zhang(np.ones(5), np.ones(5), np.ones(5), np.ones(5), timeperiod=1),
        lambda: native.frac_diff(np.ones(5), d=NAN),
        lambda: native.var(np.ones(5), timeperiod=3, ddof=3),
    ],
)
def test_bad_parameters_raise_value_error(call):
    with pytest.raises(ValueError, match="must"):
        call()


def test_wrong_dtypes_and_shapes_raise_type_error():
    with pytest.raises(TypeError, match="high must hold real numbers"):
        native.atr(np.array(["a"]), np.ones(1), np.ones(1))
    with pytest.raises(TypeError, match="close must be 1-D"):
        native.obv(np.ones((2, 2)), np.ones(4))
    with pytest.raises(TypeError, match="timeperiod must be an integer"):
        native.wma(np.ones(5), timeperiod=2.5)  # type: ignore[arg-type]


def test_raw_kernels_reject_non_contiguous_arrays_and_other_dtypes():
    x = np.ones(20)
    with pytest.raises(ValueError, match="low must be a C-contiguous"):
        _native.atr(x[:10], x[::2], x[:10], timeperiod=3)
    with pytest.raises(ValueError, match="high must be a C-contiguous"):
        _native.atr(x[::2], x[::2], x[::2], timeperiod=3)
    with pytest.raises(TypeError):
        _native.atr(x.astype(np.float32), x, x, timeperiod=3)


def test_invalid_offsets_raise_for_multi_input_kernels():
    with pytest.raises(ValueError, match="offsets end at 4 but the series has length 5"):
        native.atr(np.ones(5), np.ones(5), np.ones(5), offsets=[0, 4])
