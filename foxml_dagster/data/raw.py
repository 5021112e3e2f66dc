"""The raw-bar contract: the source's rows, renamed to canonical columns, values kept as text.

Keeping raw values as text means nothing is lost or coerced before validation: normalization
parses them and quarantines what does not parse, with the rule it broke.
"""

from __future__ import annotations

from urllib.parse import quote

import polars as pl
from pydantic import Field

from foxml_dagster.settings import Settings

BAR_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
# Optional: an adjusted close, or corporate actions on their ex-date (split ratio: new shares per
# old share, 2 for a 2-for-1 split; dividend: cash per share).
ADJUSTMENT_COLUMNS = ("adj_close", "split_ratio", "dividend")
RAW_COLUMNS = ("symbol", "ts", *BAR_VALUE_COLUMNS, *ADJUSTMENT_COLUMNS, "origin", "source_row")
RAW_SCHEMA = {name: pl.Utf8 for name in RAW_COLUMNS} | {"source_row": pl.Int64}


class ColumnMap(Settings):
    """Source column name for each canonical bar column."""

    symbol: str | None = Field(
        "symbol",
        description="column of the symbol; null, or a file without it: the file holds one symbol, named after the file",
    )
    ts: str = Field("ts", description="column of the bar timestamp")
    open: str = Field("open", description="column of the opening price")
    high: str = Field("high", description="column of the high price")
    low: str = Field("low", description="column of the low price")
    close: str = Field("close", description="column of the closing price")
    volume: str = Field("volume", description="column of the volume")
    adj_close: str | None = Field(
        None, description="column of the adjusted close (optional; null: none, as for a file lacking it)"
    )
    split_ratio: str | None = Field(
        None, description="column of the split ratio on its ex-date, new shares per old (optional; null: none)"
    )
    dividend: str | None = Field(
        None, description="column of the cash dividend per share on its ex-date (optional; null: none)"
    )


class SourceFormatError(ValueError):
    """A source file whose layout cannot be mapped onto bars."""


# Dagster refuses "..." (its range syntax) and control characters in partition keys, "|" joins the
# dimensions of a multi-partition key (symbol|window), and "." and ".." cannot name a lake file.
_KEY_SUBSTRINGS = {"...": "'...'", "|": "'|'", **{c: repr(c) for c in "\a\b\f\n\r\t\v\0"}}
_MAX_ENCODED_CHARS = 200  # a lake file name (percent-encoded symbol + ".parquet") must fit 255 bytes


def symbol_problem(symbol: str) -> str | None:
    """Why `symbol` (already stripped) cannot be a symbol partition, or None when it can."""
    if symbol in ("", ".", ".."):
        return f"symbol {symbol!r} cannot name a partition file"
    found = [shown for part, shown in _KEY_SUBSTRINGS.items() if part in symbol]
    if found:
        return f"symbol {symbol!r} contains {', '.join(found)}, which a partition key cannot hold"
    if len(quote(symbol, safe="=")) > _MAX_ENCODED_CHARS:
        return f"symbol {symbol[:20]!r}... is too long to name a lake file ({len(symbol)} characters)"
    return None


def to_raw_bars(frame: pl.DataFrame, columns: ColumnMap, *, origin: str, symbol: str | None = None) -> pl.DataFrame:
    """Rename a source frame's columns to the canonical raw-bar layout, all values as text.

    `symbol` fills the symbol column for one-symbol files that have none. `origin` (a file name
    or URL) and `source_row` (1-based data row) let a quarantined row be traced to its source.
    The symbol is the one value stripped of surrounding spaces here: it names the row's partition,
    so "XYZ " and "XYZ" must be one symbol from discovery on.
    """
    wanted = columns.model_dump()
    symbol_from_name = symbol is not None and (wanted["symbol"] is None or wanted["symbol"] not in frame.columns)
    missing = {
        canonical: f"'{source}' (for {canonical})" if source is not None else f"{canonical} (not mapped)"
        for canonical, source in wanted.items()
        if canonical not in ADJUSTMENT_COLUMNS
        and not (canonical == "symbol" and symbol_from_name)
        and (source is None or source not in frame.columns)
    }
    if missing:
        fields = ", ".join(f"data.columns.{canonical}" for canonical in missing)
        raise SourceFormatError(
            f"{origin}: column {', '.join(missing.values())} missing (found {frame.columns}); "
            f"set {fields} in the experiment config to the file's name for it"
        )
    text = {
        canonical: pl.col(source).cast(pl.Utf8)
        for canonical, source in wanted.items()
        if source is not None and source in frame.columns and not (canonical == "symbol" and symbol_from_name)
    }
    text["symbol"] = pl.lit(symbol, pl.Utf8) if symbol_from_name else text["symbol"].str.strip_chars()
    return (
        frame.with_row_index("__source_row", offset=1)
        .select(
            *(expr.alias(name) for name, expr in text.items()),
            *(pl.lit(None, pl.Utf8).alias(name) for name in ADJUSTMENT_COLUMNS if name not in text),
            pl.lit(origin).alias("origin"),
            pl.col("__source_row").cast(pl.Int64).alias("source_row"),
        )
        .select(RAW_COLUMNS)
    )


def empty_raw_bars() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_SCHEMA)
