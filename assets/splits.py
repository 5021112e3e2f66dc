"""splits: purged, embargoed K-fold by label span across the panel, with its audit."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster.splits import audit_folds, purged_kfold
from resources.home import Experiment


@dg.multi_asset(
    group_name="splits",
    outs={
        "folds": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="One row per (target, fold, sample) with role train or test; purged and "
            "embargoed samples have no row in that fold.",
        ),
        "fold_audit": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="Per (target, fold): train/test/purged/embargoed counts and time spans.",
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(
            "folds_purged_and_embargoed",
            asset="folds",
            blocking=True,
            description="no training span overlaps its test window; embargo holds; every sample tested exactly once",
        ),
    ],
)
def folds(context: dg.AssetExecutionContext, experiment: Experiment, training_frame: pl.DataFrame):
    cfg = experiment.config.splits
    samples = training_frame.select("target", "symbol", "ts", "t1")
    fold_rows, audit = purged_kfold(samples, n_folds=cfg.n_folds, embargo_pct=cfg.embargo_pct)
    problems = audit_folds(fold_rows, samples, embargo_pct=cfg.embargo_pct)
    yield dg.Output(fold_rows, output_name="folds", metadata={"n_folds": cfg.n_folds, "embargo_pct": cfg.embargo_pct})
    yield dg.Output(audit, output_name="fold_audit", metadata={"audit": markdown_table(audit)})
    yield dg.AssetCheckResult(
        check_name="folds_purged_and_embargoed",
        asset_key="folds",
        passed=not problems,
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
    )
