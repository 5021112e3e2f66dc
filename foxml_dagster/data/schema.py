"""The raw-bar and `bars` data contracts as pandera.polars schemas, checked at asset boundaries."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from foxml_dagster.data.raw import RAW_SCHEMA

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


# Raw bars are text by design (normalization parses them); the contract is their layout and
# traceability: every canonical column present, nothing extra, each row naming its origin and row.
RAW_CONTRACT = pa.DataFrameSchema(
    {
        name: pa.Column(dtype, nullable=name not in ("origin", "source_row"))
        for name, dtype in RAW_SCHEMA.items()
        if name != "source_row"
    }
    | {"source_row": pa.Column(pl.Int64, checks=pa.Check.ge(1), nullable=False)},
    strict=True,
    name="raw_bars",
)


def contract_failures(frame: pl.DataFrame, contract: pa.DataFrameSchema = BARS_CONTRACT) -> list[str]:
    """Every violation of a contract (bars by default), one readable line each; empty when it holds."""
    try:
        contract.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
        return [
            f"{row['check']} on {row['column'] or 'frame'}: {row['failure_case']}"
            for row in failures.head(20).iter_rows(named=True)
        ]
    return []
