"""Feature selection and target ranking over the training frame, under the purged folds.

`select_features` first drops constant and near-duplicate features (label-free), then measures
importance of the rest out of fold (`importance`), by `selection.importance`:

- all_targets (default): on every target of the run (or `importance_targets`), combined by
  mean rank; a feature is kept when it helps on at least `min_target_support` of the targets
  (`targets` module);
- single_target: on one target (`selection.target`, default the first barrier target); a
  feature is kept when its cluster's MDA is positive and it helps in at least `min_stability`
  of the folds.

Either way at least `min_features` are kept. The result keeps the contract the training stage
reads: feature, selected, reason.

Caveat, stated once: choosing features with the same folds the models are then scored on makes
the later out-of-fold scores slightly optimistic (a selection step is a trial). The deflated
Sharpe in `target_ranking` counts trials for this reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from foxml_dagster.runner import Runner
from foxml_dagster.selection.config import SelectionConfig
from foxml_dagster.selection.importance import importance_table
from foxml_dagster.selection.ranking import rank_targets
from foxml_dagster.selection.redundancy import correlation_clusters, drop_redundant_features
from foxml_dagster.selection.targets import combine_targets, importance_by_target

__all__ = [
    "SelectionConfig",
    "drop_redundant_features",
    "combine_targets",
    "importance_by_target",
    "importance_target",
    "importance_targets",
    "rank_targets",
    "select_features",
]

_INTERNAL = {"chosen", "why", "helps", "cmda_rank", "helps_on"}


def importance_target(frame: pl.DataFrame, cfg: SelectionConfig) -> str:
    targets = sorted(frame["target"].unique())
    if cfg.target is not None:
        if cfg.target not in targets:
            raise ValueError(f"selection.target: {cfg.target!r} is not a target of this run ({targets})")
        return cfg.target
    barrier = [t for t in targets if t.startswith(("tb_", "meta_"))]
    return (barrier or targets)[0]


def importance_targets(frame: pl.DataFrame, cfg: SelectionConfig) -> list[str]:
    """The targets importance is measured on in all_targets mode, checked against the run's."""
    targets = sorted(frame["target"].unique())
    if cfg.importance_targets is None:
        return targets
    unknown = sorted(set(cfg.importance_targets) - set(targets))
    if unknown:
        raise ValueError(f"selection.importance_targets: {unknown} are not targets of this run ({targets})")
    return sorted(set(cfg.importance_targets))


def select_features(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    feature_columns: Sequence[str],
    cfg: SelectionConfig,
    *,
    seed: int,
    runner: Runner | None = None,
) -> pl.DataFrame:
    """One row per feature: selected, reason, and the importance scores behind the choice.

    `importance_target` names the target(s) importance was measured on (comma-separated).
    `runner` runs the importance fits, one task per (target, fold); default: here, in order.
    """
    sample = {"max_rows": cfg.correlation_max_rows, "seed": seed}
    redundancy = drop_redundant_features(frame, feature_columns, max_abs_corr=cfg.max_abs_corr, **sample)
    candidates = redundancy.filter(pl.col("selected"))["feature"].to_list()
    clusters = correlation_clusters(frame, candidates, min_corr=cfg.cluster_corr, **sample)
    if cfg.importance == "all_targets":
        return _all_targets(frame, folds, redundancy, candidates, clusters, cfg, seed, runner)
    return _single_target(frame, folds, redundancy, candidates, clusters, cfg, seed, runner)


def _all_targets(
    frame, folds, redundancy, candidates, clusters, cfg: SelectionConfig, seed: int, runner: Runner | None
) -> pl.DataFrame:
    long, skipped = importance_by_target(
        frame,
        folds,
        candidates,
        clusters,
        targets=importance_targets(frame, cfg),
        n_estimators=cfg.n_estimators,
        min_stability=cfg.min_stability,
        seed=seed,
        runner=runner,
        max_train_rows=cfg.importance_max_train_rows,
        max_test_rows=cfg.importance_max_test_rows,
    )
    scores = combine_targets(long, min_target_support=cfg.min_target_support, min_features=cfg.min_features)
    used = ",".join(sorted(long["target"].unique()))
    if skipped:
        note = "; skipped " + ", ".join(sorted(skipped)) + " (no fold with both classes)"
        scores = scores.with_columns(pl.col("why") + pl.lit(note))
    return _finish(redundancy, scores, used)


def _finish(redundancy: pl.DataFrame, scores: pl.DataFrame, used: str) -> pl.DataFrame:
    """Join the scores onto the redundancy table: a dropped twin keeps its reason and stays out."""
    table = redundancy.join(scores, on="feature", how="left").with_columns(
        pl.when(pl.col("selected")).then(pl.col("chosen")).otherwise(False).alias("selected"),
        pl.when(pl.col("selected")).then(pl.col("why")).otherwise(pl.col("reason")).alias("reason"),
        pl.lit(used).alias("importance_target"),
    )
    rest = [c for c in table.columns if c not in {"feature", "selected", "reason", *_INTERNAL}]
    return table.select("feature", "selected", "reason", *rest)


def _single_target(
    frame, folds, redundancy, candidates, clusters, cfg: SelectionConfig, seed: int, runner: Runner | None
) -> pl.DataFrame:
    """The earlier rule: importance on one target; see the module docstring."""
    target = importance_target(frame, cfg)
    scores = importance_table(
        frame,
        folds,
        candidates,
        clusters,
        target=target,
        n_estimators=cfg.n_estimators,
        seed=seed,
        runner=runner,
        max_train_rows=cfg.importance_max_train_rows,
        max_test_rows=cfg.importance_max_test_rows,
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
    return _finish(redundancy, scores, target)
