"""Label-free redundancy filter and correlation clusters (cannot leak: no label is read)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl


def rank_correlation(
    frame: pl.DataFrame, feature_columns: Sequence[str], *, max_rows: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(|Spearman| matrix, per-feature rank std) over distinct (symbol, ts) samples, at most
    `max_rows` of them drawn uniformly: a correlation's standard error is ~1/sqrt(n) (0.003 at
    100,000), far inside the thresholds it is compared with, while the k x k matrix over every
    row of a panel costs n k^2."""
    distinct = frame.filter(pl.struct("symbol", "ts").is_first_distinct())
    if max_rows is not None and distinct.height > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(distinct.height, size=max_rows, replace=False))
        distinct = distinct[keep]
    samples = distinct.select(feature_columns)
    ranks = samples.select(pl.col(c).rank() for c in feature_columns).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs(np.corrcoef(ranks, rowvar=False)) if len(feature_columns) > 1 else np.ones((1, 1))
    return np.nan_to_num(np.atleast_2d(corr)), ranks.std(axis=0)


def drop_redundant_features(
    frame: pl.DataFrame,
    feature_columns: Sequence[str],
    *,
    max_abs_corr: float,
    max_rows: int | None = None,
    seed: int = 0,
) -> pl.DataFrame:
    """One row per feature: kept or dropped, and why.

    Greedy in the given order: a feature is dropped when its |Spearman correlation| with a feature
    already kept exceeds `max_abs_corr`; a constant feature is dropped as uninformative.
    """
    corr, std = rank_correlation(frame, feature_columns, max_rows=max_rows, seed=seed)
    kept: list[int] = []
    rows = []
    for i, name in enumerate(feature_columns):
        if std[i] == 0:
            rows.append((name, False, "constant", None))
            continue
        twins = [(j, corr[i, j]) for j in kept if corr[i, j] > max_abs_corr]
        if twins:
            j, value = max(twins, key=lambda t: t[1])
            rows.append((name, False, f"|corr| {value:.3f} with {feature_columns[j]}", feature_columns[j]))
        else:
            kept.append(i)
            rows.append((name, True, "kept", None))
    return pl.DataFrame(rows, schema=["feature", "selected", "reason", "twin"], orient="row")


def correlation_clusters(
    frame: pl.DataFrame,
    feature_columns: Sequence[str],
    *,
    min_corr: float,
    max_rows: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Cluster id per feature: average-linkage on distance 1 - |Spearman|, cut at 1 - min_corr.

    Clustered MDA permutes a whole cluster at once, so substitutes cannot hide each other's
    importance (permuting one of two twins costs nothing while the other still carries it).
    """
    from scipy.cluster.hierarchy import fcluster, linkage  # lazy: scipy is slow to import
    from scipy.spatial.distance import squareform

    if len(feature_columns) < 2:
        return np.ones(len(feature_columns), dtype=int)
    corr, _ = rank_correlation(frame, feature_columns, max_rows=max_rows, seed=seed)
    distance = np.clip(1 - corr, 0, None)
    np.fill_diagonal(distance, 0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return fcluster(tree, t=1 - min_corr, criterion="distance")
