"""Ensembles of out-of-fold predictions across model families."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

__all__ = ["ENSEMBLE_FAMILY", "mean_ensemble"]

#: `family` value of ensemble predictions.
ENSEMBLE_FAMILY = "ensemble"

_PREDICTION_COLUMNS = ["model_id", "family", "target", "fold", "symbol", "ts", "y_true", "y_score"]


def mean_ensemble(predictions: pl.DataFrame, *, families: Sequence[str] | None = None) -> pl.DataFrame:
    """Equal-weight mean of y_score across families, per (target, symbol, ts).

    Args:
        predictions: frame in the predictions contract, one row per (family, target, symbol, ts).
        families: the families to average; default every family present except "ensemble".

    Returns a predictions-contract frame with family = "ensemble", model_id = "ensemble:<target>",
    `fold` and `y_true` copied from the members, sorted by (model_id, symbol, ts).

    Only samples predicted by *all* chosen families are kept (an inner join across families):
    a mean over a varying subset of models would silently mix different ensembles. Members must
    agree on `y_true` and `fold` for every kept sample (they are out-of-fold predictions of the
    same folds); a disagreement raises ValueError, as does a family predicting a sample twice.
    Because the members are out-of-fold, so is the mean: no weights are fitted here.
    """
    missing = [c for c in _PREDICTION_COLUMNS if c not in predictions.columns]
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

    members = predictions.filter(pl.col("family").is_in(chosen))
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
        )
        .filter(pl.col("_n_families") == len(chosen))
    )
    bad_y = grouped.filter(pl.col("_y_min") != pl.col("_y_max"))
    if bad_y.height:
        first = bad_y.row(0, named=True)
        raise ValueError(
            f"families disagree on y_true for {bad_y.height} samples "
            f"(first: target={first['target']}, symbol={first['symbol']}, ts={first['ts']}); "
            "were they trained on the same training_frame?"
        )
    bad_fold = grouped.filter(pl.col("fold") != pl.col("_fold_max"))
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
        )
        .select(_PREDICTION_COLUMNS)
        .sort("model_id", "symbol", "ts")
    )
