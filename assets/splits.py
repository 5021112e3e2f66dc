"""splits: purged, embargoed folds by label span across the panel (K-fold, walk-forward or
CPCV, chosen by splits.method), with a per-fold audit and a blocking check."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster.splits import audit_with, cpcv_counts, make_folds, weak_split_warnings
from resources.home import Experiment


@dg.multi_asset(
    group_name="splits",
    outs={
        "folds": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="One row per (target, fold, sample) with role train or test and, for test "
            "rows, the backtest path (CPCV); purged and embargoed samples have no row in that fold.",
        ),
        "fold_audit": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="Per (target, fold): test groups, train/test/purged/embargoed counts and time spans.",
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(
            "folds_purged_and_embargoed",
            asset="folds",
            blocking=True,
            description="no training span overlaps a test window; embargo holds; every sample "
            "tested the right number of times for the method",
        ),
        dg.AssetCheckSpec(
            "split_warnings",
            asset="folds",
            blocking=False,
            description="warns (never blocks) when the folds are sound but weak: no embargo, labels "
            "longer than a fold, heavy purging, or too few non-overlapping outcomes per target",
        ),
    ],
)
def folds(context: dg.AssetExecutionContext, experiment: Experiment, training_frame: pl.LazyFrame):
    cfg = experiment.config.splits
    samples = training_frame.lazy().select("target", "symbol", "ts", "t1").collect()
    fold_rows, audit = make_folds(samples, cfg)
    problems = audit_with(fold_rows, samples, cfg)
    weak = weak_split_warnings(samples, audit, cfg)
    meta = {"method": cfg.method, "n_groups": cfg.n_folds, "embargo_pct": cfg.embargo_pct}
    meta["n_splits"] = int(fold_rows["fold"].n_unique())
    if cfg.method == "cpcv":
        meta["n_paths"] = cpcv_counts(cfg.n_folds, cfg.n_test_groups)[1]
    yield dg.Output(fold_rows, output_name="folds", metadata=meta)
    yield dg.Output(audit, output_name="fold_audit", metadata={"audit": markdown_table(audit)})
    yield dg.AssetCheckResult(
        check_name="folds_purged_and_embargoed",
        asset_key="folds",
        passed=not problems,
        metadata={
            "problems": dg.MetadataValue.md("\n".join(f"- {p.kind}: {p}" for p in problems) or "none"),
            "audit": markdown_table(audit),
        },
    )
    yield dg.AssetCheckResult(
        check_name="split_warnings",
        asset_key="folds",
        passed=not weak,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in weak) or "none")},
    )
