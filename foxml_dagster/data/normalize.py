"""From raw text bars to clean `bars`, with every rejected row quarantined with its reason.

Rules, checked in this order (a row is quarantined under the first it breaks):

- missing_symbol: no symbol.
- unparseable_timestamp: the timestamp matches none of the accepted formats.
- non_numeric_value: a price or volume is not a finite number (text, empty, NaN, inf), or the
  adjusted close is when adjustment is on.
- non_positive_price: open, high, low or close <= 0 (or the adjusted close, when used).
- negative_volume: volume < 0.
- ohlc_inconsistent: high below max(open, close, low), or low above min(open, close).
- duplicate_bar: more than one row for (symbol, ts). The last row in source order wins, as a
  vendor's later row is its correction; the earlier rows are quarantined.

Rows outside the configured [start, end] window are not errors: they are left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from foxml_dagster.data.raw import BAR_VALUE_COLUMNS, RAW_SCHEMA

BARS_SCHEMA = {
    "symbol": pl.Utf8,
    "ts": pl.Datetime("us", "UTC"),
    **{name: pl.Float64 for name in BAR_VALUE_COLUMNS},
}
QUARANTINE_SCHEMA = RAW_SCHEMA | {"rule": pl.Utf8, "detail": pl.Utf8}

_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z")
_NAIVE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")


class TimezoneMissingError(ValueError):
    """Naive timestamps and no configured zone: we refuse to guess."""


@dataclass(frozen=True)
class NormalizedBars:
    bars: pl.DataFrame
    quarantine: pl.DataFrame
    outside_window: int

    def quarantine_counts(self) -> dict[str, int]:
        counts = self.quarantine.group_by("rule").len().sort("rule")
        return dict(zip(counts["rule"].to_list(), counts["len"].to_list(), strict=True))


def parse_timestamps(ts: pl.Expr, timezone: str | None) -> tuple[pl.Expr, pl.Expr]:
    """(aware UTC timestamp or null, whether the text was naive) for a text column."""
    aware = pl.coalesce([ts.str.to_datetime(fmt, time_unit="us", strict=False) for fmt in _AWARE_FORMATS])
    naive = pl.coalesce([ts.str.to_datetime(fmt, time_unit="us", strict=False) for fmt in _NAIVE_FORMATS])
    zone = timezone or "UTC"
    localized = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    parsed = pl.coalesce(aware.dt.convert_time_zone("UTC"), localized.dt.convert_time_zone("UTC"))
    return parsed, aware.is_null() & naive.is_not_null()


def normalize_bars(
    raw: pl.DataFrame,
    *,
    timezone: str | None,
    adjust_prices: bool = True,
    start: date | None = None,
    end: date | None = None,
) -> NormalizedBars:
    """Parse, check and clean raw bars. Nothing is dropped silently: see the module docstring."""
    raw = raw.cast(RAW_SCHEMA)  # type: ignore[arg-type]
    ts, naive = parse_timestamps(pl.col("ts").str.strip_chars(), timezone)
    use_adj = adjust_prices and raw["adj_close"].drop_nulls().len() > 0
    values = [*BAR_VALUE_COLUMNS, *(["adj_close"] if use_adj else [])]
    parsed = raw.with_columns(
        ts.alias("_ts"),
        naive.alias("_naive"),
        *(pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).alias(f"_{c}") for c in values),
    )
    if timezone is None and parsed["_naive"].any():
        example = parsed.filter(pl.col("_naive"))["ts"][0]
        raise TimezoneMissingError(
            f"bars from {parsed['origin'][0]}: timestamps like {example!r} carry no time zone; "
            "set data.timezone (e.g. America/New_York) in the experiment config"
        )

    prices = ["_open", "_high", "_low", "_close", *(["_adj_close"] if use_adj else [])]
    numbers = [f"_{v}" for v in values]
    rule = (
        pl.when(pl.col("symbol").is_null() | (pl.col("symbol").str.strip_chars() == ""))
        .then(pl.lit("missing_symbol"))
        .when(pl.col("_ts").is_null())
        .then(pl.lit("unparseable_timestamp"))
        .when(pl.any_horizontal(pl.col(c).is_null() | ~pl.col(c).is_finite() for c in numbers))
        .then(pl.lit("non_numeric_value"))
        .when(pl.any_horizontal(pl.col(c) <= 0 for c in prices))
        .then(pl.lit("non_positive_price"))
        .when(pl.col("_volume") < 0)
        .then(pl.lit("negative_volume"))
        .when(
            (pl.col("_high") < pl.max_horizontal("_open", "_close", "_low"))
            | (pl.col("_low") > pl.min_horizontal("_open", "_close"))
        )
        .then(pl.lit("ohlc_inconsistent"))
    )
    detail = (
        pl.when(pl.col("_ts").is_null())
        .then(pl.format("ts={}", pl.col("ts")))
        .otherwise(pl.format("o={} h={} l={} c={} v={}", *BAR_VALUE_COLUMNS))
    )
    checked = parsed.with_columns(rule.alias("rule"), detail.alias("detail"))

    in_window = pl.lit(True)
    if start is not None:
        in_window &= pl.col("_ts").dt.date() >= start
    if end is not None:
        in_window &= pl.col("_ts").dt.date() <= end
    outside = checked.filter(pl.col("_ts").is_not_null() & ~in_window).height
    checked = checked.filter(pl.col("_ts").is_null() | in_window)

    bad = checked.filter(pl.col("rule").is_not_null())
    good = checked.filter(pl.col("rule").is_null()).with_row_index("_order")
    last_of_key = pl.col("_order") == pl.col("_order").max().over("symbol", "_ts")
    winners = good.filter(last_of_key)
    superseded = (
        good.filter(~last_of_key)
        .join(winners.select("symbol", "_ts", pl.col("source_row").alias("_kept")), on=["symbol", "_ts"])
        .with_columns(
            pl.lit("duplicate_bar").alias("rule"),
            pl.format("superseded by source row {}", "_kept").alias("detail"),
        )
    )

    quarantine = pl.concat([bad.select(*QUARANTINE_SCHEMA), superseded.select(*QUARANTINE_SCHEMA)]).sort(
        "symbol", "source_row", nulls_last=True
    )

    factor = pl.col("_adj_close") / pl.col("_close") if use_adj else pl.lit(1.0)
    bars = winners.select(
        pl.col("symbol").str.strip_chars(),
        pl.col("_ts").alias("ts"),
        *((pl.col(f"_{c}") * factor).alias(c) for c in ("open", "high", "low", "close")),
        (pl.col("_volume") / factor).alias("volume"),
    ).sort("symbol", "ts")
    return NormalizedBars(bars=bars.cast(BARS_SCHEMA), quarantine=quarantine, outside_window=outside)  # type: ignore[arg-type]
