"""dataset: the panel-aligned training frame, features joined to labels."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster.dataset import TrainingFrameBuild, bars_needed
from foxml_dagster.features import feature_set
from foxml_dagster.features.cross_section import cross_sectional_set
from resources.home import Experiment
from resources.lake import FrameBatches


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
    features: dict[str, pl.LazyFrame],
    cross_sectional_features: pl.LazyFrame,
    labels: dict[str, pl.LazyFrame],
):
    cfg = experiment.config
    specs = [*feature_set(cfg.features.set)]
    if cfg.features.cross_sectional is not None:
        specs += cross_sectional_set(cfg.features.cross_sectional)
    needed = bars_needed(max((s.warmup for s in specs), default=0), cfg.labels)
    # Made and written one target and symbol batch at a time: the frame is the panel's size times
    # the targets, far more than any step should hold.
    build = TrainingFrameBuild(
        features,
        labels,
        cross_sectional=cross_sectional_features,
        needed=needed,
        memory_budget_mb=cfg.features.memory_budget_mb,
    )

    def summary() -> dict:
        left_out = build.left_out
        if not left_out.is_empty():
            # Downstream (training, signals, orders) these symbols simply do not exist; say so here.
            context.log.warning(
                f"{left_out.height} symbol(s) left out of training, signals and orders: "
                + "; ".join(f"{r['symbol']}: {r['reason']}" for r in left_out.iter_rows(named=True))
            )
        return {
            "feature_columns": dg.MetadataValue.json(build.feature_columns),
            "rows_in_warmup": build.rows_in_warmup,
            "symbols": len(build.symbols),
            "targets": dg.MetadataValue.json(build.targets),
            "bars_needed": needed.bars if needed.bars is not None else needed.describe(),
            "left_out_symbols": dg.MetadataValue.json(left_out.to_dicts()),
            "left_out": markdown_table(left_out) if not left_out.is_empty() else "none",
        }

    return FrameBatches(build, summary=summary)
