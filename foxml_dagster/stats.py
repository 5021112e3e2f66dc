"""Statistics that keep reported Sharpe ratios honest (Bailey & López de Prado).

- `probabilistic_sharpe`: P(true Sharpe > benchmark) given the estimate, its sample length, and
  the returns' skewness and kurtosis (non-normal returns widen the estimate's error).
- `expected_max_sharpe`: the Sharpe the best of N unskilled trials reaches by luck.
- `deflated_sharpe`: the PSR against that luck benchmark; N is the number of independent trials
  run (in this platform, distinct strategy configurations in the run history, `foxml_dagster.
  trials`, deflated for their correlation by `effective_trials`).
- `mean_correlation`, `effective_trials`: how many independent trials M correlated ones are worth.
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
    skewness, kurt = sample_moments(r)
    return probabilistic_sharpe(sharpe(r), len(r), benchmark=benchmark, skewness=skewness, kurt=kurt)


def sample_moments(r: np.ndarray) -> tuple[float, float]:
    """Sample skewness and (non-excess) kurtosis, population-normalised like scipy's defaults."""
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    if m2 == 0:
        return 0.0, 3.0
    return float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2


def sharpe_variance(sr: float, n: int, *, skewness: float = 0.0, kurt: float = 3.0) -> float:
    """Sampling variance of a per-period Sharpe estimate: (1 - skew SR + (kurt - 1) / 4 SR^2) / (n - 1)."""
    if n < 2:
        return float("nan")
    return max(1.0 - skewness * sr + (kurt - 1.0) / 4.0 * sr * sr, 1e-12) / (n - 1)


def expected_max_sharpe(n_trials: float, sharpe_variance: float) -> float:
    """E[max SR] of N unskilled trials: sqrt(V) ((1 - g) Z(1 - 1/N) + g Z(1 - 1/(N e))).

    N may be fractional (an effective number of trials); one trial or fewer expects no luck (0),
    and the approximation is floored at 0 just above one.
    """
    if n_trials <= 1:
        return 0.0
    z = _NORMAL.inv_cdf
    value = sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * z(1 - 1 / n_trials) + EULER_GAMMA * z(1 - 1 / (n_trials * e)))
    return float(max(value, 0.0))


def mean_correlation(returns: np.ndarray) -> float:
    """Mean pairwise correlation of the columns of a T x M return matrix, floored at 0.

    Constant columns carry no information about co-movement and are left out; fewer than two
    varying columns give 1 (nothing to tell them apart).
    """
    m = np.asarray(returns, dtype=float)
    if m.ndim != 2:
        raise ValueError("returns must be a T x M matrix")
    varying = m[:, m.std(axis=0) > 0] if m.shape[0] >= 3 else m[:, :0]
    k = varying.shape[1]
    if k <= 1:
        return 1.0
    corr = np.corrcoef(varying, rowvar=False)
    rho = float((corr.sum() - k) / (k * (k - 1)))
    return min(max(rho, 0.0), 1.0)


def effective_trials(n_trials: float, rho: float) -> float:
    """Independent trials that `n_trials` with mean pairwise correlation `rho` are worth:
    rho + (1 - rho) M. M copies of one strategy are one trial, M uncorrelated ones are M."""
    rho = min(max(rho, 0.0), 1.0)
    return rho + (1 - rho) * n_trials


def deflated_sharpe(returns: np.ndarray, *, n_trials: float, sharpe_variance: float | None = None) -> float:
    """PSR against the expected maximum Sharpe of `n_trials` unskilled trials.

    `sharpe_variance` is the variance of the trials' Sharpe estimates; without it the variance of
    a Sharpe estimate under the null, 1 / (T - 1), is used.
    """
    r = np.asarray(returns, dtype=float)
    variance = sharpe_variance if sharpe_variance is not None else 1.0 / max(len(r) - 1, 1)
    return psr_of_returns(r, benchmark=expected_max_sharpe(n_trials, variance))


@dataclass(frozen=True)
class PBOResult:
    pbo: float  # share of splits where the in-sample best ranks at or below the OOS median
    logits: np.ndarray  # lambda = log(w / (1 - w)) per split, w its relative OOS rank
    n_splits: int
    best: np.ndarray  # per split: column index of the in-sample best strategy
    is_sharpe: np.ndarray  # per split: its in-sample Sharpe (per period)
    oos_sharpe: np.ndarray  # per split: its out-of-sample Sharpe (per period)

    @property
    def prob_oos_loss(self) -> float:
        """Share of splits where the in-sample best loses money out of sample."""
        return float(np.mean(self.oos_sharpe < 0))


def pbo_cscv(returns: np.ndarray, *, n_blocks: int = 16) -> PBOResult:
    """PBO of choosing the best of N strategies (columns of a T x N return matrix) by Sharpe.

    Rows are cut into `n_blocks` (even) contiguous blocks; every half of the blocks is in turn
    the in-sample set and the rest out of sample: C(S, S/2) splits, each strategy's rows kept
    together so serial structure is preserved. Sharpe ratios of a half are computed from per-block
    sums, so a split costs O(S x N), not O(T x N).
    """
    m = np.asarray(returns, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError("returns must be a T x N matrix of N >= 2 strategies")
    if n_blocks % 2 or n_blocks < 2:
        raise ValueError(f"n_blocks must be even and >= 2, got {n_blocks}")
    if m.shape[0] < 2 * n_blocks:
        raise ValueError(f"{m.shape[0]} periods cannot fill {n_blocks} blocks of at least 2")
    blocks = np.array_split(np.arange(m.shape[0]), n_blocks)
    sums = np.stack([m[b].sum(axis=0) for b in blocks])
    squares = np.stack([(m[b] ** 2).sum(axis=0) for b in blocks])
    sizes = np.array([len(b) for b in blocks], dtype=float)
    n = m.shape[1]
    every = set(range(n_blocks))
    splits = []
    for chosen in combinations(range(n_blocks), n_blocks // 2):
        rest = sorted(every.difference(chosen))
        is_sr = _sharpe_from_sums(sums, squares, sizes, list(chosen))
        oos = _sharpe_from_sums(sums, squares, sizes, rest)
        best = int(np.argmax(is_sr))
        rank = 1 + np.sum(oos < oos[best]) + 0.5 * (np.sum(oos == oos[best]) - 1)  # 1 = worst
        w = rank / (n + 1)
        splits.append((best, is_sr[best], oos[best], np.log(w / (1 - w))))
    logits = np.array([s[3] for s in splits])
    return PBOResult(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        n_splits=len(splits),
        best=np.array([s[0] for s in splits], dtype=np.int64),
        is_sharpe=np.array([s[1] for s in splits]),
        oos_sharpe=np.array([s[2] for s in splits]),
    )


def _sharpe_from_sums(sums: np.ndarray, squares: np.ndarray, sizes: np.ndarray, rows: list[int]) -> np.ndarray:
    n = sizes[rows].sum()
    total = sums[rows].sum(axis=0)
    mean = total / n
    var = np.maximum((squares[rows].sum(axis=0) - n * mean * mean) / (n - 1), 0.0)
    sd = np.sqrt(var)
    # A flat strategy (sd ~ 0 up to rounding) has no Sharpe to speak of.
    flat = sd <= 1e-12 * np.maximum(np.abs(mean), 1e-300)
    return np.where(flat | (sd == 0), 0.0, mean / np.where(sd > 0, sd, 1.0))
