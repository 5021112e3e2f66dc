"""evaluation: out-of-fold metrics per family, target, fold and backtest path, and the family comparison."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster.evaluation import path_summary, score_predictions, sign_strategy_returns
from foxml_dagster.stats import pbo_cscv
from resources.home import Experiment

#: Columns of the comparison table shown on the asset's page (pooled rows, one per family/target).
COMPARISON = ["target", "family", "n", "auc", "log_loss", "f1", "balanced_accuracy", "ic", "rank_ic"]
COMPARISON += ["ic_ir", "rank_ic_ir", "sign_sharpe", "sign_hit_rate"]


@dg.asset(
    group_name="evaluation",
    kinds={"polars", "parquet"},
    description="Per (family, target, fold) and pooled (fold = -1): log loss, AUC, F1, balanced "
    "accuracy, IC and rank IC with their IR across folds, and the sign strategy after costs "
    "(backtest.cost_bps). With CPCV, one row per backtest path (fold = -2, path = p) and, on the "
    "pooled row, the spread across paths (n_paths, path_sharpe_mean/std/min/q25/median/q75/max, "
    "path_ic_mean/std/min). In DuckDB: SELECT * FROM model_scores WHERE fold = -1.",
)
def model_scores(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    oof_predictions: pl.DataFrame,
    training_frame: pl.DataFrame,
) -> pl.DataFrame:
    costs = experiment.config.backtest
    scores = score_predictions(
        oof_predictions, training_frame, cost_bps=costs.cost_bps, periods_per_year=costs.periods_per_year
    )
    pooled = scores.filter(pl.col("fold") < 0).sort("target", "auc", descending=[False, True])
    metadata = {
        "comparison": markdown_table(pooled.select(COMPARISON)),
        **_overfitting(oof_predictions, training_frame),
    }
    spread = path_summary(scores)
    if spread.height and spread["n_paths"].max() > 1:
        # CPCV: one Sharpe per backtest path; show how far apart the paths land, not one number.
        metadata["backtest_paths"] = markdown_table(spread.sort("target", "family"))
        metadata["n_paths"] = int(spread["n_paths"].max())
    context.add_output_metadata(metadata)
    return scores


def _overfitting(oof_predictions: pl.DataFrame, training_frame: pl.DataFrame) -> dict:
    """PBO of picking the best (family, target) sign strategy by in-sample Sharpe (CSCV)."""
    strategies = sign_strategy_returns(oof_predictions, training_frame).drop("ts")
    n_blocks = 10
    if strategies.width < 2 or strategies.height < 4 * n_blocks:
        return {"pbo": dg.MetadataValue.text("not computed: needs >= 2 strategies and 40 timestamps")}
    result = pbo_cscv(strategies.to_numpy(), n_blocks=n_blocks)
    return {"pbo": result.pbo, "pbo_strategies": strategies.width, "pbo_splits": result.n_splits}
