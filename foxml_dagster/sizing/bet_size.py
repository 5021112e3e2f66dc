"""Bet sizing from predicted probabilities (Lopez de Prado, Advances in Financial ML, ch. 10).

For a binary forecast p = P(up), the test statistic of "up" against a fair coin is
z = (p - 1/2) / sqrt(p (1 - p)), and the bet size is m = 2 Phi(z) - 1 in (-1, 1): 0 at p = 1/2,
growing with the evidence, signed by the side (p < 1/2 gives a short). Worked example: p = 0.6
gives z = 0.2041 and m = 0.1617.

A bet opened at a bar stays active for `holding_bars` bars (its label horizon), so at any bar
several bets of one symbol are alive; the position is their average size (bets opened at the
last `holding_bars` bars of the symbol, this one included). Averaging makes the position move
gradually as old bets expire instead of jumping with every new forecast. The average is then
rounded to a multiple of `step`, which keeps tiny changes in p from trading.

Everything is causal: a bar's size uses forecasts made at that bar or before, never the bet's
realised exit (a triple barrier's touch time is only known afterwards).
"""

from __future__ import annotations

import numpy as np

__all__ = ["average_active", "bet_size", "bet_size_weights", "discretize"]


def bet_size(p: np.ndarray) -> np.ndarray:
    """m = 2 Phi(z) - 1 with z = (p - 1/2) / sqrt(p (1 - p)); p of exactly 0 or 1 gives -1 or 1."""
    from scipy.special import ndtr  # imported here: seconds at the code location's load, in every step

    p = np.asarray(p, dtype=np.float64)
    if np.isnan(p).any() or ((p < 0) | (p > 1)).any():
        raise ValueError("bet_size: probabilities must lie in [0, 1] with no NaN")
    spread = np.sqrt(p * (1 - p))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, (p - 0.5) / spread, np.sign(p - 0.5) * np.inf)
    return 2 * ndtr(z) - 1


def average_active(sizes: np.ndarray, offsets: np.ndarray, holding_bars: int) -> np.ndarray:
    """Per symbol (rows offsets[i]:offsets[i+1], in time order), the mean size of the bets opened
    at the last `holding_bars` rows including this one (fewer at the symbol's start)."""
    if holding_bars < 1:
        raise ValueError(f"holding_bars must be >= 1, got {holding_bars}")
    sizes = np.asarray(sizes, dtype=np.float64)
    out = np.empty_like(sizes)
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        run = np.concatenate([[0.0], np.cumsum(sizes[a:b])])
        end = np.arange(1, b - a + 1)
        start = np.maximum(end - holding_bars, 0)
        out[a:b] = (run[end] - run[start]) / (end - start)
    return out


def discretize(sizes: np.ndarray, step: float) -> np.ndarray:
    """`sizes` rounded to the nearest multiple of `step` (half away from zero), within [-1, 1]."""
    if not 0 < step <= 1:
        raise ValueError(f"step must lie in (0, 1], got {step}")
    sizes = np.asarray(sizes, dtype=np.float64)
    # Round half away from zero, so +x and -x always get mirrored sizes.
    rounded = np.sign(sizes) * np.floor(np.abs(sizes) / step + 0.5 + 1e-12) * step
    return np.clip(rounded, -1.0, 1.0)


def bet_size_weights(p: np.ndarray, offsets: np.ndarray, *, holding_bars: int, step: float) -> np.ndarray:
    """The policy: size each forecast, average over the active bets, discretise."""
    return discretize(average_active(bet_size(p), offsets, holding_bars), step)
