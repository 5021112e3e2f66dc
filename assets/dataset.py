"""dataset: the panel-aligned training frame, features joined to labels."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster.dataset import bars_needed, build_training_frame
from foxml_dagster.features import feature_set
from foxml_dagster.features.cross_section import cross_sectional_set
from resources.home import Experiment


@dg.asset(
    group_name="dataset",
    kinds={"polars", "parquet"},
    description="Labels joined to the features known at their timestamp, long by target; rows "
    "whose features are still warming up are left out and counted. Symbols left with no row "
    "(too few bars for the warm-up and label horizon) are listed with the reason, and warned of.",
)
def training_frame(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    features: pl.DataFrame,
    cross_sectional_features: pl.DataFrame,
    labels: pl.DataFrame,
) -> pl.DataFrame:
    cfg = experiment.config
    specs = [*feature_set(cfg.features.set)]
    if cfg.features.cross_sectional is not None:
        specs += cross_sectional_set(cfg.features.cross_sectional)
    needed = bars_needed(max((s.warmup for s in specs), default=0), cfg.labels)
    built = build_training_frame(features, labels, cross_sectional=cross_sectional_features, needed=needed)
    left_out = built.left_out
    if not left_out.is_empty():
        # Downstream (training, signals, orders) these symbols simply do not exist; say so here.
        context.log.warning(
            f"{left_out.height} symbol(s) left out of training, signals and orders: "
            + "; ".join(f"{r['symbol']}: {r['reason']}" for r in left_out.iter_rows(named=True))
        )
    context.add_output_metadata(
        {
            "feature_columns": dg.MetadataValue.json(built.feature_columns),
            "rows_in_warmup": built.rows_in_warmup,
            "symbols": built.frame["symbol"].n_unique(),
            "targets": dg.MetadataValue.json(built.frame["target"].unique().sort().to_list()),
            "bars_needed": needed.bars if needed.bars is not None else needed.describe(),
            "left_out_symbols": dg.MetadataValue.json(left_out.to_dicts()),
            "left_out": markdown_table(left_out) if not left_out.is_empty() else "none",
        }
    )
    return built.frame
