"""Model inputs of one target: a panel sorted by (symbol, ts), fold row indices, the val slice.

The panel is built once per target and shared by every (family, fold) task (on Ray it is put in
the object store once); a task receives row indices, so tabular families take `values[rows]` and
sequence families take windows ending at those rows (models.windows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from foxml_dagster.models.windows import group_offsets, make_windows

__all__ = ["TargetPanel", "build_panel", "carve_validation", "fold_rows"]


@dataclass(frozen=True)
class TargetPanel:
    """One target's samples, sorted by (symbol, ts)."""

    target: str
    values: np.ndarray  # float64 (N, k) features
    y: np.ndarray  # int8 (N,), 1 where label == 1
    w: np.ndarray  # float64 (N,) sample weights
    ts: np.ndarray  # int64 (N,) microseconds since the epoch
    t1: np.ndarray  # int64 (N,) when each label is known
    offsets: np.ndarray  # int64: start of each symbol's rows, then N
    keys: pl.DataFrame  # symbol, ts, t1, label, ret (row-aligned)

    def inputs(self, rows: np.ndarray, window: int, kind: str) -> np.ndarray:
        """Model inputs for `rows`: (n, k) for tabular families, (n, window, k) for sequences."""
        if kind == "sequence":
            return make_windows(self.values, self.offsets, rows, window)
        return self.values[rows]

    def data_hash(self, folds: pl.DataFrame | None = None) -> str:
        """sha256 of the features, labels, weights, keys (and this target's folds, if given)."""
        h = hashlib.sha256()
        for array in (self.values, self.y, self.w, self.ts, self.t1, self.offsets):
            h.update(np.ascontiguousarray(array).tobytes())
        h.update("\0".join(self.keys.get_column("symbol").cast(pl.String).to_list()).encode())
        if folds is not None:
            part = folds.filter(pl.col("target") == self.target).sort("fold", "symbol", "ts")
            h.update(part.select("fold", "role").write_csv().encode())
            h.update(part.select(pl.col("ts").dt.epoch("us")).to_numpy().tobytes())
        return h.hexdigest()


def build_panel(frame: pl.DataFrame, target: str, feature_columns: Sequence[str]) -> TargetPanel:
    rows = frame.filter(pl.col("target") == target).sort("symbol", "ts")
    values = np.ascontiguousarray(rows.select(feature_columns).to_numpy().astype(np.float64, copy=False))
    return TargetPanel(
        target=target,
        values=values,
        y=(rows.get_column("label") == 1).cast(pl.Int8).to_numpy(),
        w=rows.get_column("weight").cast(pl.Float64).to_numpy(),
        ts=rows.get_column("ts").dt.epoch("us").to_numpy(),
        t1=rows.get_column("t1").dt.epoch("us").to_numpy(),
        offsets=group_offsets(rows.get_column("symbol").cast(pl.String).to_numpy()),
        keys=rows.select("symbol", "ts", "t1", "label", "ret"),
    )


def fold_rows(panel: TargetPanel, folds: pl.DataFrame, fold: int, role: str) -> np.ndarray:
    """Panel row indices that `folds` assigns to (panel.target, fold, role), ascending."""
    sel = folds.filter((pl.col("target") == panel.target) & (pl.col("fold") == fold) & (pl.col("role") == role))
    indexed = panel.keys.select("symbol", "ts").with_row_index("_row")
    rows = indexed.join(sel.select("symbol", "ts"), on=["symbol", "ts"], how="inner").get_column("_row")
    return np.sort(rows.to_numpy().astype(np.int64))


def carve_validation(
    ts: np.ndarray, t1: np.ndarray, rows: np.ndarray, fraction: float, *, min_rows: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Split training `rows` into (fit, val) by time: val is the last `fraction` of the fold's
    training timeline, across the whole panel; never a shuffled split.

    Purge: a fit row must have its label known (t1) strictly before the first val timestamp, so
    no fit label overlaps a val label's span and early stopping cannot reward memorised overlap.
    Rows that start before the val block but end inside it are dropped from both. With
    `fraction == 0`, too few val rows, or nothing left to fit, returns (rows, empty).
    """
    empty = np.zeros(0, dtype=np.int64)
    if fraction <= 0 or len(rows) == 0:
        return rows, empty
    stamps = np.unique(ts[rows])
    cut = stamps[min(int(np.floor(len(stamps) * (1 - fraction))), len(stamps) - 1)]
    val = rows[ts[rows] >= cut]
    fit = rows[t1[rows] < cut]
    if len(val) < min_rows or len(fit) < min_rows:
        return rows, empty
    return fit, val
