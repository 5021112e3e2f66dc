"""labels: triple-barrier and forward-return targets with uniqueness weights."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from assets.partitions import per_symbol, run_symbols
from foxml_dagster.labels import make_labels
from resources.home import Experiment


@dg.asset(
    group_name="labels",
    kinds={"polars", "rust", "parquet"},
    description="One row per (symbol, ts, target): t1 (when the outcome is known), label in "
    "{-1,0,1}, realised log return, barrier hit, and average-uniqueness weight.",
    **per_symbol,
)
def labels(context: dg.AssetExecutionContext, experiment: Experiment, bars: pl.DataFrame) -> pl.DataFrame:
    run_symbols(context)
    frame = make_labels(bars, experiment.config.labels)
    balance = frame.group_by("target", "label").len().sort("target", "label")
    context.add_output_metadata({"label_balance": markdown_table(balance)})
    return frame
