"""Warnings about bars that are valid but suspicious (kept, reported, left to the researcher), and
the verdict when no clean bar is left at all."""

from __future__ import annotations

import polars as pl

SPIKE_WINDOW = 20  # bars of volume the median is taken over
SPIKE_MIN_BARS = 3  # fewest bars a yardstick median is taken over


def volume_spikes(bars: pl.DataFrame, factor: float, window: int = SPIKE_WINDOW) -> pl.DataFrame:
    """Bars whose volume exceeds `factor` times the median volume of the `window` bars before them.

    Only other bars set the yardstick, so a spike cannot hide itself by raising its own median. A
    bar with fewer than `window` bars before it is judged against the median of the `window` bars
    after it instead, so a spike in a symbol's first bars is seen too (this is a data check, not a
    feature: looking ahead is fine here). Returns symbol, ts, volume, reference_median, reference
    (`trailing` or `leading`) and ratio, largest ratio first.
    """
    volume = pl.col("volume")
    trailing = volume.shift(1).rolling_median(window, min_samples=window)
    leading = volume.reverse().shift(1).rolling_median(window, min_samples=min(window, SPIKE_MIN_BARS)).reverse()
    return (
        bars.sort("symbol", "ts")
        .select(
            "symbol",
            "ts",
            "volume",
            pl.coalesce(trailing, leading).over("symbol").alias("reference_median"),
            pl.when(trailing.is_not_null())
            .then(pl.lit("trailing"))
            .otherwise(pl.lit("leading"))
            .over("symbol")
            .alias("reference"),
        )
        .filter(pl.col("reference_median") > 0)
        .with_columns((pl.col("volume") / pl.col("reference_median")).alias("ratio"))
        .filter(pl.col("ratio") > factor)
        .sort("ratio", descending=True)
    )


def nothing_clean_left(quarantine: pl.DataFrame, outside_window: int, top: int = 5) -> str:
    """Why a normalize run has no clean bar: the quarantine's top rules with counts and an example
    detail each, and where to look; for a step to stop on before the empty bars go downstream."""
    total = quarantine.height + outside_window
    if total == 0:
        return (
            "no bars: the source gave no rows for this run's symbols; check the source's files or "
            "settings (data.source, data.symbols) and the raw_bars metadata"
        )
    by_rule = (
        quarantine.group_by("rule")
        .agg(pl.len().alias("rows"), pl.col("detail").drop_nulls().first().alias("example"))
        .sort("rows", "rule", descending=[True, False])
    )
    reasons = [
        f"{rule}: {rows:,} (e.g. {example})" if example else f"{rule}: {rows:,}"
        for rule, rows, example in by_rule.head(top).iter_rows()
    ]
    if outside_window:
        reasons.append(f"outside data.start..data.end (not errors): {outside_window:,}")
    return (
        f"no clean bars left: all {total:,} rows were quarantined or outside the window. Top reasons: "
        f"{'; '.join(reasons)}. See SELECT rule, detail, origin, source_row FROM bars_quarantine in the "
        "catalog, then fix the files or the data.* settings the details name"
    )
