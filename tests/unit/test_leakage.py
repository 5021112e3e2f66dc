"""Planted leaks must be caught; a clean pipeline must raise no alarm."""

import numpy as np
import polars as pl

from foxml_dagster import leakage
from foxml_dagster.dataset import build_training_frame
from foxml_dagster.features import FeatureSpec, compute_features, feature_set
from foxml_dagster.labels import LabelsConfig, make_labels
from foxml_dagster.splits import purged_kfold


def clean_frame(bars):
    specs = feature_set("baseline")
    built = build_training_frame(compute_features(bars, specs), make_labels(bars, LabelsConfig()))
    return built.frame, built.feature_columns


def report_for(bars, frame, names, folds, specs=None):
    return leakage.leakage_report(
        [
            *leakage.feature_lookahead_rows(bars, specs or feature_set("baseline")),
            *leakage.target_copy_rows(frame, names, max_abs_corr=0.5),
            *leakage.label_span_rows(frame),
            *leakage.fold_audit_rows(folds, frame, embargo_pct=0.01),
        ]
    )


def test_a_clean_pipeline_on_the_real_sample_raises_no_alarm(sample_bars):
    bars = sample_bars.filter(pl.col("ts").dt.year() >= 2011)
    frame, names = clean_frame(bars)
    folds, _ = purged_kfold(frame.select("target", "symbol", "ts", "t1"), n_folds=4, embargo_pct=0.01)
    assert leakage.failures(report_for(bars, frame, names, folds)) == []


def test_a_feature_reading_the_next_bar_is_named_as_the_culprit(make_bars):
    bars = make_bars(n=150)
    peek = FeatureSpec("peek_close", lambda p: np.r_[p.close[1:], np.nan], ("close",), 0, "planted: next close")
    rows = leakage.feature_lookahead_rows(bars, [*feature_set("baseline"), peek])
    failed = [r["subject"] for r in rows if r["status"] == "fail"]
    assert failed == ["peek_close"]


def test_a_feature_that_copies_the_realised_return_is_caught(make_bars):
    frame, names = clean_frame(make_bars(n=200))
    noise = np.random.default_rng(0).normal(0, 0.002, frame.height)
    planted = frame.with_columns((pl.col("ret") + noise).alias("future_ret"))
    rows = leakage.target_copy_rows(planted, [*names, "future_ret"], max_abs_corr=0.5)
    assert {r["subject"].split(" ")[0] for r in rows if r["status"] == "fail"} == {"future_ret"}


def test_folds_without_purge_are_caught_and_block(make_bars):
    frame, _ = clean_frame(make_bars(n=200))
    samples = frame.select("target", "symbol", "ts", "t1")
    honest, _ = purged_kfold(samples, n_folds=3, embargo_pct=0.0)
    grid = samples["ts"].unique().sort()
    edges = [grid[len(grid) // 3], grid[2 * len(grid) // 3]]
    naive = (
        samples.with_columns(
            pl.when(pl.col("ts") < edges[0])
            .then(0)
            .when(pl.col("ts") < edges[1])
            .then(1)
            .otherwise(2)
            .cast(pl.Int32)
            .alias("block")
        )
        .join(pl.DataFrame({"fold": [0, 1, 2]}, schema={"fold": pl.Int32}), how="cross")
        .with_columns(
            pl.when(pl.col("block") == pl.col("fold")).then(pl.lit("test")).otherwise(pl.lit("train")).alias("role")
        )
        .select(honest.columns)
    )
    assert leakage.failures(leakage.leakage_report(leakage.fold_audit_rows(honest, frame, embargo_pct=0.0))) == []
    caught = leakage.failures(leakage.leakage_report(leakage.fold_audit_rows(naive, frame, embargo_pct=0.0)))
    assert caught and all("overlap the test window" in c for c in caught)


def test_a_label_ending_before_it_starts_is_caught(make_bars):
    frame, _ = clean_frame(make_bars(n=100))
    broken = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("ts")).otherwise(pl.col("t1")).alias("t1")
    )
    assert leakage.failures(leakage.leakage_report(leakage.label_span_rows(broken)))
