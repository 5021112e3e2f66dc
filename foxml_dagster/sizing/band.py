"""A no-trade band: skip a rebalance whose expected gain is below its cost.

The linear policy sets w* = gain (2p - 1). A bet won with probability p over a horizon of h bars,
with symmetric outcomes of one horizon volatility s = sigma sqrt(h), expects mu = (2p - 1) s, so
w* = gain mu / s: the optimum of the mean-variance utility U(w) = w mu - (lambda / 2) w^2 s^2 for
lambda = 1 / (gain s). Moving from the held weight w to w* gains U(w*) - U(w) = (s / (2 gain)) (w* - w)^2
and costs c |w* - w| (c: the backtest's cost per unit of weight traded). The move pays when

    |w* - w| > 2 c gain / s          (the band's half-width, times `scale`)

Inside the band the held weight stays; outside it the book trades to w*. Worked example: c = 5 bps,
gain 4, sigma 2% a bar over h = 10 bars (s = 6.3%): the band is 2 * 0.0005 * 4 / 0.063 = 0.063, so
a target moving from 0.20 to 0.25 is not traded, one moving to 0.30 is.

sigma is each symbol's sample standard deviation of log returns over the last `vol_window` bars up
to and including the bar (causal). Before it is defined the band is 0: every rebalance is made.
"""

from __future__ import annotations

import numpy as np

__all__ = ["band_width", "no_trade_band"]


def band_width(horizon_vol: np.ndarray, *, cost_rate: float, gain: float, scale: float = 1.0) -> np.ndarray:
    """Half-width 2 c gain / s of each row's band (0 where s is unknown or not positive)."""
    s = np.asarray(horizon_vol, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.where(np.isfinite(s) & (s > 0), scale * 2.0 * cost_rate * gain / s, 0.0)
    return width


def no_trade_band(target: np.ndarray, width: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Held weights: per symbol (rows offsets[i]:offsets[i+1], in time order, the book starting
    flat), keep the last held weight while the target stays within `width` of it."""
    target = np.asarray(target, dtype=np.float64)
    width = np.asarray(width, dtype=np.float64)
    held = np.empty_like(target)
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        last = 0.0
        for i in range(a, b):
            if abs(target[i] - last) > width[i]:
                last = target[i]
            held[i] = last
    return held
