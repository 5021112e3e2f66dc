"""Rolling-window statistics (moments, extremes, ranks, quantiles, correlation, beta) and fractional
differencing.

Rolling max/min/sum are ``rolling_max``, ``rolling_min``, ``rolling_sum`` so the package never shadows
the builtins ``max``, ``min``, ``sum`` for code written in it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from foxml_dagster import _native
from foxml_dagster.native._convert import FloatArray, _aligned, _as_int, _as_offsets, _as_series, _one

__all__ = [
    "stddev",
    "rolling_std",
    "rolling_sum",
    "var",
    "zscore",
    "skew",
    "kurt",
    "rolling_max",
    "rolling_min",
    "bars_since_max",
    "bars_since_min",
    "maxindex",
    "minindex",
    "rank",
    "quantile",
    "correl",
    "rolling_beta",
    "ffd_weights",
    "frac_diff",
]


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
    return _one(_native.rolling_max_value, values, "values", offsets, timeperiod=timeperiod)


def rolling_min(values: npt.ArrayLike, *, timeperiod: int, offsets: npt.ArrayLike | None = None) -> FloatArray:
    """Lowest value over ``timeperiod`` values (TA-Lib ``MIN``)."""
    return _one(_native.rolling_min_value, values, "values", offsets, timeperiod=timeperiod)


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
