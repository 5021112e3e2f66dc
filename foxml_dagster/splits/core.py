"""The one fold builder every split method uses: test groups in, purged and embargoed folds out.

A method (K-fold, walk-forward, CPCV) only decides, per fold, which groups of the timestamp grid
are tested and which part of the grid may train. Purge and embargo are then applied here, the
same way for every method, per contiguous test block:

- the block's test window is [first test ts, largest test t1];
- a candidate training sample whose span [ts, t1] overlaps the window is purged, whatever its
  symbol (in a panel, information at one time is shared across symbols);
- a candidate starting after the window, within `embargo_bars` grid steps of its end, is
  embargoed (features just after a test block still carry its information).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

FOLD_SCHEMA = {
    "target": pl.Utf8,
    "fold": pl.Int32,
    "symbol": pl.Utf8,
    "ts": pl.Datetime("us", "UTC"),
    "role": pl.Utf8,
    "path": pl.Int32,
}

_STAMPS = ("test_start", "test_end", "window_end", "embargo_end", "train_start", "train_end")


@dataclass(frozen=True)
class FoldSpec:
    """Which grid groups a fold tests, the backtest path each belongs to, where training may come from.

    `test_groups` are indices into `groups` (contiguous grid index ranges). `train_groups` is a
    half-open range of group indices allowed for training (None: every group).
    """

    test_groups: tuple[int, ...]
    paths: tuple[int, ...]
    train_groups: tuple[int, int] | None = None


def grid_groups(n_stamps: int, n_groups: int) -> list[tuple[int, int]]:
    """`n_groups` contiguous, near-equal half-open ranges over a grid of `n_stamps` timestamps."""
    edges = np.linspace(0, n_stamps, n_groups + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def embargo_bars(embargo_pct: float, n_stamps: int) -> int:
    return int(np.ceil(embargo_pct * n_stamps))


def merge_blocks(groups: list[tuple[int, int]], chosen: tuple[int, ...]) -> list[tuple[int, int]]:
    """Adjacent test groups form one block: purging between them would only drop test samples."""
    blocks: list[list[int]] = []
    for g in sorted(chosen):
        a, b = groups[g]
        if blocks and blocks[-1][1] == a:
            blocks[-1][1] = b
        else:
            blocks.append([a, b])
    return [(a, b) for a, b in blocks]


def build_folds(
    samples: pl.DataFrame, target: str, specs: list[FoldSpec], n_groups: int, embargo_pct: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(folds, audit) of one target's samples (columns symbol, ts, t1) for the given fold specs."""
    samples = samples.sort("ts", "symbol")
    ts = samples["ts"].to_numpy()
    t1 = samples["t1"].to_numpy()
    grid = np.unique(ts)
    if len(grid) < n_groups:
        raise ValueError(f"target {target!r}: {len(grid)} timestamps cannot make {n_groups} groups")
    position = np.searchsorted(grid, ts)
    groups = grid_groups(len(grid), n_groups)
    bars = embargo_bars(embargo_pct, len(grid))
    keys = samples.select("symbol", "ts")
    folds, audit = [], []
    for fold, spec in enumerate(specs):
        is_test = np.zeros(len(ts), dtype=bool)
        path = np.full(len(ts), -1, dtype=np.int32)
        for g, p in zip(spec.test_groups, spec.paths, strict=True):
            inside = (position >= groups[g][0]) & (position < groups[g][1])
            is_test |= inside
            path[inside] = p
        lo, hi = (0, len(grid)) if spec.train_groups is None else _grid_span(groups, *spec.train_groups)
        candidate = ~is_test & (position >= lo) & (position < hi)
        overlaps = np.zeros(len(ts), dtype=bool)
        in_embargo = np.zeros(len(ts), dtype=bool)
        windows = []
        for a, b in merge_blocks(groups, spec.test_groups):
            block = (position >= a) & (position < b)
            start, end = grid[a], t1[block].max()
            overlaps |= (ts <= end) & (t1 >= start)
            last = np.searchsorted(grid, end, side="right") - 1
            embargo_end = grid[min(last + bars, len(grid) - 1)]
            if bars:
                in_embargo |= (ts > end) & (ts <= embargo_end)
            windows.append((start, grid[b - 1], end, embargo_end))
        purged = candidate & overlaps
        embargoed = candidate & ~overlaps & in_embargo
        train = candidate & ~purged & ~embargoed
        keep = is_test | train
        folds.append(
            keys.filter(pl.Series(keep)).with_columns(
                pl.lit(target).alias("target"),
                pl.lit(fold, pl.Int32).alias("fold"),
                pl.Series("role", np.where(is_test, "test", "train")[keep], dtype=pl.Utf8),
                pl.Series("path", np.where(is_test, path, -1)[keep], dtype=pl.Int32),
            )
        )
        train_ts = ts[train]
        audit.append(
            {
                "target": target,
                "fold": fold,
                "test_groups": ",".join(str(g) for g in spec.test_groups),
                "n_blocks": len(windows),
                "n_train": int(train.sum()),
                "n_test": int(is_test.sum()),
                "n_purged": int(purged.sum()),
                "n_embargoed": int(embargoed.sum()),
                "test_start": windows[0][0],
                "test_end": windows[-1][1],
                "window_end": max(w[2] for w in windows),
                "embargo_end": max(w[3] for w in windows),
                "train_start": train_ts.min() if len(train_ts) else None,
                "train_end": train_ts.max() if len(train_ts) else None,
            }
        )
    fold_frame = pl.concat(folds).with_columns(
        pl.when(pl.col("path") >= 0).then(pl.col("path")).otherwise(None).alias("path")
    )
    return fold_frame.select(*FOLD_SCHEMA), _audit_frame(audit)


def _grid_span(groups: list[tuple[int, int]], first: int, stop: int) -> tuple[int, int]:
    """Grid index range covered by groups[first:stop]."""
    return (groups[first][0], groups[stop - 1][1]) if stop > first else (0, 0)


def _audit_frame(rows: list[dict]) -> pl.DataFrame:
    columns = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        if name in _STAMPS:
            stamps = np.array([np.datetime64("NaT") if v is None else v for v in values], dtype="datetime64[us]")
            columns[name] = pl.Series(name, stamps).dt.replace_time_zone("UTC")
        else:
            columns[name] = values
    return pl.DataFrame(columns).with_columns(pl.col("fold").cast(pl.Int32))
