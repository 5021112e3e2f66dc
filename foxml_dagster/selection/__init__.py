"""Feature selection and target ranking over the training frame, under the purged folds.

`select_features` first drops constant and near-duplicate features (label-free), then measures
importance of the rest out of fold (`importance`) and keeps a feature when its cluster's MDA is
positive and it helps in at least `min_stability` of the folds; at least `min_features` are
kept. The result keeps the contract the training stage reads: feature, selected, reason.

Caveat, stated once: choosing features with the same folds the models are then scored on makes
the later out-of-fold scores slightly optimistic (a selection step is a trial). The deflated
Sharpe in `target_ranking` counts trials for this reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from foxml_dagster.selection.config import SelectionConfig
from foxml_dagster.selection.importance import importance_table
from foxml_dagster.selection.ranking import rank_targets
from foxml_dagster.selection.redundancy import correlation_clusters, drop_redundant_features

__all__ = [
    "SelectionConfig",
    "drop_redundant_features",
    "importance_target",
    "rank_targets",
    "select_features",
]


def importance_target(frame: pl.DataFrame, cfg: SelectionConfig) -> str:
    targets = sorted(frame["target"].unique())
    if cfg.target is not None:
        if cfg.target not in targets:
            raise ValueError(f"selection.target: {cfg.target!r} is not a target of this run ({targets})")
        return cfg.target
    barrier = [t for t in targets if t.startswith(("tb_", "meta_"))]
    return (barrier or targets)[0]


def select_features(
    frame: pl.DataFrame, folds: pl.DataFrame, feature_columns: Sequence[str], cfg: SelectionConfig, *, seed: int
) -> pl.DataFrame:
    """One row per feature: selected, reason, and the importance scores behind the choice."""
    redundancy = drop_redundant_features(frame, feature_columns, max_abs_corr=cfg.max_abs_corr)
    candidates = redundancy.filter(pl.col("selected"))["feature"].to_list()
    target = importance_target(frame, cfg)
    clusters = correlation_clusters(frame, candidates, min_corr=cfg.cluster_corr)
    scores = importance_table(
        frame, folds, candidates, clusters, target=target, n_estimators=cfg.n_estimators, seed=seed
    )
    helps = (pl.col("clustered_mda") > 0) & (pl.col("stability") >= cfg.min_stability)
    scores = scores.with_columns(
        pl.col("clustered_mda").rank("ordinal", descending=True).alias("cmda_rank"), helps.alias("helps")
    ).with_columns(
        (pl.col("helps") | (pl.col("cmda_rank") <= cfg.min_features)).alias("chosen"),
    )
    scores = scores.with_columns(
        pl.when(pl.col("helps"))
        .then(
            pl.format(
                "cluster {} MDA {} > 0, helps in {} of folds (MDA {}, SFI {}, MDI {})",
                "cluster",
                pl.col("clustered_mda").round(4),
                pl.col("stability").round(2),
                pl.col("mda").round(4),
                pl.col("sfi").round(4),
                pl.col("mdi").round(3),
            )
        )
        .when(pl.col("chosen"))
        .then(
            pl.format(
                "kept to reach min_features {}: best clustered MDA rank {}", pl.lit(cfg.min_features), "cmda_rank"
            )
        )
        .otherwise(
            pl.format(
                "no out-of-fold value on {}: cluster MDA {}, helps in {} of folds",
                pl.lit(target),
                pl.col("clustered_mda").round(4),
                pl.col("stability").round(2),
            )
        )
        .alias("why")
    )
    table = redundancy.join(scores, on="feature", how="left").with_columns(
        pl.when(pl.col("selected")).then(pl.col("chosen")).otherwise(False).alias("selected"),
        pl.when(pl.col("selected")).then(pl.col("why")).otherwise(pl.col("reason")).alias("reason"),
        pl.lit(target).alias("importance_target"),
    )
    return table.drop("chosen", "why", "helps", "cmda_rank").select(
        "feature",
        "selected",
        "reason",
        *[
            c
            for c in table.columns
            if c not in {"feature", "selected", "reason", "chosen", "why", "helps", "cmda_rank"}
        ],
    )
