"""Weak splits: folds that are sound (the audit passes) but give the evidence less weight than it seems.

None of these is a leak, so none blocks training; each is a warning a researcher must see:

- `no_embargo`: embargo_pct is 0, so features computed just after a test block (rolling windows
  that reach back into it) train the model;
- `horizon_exceeds_fold`: the typical label span (median, in grid steps) is longer than a fold: a
  test block then holds only a handful of outcomes, and purging strips the training set;
- `heavy_purge`: purging removed more than `max_purged_share` of a fold's candidate training rows;
- `few_outcomes`: a target has fewer than `min_independent_outcomes` non-overlapping outcomes
  (per symbol, the most labels whose spans do not overlap, summed over symbols): thousands of
  rows with overlapping horizons are only that many independent draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["SplitWarning", "independent_outcomes", "split_warnings"]


@dataclass(frozen=True)
class SplitWarning:
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def independent_outcomes(ts: np.ndarray, t1: np.ndarray) -> int:
    """The most labels of one symbol whose spans [ts, t1] do not overlap (greedy by end time)."""
    order = np.argsort(t1, kind="stable")
    count, free_after = 0, None
    for start, end in zip(ts[order], t1[order], strict=True):
        if free_after is None or start > free_after:
            count += 1
            free_after = end
    return count


def split_warnings(
    samples: pl.DataFrame,
    audit: pl.DataFrame,
    *,
    n_folds: int,
    embargo_pct: float,
    max_purged_share: float,
    min_independent_outcomes: int,
) -> list[SplitWarning]:
    """Every warning that applies to folds built from `samples` (target, symbol, ts, t1) and
    summarised by `audit` (the fold audit: n_train, n_purged, n_embargoed per target and fold)."""
    found: list[SplitWarning] = []
    if embargo_pct == 0:
        found.append(
            SplitWarning(
                "no_embargo",
                "splits.embargo_pct is 0: rows just after each test block train on features that "
                "still see it; set it to about the longest feature window over the timeline (e.g. 0.01)",
            )
        )
    for (target,), group in samples.group_by("target", maintain_order=True):
        found += _horizon_and_outcomes(str(target), group, n_folds, min_independent_outcomes)
    candidates = pl.col("n_train") + pl.col("n_purged") + pl.col("n_embargoed")
    heavy = audit.with_columns((pl.col("n_purged") / candidates).alias("share")).filter(
        pl.col("share") > max_purged_share
    )
    for row in heavy.iter_rows(named=True):
        found.append(
            SplitWarning(
                "heavy_purge",
                f"{row['target']} fold {row['fold']}: purging removed {row['share']:.0%} of the candidate "
                f"training rows ({row['n_purged']:,}; limit splits.max_purged_share {max_purged_share:g}); "
                "labels this long need fewer, longer folds",
            )
        )
    return found


def _horizon_and_outcomes(target: str, group: pl.DataFrame, n_folds: int, minimum: int) -> list[SplitWarning]:
    found = []
    grid = np.unique(group["ts"].to_numpy())
    ts, t1 = group["ts"].to_numpy(), group["t1"].to_numpy()
    span_steps = np.searchsorted(grid, t1, side="right") - np.searchsorted(grid, ts, side="left")
    fold_steps = len(grid) / n_folds
    median_span = float(np.median(span_steps)) if len(span_steps) else 0.0
    if median_span > fold_steps:
        found.append(
            SplitWarning(
                "horizon_exceeds_fold",
                f"{target}: labels span {median_span:.0f} bars (median) but a fold is {fold_steps:.0f} bars; "
                "each test block holds few outcomes and purging empties the training set around it: "
                "use a shorter horizon or fewer folds",
            )
        )
    outcomes = sum(
        independent_outcomes(part["ts"].to_numpy(), part["t1"].to_numpy())
        for _, part in group.group_by("symbol", maintain_order=True)
    )
    if outcomes < minimum:
        found.append(
            SplitWarning(
                "few_outcomes",
                f"{target}: {group.height:,} rows but only {outcomes:,} non-overlapping outcomes "
                f"(limit splits.min_independent_outcomes {minimum}); its scores rest on little evidence",
            )
        )
    return found
