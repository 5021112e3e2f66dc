"""Feature selection, target ranking and leakage checks over the training frame.

Selection here is label-free on purpose (redundancy between features), so choosing features
cannot leak the target; ranking targets uses out-of-fold scores only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
from pydantic import Field

from foxml_dagster.evaluation import score_predictions
from foxml_dagster.settings import Settings
from foxml_dagster.training import train_out_of_fold


class SelectionConfig(Settings):
    max_abs_corr: float = Field(0.95, gt=0, le=1)
    leak_corr: float = Field(0.5, gt=0, le=1)
    leak_auc: float = Field(0.7, gt=0.5, le=1)
    max_importance_share: float = Field(0.6, gt=0, le=1)


def drop_redundant_features(
    frame: pl.DataFrame, feature_columns: Sequence[str], *, max_abs_corr: float
) -> pl.DataFrame:
    """One row per feature: kept or dropped, and why.

    Greedy in the given order: a feature is dropped when its |Spearman correlation| with a feature
    already kept exceeds `max_abs_corr`; a constant feature is dropped as uninformative.
    """
    samples = frame.unique(subset=["symbol", "ts"]).select(feature_columns)
    ranks = samples.select(pl.col(c).rank() for c in feature_columns).to_numpy()
    std = ranks.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(ranks, rowvar=False)
    kept: list[int] = []
    rows = []
    for i, name in enumerate(feature_columns):
        if std[i] == 0:
            rows.append((name, False, "constant", None))
            continue
        twins = [(j, abs(corr[i, j])) for j in kept if abs(corr[i, j]) > max_abs_corr]
        if twins:
            j, value = max(twins, key=lambda t: t[1])
            rows.append((name, False, f"|corr| {value:.3f} with {feature_columns[j]}", feature_columns[j]))
        else:
            kept.append(i)
            rows.append((name, True, "kept", None))
    return pl.DataFrame(rows, schema=["feature", "selected", "reason", "twin"], orient="row")


def rank_targets(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    *,
    feature_columns: list[str],
    families: Mapping[str, Mapping],
    seed: int,
) -> pl.DataFrame:
    """Targets ranked by out-of-fold AUC under purged CV, penalised by fold-to-fold spread.

    score = mean fold AUC - 0.5 * std of fold AUC, averaged across families; agreement is the
    fraction of families whose pooled AUC beats 0.5.
    """
    result = train_out_of_fold(frame, folds, feature_columns=feature_columns, families=families, seed=seed)
    scores = score_predictions(result.oof, frame)
    per_fold = scores.filter(pl.col("fold") >= 0)
    pooled = scores.filter(pl.col("fold") < 0)
    by_family = per_fold.group_by("target", "family").agg(
        pl.col("auc").mean().alias("mean_auc"), pl.col("auc").std().fill_null(0).alias("std_auc")
    )
    table = (
        by_family.group_by("target")
        .agg(
            pl.col("mean_auc").mean(),
            pl.col("std_auc").mean(),
            (pl.col("mean_auc") - 0.5 * pl.col("std_auc")).mean().alias("score"),
        )
        .join(
            pooled.group_by("target").agg(
                (pl.col("auc") > 0.5).mean().alias("family_agreement"), pl.col("ic").mean().alias("ic")
            ),
            on="target",
        )
        .sort("score", descending=True)
        .with_row_index("rank", offset=1)
    )
    return table.with_columns(
        pl.format(
            "mean AUC {} ± {} over folds; {} of families beat chance",
            pl.col("mean_auc").round(3),
            pl.col("std_auc").round(3),
            pl.col("family_agreement").round(2),
        ).alias("reason")
    )
