"""The raw-bar contract: the source's rows, renamed to canonical columns, values kept as text.

Keeping raw values as text means nothing is lost or coerced before validation: normalization
parses them and quarantines what does not parse, with the rule it broke.
"""

from __future__ import annotations

import polars as pl

from foxml_dagster.settings import Settings

BAR_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
# Optional: an adjusted close, or corporate actions on their ex-date (split ratio: new shares per
# old share, 2 for a 2-for-1 split; dividend: cash per share).
ADJUSTMENT_COLUMNS = ("adj_close", "split_ratio", "dividend")
RAW_COLUMNS = ("symbol", "ts", *BAR_VALUE_COLUMNS, *ADJUSTMENT_COLUMNS, "origin", "source_row")
RAW_SCHEMA = {name: pl.Utf8 for name in RAW_COLUMNS} | {"source_row": pl.Int64}


class ColumnMap(Settings):
    """Source column name for each canonical bar column."""

    symbol: str | None = "symbol"
    ts: str = "ts"
    open: str = "open"
    high: str = "high"
    low: str = "low"
    close: str = "close"
    volume: str = "volume"
    adj_close: str | None = None
    split_ratio: str | None = None
    dividend: str | None = None


class SourceFormatError(ValueError):
    """A source file whose layout cannot be mapped onto bars."""


def to_raw_bars(frame: pl.DataFrame, columns: ColumnMap, *, origin: str, symbol: str | None = None) -> pl.DataFrame:
    """Rename a source frame's columns to the canonical raw-bar layout, all values as text.

    `symbol` fills the symbol column for one-symbol files that have none. `origin` (a file name
    or URL) and `source_row` (1-based data row) let a quarantined row be traced to its source.
    """
    wanted = columns.model_dump()
    if symbol is not None and (wanted["symbol"] is None or wanted["symbol"] not in frame.columns):
        frame = frame.with_columns(pl.lit(symbol).alias("__symbol__"))
        wanted["symbol"] = "__symbol__"
    missing = [
        f"'{source}' (for {canonical})"
        for canonical, source in wanted.items()
        if canonical not in ADJUSTMENT_COLUMNS and (source is None or source not in frame.columns)
    ]
    if missing:
        raise SourceFormatError(
            f"{origin}: column {', '.join(missing)} missing (found {frame.columns}); "
            "map it with data.columns.<name> in the experiment config"
        )
    text = {
        canonical: pl.col(source).cast(pl.Utf8)
        for canonical, source in wanted.items()
        if source is not None and source in frame.columns
    }
    return (
        frame.with_row_index("source_row", offset=1)
        .select(
            *(expr.alias(name) for name, expr in text.items()),
            *(pl.lit(None, pl.Utf8).alias(name) for name in ADJUSTMENT_COLUMNS if name not in text),
            pl.lit(origin).alias("origin"),
            pl.col("source_row").cast(pl.Int64),
        )
        .select(RAW_COLUMNS)
    )


def empty_raw_bars() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_SCHEMA)
