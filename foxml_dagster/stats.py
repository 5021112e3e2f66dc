"""Statistics that keep reported Sharpe ratios honest (Bailey & López de Prado).

- `probabilistic_sharpe`: P(true Sharpe > benchmark) given the estimate, its sample length, and
  the returns' skewness and kurtosis (non-normal returns widen the estimate's error).
- `expected_max_sharpe`: the Sharpe the best of N unskilled trials reaches by luck.
- `deflated_sharpe`: the PSR against that luck benchmark; N is the number of trials run (in this
  platform, family x target x configuration combinations, summed over the run history).
- `pbo_cscv`: the probability of backtest overfitting by combinatorially symmetric cross-
  validation: how often the in-sample best of N strategies ranks below the median out of sample.

Sharpe ratios here are per period (not annualised), as the formulas require.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import e, sqrt
from statistics import NormalDist

import numpy as np

_NORMAL = NormalDist()

EULER_GAMMA = 0.5772156649015329


def sharpe(returns: np.ndarray) -> float:
    r = np.asarray(returns, dtype=float)
    sd = r.std(ddof=1)
    return float(r.mean() / sd) if sd > 0 else 0.0


def probabilistic_sharpe(
    sr: float, n: int, *, benchmark: float = 0.0, skewness: float = 0.0, kurt: float = 3.0
) -> float:
    """PSR = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurt - 1) / 4 SR^2)); kurt is not excess."""
    if n < 2:
        return float("nan")
    denom = 1.0 - skewness * sr + (kurt - 1.0) / 4.0 * sr * sr
    return float(_NORMAL.cdf((sr - benchmark) * sqrt(n - 1) / sqrt(max(denom, 1e-12))))


def psr_of_returns(returns: np.ndarray, *, benchmark: float = 0.0) -> float:
    r = np.asarray(returns, dtype=float)
    skewness, kurt = _moments(r)
    return probabilistic_sharpe(sharpe(r), len(r), benchmark=benchmark, skewness=skewness, kurt=kurt)


def _moments(r: np.ndarray) -> tuple[float, float]:
    """Sample skewness and (non-excess) kurtosis, population-normalised like scipy's defaults."""
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    if m2 == 0:
        return 0.0, 3.0
    return float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """E[max SR] of N unskilled trials: sqrt(V) ((1 - g) Z(1 - 1/N) + g Z(1 - 1/(N e)))."""
    if n_trials < 2:
        return 0.0
    z = _NORMAL.inv_cdf
    return float(
        sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * z(1 - 1 / n_trials) + EULER_GAMMA * z(1 - 1 / (n_trials * e)))
    )


def deflated_sharpe(returns: np.ndarray, *, n_trials: int, sharpe_variance: float | None = None) -> float:
    """PSR against the expected maximum Sharpe of `n_trials` unskilled trials.

    Without `sharpe_variance` (the variance of the trials' Sharpe estimates), the variance of a
    Sharpe estimate under the null, 1 / (T - 1), is used.
    """
    r = np.asarray(returns, dtype=float)
    variance = sharpe_variance if sharpe_variance is not None else 1.0 / max(len(r) - 1, 1)
    return psr_of_returns(r, benchmark=expected_max_sharpe(n_trials, variance))


@dataclass(frozen=True)
class PBOResult:
    pbo: float  # share of splits where the in-sample best ranks at or below the OOS median
    logits: np.ndarray  # lambda = log(w / (1 - w)) per split, w its relative OOS rank
    n_splits: int


def pbo_cscv(returns: np.ndarray, *, n_blocks: int = 10) -> PBOResult:
    """PBO of choosing the best of N strategies (columns of a T x N return matrix) by Sharpe.

    Rows are cut into `n_blocks` (even) contiguous blocks; every half of the blocks is in turn
    the in-sample set and the rest out of sample: C(S, S/2) splits, each strategy's rows kept
    together so serial structure is preserved.
    """
    m = np.asarray(returns, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError("returns must be a T x N matrix of N >= 2 strategies")
    if n_blocks % 2 or n_blocks < 2:
        raise ValueError(f"n_blocks must be even and >= 2, got {n_blocks}")
    blocks = np.array_split(np.arange(m.shape[0]), n_blocks)
    n = m.shape[1]
    logits = []
    for chosen in combinations(range(n_blocks), n_blocks // 2):
        is_rows = np.concatenate([blocks[b] for b in chosen])
        oos_rows = np.concatenate([blocks[b] for b in range(n_blocks) if b not in chosen])
        best = int(np.argmax(_sharpes(m[is_rows])))
        oos = _sharpes(m[oos_rows])
        rank = 1 + np.sum(oos < oos[best]) + 0.5 * (np.sum(oos == oos[best]) - 1)  # 1 = worst
        w = rank / (n + 1)
        logits.append(np.log(w / (1 - w)))
    logits = np.array(logits)
    return PBOResult(float(np.mean(logits <= 0)), logits, len(logits))


def _sharpes(m: np.ndarray) -> np.ndarray:
    sd = m.std(axis=0, ddof=1)
    return np.where(sd > 0, m.mean(axis=0) / np.where(sd > 0, sd, 1), 0.0)
