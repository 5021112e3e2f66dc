"""Cross-sectional top-k with dropout, as Qlib's TopkDropoutStrategy describes it.

At each bar the book holds k symbols long (and, with long_short, k short). Rather than
re-sorting the whole book every bar, which trades whenever two neighbours swap ranks, it changes
at most `n_drop` holdings per bar: among the held symbols and the best-scored ones not held (as
many as could enter), the `n_drop` worst are the candidates to leave; a held symbol among them is
sold, and the best newcomers take the free places. A symbol with no score at a bar (no bar, not
predicted, or a NaN score) cannot be held there and leaves. The short book mirrors this on the negated
scores, over the symbols the long book does not hold.

Each long holding gets weight 1 / k (1 / (2 k) with long_short, so the book's gross is 1),
each short holding minus that. Worked example, k = 2, n_drop = 1, long only, scores at bar 1
{A: .9, B: .8, C: .7, D: .1}: hold A, B. Bar 2 {A: .2, B: .8, C: .7, D: .9}: the candidates are
D (the one best outsider), so the merged list is D .9, B .8, A .2; the worst one, A, is held,
so A leaves and D enters: hold B, D. C never enters while at most one holding changes per bar.
"""

from __future__ import annotations

from itertools import islice

import numpy as np
import polars as pl

__all__ = ["topk_dropout"]


def _rebalance(held: list[int], ranked: list[int], k: int, n_drop: int) -> list[int]:
    """One bar of one book: the held symbols after dropping at most n_drop and refilling to k.
    `ranked`: the symbols scored at this bar, best first (ties by name)."""
    present = set(ranked)
    held = [s for s in held if s in present]  # a symbol without a score cannot be held this bar
    holding = set(held)
    # Enough of the best outsiders to fill the empty places and to replace n_drop holdings.
    candidates = list(islice((s for s in ranked if s not in holding), max(n_drop + k - len(held), 0)))
    either = holding.union(candidates)
    merged = [s for s in ranked if s in either]
    worst = set(merged[len(merged) - n_drop :]) if n_drop else set()
    sold = [s for s in held if s in worst]
    kept = [s for s in held if s not in worst]
    bought = candidates[: len(sold) + k - len(held)]
    return kept + bought


def topk_dropout(
    ts: np.ndarray, symbols: np.ndarray, scores: np.ndarray, *, k: int, n_drop: int, long_short: bool
) -> np.ndarray:
    """Weights, row-aligned with the inputs (one row per symbol and ts, any order; a NaN score is
    no score)."""
    if k < 1 or n_drop < 0:
        raise ValueError(f"topk_dropout needs k >= 1 and n_drop >= 0, got k={k}, n_drop={n_drop}")
    ts, scores = np.asarray(ts), np.asarray(scores, dtype=np.float64)
    # Integer codes in the names' sorted order, so ties on a score break by symbol name.
    codes = pl.Series(np.asarray(symbols)).cast(pl.String).rank("dense").to_numpy().astype(np.int64) - 1
    order = np.lexsort((codes, ts))
    order = order[~np.isnan(scores[order])]
    stamps, named = ts[order], codes[order]
    if len(order) > 1 and ((stamps[1:] == stamps[:-1]) & (named[1:] == named[:-1])).any():
        raise ValueError("topk_dropout needs one score per symbol and bar; some (symbol, ts) repeat")
    weights = np.zeros(len(ts), dtype=np.float64)
    unit = 1.0 / (2 * k) if long_short else 1.0 / k
    longs: list[int] = []
    shorts: list[int] = []
    starts = np.flatnonzero(np.r_[True, stamps[1:] != stamps[:-1]]) if len(order) else np.zeros(0, dtype=np.int64)
    for a, b in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        rows, bar_codes, bar_scores = order[a:b], named[a:b], scores[order[a:b]]
        row_of = dict(zip(bar_codes.tolist(), rows.tolist(), strict=True))
        longs = _rebalance(longs, bar_codes[np.lexsort((bar_codes, -bar_scores))].tolist(), k, n_drop)
        if long_short:
            held_long = set(longs)
            # The short book ranks the negated scores: lowest first, ties by name.
            ranked = [s for s in bar_codes[np.lexsort((bar_codes, bar_scores))].tolist() if s not in held_long]
            shorts = _rebalance(shorts, ranked, k, n_drop)
        for s in longs:
            weights[row_of[s]] = unit
        for s in shorts:
            weights[row_of[s]] = -unit
    return weights
