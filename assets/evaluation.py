"""evaluation: out-of-fold metrics per family, ensemble, target, fold and backtest path; the
strategy grid backtested; the run history of trials with their deflated Sharpe; the probability
of backtest overfitting; the model ranking that promotion reads."""

import dagster as dg
import numpy as np
import polars as pl

from assets.backtest import benchmark_equity
from assets.metadata import markdown_table, table
from assets.metadata import table as table_metadata
from foxml_dagster import stats, strategies
from foxml_dagster.backtest.summary import resolve_periods_per_year
from foxml_dagster.dataset import read_training_frame
from foxml_dagster.ensemble import ENSEMBLE_FAMILY, is_ensemble, path_mean
from foxml_dagster.evaluation import path_summary, score_predictions
from foxml_dagster.model_ranking import rank_models
from foxml_dagster.strategies import strategy_matrix, strategy_name, variants
from foxml_dagster.trials import TrialSpace, deflation_basis, merge_history, series_statistics, trial_rows, trials_on
from jobs.executor import WHOLE_MACHINE_TAG
from resources.home import Experiment, FoxmlHome

#: Columns of the comparison table shown on the asset's page (pooled rows, one per family/target).
COMPARISON = ["target", "family", "n", "auc", "log_loss", "f1", "balanced_accuracy", "ic", "rank_ic"]
COMPARISON += ["ic_ir", "rank_ic_ir", "sign_sharpe", "sign_hit_rate"]


@dg.asset(
    group_name="evaluation",
    kinds={"polars", "parquet"},
    description="Per (family or ensemble, target, fold) and pooled (fold = -1): log loss, AUC, F1, balanced "
    "accuracy, IC and rank IC with their IR across folds, and the sign strategy after costs "
    "(backtest.cost_bps). With CPCV, one row per backtest path (fold = -2, path = p) and, on the "
    "pooled row, the spread across paths (n_paths, path_sharpe_mean/std/min/q25/median/q75/max, "
    "path_ic_mean/std/min). In DuckDB: SELECT * FROM model_scores WHERE fold = -1.",
    op_tags={WHOLE_MACHINE_TAG: "true"},
)
def model_scores(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    oof_predictions: pl.DataFrame,
    ensemble_predictions: pl.DataFrame,
    training_frame: pl.LazyFrame,
) -> pl.DataFrame:
    costs = experiment.config.backtest
    # The ensembles are scored like any family: their folds are the outer folds of nested CV.
    scored = pl.concat([oof_predictions, ensemble_predictions], how="vertical_relaxed")
    scores = score_predictions(scored, read_training_frame(training_frame), cost_bps=costs.cost_bps)
    pooled = scores.filter(pl.col("fold") < 0).sort("target", "auc", descending=[False, True])
    metadata = {"comparison": table(pooled.select(COMPARISON))}
    spread = path_summary(scores)
    if spread.height and spread["n_paths"].max() > 1:
        # CPCV: one Sharpe per backtest path; show how far apart the paths land, not one number.
        metadata["backtest_paths"] = markdown_table(spread.sort("target", "family"))
        metadata["n_paths"] = int(spread["n_paths"].max())
    context.add_output_metadata(metadata)
    return scores


@dg.asset(
    group_name="evaluation",
    kinds={"polars", "parquet"},
    description="Every strategy a researcher could have picked, traded bar to bar by the backtest: "
    "each family's (and each ensemble's) out-of-fold predictions x each target x each signal "
    "variant (a sizing policy and its parameters: evaluation.signal_gains x signal_dead_zones of the "
    "linear map, evaluation.policies and policy_variants, plus the configured one). One row per "
    "(strategy, ts) with net and gross return, turnover, exposure and the benchmark's return.",
    op_tags={WHOLE_MACHINE_TAG: "true"},
)
def strategy_returns(
    experiment: Experiment,
    home: FoxmlHome,
    oof_predictions: pl.DataFrame,
    ensemble_predictions: pl.DataFrame,
    bars: pl.DataFrame,
) -> pl.DataFrame:
    cfg = experiment.config
    grid, _ = variants(cfg.evaluation, cfg.signals)
    predictions = pl.concat(
        [path_mean(oof_predictions).select(_PREDICTION_KEYS), ensemble_predictions.select(_PREDICTION_KEYS)]
    )
    return strategies.strategy_returns(
        predictions,
        bars,
        grid=grid,
        signals=cfg.signals,
        backtest=cfg.backtest,
        benchmark_equity=benchmark_equity(cfg.backtest, home, bars),
        execution=cfg.backtest.execution_or_none(cfg.execution),
        labels=cfg.labels,
        periods_per_year=resolve_periods_per_year(cfg.backtest, bars.get_column("ts")),
    )


_PREDICTION_KEYS = ["family", "target", "symbol", "ts", "y_score"]


@dg.asset(
    group_name="evaluation",
    kinds={"polars", "duckdb", "parquet"},
    description="The run history: every trial ever run on this data set (strategy = family or "
    "ensemble x target x signal variant (a sizing policy and its parameters); ranking = a target scored by "
    "target_ranking; selection = "
    "a feature-selection configuration), keyed by a hash of its configuration, so re-running a "
    "configuration adds nothing. This run's strategies carry Sharpe (per period and annual), PSR "
    "and the deflated Sharpe against all trials on the data set (n_trials, n_effective_trials); "
    "`traded` marks the strategy the signals trade.",
)
def trials(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    home: FoxmlHome,
    strategy_returns: pl.DataFrame,
    target_ranking: pl.DataFrame,
    selected_features: pl.DataFrame,
    bars: pl.LazyFrame,
) -> pl.DataFrame:
    cfg = experiment.config
    space = TrialSpace(cfg)
    grid, traded_variant = variants(cfg.evaluation, cfg.signals)
    by_name = {v.name: v for v in grid}
    params = {name: spec.params for name, spec in cfg.training.resolved_families().items()}
    ppy = resolve_periods_per_year(cfg.backtest, bars.select("ts").unique().collect().get_column("ts"))
    traded = strategy_name(cfg.signals.source, target_ranking.sort("rank")["target"][0], traded_variant)

    names, matrix = strategy_matrix(strategy_returns)
    rows = [
        {"trial_id": space.selection(), "kind": "selection", "config": "selection"},
        *(
            {"trial_id": space.ranking(r["target"]), "kind": "ranking", "target": r["target"], **_ranking_stats(r)}
            for r in target_ranking.iter_rows(named=True)
        ),
    ]
    for name in names:
        family, target, variant = name.split(":")
        deps = _strategy_params(family, params, cfg)
        rows.append(
            {
                "trial_id": space.strategy(family, target, by_name[variant], deps),
                "kind": "strategy",
                "family": family,
                "target": target,
                "variant": variant,
                "config": name,
                "traded": name == traded,
            }
        )
    history = home.stored("evaluation", "trials")
    ids = trials_on(history, space.data_key) | {r["trial_id"] for r in rows}
    basis = deflation_basis(matrix, len(ids), variance=cfg.evaluation.dsr_variance)
    for row in rows[-len(names) :] if names else []:
        returns = matrix[:, names.index(row["config"])]
        row.update(series_statistics(returns, periods_per_year=ppy))
        row["dsr"] = basis.deflated(returns)
    for row in rows:
        row.update(data_key=space.data_key, n_trials=len(ids))
        if row["kind"] == "strategy":
            row.update(n_effective_trials=basis.n_effective, sharpe_variance=basis.sharpe_variance)
    merged = merge_history(history, trial_rows(rows), run_id=context.run_id)
    current = merged.filter(pl.col("in_last_run") & (pl.col("kind") == "strategy")).sort("dsr", descending=True)
    context.add_output_metadata(
        {
            "n_trials": len(ids),
            "n_effective_trials": round(basis.n_effective, 2),
            "new_trials": int((merged["runs"] == 1).sum()),
            "expected_max_sharpe": round(basis.expected_max_sharpe, 4),
            "best": table(
                current.select("family", "target", "variant", "n_periods", "sharpe_annual", "psr", "dsr", "traded"),
                max_rows=10,
            ),
        }
    )
    return merged


def _strategy_params(family: str, params: dict, cfg) -> dict:
    """What a strategy's predictions depend on: its family's parameters; for an ensemble every
    member's and, for a fitted one, the combining settings (the equal mean's identity is as it
    always was, so its earlier trials keep their ids)."""
    if not is_ensemble(family):
        return {family: params[family]}
    if family == ENSEMBLE_FAMILY:
        return params
    return {**params, "ensemble": {"method": family, **cfg.ensemble.model_dump(mode="json", exclude={"methods"})}}


def _ranking_stats(row: dict) -> dict:
    keys = ("n_periods", "sharpe", "sharpe_annual", "skew", "kurtosis", "psr", "dsr", "n_effective_trials")
    return {k: row.get(k) for k in keys}


@dg.asset(
    group_name="evaluation",
    kinds={"polars", "duckdb", "parquet"},
    description="Probability of backtest overfitting by combinatorially symmetric cross-validation "
    "over the strategy grid (evaluation.pbo_blocks blocks): one row per split with the in-sample "
    "best strategy, its in- and out-of-sample Sharpe, and the logit of its out-of-sample rank. "
    "PBO = share of splits with logit <= 0: SELECT avg((logit <= 0)::int) FROM overfitting.",
)
def overfitting(context: dg.AssetExecutionContext, experiment: Experiment, strategy_returns: pl.DataFrame):
    names, matrix = strategy_matrix(strategy_returns)
    blocks = experiment.config.evaluation.pbo_blocks
    if len(names) < 2 or matrix.shape[0] < 2 * blocks:
        context.add_output_metadata(
            {"pbo": dg.MetadataValue.text(f"not computed: needs >= 2 strategies and {2 * blocks} periods")}
        )
        return pl.DataFrame(schema=OVERFITTING_SCHEMA)
    result = stats.pbo_cscv(matrix, n_blocks=blocks)
    table = pl.DataFrame(
        {
            "split": np.arange(result.n_splits, dtype=np.int64),
            "best_strategy": [names[i] for i in result.best],
            "is_sharpe": result.is_sharpe,
            "oos_sharpe": result.oos_sharpe,
            "logit": result.logits,
            "n_strategies": len(names),
            "n_blocks": blocks,
        },
        schema=OVERFITTING_SCHEMA,
    )
    context.add_output_metadata(
        {
            "pbo": result.pbo,
            "prob_oos_loss": result.prob_oos_loss,
            "n_strategies": len(names),
            "n_splits": result.n_splits,
        }
    )
    return table


OVERFITTING_SCHEMA = {
    "split": pl.Int64,
    "best_strategy": pl.String,
    "is_sharpe": pl.Float64,
    "oos_sharpe": pl.Float64,
    "logit": pl.Float64,
    "n_strategies": pl.Int64,
    "n_blocks": pl.Int64,
}


@dg.asset(
    group_name="evaluation",
    kinds={"polars", "duckdb", "parquet"},
    description="Families and ensembles ranked per target by out-of-fold evidence with its uncertainty: AUC and "
    "IC with block-bootstrap intervals (evaluation.bootstrap_samples, confidence; blocks of the label span), "
    "the IC's t-stat on its bootstrap standard error, the spread across folds (mean, std, min of AUC and IC), "
    "and the deflated Sharpe of each model's strategy under the traded signal policy. Ranked by the lower "
    "bound of evaluation.rank_by. The basis of production promotion.",
)
def model_ranking(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    model_scores: pl.DataFrame,
    oof_predictions: pl.DataFrame,
    ensemble_predictions: pl.DataFrame,
    training_frame: pl.LazyFrame,
    trials: pl.DataFrame,
) -> pl.DataFrame:
    cfg = experiment.config
    _, traded_variant = variants(cfg.evaluation, cfg.signals)
    predictions = pl.concat(
        [path_mean(oof_predictions).select(_RANKED), ensemble_predictions.select(_RANKED)], how="vertical_relaxed"
    )
    traded = trials.filter(
        pl.col("in_last_run") & (pl.col("kind") == "strategy") & (pl.col("variant") == traded_variant.name)
    )
    ev = cfg.evaluation
    table = rank_models(
        predictions,
        read_training_frame(training_frame),
        model_scores,
        traded,
        n_boot=ev.bootstrap_samples,
        block=ev.bootstrap_block,
        confidence=ev.confidence,
        rank_by=ev.rank_by,
        seed=cfg.training.seed,
    )
    shown = ["target", "rank", "family", "auc", "auc_lo", "auc_hi", "ic", "ic_lo", "ic_hi", "ic_tstat"]
    shown += ["auc_fold_std", "ic_fold_std", "dsr"]
    context.add_output_metadata(
        {"ranking": table_metadata(table.select(shown)), "rank_by": f"{ev.rank_by}_lo", "variant": traded_variant.name}
    )
    return table


_RANKED = ["family", "target", "symbol", "ts", "y_true", "y_score"]
