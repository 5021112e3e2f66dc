"""Volatility and channels: true range, ATR, Bollinger/Keltner/Donchian bands, range-based estimators."""

from __future__ import annotations

from typing import NamedTuple

import numpy.typing as npt

from foxml_dagster import _native
from foxml_dagster.native._convert import FloatArray, _aligned, _as_int, _as_offsets, _hlc, _ohlc
from foxml_dagster.native.rolling import rolling_max, rolling_min, stddev
from foxml_dagster.native.smoothing import ema, sma

__all__ = [
    "Bands",
    "atr",
    "natr",
    "trange",
    "bbands",
    "keltner",
    "donchian",
    "parkinson",
    "garman_klass",
    "rogers_satchell",
    "yang_zhang",
]


class Bands(NamedTuple):
    """Upper, middle and lower band (:func:`bbands`, :func:`keltner`, :func:`donchian`)."""

    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


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
