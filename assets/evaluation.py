"""evaluation: out-of-fold metrics per family, target and fold."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster.evaluation import score_predictions


@dg.asset(
    group_name="evaluation",
    kinds={"polars", "parquet"},
    description="Per (family, target, fold) and pooled (fold = -1): AUC, log loss, accuracy, "
    "rank IC against the realised return, and the sign strategy's Sharpe.",
)
def model_scores(
    context: dg.AssetExecutionContext, oof_predictions: pl.DataFrame, training_frame: pl.DataFrame
) -> pl.DataFrame:
    scores = score_predictions(oof_predictions, training_frame)
    pooled = scores.filter(pl.col("fold") < 0).sort("target", "family")
    context.add_output_metadata({"pooled": markdown_table(pooled)})
    return scores
