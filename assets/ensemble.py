"""ensemble: families combined per sample, out of fold."""

import dagster as dg
import polars as pl

from foxml_dagster.ensemble import mean_ensemble


@dg.asset(
    group_name="ensemble",
    kinds={"polars", "parquet"},
    description="Mean of the families' out-of-fold scores for each sample that every family scored: "
    "one prediction per (target, symbol, ts). With CPCV each family's scores are first averaged "
    "over its backtest paths (fold and path null).",
)
def ensemble_predictions(oof_predictions: pl.DataFrame) -> pl.DataFrame:
    return mean_ensemble(oof_predictions)
