"""The `bars` data contract as a pandera.polars schema, checked at the asset boundary."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

_PRICE = pa.Column(pl.Float64, checks=pa.Check.gt(0), nullable=False)


def _sorted_within_symbol(data: pa.PolarsData) -> pl.LazyFrame:
    ts = pl.col("ts")
    return data.lazyframe.select(
        (ts.diff().over("symbol").fill_null(pl.duration(microseconds=1)) > pl.duration()).alias("ok")
    )


BARS_CONTRACT = pa.DataFrameSchema(
    {
        "symbol": pa.Column(pl.Utf8, nullable=False, checks=pa.Check.str_length(min_value=1)),
        "ts": pa.Column(pl.Datetime("us", "UTC"), nullable=False),
        "open": _PRICE,
        "high": _PRICE,
        "low": _PRICE,
        "close": _PRICE,
        "volume": pa.Column(pl.Float64, checks=pa.Check.ge(0), nullable=False),
    },
    checks=[
        pa.Check(
            lambda d: d.lazyframe.select(pl.col("low") <= pl.min_horizontal("open", "close")),
            name="low_le_open_close",
        ),
        pa.Check(
            lambda d: d.lazyframe.select(pl.col("high") >= pl.max_horizontal("open", "close")),
            name="high_ge_open_close",
        ),
        pa.Check(_sorted_within_symbol, name="unique_and_sorted_ts_per_symbol"),
    ],
    strict=True,
    name="bars",
)


def contract_failures(bars: pl.DataFrame) -> list[str]:
    """Every violation of the bars contract, one readable line each; empty when it holds."""
    try:
        BARS_CONTRACT.validate(bars, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
        return [
            f"{row['check']} on {row['column'] or 'frame'}: {row['failure_case']}"
            for row in failures.head(20).iter_rows(named=True)
        ]
    return []
