"""ensemble: families combined per sample, out of fold: equal weight, score-weighted, rank
averaging and stacking, the fitted ones validated by nested purged CV."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster.dataset import read_training_frame
from foxml_dagster.ensemble import combine
from resources.home import Experiment


@dg.asset(
    group_name="ensemble",
    kinds={"polars", "parquet"},
    description="The families' out-of-fold scores combined per sample, one prediction per (ensemble, target, "
    "symbol, ts): `ensemble` (equal-weight mean; with CPCV each family first averaged over its backtest paths), "
    "`ensemble_weighted` (IC weights shrunk to equal), `ensemble_rank` (mean rank), `ensemble_stacked` "
    "(logistic meta-learner on the families' log-odds). The fitted ones are out of sample by nested purged CV: "
    "`fold` is the outer fold whose combiner predicted the row. The members are audited first: predictions "
    "that are not out of fold are refused.",
)
def ensemble_predictions(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    oof_predictions: pl.DataFrame,
    folds: pl.DataFrame,
    training_frame: pl.LazyFrame,
) -> pl.DataFrame:
    cfg = experiment.config
    frame = combine(
        oof_predictions,
        read_training_frame(training_frame),
        cfg.ensemble,
        folds=folds,
        n_folds=cfg.splits.n_folds,
        embargo_pct=cfg.splits.embargo_pct,
    )
    counts = frame.group_by("family", "target").agg(pl.len().alias("rows")).sort("family", "target")
    context.add_output_metadata({"dagster/row_count": frame.height, "ensembles": markdown_table(counts)})
    return frame
