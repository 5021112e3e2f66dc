"""Compute a feature set over a bars panel."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from foxml_dagster.features.panel import Panel
from foxml_dagster.features.registry import FeatureSpec


def compute_features(bars: pl.DataFrame, specs: Sequence[FeatureSpec]) -> pl.DataFrame:
    """Keys (symbol, ts) plus one Float64 column per spec; warm-up and undefined values are null.

    Bars are sorted by (symbol, ts) first, so callers may pass any order.
    """
    bars = bars.sort("symbol", "ts")
    panel = Panel.from_bars(bars)
    columns = {}
    for spec in specs:
        values = np.asarray(spec.compute(panel), dtype=np.float64)
        if values.shape != (len(panel),):
            raise ValueError(f"feature {spec.name!r} returned shape {values.shape}, expected ({len(panel)},)")
        values[~np.isfinite(values)] = np.nan
        columns[spec.name] = pl.Series(spec.name, values).fill_nan(None)
    return bars.select("symbol", "ts").with_columns(**columns)
