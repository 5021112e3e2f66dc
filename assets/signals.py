"""signals: target weights from the ensemble for the top-ranked target, after pre-trade risk."""

import dagster as dg
import polars as pl

from foxml_dagster.signals import signals_from_predictions
from resources.home import Experiment


@dg.asset(
    group_name="signals",
    kinds={"polars", "parquet"},
    description="symbol, ts, target_weight in [-1, 1] with the raw weight and the risk action "
    "(dead zone, per-symbol clip, gross scaling) that shaped it.",
)
def signals(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    ensemble_predictions: pl.DataFrame,
    target_ranking: pl.DataFrame,
) -> pl.DataFrame:
    cfg = experiment.config.signals
    target = target_ranking.sort("rank")["target"][0]
    frame = signals_from_predictions(ensemble_predictions, target=target, limits=cfg.risk, gain=cfg.gain)
    actions = frame.group_by("risk_action").len()
    context.add_output_metadata({"target": target, **{f"risk/{a}": n for a, n in actions.iter_rows()}})
    return frame
