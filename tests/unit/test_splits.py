"""Splits: no training span touches a test window, the embargo holds, each sample is tested the
right number of times, for K-fold, walk-forward and CPCV; and the independent audit catches
planted leaks."""

from datetime import UTC, datetime, timedelta
from math import comb

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from foxml_dagster.splits import (
    SplitsConfig,
    audit_folds,
    audit_with,
    backtest_paths,
    combinatorial_purged,
    cpcv_counts,
    make_folds,
    purged_kfold,
    walk_forward,
)

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


def kinds(problems):
    return {p.kind for p in problems}


def no_train_span_overlaps_a_test_span(folds, samples):
    """Brute force: every (train, test) pair of a fold, spans as closed intervals [ts, t1]."""
    rows = folds.join(samples, on=["target", "symbol", "ts"])
    for (_fold,), group in rows.group_by("fold"):
        test = group.filter(pl.col("role") == "test")
        train = group.filter(pl.col("role") == "train")
        a0, a1 = train["ts"].to_numpy()[:, None], train["t1"].to_numpy()[:, None]
        b0, b1 = test["ts"].to_numpy()[None, :], test["t1"].to_numpy()[None, :]
        if ((a0 <= b1) & (b0 <= a1)).any():
            return False
    return True


def test_purged_kfold_never_overlaps_train_and_test_across_the_panel():
    samples = panel_samples(200, 3, [1, 5, 10])
    folds, audit = purged_kfold(samples, n_folds=5, embargo_pct=0.02)
    assert audit_folds(folds, samples, embargo_pct=0.02) == []
    assert audit["n_purged"].sum() > 0 and audit["n_embargoed"].sum() > 0
    assert no_train_span_overlaps_a_test_span(folds, samples)


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


def test_walk_forward_trains_only_on_the_past_expanding_or_sliding():
    samples = panel_samples(120, 2, [3])
    expanding, audit = walk_forward(samples, n_folds=4, embargo_pct=0.01)
    assert expanding["fold"].n_unique() == 3
    for _, group in expanding.group_by("fold"):
        test_start = group.filter(pl.col("role") == "test")["ts"].min()
        train = group.filter(pl.col("role") == "train")
        assert train["ts"].max() < test_start
        assert train["ts"].min() == START  # expanding: always from the first day
    sliding, _ = walk_forward(samples, n_folds=4, embargo_pct=0.01, train_groups=1)
    last = sliding.filter((pl.col("fold") == 2) & (pl.col("role") == "train"))
    assert last["ts"].min() > START + timedelta(days=50)  # only the group just before the test
    assert audit_folds(expanding, samples, embargo_pct=0.01, method="walk_forward") == []
    # the first group is never tested; everything after it exactly once
    assert audit["n_test"].sum() == samples.filter(pl.col("ts") >= audit["test_start"].min()).height


def test_cpcv_counts_splits_and_paths_and_reassembles_every_path():
    assert cpcv_counts(6, 2) == (15, 5)
    assert cpcv_counts(10, 2) == (45, 9)
    samples = panel_samples(90, 2, [2])
    folds, audit = combinatorial_purged(samples, n_groups=6, n_test_groups=2, embargo_pct=0.0)
    assert audit.height == 15
    assert audit_folds(folds, samples, embargo_pct=0.0, method="cpcv", times_tested=5) == []
    # A fake prediction per test row; every path then holds every sample exactly once.
    predictions = folds.filter(pl.col("role") == "test").select("target", "fold", "symbol", "ts")
    paths = backtest_paths(predictions, folds)
    per_path = paths.group_by("path").agg(pl.len(), pl.struct("symbol", "ts").n_unique().alias("unique"))
    assert per_path.height == 5
    assert (per_path["len"] == samples.height).all() and (per_path["unique"] == samples.height).all()


def test_split_method_is_chosen_by_config():
    samples = panel_samples(80, 2, [2])
    for cfg, n in [
        (SplitsConfig(n_folds=4), 4),
        (SplitsConfig(method="walk_forward", n_folds=4), 3),
        (SplitsConfig(method="walk_forward", n_folds=4, window="sliding", train_groups=2), 3),
        (SplitsConfig(method="cpcv", n_folds=5, n_test_groups=2), 10),
    ]:
        folds, _ = make_folds(samples, cfg)
        assert folds["fold"].n_unique() == n
        assert audit_with(folds, samples, cfg) == []
    with pytest.raises(ValueError, match="n_test_groups"):
        SplitsConfig(method="cpcv", n_folds=3, n_test_groups=3)
    with pytest.raises(ValueError, match="train_groups"):
        SplitsConfig(method="walk_forward", window="sliding")


def naive_folds(samples, n_folds):
    grid = samples["ts"].unique().sort()
    blocks = [grid.gather(idx) for idx in np.array_split(np.arange(grid.len()), n_folds)]
    return pl.concat(
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


def test_audit_catches_folds_built_without_purge_or_embargo():
    samples = panel_samples(120, 2, [3, 8])
    found = kinds(audit_folds(naive_folds(samples, 4), samples, embargo_pct=0.02))
    assert found == {"label_crosses_boundary", "missing_embargo"}


def test_audit_catches_a_panel_split_by_symbol_instead_of_time():
    samples = panel_samples(60, 2, [1])
    by_symbol = samples.select("target", "symbol", "ts").with_columns(
        pl.lit(0, pl.Int32).alias("fold"),
        pl.when(pl.col("symbol") == "S0").then(pl.lit("test")).otherwise(pl.lit("train")).alias("role"),
    )
    assert "train_test_overlap" in kinds(audit_folds(by_symbol, samples, embargo_pct=0.0))


def test_audit_catches_a_sample_tested_twice_or_never():
    samples = panel_samples(60, 1, [2])
    folds, _ = purged_kfold(samples, n_folds=3, embargo_pct=0.0)
    first_test = folds.filter(pl.col("role") == "test").head(1)
    doubled = pl.concat([folds, first_test.with_columns(pl.lit(2, pl.Int32).alias("fold"))])
    assert any("more than once" in str(p) for p in audit_folds(doubled, samples, embargo_pct=0.0))
    dropped = folds.filter(~((pl.col("role") == "test") & (pl.col("ts") == first_test["ts"][0])))
    assert any("1 never tested" in str(p) for p in audit_folds(dropped, samples, embargo_pct=0.0))


def test_audit_catches_walk_forward_training_on_the_future():
    samples = panel_samples(80, 1, [1])
    folds, _ = purged_kfold(samples, n_folds=4, embargo_pct=0.0)
    later = folds.filter(pl.col("fold") >= 1)  # K-fold folds train on later data too
    assert "trains_on_future" in kinds(audit_folds(later, samples, embargo_pct=0.0, method="walk_forward"))


# Property tests: random panels on three calendars (daily, intraday sessions, irregular stamps),
# symbols that start late and skip bars, mixed label horizons; every method, checked by brute force.
CALENDARS = ("daily", "intraday", "irregular")


def calendar(kind: str, n: int, rng: np.random.Generator) -> list[datetime]:
    if kind == "daily":
        return [START + timedelta(days=i) for i in range(n)]
    if kind == "intraday":  # sessions of seven 5-minute bars from 09:30, one session a day
        return [START + timedelta(days=i // 7, hours=9, minutes=30 + 5 * (i % 7)) for i in range(n)]
    gaps = rng.integers(1, 200_000, size=n)  # from a second to a few days apart
    return [START + timedelta(seconds=int(s)) for s in np.cumsum(gaps)]


@st.composite
def panels(draw) -> pl.DataFrame:
    """Samples (target, symbol, ts, t1): each symbol's label ends on one of its own later bars."""
    kind = draw(st.sampled_from(CALENDARS))
    n = draw(st.integers(12, 48))
    n_symbols = draw(st.integers(1, 3))
    horizons = draw(st.lists(st.integers(1, 8), min_size=1, max_size=3))
    gap_rate = draw(st.sampled_from([0.0, 0.1, 0.4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    grid = calendar(kind, n, rng)
    rows = []
    for s in range(n_symbols):
        first = int(rng.integers(0, n // 2)) if s else 0  # the others may start late
        own = [t for i, t in enumerate(grid[first:]) if i == 0 or rng.random() >= gap_rate]
        for i, ts in enumerate(own):
            h = horizons[(i + s) % len(horizons)]
            if i + h < len(own):  # an outcome not known by the end of the data has no label
                rows.append({"target": "t", "symbol": f"S{s}", "ts": ts, "t1": own[i + h]})
    samples = pl.DataFrame(rows, schema={"target": pl.Utf8, "symbol": pl.Utf8, "ts": pl.Datetime, "t1": pl.Datetime})
    return samples.with_columns(pl.col("ts", "t1").dt.replace_time_zone("UTC"))


def brute_force_purge_and_embargo(folds: pl.DataFrame, samples: pl.DataFrame, embargo: float) -> list[tuple]:
    """The rules, checked from their definition against every (training sample, test block) pair:
    a test block is a run of consecutive grid stamps the fold tests; its window runs from its first
    stamp to its largest test t1; no training span [ts, t1] may touch a window, and no training
    sample may start within ceil(embargo * grid size) grid stamps after a window ends.
    Each violation: (fold, "purge" or "embargo", training ts, window end)."""
    grid = sorted(set(samples["ts"].to_list()))
    bars = int(np.ceil(embargo * len(grid)))
    rows = folds.join(samples, on=["target", "symbol", "ts"])
    errors = []
    for (fold,), group in rows.group_by("fold"):
        test = group.filter(pl.col("role") == "test").select("ts", "t1").rows()
        train = group.filter(pl.col("role") == "train").select("ts", "t1").rows()
        tested = {ts for ts, _ in test}
        blocks, current = [], []
        for stamp in grid:
            if stamp in tested:
                current.append(stamp)
            elif current:
                blocks.append(current)
                current = []
        if current:
            blocks.append(current)
        for block in blocks:
            start = block[0]
            end = max(t1 for ts, t1 in test if block[0] <= ts <= block[-1])
            for ts, t1 in train:
                if ts <= end and t1 >= start:
                    errors.append((fold, "purge", ts, end))
                steps_after = sum(1 for stamp in grid if end < stamp <= ts)
                if ts > end and steps_after <= bars:
                    errors.append((fold, "embargo", ts, end))
    return errors


def count_tests(folds: pl.DataFrame) -> pl.DataFrame:
    return folds.filter(pl.col("role") == "test").group_by("symbol", "ts").len()


EMBARGO = st.sampled_from([0.0, 0.02, 0.05, 0.15])


@settings(max_examples=200, deadline=None)
@given(panels(), st.integers(2, 6), EMBARGO)
def test_property_purged_kfold(samples, n_folds, embargo):
    assume(samples["ts"].n_unique() >= n_folds)
    folds, _ = purged_kfold(samples, n_folds=n_folds, embargo_pct=embargo)
    assert brute_force_purge_and_embargo(folds, samples, embargo) == []
    tested = count_tests(folds)
    assert tested.height == samples.height and (tested["len"] == 1).all()
    assert audit_folds(folds, samples, embargo_pct=embargo) == []


@settings(max_examples=200, deadline=None)
@given(panels(), st.integers(3, 6), st.sampled_from([None, 1, 2]), EMBARGO)
def test_property_walk_forward(samples, n_folds, history, embargo):
    assume(samples["ts"].n_unique() >= n_folds)
    folds, audit = walk_forward(samples, n_folds=n_folds, embargo_pct=embargo, train_groups=history)
    assert brute_force_purge_and_embargo(folds, samples, embargo) == []
    for (_fold,), group in folds.group_by("fold"):  # never a training sample after the test block
        assert group.filter(pl.col("role") == "train")["ts"].max() is None or (
            group.filter(pl.col("role") == "train")["ts"].max() < group.filter(pl.col("role") == "test")["ts"].min()
        )
    tested = count_tests(folds)
    assert (tested["len"] == 1).all()
    assert tested.height == samples.filter(pl.col("ts") >= audit["test_start"].min()).height
    assert audit_folds(folds, samples, embargo_pct=embargo, method="walk_forward") == []


@settings(max_examples=200, deadline=None)
@given(panels(), st.integers(3, 6), st.integers(1, 3), EMBARGO)
def test_property_cpcv(samples, n_groups, k, embargo):
    k = min(k, n_groups - 1)
    assume(samples["ts"].n_unique() >= n_groups)
    folds, audit = combinatorial_purged(samples, n_groups=n_groups, n_test_groups=k, embargo_pct=embargo)
    assert audit.height == comb(n_groups, k)
    # Several test blocks per split: the embargo after every block, not only the last, is checked.
    assert brute_force_purge_and_embargo(folds, samples, embargo) == []
    tested = count_tests(folds)
    times = comb(n_groups - 1, k - 1)
    assert tested.height == samples.height and (tested["len"] == times).all()
    paths = backtest_paths(folds.filter(pl.col("role") == "test").select("target", "fold", "symbol", "ts"), folds)
    per_path = paths.group_by("path").agg(pl.struct("symbol", "ts").n_unique().alias("unique"), pl.len())
    assert per_path.height == times and (per_path["unique"] == samples.height).all()
    assert (per_path["len"] == samples.height).all()
    assert audit_folds(folds, samples, embargo_pct=embargo, method="cpcv", times_tested=times) == []


def test_brute_force_check_catches_a_missing_embargo_after_an_inner_cpcv_block():
    """The property tests' checker is itself tested: CPCV folds built with no embargo fail it
    when held to one, after a test block that is not the split's last one too."""
    samples = panel_samples(60, 2, [1])
    folds, _ = combinatorial_purged(samples, n_groups=5, n_test_groups=2, embargo_pct=0.0)
    tested = folds.filter((pl.col("fold") == 1) & (pl.col("role") == "test"))["ts"].unique().sort()  # groups 0, 2
    second_block = tested.filter(tested.diff().dt.total_days() > 1)[0]
    errors = brute_force_purge_and_embargo(folds, samples, 0.1)
    assert any(fold == 1 and kind == "embargo" and end < second_block for fold, kind, _, end in errors)
    assert any(kind == "purge" for _, kind, _, _ in brute_force_purge_and_embargo(naive_folds(samples, 4), samples, 0))
