"""The three split methods, as fold specs over contiguous groups of the timestamp grid.

- Purged K-fold: K groups, fold k tests group k and trains on every other group.
- Walk-forward: K groups, fold k-1 tests group k (k >= 1) and trains on the groups before it,
  all of them (expanding) or the last `train_groups` (sliding). Models never see the future.
- Combinatorial purged CV (CPCV, López de Prado AFML ch. 12): N groups, every choice of k test
  groups is a split, C(N, k) splits in all. Each group is tested in C(N-1, k-1) splits, so the
  out-of-sample predictions reassemble into phi = C(N-1, k-1) full backtest paths: path p takes,
  for every group, the p-th split (in lexicographic order) that tests it.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import polars as pl

from foxml_dagster.splits.core import FOLD_SCHEMA, FoldSpec, build_folds


def kfold_specs(n_groups: int) -> list[FoldSpec]:
    return [FoldSpec((k,), (0,)) for k in range(n_groups)]


def walk_forward_specs(n_groups: int, train_groups: int | None = None) -> list[FoldSpec]:
    """`train_groups=None` is expanding; an integer keeps that many groups before the test (sliding)."""
    specs = []
    for k in range(1, n_groups):
        first = 0 if train_groups is None else max(0, k - train_groups)
        specs.append(FoldSpec((k,), (0,), train_groups=(first, k)))
    return specs


def cpcv_specs(n_groups: int, n_test_groups: int) -> list[FoldSpec]:
    seen = [0] * n_groups
    specs = []
    for chosen in combinations(range(n_groups), n_test_groups):
        paths = []
        for g in chosen:
            paths.append(seen[g])
            seen[g] += 1
        specs.append(FoldSpec(chosen, tuple(paths)))
    return specs


def cpcv_counts(n_groups: int, n_test_groups: int) -> tuple[int, int]:
    """(number of splits, number of backtest paths) of CPCV with N groups and k test groups."""
    return comb(n_groups, n_test_groups), comb(n_groups - 1, n_test_groups - 1)


def _per_target(samples: pl.DataFrame, specs_for, n_groups: int, embargo_pct: float):
    folds, audits = [], []
    for (target,), group in samples.group_by("target", maintain_order=True):
        f, a = build_folds(group, target, specs_for(), n_groups, embargo_pct)
        folds.append(f)
        audits.append(a)
    if not folds:
        return pl.DataFrame(schema=FOLD_SCHEMA), pl.DataFrame()
    return pl.concat(folds), pl.concat(audits)


def purged_kfold(samples: pl.DataFrame, *, n_folds: int, embargo_pct: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(folds, audit) for samples with columns target, symbol, ts, t1: each sample tested once."""
    return _per_target(samples, lambda: kfold_specs(n_folds), n_folds, embargo_pct)


def walk_forward(
    samples: pl.DataFrame, *, n_folds: int, embargo_pct: float, train_groups: int | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(folds, audit): n_folds - 1 folds; the first group only ever trains."""
    return _per_target(samples, lambda: walk_forward_specs(n_folds, train_groups), n_folds, embargo_pct)


def combinatorial_purged(
    samples: pl.DataFrame, *, n_groups: int, n_test_groups: int, embargo_pct: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(folds, audit): C(N, k) folds; test rows carry the backtest `path` they belong to."""
    if not 1 <= n_test_groups < n_groups:
        raise ValueError(f"CPCV needs 1 <= n_test_groups < n_groups, got k={n_test_groups}, N={n_groups}")
    return _per_target(samples, lambda: cpcv_specs(n_groups, n_test_groups), n_groups, embargo_pct)


def backtest_paths(predictions: pl.DataFrame, folds: pl.DataFrame) -> pl.DataFrame:
    """Out-of-sample predictions with the CPCV `path` they belong to (a K-fold run is path 0).

    Each path holds every tested sample exactly once, so each is one full, honest backtest.
    """
    tested = folds.filter(pl.col("role") == "test").select("target", "fold", "symbol", "ts", "path")
    return predictions.join(tested, on=["target", "fold", "symbol", "ts"], how="inner")
