"""selection: leakage report (blocks training), label-free feature selection, target ranking."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster import leakage
from foxml_dagster.dataset import feature_columns
from foxml_dagster.features import feature_set
from foxml_dagster.selection import drop_redundant_features, rank_targets
from resources.home import Experiment


@dg.asset(
    group_name="selection",
    kinds={"polars", "parquet"},
    description="Automatic leakage checks: features re-computed on truncated and perturbed bars, "
    "features that nearly copy the realised return, label spans, and the fold audit.",
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
    names = feature_columns(training_frame)
    rows = [
        *leakage.feature_lookahead_rows(bars, feature_set(cfg.features.set), seed=cfg.training.seed),
        *leakage.target_copy_rows(training_frame, names, max_abs_corr=cfg.selection.leak_corr),
        *leakage.label_span_rows(training_frame),
        *leakage.fold_audit_rows(folds, training_frame, embargo_pct=cfg.splits.embargo_pct),
    ]
    report = leakage.leakage_report(rows)
    found = leakage.failures(report)
    yield dg.Output(report, metadata={"failures": len(found)})
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
