"""dataset: the panel-aligned training frame, features joined to labels."""

import dagster as dg
import polars as pl

from foxml_dagster.dataset import build_training_frame


@dg.asset(
    group_name="dataset",
    kinds={"polars", "parquet"},
    description="Labels joined to the features known at their timestamp, long by target; rows "
    "whose features are still warming up are left out and counted.",
)
def training_frame(
    context: dg.AssetExecutionContext,
    features: pl.DataFrame,
    cross_sectional_features: pl.DataFrame,
    labels: pl.DataFrame,
) -> pl.DataFrame:
    built = build_training_frame(features, labels, cross_sectional=cross_sectional_features)
    context.add_output_metadata(
        {
            "feature_columns": dg.MetadataValue.json(built.feature_columns),
            "rows_in_warmup": built.rows_in_warmup,
            "symbols": built.frame["symbol"].n_unique(),
            "targets": dg.MetadataValue.json(built.frame["target"].unique().sort().to_list()),
        }
    )
    return built.frame
