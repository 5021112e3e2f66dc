"""Sample weights (López de Prado, AFML ch. 4), per target.

Labels index bars of the flattened panel (sorted by symbol, ts); a label from bar s to bar e
earns the returns of bars s+1..e. Concurrency at a bar is how many labels earn its return.

- average uniqueness: mean of 1/concurrency over the label's bars. Overlapping labels share
  information, so each gets less weight.
- return attribution: |sum over the label's bars of r_t / concurrency_t|: large moves that few
  labels share weigh most.
- time decay: a piecewise-linear factor of cumulative uniqueness (oldest first): the newest
  sample gets 1, the oldest `c` (c in (0, 1]); with c <= 0 the oldest fraction |c| gets 0.

Weights are scaled to mean 1 and floored at 1e-6 (training needs positive weights; such a sample
counts for nothing in practice).
"""

from __future__ import annotations

import numpy as np

FLOOR = 1e-6


def concurrency(starts: np.ndarray, ends: np.ndarray, n_bars: int) -> np.ndarray:
    spans = np.zeros(n_bars + 1)
    np.add.at(spans, starts + 1, 1.0)
    np.add.at(spans, ends + 1, -1.0)
    return np.cumsum(spans)[:n_bars]


def _span_sum(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    return cumulative[ends + 1] - cumulative[starts + 1]


def _inverse(c: np.ndarray) -> np.ndarray:
    return np.where(c > 0, 1.0 / np.maximum(c, 1.0), 0.0)


def raw_uniqueness(starts: np.ndarray, ends: np.ndarray, n_bars: int) -> np.ndarray:
    inverse = _inverse(concurrency(starts, ends, n_bars))
    return _span_sum(inverse, starts, ends) / np.maximum(ends - starts, 1)


def average_uniqueness(starts: np.ndarray, ends: np.ndarray, n_bars: int) -> np.ndarray:
    """Each label's mean of 1/concurrency over the bars its return spans, scaled to mean 1."""
    if len(starts) == 0:
        return np.zeros(0)
    return _to_mean_one(raw_uniqueness(starts, ends, n_bars))


def return_attribution(starts: np.ndarray, ends: np.ndarray, bar_returns: np.ndarray) -> np.ndarray:
    """|sum of r_t / concurrency_t| over each label's bars, scaled to mean 1 (NaN returns count 0)."""
    if len(starts) == 0:
        return np.zeros(0)
    inverse = _inverse(concurrency(starts, ends, len(bar_returns)))
    return _to_mean_one(np.abs(_span_sum(np.nan_to_num(bar_returns) * inverse, starts, ends)))


def time_decay(uniqueness: np.ndarray, order: np.ndarray, c: float) -> np.ndarray:
    """Decay factors for samples whose time order is `order` (argsort of their timestamps)."""
    if c >= 1 or len(uniqueness) == 0:
        return np.ones(len(uniqueness))
    cum = np.empty(len(uniqueness))
    cum[order] = np.cumsum(uniqueness[order])
    total = cum.max()
    slope = (1.0 - c) / total if c >= 0 else 1.0 / ((c + 1.0) * total)
    intercept = 1.0 - slope * total
    return np.maximum(intercept + slope * cum, 0.0)


def _to_mean_one(w: np.ndarray) -> np.ndarray:
    mean = w.mean()
    w = w / mean if mean > 0 else np.ones_like(w)
    return np.maximum(w, FLOOR)
