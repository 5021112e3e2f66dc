"""Volume indicators: money flow index, rolling VWAP, accumulation/distribution, Chaikin oscillator, OBV."""

from __future__ import annotations

import numpy.typing as npt

from foxml_dagster import _native
from foxml_dagster.native._convert import FloatArray, _aligned, _as_offsets, _hlcv

__all__ = ["mfi", "vwap", "ad", "adosc", "obv"]


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
