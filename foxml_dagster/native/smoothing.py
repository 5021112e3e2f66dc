"""Moving averages and smoothers: SMA, EMA (TA-Lib and recursive), Wilder, WMA, DEMA, TEMA, KAMA, Hull."""

from __future__ import annotations

import numpy.typing as npt

from foxml_dagster import _native
from foxml_dagster.native._convert import FloatArray, _as_int, _as_offsets, _as_series, _one

__all__ = ["ema", "wilder", "sma", "ema_recursive", "wma", "dema", "tema", "kama", "hma"]


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
