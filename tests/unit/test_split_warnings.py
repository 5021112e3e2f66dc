"""Sound but weak splits are named: no embargo, labels longer than a fold, heavy purging, few outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations

import numpy as np
import polars as pl
import pytest

from foxml_dagster.splits import SplitsConfig, independent_outcomes, make_folds, weak_split_warnings


def samples(n_bars: int, horizon: int, symbols=("AAA", "BBB")) -> pl.DataFrame:
    """Daily samples whose label spans `horizon` bars."""
    start = datetime(2020, 1, 1, tzinfo=UTC)
    stamps = [start + timedelta(days=i) for i in range(n_bars)]
    rows = [
        {"target": "t", "symbol": s, "ts": stamps[i], "t1": stamps[i + horizon]}
        for s in symbols
        for i in range(n_bars - horizon)
    ]
    return pl.DataFrame(rows).with_columns(pl.col("ts", "t1").cast(pl.Datetime("us", "UTC")))


def kinds(frame: pl.DataFrame, cfg: SplitsConfig) -> set[str]:
    _, audit = make_folds(frame, cfg)
    return {w.kind for w in weak_split_warnings(frame, audit, cfg)}


def test_a_healthy_split_raises_no_warning():
    assert kinds(samples(2000, 10), SplitsConfig(n_folds=5, embargo_pct=0.01)) == set()


def test_a_zero_embargo_is_named():
    assert kinds(samples(2000, 10), SplitsConfig(n_folds=5, embargo_pct=0.0)) == {"no_embargo"}


def test_labels_longer_than_a_fold_are_named_with_their_few_outcomes():
    # The trial that ranked first with DSR 1.00: 800-bar labels, ~660 bars per fold.
    found = kinds(samples(4100, 800), SplitsConfig(n_folds=5, embargo_pct=0.01))
    assert {"horizon_exceeds_fold", "few_outcomes", "heavy_purge"} <= found


def test_heavy_purging_is_named_with_its_share():
    frame = samples(1000, 60)
    cfg = SplitsConfig(n_folds=10, embargo_pct=0.0, max_purged_share=0.1)
    _, audit = make_folds(frame, cfg)
    heavy = [w for w in weak_split_warnings(frame, audit, cfg) if w.kind == "heavy_purge"]
    assert heavy and "purging removed" in heavy[0].detail and "max_purged_share 0.1" in heavy[0].detail


@pytest.mark.parametrize("seed", range(30))
def test_independent_outcomes_is_the_largest_set_of_non_overlapping_spans(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 10))
    ts = np.sort(rng.integers(0, 30, n))
    t1 = ts + rng.integers(0, 8, n)
    best = max(
        (
            k
            for k in range(n + 1)
            for chosen in combinations(range(n), k)
            if all(t1[a] < ts[b] or t1[b] < ts[a] for a, b in combinations(chosen, 2))
        ),
        default=0,
    )
    assert independent_outcomes(ts, t1) == best
