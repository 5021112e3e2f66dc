"""Purged K-fold: no training span touches its test window, the embargo holds, each sample is
tested once; and the independent audit catches planted leaks."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from foxml_dagster.splits import audit_folds, purged_kfold

START = datetime(2020, 1, 1, tzinfo=UTC)


def panel_samples(n_days: int, symbols: int, horizons: list[int]) -> pl.DataFrame:
    rows = []
    for s in range(symbols):
        for i in range(n_days):
            h = horizons[(i + s) % len(horizons)]
            rows.append(
                {"target": "t", "symbol": f"S{s}", "ts": START + timedelta(days=i), "t1": START + timedelta(days=i + h)}
            )
    return pl.DataFrame(rows).with_columns(pl.col("ts", "t1").cast(pl.Datetime("us", "UTC")))


def test_purged_kfold_never_overlaps_train_and_test_across_the_panel():
    samples = panel_samples(200, 3, [1, 5, 10])
    folds, audit = purged_kfold(samples, n_folds=5, embargo_pct=0.02)
    assert audit_folds(folds, samples, embargo_pct=0.02) == []
    assert audit["n_purged"].sum() > 0 and audit["n_embargoed"].sum() > 0
    for fold in range(5):
        rows = folds.filter(pl.col("fold") == fold).join(samples, on=["target", "symbol", "ts"])
        test, train = rows.filter(pl.col("role") == "test"), rows.filter(pl.col("role") == "train")
        start, end = test["ts"].min(), test["t1"].max()
        assert train.filter((pl.col("ts") <= end) & (pl.col("t1") >= start)).is_empty()


def test_purge_is_by_label_span_not_by_row_count():
    # One long label just before the test block must be purged even though it starts far earlier.
    samples = panel_samples(100, 1, [1]).with_columns(
        pl.when(pl.col("ts") == START + timedelta(days=5))
        .then(START + timedelta(days=60))
        .otherwise(pl.col("t1"))
        .alias("t1")
    )
    folds, _ = purged_kfold(samples, n_folds=2, embargo_pct=0.0)
    second = folds.filter((pl.col("fold") == 1) & (pl.col("ts") == START + timedelta(days=5)))
    assert second.is_empty()


def test_embargo_drops_training_samples_right_after_the_test_window():
    samples = panel_samples(100, 1, [1])
    folds, audit = purged_kfold(samples, n_folds=4, embargo_pct=0.05)
    first = audit.filter(pl.col("fold") == 0).row(0, named=True)
    assert first["n_embargoed"] == 5
    after = folds.filter((pl.col("fold") == 0) & (pl.col("role") == "train"))["ts"].min()
    assert after > first["embargo_end"]


def test_audit_catches_folds_built_without_purge_or_embargo():
    samples = panel_samples(120, 2, [3, 8])
    grid = samples["ts"].unique().sort()
    blocks = [grid.gather(idx) for idx in np.array_split(np.arange(grid.len()), 4)]
    leaky = pl.concat(
        [
            samples.select("target", "symbol", "ts").with_columns(
                pl.lit(k, pl.Int32).alias("fold"),
                pl.when(pl.col("ts").is_between(block[0], block[-1]))
                .then(pl.lit("test"))
                .otherwise(pl.lit("train"))
                .alias("role"),
            )
            for k, block in enumerate(blocks)
        ]
    ).select("target", "fold", "symbol", "ts", "role")
    problems = audit_folds(leaky, samples, embargo_pct=0.02)
    assert any("overlap the test window" in p for p in problems)
    assert any("inside the embargo" in p for p in problems)


def test_audit_catches_a_sample_tested_twice_or_never():
    samples = panel_samples(60, 1, [2])
    folds, _ = purged_kfold(samples, n_folds=3, embargo_pct=0.0)
    first_test = folds.filter(pl.col("role") == "test").head(1)
    doubled = pl.concat([folds, first_test.with_columns(pl.lit(2, pl.Int32).alias("fold"))])
    assert any("more than once" in p for p in audit_folds(doubled, samples, embargo_pct=0.0))
    dropped = folds.filter(~((pl.col("role") == "test") & (pl.col("ts") == first_test["ts"][0])))
    assert any("never tested" in p for p in audit_folds(dropped, samples, embargo_pct=0.0))


@settings(max_examples=30, deadline=None)
@given(
    n_days=st.integers(30, 120),
    symbols=st.integers(1, 3),
    horizons=st.lists(st.integers(1, 15), min_size=1, max_size=4),
    n_folds=st.integers(2, 6),
    embargo=st.floats(0.0, 0.1),
)
def test_property_random_label_spans_always_pass_the_audit(n_days, symbols, horizons, n_folds, embargo):
    samples = panel_samples(n_days, symbols, horizons)
    folds, audit = purged_kfold(samples, n_folds=n_folds, embargo_pct=embargo)
    assert audit_folds(folds, samples, embargo_pct=embargo) == []
    assert audit["n_test"].sum() == samples.height
