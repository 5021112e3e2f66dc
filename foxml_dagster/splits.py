"""Purged K-fold with embargo, by label span, across the whole panel.

For each target, the distinct sample timestamps are cut into K contiguous test blocks. For a test
block, the test window runs from the first test sample's start (`ts`) to the largest test `t1`.
A training sample is purged when its span [ts, t1] overlaps that window, whatever its symbol: in a
panel, information at one time is shared across symbols. The embargo then drops training samples
that start within `embargo_pct` of the timeline after the window ends, since features computed
just after a test block still carry its information (serial correlation).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from foxml_dagster.settings import Settings


class SplitsConfig(Settings):
    n_folds: int = Field(5, ge=2)
    embargo_pct: float = Field(0.01, ge=0, lt=0.5)


FOLD_SCHEMA = {
    "target": pl.Utf8,
    "fold": pl.Int32,
    "symbol": pl.Utf8,
    "ts": pl.Datetime("us", "UTC"),
    "role": pl.Utf8,
}


def purged_kfold(samples: pl.DataFrame, *, n_folds: int, embargo_pct: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(folds, audit) for samples with columns target, symbol, ts, t1.

    folds has one row per (target, fold, sample) with role train or test; purged and embargoed
    samples have no row in that fold. audit has one row per (target, fold) with the counts.
    """
    folds, audits = [], []
    for (target,), group in samples.sort("ts").group_by("target", maintain_order=True):
        f, a = _purged_kfold_one_target(group, target, n_folds, embargo_pct)
        folds.append(f)
        audits.append(a)
    if not folds:
        return pl.DataFrame(schema=FOLD_SCHEMA), pl.DataFrame()
    return pl.concat(folds), pl.concat(audits)


def _purged_kfold_one_target(samples, target, n_folds, embargo_pct):
    ts = samples["ts"].to_numpy()
    t1 = samples["t1"].to_numpy()
    grid = np.unique(ts)
    if len(grid) < n_folds:
        raise ValueError(f"target {target!r}: {len(grid)} timestamps cannot make {n_folds} folds")
    embargo_bars = int(np.ceil(embargo_pct * len(grid)))
    blocks = np.array_split(grid, n_folds)
    keys = samples.select("symbol", "ts")
    folds, audit = [], []
    for fold, block in enumerate(blocks):
        is_test = (ts >= block[0]) & (ts <= block[-1])
        window_start, window_end = ts[is_test].min(), t1[is_test].max()
        overlaps = (ts <= window_end) & (t1 >= window_start)
        last = np.searchsorted(grid, window_end, side="right") - 1
        embargo_end = grid[min(last + embargo_bars, len(grid) - 1)]
        in_embargo = (ts > window_end) & (ts <= embargo_end) if embargo_bars else np.zeros_like(is_test)
        purged = ~is_test & overlaps
        embargoed = ~is_test & ~overlaps & in_embargo
        train = ~is_test & ~purged & ~embargoed
        keep = is_test | train
        folds.append(
            keys.filter(pl.Series(keep))
            .with_columns(
                pl.lit(target).alias("target"),
                pl.lit(fold, pl.Int32).alias("fold"),
                pl.Series("role", np.where(is_test, "test", "train")[keep], dtype=pl.Utf8),
            )
            .select(*FOLD_SCHEMA)
        )
        audit.append(
            {
                "target": target,
                "fold": fold,
                "n_train": int(train.sum()),
                "n_test": int(is_test.sum()),
                "n_purged": int(purged.sum()),
                "n_embargoed": int(embargoed.sum()),
                "test_start": block[0],
                "test_end": block[-1],
                "window_end": window_end,
                "embargo_end": embargo_end,
            }
        )
    stamps = ("test_start", "test_end", "window_end", "embargo_end")
    columns = {
        name: pl.Series(name, np.array([row[name] for row in audit], dtype="datetime64[us]")).dt.replace_time_zone(
            "UTC"
        )
        if name in stamps
        else [row[name] for row in audit]
        for name in audit[0]
    }
    return pl.concat(folds), pl.DataFrame(columns).with_columns(pl.col("fold").cast(pl.Int32))


def audit_folds(folds: pl.DataFrame, samples: pl.DataFrame, *, embargo_pct: float) -> list[str]:
    """Independent check of a fold table against label spans; one line per violation.

    Catches: a training span overlapping its fold's test window, a training sample inside the
    embargo after the window, and a sample tested zero or several times.
    """
    spans = folds.join(samples.select("target", "symbol", "ts", "t1"), on=["target", "symbol", "ts"])
    problems = []
    for (target, fold), group in spans.group_by("target", "fold", maintain_order=True):
        test = group.filter(pl.col("role") == "test")
        train = group.filter(pl.col("role") == "train")
        if test.is_empty():
            problems.append(f"{target} fold {fold}: no test samples")
            continue
        start, end = test["ts"].min(), test["t1"].max()
        overlap = train.filter((pl.col("ts") <= end) & (pl.col("t1") >= start))
        if overlap.height:
            first = overlap.row(0, named=True)
            problems.append(
                f"{target} fold {fold}: {overlap.height} training samples overlap the test window "
                f"[{start}, {end}], e.g. {first['symbol']} {first['ts']}..{first['t1']}"
            )
        grid = samples.filter(pl.col("target") == target)["ts"].unique().sort()
        bars = int(np.ceil(embargo_pct * grid.len()))
        if bars:
            after = grid.filter(grid > end)
            if after.len():
                limit = after[min(bars, after.len()) - 1]
                inside = train.filter((pl.col("ts") > end) & (pl.col("ts") <= limit))
                if inside.height:
                    problems.append(
                        f"{target} fold {fold}: {inside.height} training samples inside the embargo ({end}, {limit}]"
                    )
    tested = folds.filter(pl.col("role") == "test").group_by("target", "symbol", "ts").len()
    repeated = tested.filter(pl.col("len") != 1)
    if repeated.height:
        problems.append(f"{repeated.height} samples are tested more than once")
    untested = samples.select("target", "symbol", "ts").join(tested, on=["target", "symbol", "ts"], how="anti")
    if untested.height:
        problems.append(f"{untested.height} samples are never tested")
    return problems
