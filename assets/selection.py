"""selection: leakage report (blocks training), label-free feature selection, target ranking."""

import dagster as dg
import polars as pl

from assets.backtest import benchmark_equity
from assets.metadata import markdown_table
from assets.metadata import table as table_metadata
from foxml_dagster import leakage
from foxml_dagster.backtest.summary import resolve_periods_per_year
from foxml_dagster.dataset import KEYS, LABEL_COLUMNS, feature_columns, read_training_frame, sample_per_target
from foxml_dagster.features import feature_set
from foxml_dagster.labels import make_labels
from foxml_dagster.selection import rank_targets, select_features
from foxml_dagster.trials import TrialSpace, trials_on
from jobs.executor import WHOLE_MACHINE_TAG
from resources.home import Experiment, FoxmlHome
from resources.ray import RayResource


@dg.asset(
    group_name="selection",
    kinds={"polars", "parquet"},
    description="Automatic leakage checks: features re-computed on truncated and perturbed bars; "
    "features that copy the target, score too well alone, dominate importance, or carry a "
    "whole-sample scaler; labels re-computed on truncated bars; the fold audit (overlap, label "
    "spans crossing a boundary, embargo, test coverage).",
    check_specs=[
        dg.AssetCheckSpec(
            "no_leakage",
            asset="leakage_report",
            blocking=True,
            description="every leakage check passes; training is blocked otherwise",
        )
    ],
)
def leakage_report(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    ray: RayResource,
    bars: pl.DataFrame,
    training_frame: pl.LazyFrame,
    folds: pl.DataFrame,
):
    cfg = experiment.config
    sel = cfg.selection
    names = feature_columns(training_frame.collect_schema())
    specs = feature_set(cfg.features.set)
    bounds = {spec.name: spec.bounds for spec in specs if spec.bounds is not None}
    cap, seed = sel.leakage_max_rows, cfg.training.seed
    # The look-ahead recomputes run on a random subset of symbols (docs/research.md: power);
    # a benchmark-relative label needs its benchmark symbol among them.
    probed = leakage.sample_symbols(bars, sel.lookahead_symbols, seed)
    benchmark = cfg.labels.forward_returns.benchmark
    if benchmark is not None and cfg.labels.forward_returns.excess == "benchmark":
        probed = pl.concat([probed.filter(pl.col("symbol") != benchmark), bars.filter(pl.col("symbol") == benchmark)])
    # The sampled checks read their sample and the fold checks the keys, never the whole frame.
    sampled = sample_per_target(training_frame, cap, seed)
    keys = read_training_frame(training_frame)
    rows = [
        *leakage.feature_lookahead_rows(probed, specs, seed=seed, runner=ray.stage_runner()),
        *leakage.target_copy_rows(sampled, names, max_abs_corr=sel.leak_corr, max_rows=cap, seed=seed),
        *leakage.single_feature_score_rows(sampled, names, max_auc=sel.leak_auc, max_rows=cap, seed=seed),
        *leakage.importance_dominance_rows(sampled, names, max_share=sel.max_importance_share, seed=seed, max_rows=cap),
        *leakage.preprocessing_rows(training_frame, names, bounds=bounds),
        *leakage.label_lookahead_rows(probed, lambda b: make_labels(b, cfg.labels), seed=seed),
        *leakage.label_span_rows(keys),
        *leakage.fold_audit_rows(folds, keys, cfg.splits),
    ]
    report = leakage.leakage_report(rows)
    found = leakage.failures(report)
    summary = report.group_by("check_name", maintain_order=True).agg(
        (pl.col("status") == "fail").sum().alias("failed"), pl.len().alias("rows")
    )
    yield dg.Output(report, metadata={"failures": len(found), "checks": markdown_table(summary)})
    yield dg.AssetCheckResult(
        check_name="no_leakage",
        passed=not found,
        metadata={"culprits": dg.MetadataValue.md("\n".join(f"- {f}" for f in found) or "none")},
    )


@dg.asset(
    group_name="selection",
    kinds={"polars", "scikit-learn", "parquet"},
    description="Features chosen under the purged folds: near-duplicates dropped (label-free), "
    "then MDI, MDA, clustered MDA over correlated groups, single-feature importance and fold "
    "stability on every target (selection.importance: all_targets), with per-target columns "
    "(clustered_mda__<t>, stability__<t>, rank__<t>) and a combined ranking by mean rank; "
    "selected = helps (positive clustered MDA in enough folds) on at least min_target_support of "
    "the targets. single_target: the same on one target. Reason per feature.",
)
def selected_features(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    ray: RayResource,
    training_frame: pl.LazyFrame,
    folds: pl.DataFrame,
) -> pl.DataFrame:
    cfg = experiment.config
    runner = ray.stage_runner()  # in-process unless a Ray cluster is configured
    # A uniform draw of each target's rows, and the folds of the rows drawn: the caps on
    # correlation and importance rows then draw from it, as they would from the whole frame.
    frame = sample_per_target(training_frame, cfg.selection.max_rows, cfg.training.seed)
    folds = folds.join(frame.select("target", "symbol", "ts"), on=["target", "symbol", "ts"], how="semi")
    table = select_features(frame, folds, feature_columns(frame), cfg.selection, seed=cfg.training.seed, runner=runner)
    combined = "combined_rank" in table.columns
    order = (
        table.sort("combined_rank", nulls_last=True)
        if combined
        else table.sort("selected", "clustered_mda", descending=True, nulls_last=True)
    )
    shown = [c for c in order.columns if not c.startswith(("clustered_mda__", "stability__"))]
    context.add_output_metadata(
        {
            "selected": int(table["selected"].sum()),
            "importance_target": table["importance_target"].drop_nulls().first(),
            "importance": cfg.selection.importance,
            "runner": runner.name,
            "table": table_metadata(order.select(shown)),
        }
    )
    return table


@dg.asset(
    group_name="selection",
    kinds={"polars", "scikit-learn", "parquet"},
    description="Candidate targets ranked by out-of-fold predictability under the purged folds "
    "with two or more families: composite = AUC edge x fold consistency x family agreement. "
    "Each target's averaged test predictions are also traded bar to bar with the configured "
    "signal (one return per bar): Sharpe, PSR and the deflated Sharpe against every trial run on "
    "this data set (the `trials` history), with the reasons.",
    op_tags={WHOLE_MACHINE_TAG: "true"},
)
def target_ranking(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    home: FoxmlHome,
    training_frame: pl.LazyFrame,
    folds: pl.DataFrame,
    selected_features: pl.DataFrame,
    bars: pl.DataFrame,
) -> pl.DataFrame:
    cfg = experiment.config
    chosen = selected_features.filter(pl.col("selected"))["feature"].to_list()
    space = TrialSpace(cfg)
    targets = sorted(training_frame.select(pl.col("target").unique()).collect()["target"].to_list())
    # Trials counted so far on this data set, plus this run's selection and ranking looks.
    tried = trials_on(home.stored("evaluation", "trials"), space.data_key)
    tried |= {space.selection(), *(space.ranking(t) for t in targets)}
    table = rank_targets(
        training_frame.select(*KEYS, *LABEL_COLUMNS, *chosen),
        folds,
        bars,
        feature_columns=chosen,
        families=cfg.selection.ranking_families,
        seed=cfg.training.seed,
        signals=cfg.signals,
        backtest=cfg.backtest,
        n_trials=len(tried),
        periods_per_year=resolve_periods_per_year(cfg.backtest, bars.get_column("ts")),
        benchmark_equity=benchmark_equity(cfg.backtest, home, bars),
        dsr_variance=cfg.evaluation.dsr_variance,
        execution=cfg.backtest.execution_or_none(cfg.execution),
        max_train_rows=cfg.selection.ranking_max_train_rows,
    )
    context.add_output_metadata(
        {"ranking": table_metadata(table), "top_target": table["target"][0], "n_trials": len(tried)}
    )
    return table
