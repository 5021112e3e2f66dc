"""Compute a feature set over a bars panel, in symbol batches sized from a memory budget."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl

from foxml_dagster.features.panel import Panel
from foxml_dagster.features.registry import FeatureSpec
from foxml_dagster.memory import rows_within, whole_group_batches
from foxml_dagster.runner import Call, InProcessRunner, Runner

# Float64 arrays alive per row while a batch is computed, besides one per feature: the five
# input columns and a few temporaries inside a feature (returns, bands, kernel outputs), and
# the copies polars makes when the columns become a frame.
_ARRAYS_PER_ROW_OVERHEAD = 24


def compute_features(
    bars: pl.DataFrame,
    specs: Sequence[FeatureSpec],
    *,
    memory_budget_mb: float | None = None,
    runner: Runner | None = None,
) -> pl.DataFrame:
    """Keys (symbol, ts) plus one Float64 column per spec; warm-up and undefined values are null.

    Bars are sorted by (symbol, ts) first, so callers may pass any order. With a memory budget,
    symbols are computed in batches whose working set fits it (see `feature_batches`); the result
    is the same, and so it is whichever `runner` computes the batches.
    """
    parts = list(feature_batches(bars, specs, memory_budget_mb=memory_budget_mb, runner=runner))
    return parts[0] if len(parts) == 1 else pl.concat(parts)


def feature_batches(
    bars: pl.DataFrame,
    specs: Sequence[FeatureSpec],
    *,
    memory_budget_mb: float | None = None,
    runner: Runner | None = None,
) -> Iterator[pl.DataFrame]:
    """The features of consecutive symbol batches, each sized so its working set (inputs,
    outputs and temporaries, as float64) stays under `memory_budget_mb`. A consumer that writes
    each batch out (e.g. to Parquet) holds only one batch in memory. Without a budget: one batch.

    `runner` computes the batches, one task each (default: here, one at a time, as the consumer
    asks). A `RayRunner` computes them across the cluster, each task asking for its batch's
    working set, and yields them in the same order with a bounded number in flight.
    """
    bars = bars.sort("symbol", "ts")
    if bars.height == 0:
        yield _compute(bars, specs)
        return
    bytes_per_row = 8 * (len(specs) + _ARRAYS_PER_ROW_OVERHEAD)
    max_rows = None if memory_budget_mb is None else rows_within(memory_budget_mb, bytes_per_row)
    counts = bars.group_by("symbol", maintain_order=True).len()["len"].to_list()
    runner = runner or InProcessRunner()
    yield from runner.imap(_compute, _batch_calls(bars, specs, counts, max_rows, bytes_per_row))


def _batch_calls(bars: pl.DataFrame, specs, counts: list[int], max_rows, bytes_per_row: int) -> Iterator[Call]:
    """One call per symbol batch; made lazily, so an in-process run slices as it goes. With a
    budget, a task asks the scheduler for its batch's working set, capped at the budget (a symbol
    larger than the budget is one batch, and must still be schedulable), so a node runs no more
    batches at once than fit its memory."""
    start = 0
    for n_symbols in whole_group_batches(counts, max_rows):
        size = sum(counts[:n_symbols])
        counts = counts[n_symbols:]
        batch = bars.slice(start, size)
        need = None if max_rows is None else min(size, max_rows) * bytes_per_row / 2**20
        yield Call((batch, specs), memory_mb=need, name=f"features:{batch['symbol'][0]}..{batch['symbol'][-1]}")
        start += size


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
