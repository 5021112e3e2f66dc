"""Warnings about bars that are valid but suspicious: kept, reported, left to the researcher."""

from __future__ import annotations

import polars as pl

SPIKE_WINDOW = 20  # bars of trailing volume the median is taken over


def volume_spikes(bars: pl.DataFrame, factor: float, window: int = SPIKE_WINDOW) -> pl.DataFrame:
    """Bars whose volume exceeds `factor` times the median volume of the `window` bars before them.

    Only earlier bars set the yardstick, so a spike cannot hide itself by raising its own median.
    Returns symbol, ts, volume, trailing_median and ratio, largest ratio first.
    """
    trailing = pl.col("volume").shift(1).rolling_median(window, min_samples=window).over("symbol")
    return (
        bars.sort("symbol", "ts")
        .select("symbol", "ts", "volume", trailing.alias("trailing_median"))
        .filter(pl.col("trailing_median") > 0)
        .with_columns((pl.col("volume") / pl.col("trailing_median")).alias("ratio"))
        .filter(pl.col("ratio") > factor)
        .sort("ratio", descending=True)
    )
