"""Momentum oscillators and trend strength: RSI, ROC, TRIX, MACD, stochastics, Williams %R, CCI, DMI/ADX,
Aroon, ultimate oscillator."""

from __future__ import annotations

from typing import NamedTuple

import numpy.typing as npt

from foxml_dagster import _native
from foxml_dagster.native._convert import FloatArray, _aligned, _as_int, _as_offsets, _as_series, _hlc, _one

__all__ = [
    "MACD",
    "rsi",
    "roc",
    "trix",
    "macd",
    "stoch",
    "willr",
    "cci",
    "plus_di",
    "minus_di",
    "adx",
    "dmi",
    "aroon",
    "aroonosc",
    "ultosc",
]


class MACD(NamedTuple):
    """Outputs of :func:`macd`; unpacks as ``(macd, macdsignal, macdhist)`` like TA-Lib."""

    macd: FloatArray
    macdsignal: FloatArray
    macdhist: FloatArray


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


def willr(high, low, close, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Williams %R in [-100, 0] (TA-Lib ``WILLR``); 0 when the window has no range."""
    return _hlc(_native.willr, high, low, close, timeperiod, offsets)


def cci(high, low, close, *, timeperiod: int = 14, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Commodity channel index (TA-Lib ``CCI``); 0 when the mean deviation is 0."""
    return _hlc(_native.cci, high, low, close, timeperiod, offsets)


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
    return _hlc(_native.adx, high, low, close, timeperiod, offsets)


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
