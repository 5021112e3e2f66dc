"""execution: order tickets for the latest signals, risk-checked, with idempotent ids."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster.execution import plan_orders
from resources.home import Experiment


@dg.asset(
    group_name="execution",
    kinds={"polars", "parquet"},
    description="Orders that move a flat paper account to the latest target weights: "
    "deterministic client_order_id, side, qty, reference price, and the risk decision with its "
    "reason. Broker submission is not wired yet: status is 'planned'.",
)
def orders(
    context: dg.AssetExecutionContext, experiment: Experiment, signals: pl.DataFrame, bars: pl.DataFrame
) -> pl.DataFrame:
    cfg = experiment.config
    frame = plan_orders(
        signals, bars, capital=cfg.execution.capital, max_symbol_weight=cfg.signals.risk.max_symbol_weight
    )
    context.add_output_metadata({"orders": markdown_table(frame.drop("client_order_id"))})
    return frame
