"""selection: leakage report (blocks training), label-free feature selection, target ranking."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster import leakage
from foxml_dagster.dataset import feature_columns
from foxml_dagster.features import feature_set
from foxml_dagster.labels import make_labels
from foxml_dagster.selection import drop_redundant_features, rank_targets
from resources.home import Experiment


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
    bars: pl.DataFrame,
    training_frame: pl.DataFrame,
    folds: pl.DataFrame,
):
    cfg = experiment.config
    sel = cfg.selection
    names = feature_columns(training_frame)
    rows = [
        *leakage.feature_lookahead_rows(bars, feature_set(cfg.features.set), seed=cfg.training.seed),
        *leakage.target_copy_rows(training_frame, names, max_abs_corr=sel.leak_corr),
        *leakage.single_feature_score_rows(training_frame, names, max_auc=sel.leak_auc),
        *leakage.importance_dominance_rows(
            training_frame, names, max_share=sel.max_importance_share, seed=cfg.training.seed
        ),
        *leakage.preprocessing_rows(training_frame, names),
        *leakage.label_lookahead_rows(bars, lambda b: make_labels(b, cfg.labels), seed=cfg.training.seed),
        *leakage.label_span_rows(training_frame),
        *leakage.fold_audit_rows(folds, training_frame, cfg.splits),
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
    kinds={"polars", "parquet"},
    description="Label-free selection: constant features and near-duplicates (|Spearman| above "
    "selection.max_abs_corr with a kept feature) are dropped, with the reason.",
)
def selected_features(
    context: dg.AssetExecutionContext, experiment: Experiment, training_frame: pl.DataFrame
) -> pl.DataFrame:
    table = drop_redundant_features(
        training_frame, feature_columns(training_frame), max_abs_corr=experiment.config.selection.max_abs_corr
    )
    context.add_output_metadata({"selected": int(table["selected"].sum()), "table": markdown_table(table)})
    return table


@dg.asset(
    group_name="selection",
    kinds={"polars", "scikit-learn", "parquet"},
    description="Candidate targets ranked by out-of-fold AUC under the purged folds, penalised "
    "by fold-to-fold spread; the top target drives the signals.",
)
def target_ranking(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    training_frame: pl.DataFrame,
    folds: pl.DataFrame,
    selected_features: pl.DataFrame,
) -> pl.DataFrame:
    chosen = selected_features.filter(pl.col("selected"))["feature"].to_list()
    table = rank_targets(
        training_frame, folds, feature_columns=chosen, families={"logistic": {}}, seed=experiment.config.training.seed
    )
    context.add_output_metadata({"ranking": markdown_table(table), "top_target": table["target"][0]})
    return table
