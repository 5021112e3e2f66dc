"""Compute a feature set over a bars panel, in symbol batches sized from a memory budget."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl

from foxml_dagster.features.panel import Panel
from foxml_dagster.features.registry import FeatureSpec

# Float64 arrays alive per row while a batch is computed, besides one per feature: the five
# input columns and a few temporaries inside a feature (returns, bands, kernel outputs), and
# the copies polars makes when the columns become a frame.
_ARRAYS_PER_ROW_OVERHEAD = 24


def compute_features(
    bars: pl.DataFrame, specs: Sequence[FeatureSpec], *, memory_budget_mb: float | None = None
) -> pl.DataFrame:
    """Keys (symbol, ts) plus one Float64 column per spec; warm-up and undefined values are null.

    Bars are sorted by (symbol, ts) first, so callers may pass any order. With a memory budget,
    symbols are computed in batches whose working set fits it (see `feature_batches`); the result
    is the same.
    """
    parts = list(feature_batches(bars, specs, memory_budget_mb=memory_budget_mb))
    return parts[0] if len(parts) == 1 else pl.concat(parts)


def feature_batches(
    bars: pl.DataFrame, specs: Sequence[FeatureSpec], *, memory_budget_mb: float | None = None
) -> Iterator[pl.DataFrame]:
    """The features of consecutive symbol batches, each sized so its working set (inputs,
    outputs and temporaries, as float64) stays under `memory_budget_mb`. A consumer that writes
    each batch out (e.g. to Parquet) holds only one batch in memory. Without a budget: one batch.
    """
    bars = bars.sort("symbol", "ts")
    if bars.height == 0:
        yield _compute(bars, specs)
        return
    rows_per_batch = _rows_per_batch(len(specs), memory_budget_mb)
    counts = bars.group_by("symbol", maintain_order=True).len()["len"].to_numpy()
    start = 0
    for size in _batch_sizes(counts, rows_per_batch):
        yield _compute(bars.slice(start, size), specs)
        start += size


def _rows_per_batch(n_features: int, memory_budget_mb: float | None) -> int | None:
    if memory_budget_mb is None:
        return None
    bytes_per_row = 8 * (n_features + _ARRAYS_PER_ROW_OVERHEAD)
    return max(1, int(memory_budget_mb * 2**20 / bytes_per_row))


def _batch_sizes(counts: np.ndarray, rows_per_batch: int | None) -> Iterator[int]:
    """Row counts of consecutive whole-symbol batches of at most `rows_per_batch` rows (a symbol
    larger than that is a batch of its own: windows never cross symbols, so it cannot be split)."""
    if rows_per_batch is None:
        yield int(counts.sum())
        return
    batch = 0
    for count in counts.tolist():
        if batch and batch + count > rows_per_batch:
            yield batch
            batch = 0
        batch += count
    if batch:
        yield batch


def _compute(bars: pl.DataFrame, specs: Sequence[FeatureSpec]) -> pl.DataFrame:
    panel = Panel.from_bars(bars)
    columns = {}
    for spec in specs:
        values = np.asarray(spec.compute(panel), dtype=np.float64)
        if values.shape != (len(panel),):
            raise ValueError(f"feature {spec.name!r} returned shape {values.shape}, expected ({len(panel)},)")
        values[~np.isfinite(values)] = np.nan
        columns[spec.name] = pl.Series(spec.name, values).fill_nan(None)
    return bars.select("symbol", "ts").with_columns(**columns)
