"""ingest: raw bars from the configured source, values kept as the source wrote them."""

import time

import dagster as dg
import polars as pl

from assets.partitions import per_symbol, run_symbols
from resources.sources import MarketData


@dg.asset(
    group_name="ingest",
    kinds={"polars", "parquet"},
    description="Rows from the configured source (sample or landing files), renamed to canonical "
    "columns, values kept as text so nothing is coerced before validation.",
    **per_symbol,
)
def raw_bars(context: dg.AssetExecutionContext, market_data: MarketData) -> pl.DataFrame:
    started = time.perf_counter()
    source = market_data.source()
    frame = pl.concat([source.read_raw(symbol) for symbol in run_symbols(context)])
    context.add_output_metadata(
        {"seconds": round(time.perf_counter() - started, 3), "symbols": len(context.partition_keys)}
    )
    return frame
