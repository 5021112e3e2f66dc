"""Cross-sectional top-k with dropout, as Qlib's TopkDropoutStrategy describes it.

At each bar the book holds k symbols long (and, with long_short, k short). Rather than
re-sorting the whole book every bar, which trades whenever two neighbours swap ranks, it changes
at most `n_drop` holdings per bar: among the held symbols and the best-scored ones not held (as
many as could enter), the `n_drop` worst are the candidates to leave; a held symbol among them is
sold, and the best newcomers take the free places. A symbol with no score at a bar (no bar, or
not predicted) cannot be held there and leaves. The short book mirrors this on the negated
scores, over the symbols the long book does not hold.

Each long holding gets weight 1 / k (1 / (2 k) with long_short, so the book's gross is 1),
each short holding minus that. Worked example, k = 2, n_drop = 1, long only, scores at bar 1
{A: .9, B: .8, C: .7, D: .1}: hold A, B. Bar 2 {A: .2, B: .8, C: .7, D: .9}: the candidates are
D (the one best outsider), so the merged list is D .9, B .8, A .2; the worst one, A, is held,
so A leaves and D enters: hold B, D. C never enters while at most one holding changes per bar.
"""

from __future__ import annotations

import numpy as np

__all__ = ["topk_dropout"]


def _rebalance(held: list[str], scores: dict[str, float], k: int, n_drop: int) -> list[str]:
    """One bar of one book: the held symbols after dropping at most n_drop and refilling to k."""
    held = [s for s in held if s in scores]  # a symbol without a score cannot be held this bar
    outside = sorted((s for s in scores if s not in held), key=lambda s: (-scores[s], s))
    # Enough outsiders to fill the empty places and to replace n_drop holdings.
    candidates = outside[: max(n_drop + k - len(held), 0)]
    merged = sorted(held + candidates, key=lambda s: (-scores[s], s))
    worst = set(merged[len(merged) - n_drop :]) if n_drop else set()
    sold = [s for s in held if s in worst]
    kept = [s for s in held if s not in worst]
    bought = candidates[: len(sold) + k - len(held)]
    return kept + bought


def topk_dropout(
    ts: np.ndarray, symbols: np.ndarray, scores: np.ndarray, *, k: int, n_drop: int, long_short: bool
) -> np.ndarray:
    """Weights, row-aligned with the inputs (one row per symbol and ts, any order)."""
    if k < 1 or n_drop < 0:
        raise ValueError(f"topk_dropout needs k >= 1 and n_drop >= 0, got k={k}, n_drop={n_drop}")
    ts = np.asarray(ts)
    order = np.lexsort((symbols, ts))
    weights = np.zeros(len(ts), dtype=np.float64)
    unit = 1.0 / (2 * k) if long_short else 1.0 / k
    longs: list[str] = []
    shorts: list[str] = []
    stamps = ts[order]
    starts = np.flatnonzero(np.r_[True, stamps[1:] != stamps[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        rows = order[a:b]
        at = {str(symbols[r]): float(scores[r]) for r in rows}
        longs = _rebalance(longs, at, k, n_drop)
        if long_short:
            rest = {s: -v for s, v in at.items() if s not in longs}
            shorts = _rebalance([s for s in shorts if s in rest], rest, k, n_drop)
        index = {str(symbols[r]): r for r in rows}
        for s in longs:
            weights[index[s]] = unit
        for s in shorts:
            weights[index[s]] = -unit
    return weights
