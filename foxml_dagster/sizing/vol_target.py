"""Volatility targeting of the whole book, with a causal volatility estimate.

The base book (the linear policy's weights, after its risk limits) earns, over the bar ending
at t, r_t = sum over symbols of w(s, t-1) * (close(s, t) / close(s, t-1) - 1): known at t's
close, when the next weights are decided. Its variance is estimated by an exponentially weighted
mean of r^2 (zero mean: over a bar the mean is noise next to the spread) with the given
half-life, over r_1..r_t only. The book at t is the base book times

    scale_t = min(max_leverage, annual_vol / (sqrt(var_t) * sqrt(periods_per_year)))

and x1 until `min_periods` invested bars have been seen (no estimate, no leverage). Worked
example: a book whose bar returns alternate +1% and -1% has var ~= 1e-4, a daily volatility of
1% (15.9% a year at 252 bars); a 10% target scales it by 10 / 15.87 = 0.63.

The estimate reads the unscaled book, so the scale never feeds back into its own estimate.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ewma_variance", "vol_target_scale"]


def ewma_variance(returns: np.ndarray, halflife: int) -> np.ndarray:
    """Causal exponentially weighted mean of r^2: var_t uses r_1..r_t, weights decaying by half
    every `halflife` bars, normalised by the weights seen so far (no start-up bias)."""
    if halflife < 1:
        raise ValueError(f"halflife must be >= 1, got {halflife}")
    r = np.asarray(returns, dtype=np.float64)
    decay = 0.5 ** (1.0 / halflife)
    out = np.empty_like(r)
    num = den = 0.0
    for i, x in enumerate(r):
        num = decay * num + x * x
        den = decay * den + 1.0
        out[i] = num / den
    return out


def vol_target_scale(
    book_returns: np.ndarray,
    invested: np.ndarray,
    *,
    annual_vol: float,
    halflife: int,
    periods_per_year: int,
    max_leverage: float,
    min_periods: int,
) -> np.ndarray:
    """The scale of the book at each bar (see the module docstring). `invested[t]` says whether
    the base book held anything over bar t; only those bars count towards `min_periods` and the
    estimate (a flat book's zero returns say nothing about the book's risk)."""
    r = np.asarray(book_returns, dtype=np.float64)
    invested = np.asarray(invested, dtype=bool)
    scale = np.ones(len(r))
    rows = np.flatnonzero(invested)
    if len(rows) == 0:
        return scale
    var = ewma_variance(r[rows], halflife)
    vol = np.sqrt(var * periods_per_year)
    with np.errstate(divide="ignore"):
        wanted = np.where(vol > 0, annual_vol / vol, max_leverage)
    seen = np.arange(1, len(rows) + 1)
    estimate = np.where(seen >= min_periods, np.minimum(wanted, max_leverage), 1.0)
    # Between invested bars the last estimate stands (it is what was known then).
    position = np.searchsorted(rows, np.arange(len(r)), side="right") - 1
    known = position >= 0
    scale[known] = estimate[position[known]]
    return scale
