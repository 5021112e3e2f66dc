"""Feature importance on every target, and one combined ranking of the features.

A feature that predicts one target well can be useless for another, and the target that is
traded is chosen later (`target_ranking`). So importance is measured on each target under the
same purged folds (`importance.importance_table`: MDI, MDA, clustered MDA, SFI, fold
stability), then combined:

- rank on a target: the feature's rank by clustered MDA on that target (1 = best, ties
  averaged), so targets with larger or smaller AUC drops weigh the same;
- mean_rank: the mean of those ranks over targets; the combined ranking sorts by it
  (ties: larger mean clustered MDA first); rank_std is their spread (0: every target agrees);
- helps on a target: clustered MDA > 0 and fold stability >= `min_stability` on that target;
- target_support: the share of targets the feature helps;
- selected: target_support >= `min_target_support` (default 0.5: at least half the targets),
  topped up to `min_features` by best mean_rank.

The scores mdi, mda, mda_std, clustered_mda, sfi and stability of the combined table are means
over targets; the per-target values are kept as `clustered_mda__<target>`,
`stability__<target>` and `rank__<target>` columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from foxml_dagster.runner import Runner
from foxml_dagster.selection.importance import importance_tables

__all__ = ["combine_targets", "importance_by_target"]

_SCORES = ["mdi", "mda", "mda_std", "clustered_mda", "sfi", "stability"]


def importance_by_target(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    feature_columns: Sequence[str],
    clusters: np.ndarray,
    *,
    targets: Sequence[str],
    n_estimators: int,
    min_stability: float,
    seed: int,
    runner: Runner | None = None,
    max_train_rows: int | None = None,
    max_test_rows: int | None = None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """(long table, skipped): one row per (target, feature) with its scores, rank and `helps`.

    A target on which importance is undefined (no fold with both classes in train and test) is
    skipped and named in `skipped` with the reason; if every target is, ValueError. `runner`
    runs one task per (target, fold) (`importance.importance_tables`), each on at most
    `max_train_rows` / `max_test_rows` rows of its fold.
    """
    parts, skipped = [], {}
    tables = importance_tables(
        frame,
        folds,
        feature_columns,
        clusters,
        targets=targets,
        n_estimators=n_estimators,
        seed=seed,
        runner=runner,
        max_train_rows=max_train_rows,
        max_test_rows=max_test_rows,
    )
    for target, table in tables.items():
        if isinstance(table, str):
            skipped[target] = table
            continue
        parts.append(
            table.with_columns(
                pl.lit(target).alias("target"),
                pl.col("clustered_mda").rank("average", descending=True).alias("rank"),
                ((pl.col("clustered_mda") > 0) & (pl.col("stability") >= min_stability)).alias("helps"),
            )
        )
    if not parts:
        raise ValueError(f"feature importance is undefined on every target: {skipped}")
    return pl.concat(parts).select(
        "target", "feature", *[c for c in parts[0].columns if c not in ("target", "feature")]
    ), skipped


def combine_targets(long: pl.DataFrame, *, min_target_support: float, min_features: int) -> pl.DataFrame:
    """One row per feature from `importance_by_target`'s table, by the rule in the module docstring.

    Columns: feature, chosen, why, cluster, mean_rank, rank_std, target_support, n_targets, the
    means of the scores, n_folds (fewest over targets), then per-target columns.
    """
    targets = sorted(long["target"].unique().to_list())
    combined = long.group_by("feature", maintain_order=True).agg(
        pl.col("cluster").first(),
        pl.col("rank").mean().alias("mean_rank"),
        pl.col("rank").std(ddof=0).alias("rank_std"),
        pl.col("helps").mean().alias("target_support"),
        pl.len().alias("n_targets"),
        *[pl.col(c).mean() for c in _SCORES],
        pl.col("n_folds").min(),
        pl.col("target").filter(pl.col("helps")).sort().str.join(", ").alias("helps_on"),
    )
    wide = [
        long.pivot(on="target", index="feature", values=value)
        .rename({t: f"{value}__{t}" for t in targets})
        .select("feature", *[f"{value}__{t}" for t in targets])
        for value in ("clustered_mda", "stability", "rank")
    ]
    for part in wide:
        combined = combined.join(part, on="feature", how="left")
    order = combined.with_columns(
        pl.struct(pl.col("mean_rank"), -pl.col("clustered_mda")).rank("ordinal").alias("combined_rank")
    )
    supported = pl.col("target_support") >= min_target_support
    chosen = supported | (pl.col("combined_rank") <= min_features)
    why = (
        pl.when(supported)
        .then(
            pl.format(
                "helps on {} of {} targets ({}); mean rank {} (std {}), mean cluster MDA {}",
                (pl.col("target_support") * pl.col("n_targets")).round(0).cast(pl.Int64),
                "n_targets",
                "helps_on",
                pl.col("mean_rank").round(2),
                pl.col("rank_std").round(2),
                pl.col("clustered_mda").round(4),
            )
        )
        .when(chosen)
        .then(pl.format("kept to reach min_features {}: combined rank {}", pl.lit(min_features), "combined_rank"))
        .otherwise(
            pl.format(
                "helps on {} of {} targets, below min_target_support {}; mean rank {}",
                (pl.col("target_support") * pl.col("n_targets")).round(0).cast(pl.Int64),
                "n_targets",
                pl.lit(min_target_support),
                pl.col("mean_rank").round(2),
            )
        )
    )
    return order.with_columns(chosen.alias("chosen"), why.alias("why")).sort("combined_rank")
