"""Fast row-loop kernels (Rust, ``foxml_dagster._native``) behind a typed numpy facade.

Import this module, not ``_native``: names, defaults, input conversion and documentation live here.
Where TA-Lib has the same indicator, the name and parameters follow TA-Lib (``timeperiod``,
``nbdev``) and so does the arithmetic, except where a docstring says otherwise.

Conventions shared by every function
------------------------------------
**Groups (symbols).** A panel of many symbols is passed as one flat array sorted by
(symbol, ts), plus ``offsets``: an int64 array of ``n_groups + 1`` group start positions that
starts at 0, never decreases, and ends at ``len(values)``. Group ``k`` is
``values[offsets[k]:offsets[k + 1]]``; empty groups are allowed. Every group is computed as if it
were its own series: no window, recursion or search ever crosses into the next group.
``offsets=None`` means one group spanning the whole array. Build offsets from a symbol column
with :func:`group_offsets`. Invalid offsets raise ``ValueError`` saying what is wrong.

**Warm-up.** Outputs have the input's length. Positions without enough history are NaN, never
back-filled, so every value is causal: it uses rows up to and including its own.

**Gaps.** A non-finite input (NaN, +inf or -inf) is a gap. Rolling windows touching a gap give
NaN. Recursive smoothers (``ema``, ``wilder``, ``rsi``) restart after a gap: the values after it
are treated as a new series with a fresh warm-up (TA-Lib instead lets one NaN poison the rest of
the series).

**Inputs.** Data arguments accept any 1-D array-like of real numbers (numpy array, list, polars
or pandas Series): integer and float32 data are converted to contiguous float64, non-contiguous
arrays (``x[::2]``) are copied; contiguous float64 arrays are used without copying. Anything
that is not 1-D, or whose dtype is not integer or float (bool, object, str, complex, datetime),
raises ``TypeError``. Window lengths and periods are integers >= 1 (``ValueError`` otherwise);
arrays that must be aligned but differ in length raise ``ValueError``.

**Threads.** Kernels release the GIL, so threads can run them in parallel. Do not mutate an
input array from another thread while a kernel reads it.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from foxml_dagster import _native

__all__ = [
    "TripleBarrier",
    "ema",
    "group_offsets",
    "rolling_std",
    "rsi",
    "sma",
    "stddev",
    "CusumEvents",
    "cusum_filter",
    "trade_barrier",
    "triple_barrier",
    "triple_barrier_vol",
    "wilder",
]

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]
Int8Array = npt.NDArray[np.int8]

_REAL_KINDS = "iuf"  # numpy dtype kinds accepted as data: signed, unsigned, float
_INT64_MAX = np.iinfo(np.int64).max


class TripleBarrier(NamedTuple):
    """Per-bar outcome of :func:`triple_barrier`; unpacks as ``(touch_index, ret, barrier)``."""

    touch_index: Int64Array
    """Absolute index of the bar that decided the label, or -1 when the outcome is unknown."""
    ret: FloatArray
    """Log return ``ln(close[touch_index] / close[i])``; NaN when unknown."""
    barrier: Int8Array
    """+1 upper barrier, -1 lower barrier, 0 vertical barrier (or unknown: see touch_index)."""


def group_offsets(symbols: npt.ArrayLike) -> Int64Array:
    """Offsets of the consecutive runs of equal labels in ``symbols``.

    ``symbols`` is a 1-D array or Series of group labels (e.g. the ``symbol`` column of a frame
    sorted by (symbol, ts)). Each label must form one consecutive run; the order of the runs does
    not matter. Returns int64 ``[0, start_1, ..., start_k, len(symbols)]``, or ``[0]`` for empty
    input.

    Raises:
        ValueError: a label reappears after another label (the input is not grouped).
        TypeError: ``symbols`` is not 1-D.
    """
    labels = np.asarray(symbols)
    if labels.ndim != 1:
        raise TypeError(f"symbols must be 1-D, got an array of shape {labels.shape}")
    n = len(labels)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    starts = np.concatenate(([0], np.flatnonzero(labels[1:] != labels[:-1]) + 1))
    first_start: dict[object, int] = {}
    for start, label in zip(starts.tolist(), labels[starts].tolist(), strict=True):
        if label in first_start:
            raise ValueError(
                f"symbols are not grouped: {label!r} starts a run at row {first_start[label]} "
                f"and again at row {start}; sort the frame by (symbol, ts) first"
            )
        first_start[label] = start
    return np.append(starts, n).astype(np.int64)


def ema(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Exponential moving average (TA-Lib ``EMA``).

    ``alpha = 2 / (timeperiod + 1)``, seeded with the simple mean of the first ``timeperiod``
    values: the first output sits at index ``timeperiod - 1`` of each group, and agrees with TA-Lib
    to ~1e-15 relative on gap-free input (the recursion advances four rows per dependency step,
    which is why it is faster than TA-Lib; only rounding differs). After a NaN/inf input the
    average restarts with a fresh warm-up. For the pure recursive EMA see :func:`ema_recursive`.
    """
    return _native.ema(
        _as_series(values, "values"),
        timeperiod=_as_int(timeperiod, "timeperiod"),
        offsets=_as_offsets(offsets),
    )


def wilder(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Wilder smoothing: ``s = (s * (timeperiod - 1) + x) / timeperiod``, i.e. alpha = 1/n.

    Seeded like TA-Lib's RSI and ATR with the simple mean of the first ``timeperiod`` values, so
    the first output sits at index ``timeperiod - 1`` of each group. After a NaN/inf input the
    average restarts with a fresh warm-up.
    """
    return _native.wilder(
        _as_series(values, "values"),
        timeperiod=_as_int(timeperiod, "timeperiod"),
        offsets=_as_offsets(offsets),
    )


def rsi(close: npt.ArrayLike, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Relative strength index with Wilder smoothing (TA-Lib ``RSI``), in [0, 100].

    The mean gain and mean loss of the first ``timeperiod`` price changes seed Wilder averages,
    so the first value sits at index ``timeperiod`` of each group (it needs ``timeperiod``
    changes). ``RSI = 100 * avg_gain / (avg_gain + avg_loss)``: 100 when there are only gains,
    0 when there are only losses.

    Differences from TA-Lib (values otherwise agree to ~1e-15 relative):
        * Flat prices (average gain and loss both exactly 0) give 50, a neutral reading. TA-Lib
          0.6+ gives 0 there, which reads as "maximally oversold" (older TA-Lib C releases gave
          0 whenever ``avg_gain + avg_loss`` was below 1e-8 in absolute terms).
        * ``timeperiod=1`` is accepted (TA-Lib requires >= 2).
        * A NaN/inf close restarts the warm-up on the closes after it.
    """
    return _native.rsi(
        _as_series(close, "close"),
        timeperiod=_as_int(timeperiod, "timeperiod"),
        offsets=_as_offsets(offsets),
    )


def sma(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rolling mean over ``timeperiod`` values (TA-Lib ``SMA``).

    The first output sits at index ``timeperiod - 1`` of each group; windows touching a NaN/inf
    input are NaN.
    """
    return _native.sma(
        _as_series(values, "values"),
        timeperiod=_as_int(timeperiod, "timeperiod"),
        offsets=_as_offsets(offsets),
    )


def stddev(
    values: npt.ArrayLike,
    *,
    timeperiod: int,
    nbdev: float = 1.0,
    offsets: npt.ArrayLike | None = None,
) -> FloatArray:
    """Rolling population standard deviation times ``nbdev`` (TA-Lib ``STDDEV``: divides by n).

    Windows touching a NaN/inf input are NaN. Computed in O(n) with periodic exact recomputes,
    so it does not drift on long series at a high price level (TA-Lib's sum-of-squares form
    loses digits there). ``nbdev`` must be finite. For the sample std see :func:`rolling_std`.
    """
    return _native.stddev(
        _as_series(values, "values"),
        timeperiod=_as_int(timeperiod, "timeperiod"),
        nbdev=float(nbdev),
        offsets=_as_offsets(offsets),
    )


def rolling_std(
    values: npt.ArrayLike, *, window: int, ddof: int = 1, offsets: npt.ArrayLike | None = None
) -> FloatArray:
    """Rolling standard deviation dividing by ``window - ddof`` (default: sample std).

    Matches ``pandas.Series.rolling(window).std(ddof=ddof)`` within each group, except that a
    window touching NaN/inf is NaN. Requires ``0 <= ddof < window`` (``ValueError`` otherwise).
    """
    return _native.rolling_std(
        _as_series(values, "values"),
        window=_as_int(window, "window"),
        ddof=_as_int(ddof, "ddof"),
        offsets=_as_offsets(offsets),
    )


# ---------------------------------------------------------------------------------------------
# The indicator library. Names and parameters follow TA-Lib where it has the indicator; rolling
# max/min/sum are `rolling_max`, `rolling_min`, `rolling_sum` so this module never shadows the
# builtins `max`, `min`, `sum` for code written in it.
# ---------------------------------------------------------------------------------------------


class MACD(NamedTuple):
    """Outputs of :func:`macd`; unpacks as ``(macd, macdsignal, macdhist)`` like TA-Lib."""

    macd: FloatArray
    macdsignal: FloatArray
    macdhist: FloatArray


class Bands(NamedTuple):
    """Upper, middle and lower band (:func:`bbands`, :func:`keltner`, :func:`donchian`)."""

    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


def _one(kernel, values, name: str, offsets, **params) -> FloatArray:
    """Runs a single-series kernel after converting its input and integer parameters."""
    ints = {k: _as_int(v, k) for k, v in params.items()}
    return kernel(_as_series(values, name), **ints, offsets=_as_offsets(offsets))


def _aligned(named: dict[str, npt.ArrayLike]) -> list[FloatArray]:
    return [_as_series(v, k) for k, v in named.items()]


def ema_recursive(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Pure recursive EMA (alpha = 2 / (timeperiod + 1)) seeded with the first value of each group,
    defined from the first row: pandas ``ewm(span=timeperiod, adjust=False).mean()``. The
    variant inside TA-Lib ``ADOSC``; :func:`ema` is the SMA-seeded TA-Lib ``EMA``."""
    return _one(_native.ema_recursive, values, "values", offsets, timeperiod=timeperiod)


def wma(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Linearly weighted moving average, weights 1..timeperiod, newest heaviest (TA-Lib ``WMA``)."""
    return _one(_native.wma, values, "values", offsets, timeperiod=timeperiod)


def dema(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Double EMA ``2 EMA - EMA(EMA)`` (TA-Lib ``DEMA``); first value at ``2 (timeperiod - 1)``."""
    return _one(_native.dema, values, "values", offsets, timeperiod=timeperiod)


def tema(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Triple EMA ``3 EMA - 3 EMA(EMA) + EMA(EMA(EMA))`` (TA-Lib ``TEMA``)."""
    return _one(_native.tema, values, "values", offsets, timeperiod=timeperiod)


def kama(values: npt.ArrayLike, *, timeperiod: int = 30, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Kaufman adaptive moving average (TA-Lib ``KAMA``, fast 2 / slow 30): the smoothing constant
    follows the efficiency ratio (net change / path length over ``timeperiod`` bars)."""
    return _one(_native.kama, values, "values", offsets, timeperiod=timeperiod)


def hma(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Hull moving average ``WMA(2 WMA(x, n/2) - WMA(x, n), floor(sqrt(n)))``; ``timeperiod >= 2``."""
    return _one(_native.hma, values, "values", offsets, timeperiod=timeperiod)


def rolling_sum(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rolling sum over ``timeperiod`` values (TA-Lib ``SUM``)."""
    return _one(_native.rolling_sum, values, "values", offsets, timeperiod=timeperiod)


def var(values: npt.ArrayLike, *, timeperiod: int, ddof: int = 0, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rolling variance dividing by ``timeperiod - ddof`` (``ddof=0``: TA-Lib ``VAR``)."""
    return _one(_native.var, values, "values", offsets, timeperiod=timeperiod, ddof=ddof)


def zscore(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """``(x - rolling mean) / rolling population std`` over ``timeperiod`` values; 0 in a flat window."""
    return _one(_native.zscore, values, "values", offsets, timeperiod=timeperiod)


def skew(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rolling skewness, population form ``m3 / m2**1.5`` (``scipy.stats.skew(bias=True)``); 0 when flat."""
    return _one(_native.skew, values, "values", offsets, timeperiod=timeperiod)


def kurt(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rolling excess kurtosis, population form ``m4 / m2**2 - 3``; 0 when flat."""
    return _one(_native.kurt, values, "values", offsets, timeperiod=timeperiod)


def rolling_max(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Highest value over ``timeperiod`` values (TA-Lib ``MAX``)."""
    return _one(_native.rolling_max, values, "values", offsets, timeperiod=timeperiod)[0]


def rolling_min(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Lowest value over ``timeperiod`` values (TA-Lib ``MIN``)."""
    return _one(_native.rolling_min, values, "values", offsets, timeperiod=timeperiod)[0]


def bars_since_max(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rows since the highest value of the window (0 = this row; the latest of equal highs)."""
    return _one(_native.rolling_max, values, "values", offsets, timeperiod=timeperiod)[1]


def bars_since_min(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rows since the lowest value of the window (0 = this row; the latest of equal lows)."""
    return _one(_native.rolling_min, values, "values", offsets, timeperiod=timeperiod)[1]


def maxindex(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Absolute row index of the window's highest value (TA-Lib ``MAXINDEX``), NaN in warm-up.
    Ties go to the latest row (TA-Lib is inconsistent about ties)."""
    since = bars_since_max(values, timeperiod=timeperiod, offsets=offsets)
    return np.arange(len(since)) - since


def minindex(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Absolute row index of the window's lowest value (TA-Lib ``MININDEX``), NaN in warm-up."""
    since = bars_since_min(values, timeperiod=timeperiod, offsets=offsets)
    return np.arange(len(since)) - since


def rank(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Percentile rank of each value among the other ``timeperiod - 1`` of its window, in [0, 1],
    ties counting half (``timeperiod >= 2``)."""
    return _one(_native.rank, values, "values", offsets, timeperiod=timeperiod)


def quantile(values: npt.ArrayLike, *, timeperiod: int, q: float, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rolling quantile ``q`` in [0, 1] with linear interpolation (``np.quantile`` default)."""
    return _native.quantile(
        _as_series(values, "values"),
        timeperiod=_as_int(timeperiod, "timeperiod"),
        q=float(q),
        offsets=_as_offsets(offsets),
    )


def correl(
    x: npt.ArrayLike, y: npt.ArrayLike, *, timeperiod: int = 30, offsets: npt.ArrayLike | None = None
) -> FloatArray:
    """Rolling Pearson correlation (TA-Lib ``CORREL``); 0 where either window is flat. TA-Lib also
    gives 0 when the product of the variance sums is below 1e-8; we do not."""
    x_, y_ = _aligned({"x": x, "y": y})
    return _native.correl(x_, y_, timeperiod=_as_int(timeperiod, "timeperiod"), offsets=_as_offsets(offsets))


def rolling_beta(
    y: npt.ArrayLike, x: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None
) -> FloatArray:
    """Rolling OLS slope of ``y`` on ``x``, ``cov(x, y) / var(x)``; 0 where ``x`` is flat. (TA-Lib
    ``BETA`` is a different thing: the slope of the two series' one-bar returns.)"""
    y_, x_ = _aligned({"y": y, "x": x})
    return _native.rolling_beta(y_, x_, timeperiod=_as_int(timeperiod, "timeperiod"), offsets=_as_offsets(offsets))


def roc(values: npt.ArrayLike, *, timeperiod: int = 10, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rate of change in percent, ``100 (x / x[-timeperiod] - 1)`` (TA-Lib ``ROC``)."""
    return _one(_native.roc, values, "values", offsets, timeperiod=timeperiod)


def trix(values: npt.ArrayLike, *, timeperiod: int = 30, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """One-bar rate of change (percent) of a triple EMA (TA-Lib ``TRIX``)."""
    return _one(_native.trix, values, "values", offsets, timeperiod=timeperiod)


def macd(
    values: npt.ArrayLike,
    *,
    fastperiod: int = 12,
    slowperiod: int = 26,
    signalperiod: int = 9,
    offsets: npt.ArrayLike | None = None,
) -> MACD:
    """MACD line, signal and histogram (TA-Lib ``MACD``; the fast EMA is seeded where the slow one
    is, as in TA-Lib). The line is defined from ``slowperiod - 1``, signal and histogram from
    ``slowperiod + signalperiod - 2`` (TA-Lib starts all three there). Needs fast < slow."""
    line, signal, hist = _one(
        _native.macd, values, "values", offsets, fastperiod=fastperiod, slowperiod=slowperiod, signalperiod=signalperiod
    )
    return MACD(line, signal, hist)


def stoch(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    *,
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowd_period: int = 3,
    offsets: npt.ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Stochastic oscillator (TA-Lib ``STOCH``, SMA smoothing): ``(slowk, slowd)`` in [0, 100].
    ``slowk_period=1`` gives the fast %K. Slow %K is defined ``slowd_period - 1`` bars before
    TA-Lib shows it."""
    h, l_, c = _aligned({"high": high, "low": low, "close": close})
    return _native.stoch(
        h,
        l_,
        c,
        fastk_period=_as_int(fastk_period, "fastk_period"),
        slowk_period=_as_int(slowk_period, "slowk_period"),
        slowd_period=_as_int(slowd_period, "slowd_period"),
        offsets=_as_offsets(offsets),
    )


def _hlc(kernel, high, low, close, timeperiod, offsets) -> FloatArray:
    h, l_, c = _aligned({"high": high, "low": low, "close": close})
    return kernel(h, l_, c, timeperiod=_as_int(timeperiod, "timeperiod"), offsets=_as_offsets(offsets))


def willr(high, low, close, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Williams %R in [-100, 0] (TA-Lib ``WILLR``); 0 when the window has no range."""
    return _hlc(_native.willr, high, low, close, timeperiod, offsets)


def cci(high, low, close, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Commodity channel index (TA-Lib ``CCI``); 0 when the mean deviation is 0."""
    return _hlc(_native.cci, high, low, close, timeperiod, offsets)


def atr(high, low, close, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Average true range, Wilder-smoothed (TA-Lib ``ATR``); first value at index ``timeperiod``."""
    return _hlc(_native.atr, high, low, close, timeperiod, offsets)


def natr(high, low, close, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """ATR as a percentage of the close (TA-Lib ``NATR``)."""
    return _hlc(_native.natr, high, low, close, timeperiod, offsets)


def trange(high, low, close, *, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """True range ``max(high, prev close) - min(low, prev close)`` (TA-Lib ``TRANGE``)."""
    h, l_, c = _aligned({"high": high, "low": low, "close": close})
    return _native.trange(h, l_, c, offsets=_as_offsets(offsets))


def _dmi(high, low, close, timeperiod, offsets):
    return _hlc(_native.dmi, high, low, close, timeperiod, offsets)


def plus_di(high, low, close, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """+DI (TA-Lib ``PLUS_DI``), from index ``timeperiod``."""
    return _dmi(high, low, close, timeperiod, offsets)[0]


def minus_di(high, low, close, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """-DI (TA-Lib ``MINUS_DI``), from index ``timeperiod``."""
    return _dmi(high, low, close, timeperiod, offsets)[1]


def adx(high, low, close, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Average directional index (TA-Lib ``ADX``), from index ``2 timeperiod - 1``."""
    return _dmi(high, low, close, timeperiod, offsets)[2]


def dmi(
    high, low, close, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(plus_di, minus_di, adx)`` in one pass."""
    return _dmi(high, low, close, timeperiod, offsets)


def aroon(high, low, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
    """``(aroondown, aroonup)`` in [0, 100] like TA-Lib ``AROON`` (latest of equal extremes)."""
    h, l_ = _aligned({"high": high, "low": low})
    return _native.aroon(h, l_, timeperiod=_as_int(timeperiod, "timeperiod"), offsets=_as_offsets(offsets))


def aroonosc(high, low, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Aroon up minus Aroon down (TA-Lib ``AROONOSC``)."""
    down, up = aroon(high, low, timeperiod=timeperiod, offsets=offsets)
    return up - down


def ultosc(
    high,
    low,
    close,
    *,
    timeperiod1: int = 7,
    timeperiod2: int = 14,
    timeperiod3: int = 28,
    offsets: npt.ArrayLike | None = None,
) -> FloatArray:
    """Ultimate oscillator (TA-Lib ``ULTOSC``), weights 4/2/1 from the shortest window."""
    h, l_, c = _aligned({"high": high, "low": low, "close": close})
    return _native.ultosc(
        h,
        l_,
        c,
        timeperiod1=_as_int(timeperiod1, "timeperiod1"),
        timeperiod2=_as_int(timeperiod2, "timeperiod2"),
        timeperiod3=_as_int(timeperiod3, "timeperiod3"),
        offsets=_as_offsets(offsets),
    )


def _hlcv(kernel, high, low, close, volume, offsets, **params) -> FloatArray:
    h, l_, c, v = _aligned({"high": high, "low": low, "close": close, "volume": volume})
    ints = {k: _as_int(p, k) for k, p in params.items()}
    return kernel(h, l_, c, v, **ints, offsets=_as_offsets(offsets))


def mfi(high, low, close, volume, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Money flow index (TA-Lib ``MFI``). 50 when no money flowed (TA-Lib: 0 when the flow is < 1)."""
    return _hlcv(_native.mfi, high, low, close, volume, offsets, timeperiod=timeperiod)


def vwap(high, low, close, volume, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rolling volume-weighted typical price over ``timeperiod`` bars; NaN if no volume traded."""
    return _hlcv(_native.vwap, high, low, close, volume, offsets, timeperiod=timeperiod)


def ad(high, low, close, volume, *, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Accumulation/distribution line (TA-Lib ``AD``), cumulative within each group."""
    return _hlcv(_native.ad, high, low, close, volume, offsets)


def adosc(
    high, low, close, volume, *, fastperiod: int = 3, slowperiod: int = 10, offsets: npt.ArrayLike | None = None
) -> FloatArray:
    """Chaikin A/D oscillator (TA-Lib ``ADOSC``): fast minus slow recursive EMA of the A/D line."""
    return _hlcv(_native.adosc, high, low, close, volume, offsets, fastperiod=fastperiod, slowperiod=slowperiod)


def obv(close, volume, *, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """On-balance volume (TA-Lib ``OBV``), cumulative within each group."""
    c, v = _aligned({"close": close, "volume": volume})
    return _native.obv(c, v, offsets=_as_offsets(offsets))


def bbands(
    values: npt.ArrayLike,
    *,
    timeperiod: int = 5,
    nbdevup: float = 2.0,
    nbdevdn: float = 2.0,
    offsets: npt.ArrayLike | None = None,
) -> Bands:
    """Bollinger bands (TA-Lib ``BBANDS`` with an SMA middle and population std)."""
    middle = sma(values, timeperiod=timeperiod, offsets=offsets)
    sd = stddev(values, timeperiod=timeperiod, offsets=offsets)
    return Bands(middle + float(nbdevup) * sd, middle, middle - float(nbdevdn) * sd)


def keltner(
    high, low, close, *, timeperiod: int = 20, atrperiod: int = 10, multiplier: float = 2.0, offsets=None
) -> Bands:
    """Keltner channel: EMA of the close ± ``multiplier`` ATR."""
    middle = ema(close, timeperiod=timeperiod, offsets=offsets)
    width = float(multiplier) * atr(high, low, close, timeperiod=atrperiod, offsets=offsets)
    return Bands(middle + width, middle, middle - width)


def donchian(high, low, *, timeperiod: int = 20, offsets: npt.ArrayLike | None = None) -> Bands:
    """Donchian channel: highest high, midpoint, lowest low over ``timeperiod`` bars."""
    upper = rolling_max(high, timeperiod=timeperiod, offsets=offsets)
    lower = rolling_min(low, timeperiod=timeperiod, offsets=offsets)
    return Bands(upper, (upper + lower) / 2, lower)


def _ohlc(kernel, open_, high, low, close, offsets, **params) -> FloatArray:
    o, h, l_, c = _aligned({"open": open_, "high": high, "low": low, "close": close})
    return kernel(o, h, l_, c, **params, offsets=_as_offsets(offsets))


def parkinson(open_, high, low, close, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Parkinson volatility per bar: ``sqrt(mean(ln(h/l)^2) / (4 ln 2))`` over ``timeperiod`` bars."""
    return _ohlc(
        _native.range_volatility, open_, high, low, close, offsets,
        timeperiod=_as_int(timeperiod, "timeperiod"), estimator="parkinson",
    )  # fmt: skip


def garman_klass(open_, high, low, close, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Garman-Klass volatility per bar: ``sqrt(mean(0.5 ln(h/l)^2 - (2 ln 2 - 1) ln(c/o)^2))``."""
    return _ohlc(
        _native.range_volatility, open_, high, low, close, offsets,
        timeperiod=_as_int(timeperiod, "timeperiod"), estimator="garman_klass",
    )  # fmt: skip


def rogers_satchell(open_, high, low, close, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Rogers-Satchell volatility per bar: ``sqrt(mean(ln(h/c) ln(h/o) + ln(l/c) ln(l/o)))``."""
    return _ohlc(
        _native.range_volatility, open_, high, low, close, offsets,
        timeperiod=_as_int(timeperiod, "timeperiod"), estimator="rogers_satchell",
    )  # fmt: skip


def yang_zhang(open_, high, low, close, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Yang-Zhang volatility per bar (overnight + open-to-close + Rogers-Satchell); from index
    ``timeperiod``; ``timeperiod >= 2``."""
    return _ohlc(_native.yang_zhang, open_, high, low, close, offsets, timeperiod=_as_int(timeperiod, "timeperiod"))


def ffd_weights(d: float, *, threshold: float = 1e-4, max_width: int = 10_000) -> FloatArray:
    """Fixed-width fractional-differencing weights, newest first (``w_0 = 1``)."""
    return np.asarray(
        _native.ffd_weights(d=float(d), threshold=float(threshold), max_width=_as_int(max_width, "max_width"))
    )


def frac_diff(
    values: npt.ArrayLike,
    *,
    d: float,
    threshold: float = 1e-4,
    max_width: int = 10_000,
    offsets: npt.ArrayLike | None = None,
) -> FloatArray:
    """Fixed-width fractional difference of order ``d`` (AFML ch. 5; pass log prices). Weights stop
    below ``threshold`` or at ``max_width``; the first ``len(ffd_weights(...)) - 1`` rows of each
    group are warm-up."""
    return _native.frac_diff(
        _as_series(values, "values"),
        d=float(d),
        threshold=float(threshold),
        max_width=_as_int(max_width, "max_width"),
        offsets=_as_offsets(offsets),
    )


__all__ += [  # noqa: PLE0605
    "MACD", "Bands", "ad", "adosc", "adx", "aroon", "aroonosc", "atr", "bars_since_max", "bars_since_min",
    "bbands", "cci", "correl", "dema", "dmi", "donchian", "ema_recursive", "ffd_weights", "frac_diff",
    "garman_klass", "hma", "kama", "keltner", "kurt", "macd", "maxindex", "mfi", "minindex", "minus_di", "natr",
    "obv", "parkinson", "plus_di", "quantile", "rank", "roc", "rogers_satchell", "rolling_beta", "rolling_max",
    "rolling_min", "rolling_sum", "skew", "stoch", "tema", "trange", "trix", "ultosc", "var", "vwap", "willr", "wma",
    "yang_zhang", "zscore",
]  # fmt: skip


def triple_barrier(
    close: npt.ArrayLike,
    upper: npt.ArrayLike | float,
    lower: npt.ArrayLike | float,
    *,
    horizon: int,
    offsets: npt.ArrayLike | None = None,
) -> TripleBarrier:
    """First touch of the triple barrier for every bar (López de Prado, AFML ch. 3).

    For bar ``i`` the scan runs over ``j = i+1 .. min(i + horizon, last row of i's group)`` with
    ``r_j = ln(close[j] / close[i])``. ``upper[i]`` and ``lower[i]`` are positive barrier widths in
    log-return units: the upper barrier is hit when ``r_j >= upper[i]``, the lower when
    ``r_j <= -lower[i]``; ``+inf`` disables that barrier. A scalar width applies to every bar.

    Outcome per bar (see :class:`TripleBarrier`):
        * first touch: ``touch_index=j``, ``ret=r_j``, ``barrier=+1`` (upper) or ``-1`` (lower);
        * no touch and bar ``i + horizon`` lies in the group: the vertical barrier,
          ``touch_index=i + horizon``, ``ret=r_{i+horizon}``, ``barrier=0``;
        * unknown, no label (``touch_index=-1``, ``ret=NaN``, ``barrier=0``): the horizon runs
          past the end of the group without a touch (outcome not known yet), or ``close[i]`` is
          not a positive finite price, or a width is NaN or <= 0, or the vertical-barrier bar has
          no valid price. Later bars without a valid price are skipped by the scan.

    ``touch_index`` is an absolute row index into ``close``, so ``ts[touch_index]`` is the label's
    ``t1``. Cost is O(n * horizon) in the worst case.

    Raises:
        ValueError: ``close``, ``upper`` and ``lower`` differ in length, ``horizon < 1``, or bad
            offsets.
    """
    close_arr = _as_series(close, "close")
    n = len(close_arr)
    touch_index, ret, barrier = _native.triple_barrier(
        close_arr,
        _as_width(upper, "upper", n),
        _as_width(lower, "lower", n),
        horizon=_as_int(horizon, "horizon"),
        offsets=_as_offsets(offsets),
    )
    return TripleBarrier(touch_index, ret, barrier)


class CusumEvents(NamedTuple):
    """Events of :func:`cusum_filter`; unpacks as ``(index, direction)``."""

    index: Int64Array
    """Absolute row index of each event, increasing."""
    direction: Int8Array
    """+1 when the upward sum fired, -1 when the downward sum fired."""


def cusum_filter(
    values: npt.ArrayLike, threshold: npt.ArrayLike | float, *, offsets: npt.ArrayLike | None = None
) -> CusumEvents:
    """Symmetric CUSUM filter (López de Prado, AFML 2.5.2.1): sample events where the series moved.

    On the differences ``d`` of ``values`` (pass log prices), per group:
    ``s+ = max(0, s+ + d)``, ``s- = min(0, s- + d)``; when ``s- < -threshold[k]`` a down event
    fires at ``k`` and ``s-`` restarts at 0, else when ``s+ > threshold[k]`` an up event fires and
    ``s+`` restarts. Sums start at 0 in every group. A non-finite value is skipped; while the
    threshold is not a positive number (a volatility still warming up) nothing accumulates.
    Each event uses rows up to and including its own, so sampling at events is causal.
    """
    arr = _as_series(values, "values")
    index, direction = _native.cusum_filter(
        arr, _as_width(threshold, "threshold", len(arr)), offsets=_as_offsets(offsets)
    )
    return CusumEvents(index, direction)


def trade_barrier(
    close: npt.ArrayLike,
    profit: npt.ArrayLike | float,
    stop: npt.ArrayLike | float,
    *,
    vertical: npt.ArrayLike,
    high: npt.ArrayLike | None = None,
    low: npt.ArrayLike | None = None,
    open: npt.ArrayLike | None = None,  # noqa: A002 - the bar column's name
    side: npt.ArrayLike | None = None,
    offsets: npt.ArrayLike | None = None,
) -> TripleBarrier:
    """Triple barrier in trade terms: profit-taking and stop-loss widths, side, intrabar touches.

    Entry at ``close[i]``; with ``side[i]`` (+1 long, -1 short, default long; 0 or NaN: no trade,
    unknown) the position's log return at price ``p`` is ``side * ln(p / close[i])``. Profit
    is taken when it reaches ``+profit[i]``, the stop when it reaches ``-stop[i]`` (``+inf``
    disables one). ``vertical[i]`` is the absolute row of the vertical barrier (``i + horizon``
    for bars; the last row inside a time window for time); a row past the group means the window
    is not over, so without a touch the outcome is unknown.

    With ``high`` and ``low``, touches are intrabar: a bar whose ``open`` (if given) is already
    beyond a barrier exits at the open (a gap fill); otherwise reaching a barrier exits at the
    barrier itself; when one bar's range reaches both barriers the **stop-loss wins** (their
    order inside the bar is unknown, so no profit is claimed). Without them, closes are compared.

    Returns ``touch_index``, ``ret`` (the trade's log return) and ``barrier`` (+1 profit-taking,
    -1 stop-loss, 0 vertical).
    """
    close_arr = _as_series(close, "close")
    n = len(close_arr)
    extra = {
        name: _as_series(a, name)
        for name, a in (("high", high), ("low", low), ("open", open), ("side", side))
        if a is not None
    }
    touch_index, ret, barrier = _native.trade_barrier(
        close_arr,
        _as_width(profit, "profit", n),
        _as_width(stop, "stop", n),
        np.ascontiguousarray(vertical, dtype=np.int64),
        **extra,
        offsets=_as_offsets(offsets),
    )
    return TripleBarrier(touch_index, ret, barrier)


def triple_barrier_vol(
    close: npt.ArrayLike,
    *,
    horizon: int,
    vol_window: int = 20,
    profit_mult: float = 2.0,
    stop_mult: float = 2.0,
    offsets: npt.ArrayLike | None = None,
) -> tuple[TripleBarrier, FloatArray]:
    """Triple barrier with the volatility computed in the same pass; returns (outcomes, sigma).

    ``sigma[i]`` is the sample std (ddof 1) of the last ``vol_window`` log close-to-close returns
    of i's group, up to and including bar i (NaN until the window is full or after a gap). The
    widths are ``profit_mult * sigma[i]`` and ``stop_mult * sigma[i]``, then the scan is that of
    :func:`triple_barrier`. Equals ``rolling_std`` of the returns followed by ``triple_barrier``.
    """
    close_arr = _as_series(close, "close")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(close_arr)
    if not np.isfinite(log_close).all():  # invalid prices (<= 0, NaN, inf) become NaN: no touch
        log_close[~np.isfinite(log_close)] = np.nan
    (touch_index, ret, barrier), vol = _native.triple_barrier_vol(
        close_arr,
        log_close,
        horizon=_as_int(horizon, "horizon"),
        vol_window=_as_int(vol_window, "vol_window"),
        profit_mult=float(profit_mult),
        stop_mult=float(stop_mult),
        offsets=_as_offsets(offsets),
    )
    return TripleBarrier(touch_index, ret, barrier), vol


def _as_series(data: npt.ArrayLike, name: str) -> FloatArray:
    """``data`` as a contiguous 1-D float64 array (no copy when it already is one)."""
    array = np.asarray(data)
    if array.dtype.kind not in _REAL_KINDS:
        raise TypeError(
            f"{name} must hold real numbers (int or float), got dtype {array.dtype}; "
            f"convert it, e.g. np.asarray({name}, dtype=np.float64)"
        )
    if array.ndim != 1:
        raise TypeError(f"{name} must be 1-D, got an array of shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float64)


def _as_width(data: npt.ArrayLike | float, name: str, n: int) -> FloatArray:
    """A barrier width array; a scalar is broadcast to ``n`` bars."""
    if np.ndim(data) == 0:
        return np.full(n, _as_series([data], name)[0])  # type: ignore[list-item]
    return _as_series(data, name)


def _as_offsets(offsets: npt.ArrayLike | None) -> Int64Array | None:
    if offsets is None:
        return None
    array = np.asarray(offsets)
    if array.dtype.kind not in "iu" and array.size > 0:  # np.asarray([]) is float64
        raise TypeError(f"offsets must hold integers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise TypeError(f"offsets must be 1-D, got an array of shape {array.shape}")
    if array.dtype.kind == "u" and array.size and int(array.max()) > _INT64_MAX:
        raise ValueError("offsets exceed the int64 range")
    return np.ascontiguousarray(array, dtype=np.int64)


def _as_int(value: int, name: str) -> int:
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
