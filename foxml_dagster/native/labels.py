"""Event sampling and labelling kernels: triple barrier (plain, trade terms, with volatility) and the CUSUM
filter."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from foxml_dagster import _native
from foxml_dagster.native._convert import FloatArray, Int8Array, Int64Array, _as_int, _as_offsets, _as_series, _as_width

__all__ = ["TripleBarrier", "CusumEvents", "triple_barrier", "cusum_filter", "trade_barrier", "triple_barrier_vol"]


class TripleBarrier(NamedTuple):
    """Per-bar outcome of :func:`triple_barrier`; unpacks as ``(touch_index, ret, barrier)``."""

    touch_index: Int64Array
    """Absolute index of the bar that decided the label, or -1 when the outcome is unknown."""
    ret: FloatArray
    """Log return ``ln(close[touch_index] / close[i])``; NaN when unknown."""
    barrier: Int8Array
    """+1 upper barrier, -1 lower barrier, 0 vertical barrier (or unknown: see touch_index)."""


class CusumEvents(NamedTuple):
    """Events of :func:`cusum_filter`; unpacks as ``(index, direction)``."""

    index: Int64Array
    """Absolute row index of each event, increasing."""
    direction: Int8Array
    """+1 when the upward sum fired, -1 when the downward sum fired."""


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
