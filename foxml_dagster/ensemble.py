"""Ensembles of out-of-fold predictions across model families, one prediction per sample.

Downstream stages (signals, backtest) need exactly one prediction per (target, symbol, ts).
With K-fold or walk-forward folds each family already gives one. With CPCV each family gives
one per backtest path (phi = C(N-1, k-1) of them, from phi different splits), so `path_mean`
first averages a family's predictions of a sample over its paths. None of the averaged models
trained on the sample or on any label overlapping its test group, so the mean is as
out-of-sample as each of them; it is a bagged forecast of models that each saw a different
(purged) part of the data. The ensemble then averages families with equal weight, whatever
their number of paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

__all__ = ["ENSEMBLE_FAMILY", "PATHS_MODEL", "mean_ensemble", "path_mean"]

#: `family` value of ensemble predictions.
ENSEMBLE_FAMILY = "ensemble"

#: model_id suffix of a family's prediction averaged over backtest paths: "<family>:<target>:paths".
PATHS_MODEL = "paths"

_PREDICTION_COLUMNS = ["model_id", "family", "target", "fold", "symbol", "ts", "y_true", "y_score", "path"]
_SAMPLE = ["family", "target", "symbol", "ts"]


def path_mean(predictions: pl.DataFrame) -> pl.DataFrame:
    """One prediction per (family, target, symbol, ts): the mean y_score over backtest paths.

    Only (family, target) groups with more than one `path` (CPCV) change: their rows become one
    per sample with model_id "<family>:<target>:paths", and `fold` and `path` null (the mean
    comes from several folds and belongs to no single path). Other rows pass through as they
    are, so K-fold and walk-forward predictions are returned unchanged. A sample predicted
    twice on one path, or with y_true differing between paths, raises ValueError.
    """
    predictions = _with_path(predictions)
    several = pl.col("path").n_unique().over("family", "target") > 1
    single = predictions.filter(~several)
    multi = predictions.filter(several)
    if multi.is_empty():
        return predictions
    grouped = (
        # A fixed order inside each group keeps the floating-point mean reproducible.
        multi.sort(*_SAMPLE, "path")
        .group_by(_SAMPLE, maintain_order=True)
        .agg(
            pl.col("y_score").mean(),
            pl.col("y_true").min().alias("_y_min"),
            pl.col("y_true").max().alias("_y_max"),
            pl.len().alias("_n"),
            pl.col("path").n_unique().alias("_n_paths"),
        )
    )
    doubled = grouped.filter(pl.col("_n") != pl.col("_n_paths"))
    if doubled.height:
        first = doubled.row(0, named=True)
        raise ValueError(
            f"{doubled.height} samples are predicted twice on one backtest path (first: {first['family']} "
            f"{first['target']} {first['symbol']} {first['ts']}); pass one training run's predictions"
        )
    _refuse_y_disagreement(grouped, "paths")
    collapsed = grouped.with_columns(
        pl.format("{}:{}:{}", "family", "target", pl.lit(PATHS_MODEL)).alias("model_id"),
        pl.lit(None, pl.Int32).alias("fold"),
        pl.col("_y_min").cast(pl.Int8).alias("y_true"),
        pl.lit(None, pl.Int32).alias("path"),
    ).select(_PREDICTION_COLUMNS)
    return pl.concat([single.select(_PREDICTION_COLUMNS), collapsed], how="vertical_relaxed").sort(
        "model_id", "symbol", "ts"
    )


def _with_path(predictions: pl.DataFrame) -> pl.DataFrame:
    """Predictions made before `path` existed are single-path (K-fold): path 0."""
    path = pl.col("path").cast(pl.Int32).fill_null(0) if "path" in predictions.columns else pl.lit(0, pl.Int32)
    return predictions.with_columns(path.alias("path"))


def _refuse_y_disagreement(grouped: pl.DataFrame, between: str) -> None:
    bad_y = grouped.filter(pl.col("_y_min") != pl.col("_y_max"))
    if bad_y.height:
        first = bad_y.row(0, named=True)
        raise ValueError(
            f"{between} disagree on y_true for {bad_y.height} samples "
            f"(first: target={first['target']}, symbol={first['symbol']}, ts={first['ts']}); "
            "were they trained on the same training_frame?"
        )


def mean_ensemble(predictions: pl.DataFrame, *, families: Sequence[str] | None = None) -> pl.DataFrame:
    """Equal-weight mean of y_score across families, per (target, symbol, ts).

    Args:
        predictions: frame in the predictions contract, one row per (family, target, symbol, ts).
        families: the families to average; default every family present except "ensemble".

    Returns a predictions-contract frame with family = "ensemble", model_id = "ensemble:<target>",
    `fold`, `path` and `y_true` copied from the members, sorted by (model_id, symbol, ts).

    CPCV predictions (several `path`s per family) are first averaged over paths (`path_mean`),
    so each family contributes one score per sample; the result then has `fold` and `path` null.
    K-fold and walk-forward predictions keep their fold and path.

    Only samples predicted by *all* chosen families are kept (an inner join across families):
    a mean over a varying subset of models would silently mix different ensembles. Members must
    agree on `y_true` and `fold` for every kept sample (they are out-of-fold predictions of the
    same folds); a disagreement raises ValueError, as does a family predicting a sample twice.
    Because the members are out-of-fold, so is the mean: no weights are fitted here.
    """
    missing = [c for c in _PREDICTION_COLUMNS if c != "path" and c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions: required column(s) {missing} missing")
    present = sorted(set(predictions.get_column("family").unique().to_list()))
    if families is None:
        chosen = [f for f in present if f != ENSEMBLE_FAMILY]
    else:
        chosen = sorted(set(families))
        absent = [f for f in chosen if f not in present]
        if absent:
            raise ValueError(f"family(ies) {absent} not in predictions; present: {present}")
    if not chosen:
        raise ValueError("no families to ensemble")

    members = path_mean(predictions.filter(pl.col("family").is_in(chosen)))
    n_dup = members.height - members.select("family", "target", "symbol", "ts").n_unique()
    if n_dup:
        raise ValueError(
            f"{n_dup} duplicate (family, target, symbol, ts) predictions; each family must predict "
            "each sample once (pass out-of-fold predictions of one variant per family)"
        )

    # Fixed member order inside each group keeps the floating-point mean reproducible.
    grouped = (
        members.sort("target", "symbol", "ts", "family")
        .group_by("target", "symbol", "ts", maintain_order=True)
        .agg(
            pl.col("family").n_unique().alias("_n_families"),
            pl.col("y_score").mean().alias("y_score"),
            pl.col("y_true").min().alias("_y_min"),
            pl.col("y_true").max().alias("_y_max"),
            pl.col("fold").min().alias("fold"),
            pl.col("fold").max().alias("_fold_max"),
            pl.col("path").min().alias("path"),
            pl.col("path").max().alias("_path_max"),
            pl.col("fold").null_count().alias("_fold_nulls"),
        )
        .filter(pl.col("_n_families") == len(chosen))
    )
    _refuse_y_disagreement(grouped, "families")
    # min/max skip nulls, so a fold averaged over paths (null) next to a real one is caught by count.
    mixed = (pl.col("_fold_nulls") > 0) & (pl.col("_fold_nulls") < pl.col("_n_families"))
    bad_fold = grouped.filter(
        mixed | pl.col("fold").ne_missing(pl.col("_fold_max")) | pl.col("path").ne_missing(pl.col("_path_max"))
    )
    if bad_fold.height:
        raise ValueError(
            f"families disagree on fold for {bad_fold.height} samples; ensemble predictions made with the same folds"
        )
    return (
        grouped.with_columns(
            pl.format("{}:{}", pl.lit(ENSEMBLE_FAMILY), pl.col("target")).alias("model_id"),
            pl.lit(ENSEMBLE_FAMILY).alias("family"),
            pl.col("_y_min").cast(pl.Int8).alias("y_true"),
            pl.col("fold").cast(pl.Int32),
            pl.col("y_score").cast(pl.Float64),
            pl.col("path").cast(pl.Int32),
        )
        .select(_PREDICTION_COLUMNS)
        .sort("model_id", "symbol", "ts")
    )
