"""ingest: raw bars from the configured source, values kept as the source wrote them."""

import time

import dagster as dg

from assets.partitions import per_symbol, run_symbols
from foxml_dagster.data.schema import RAW_CONTRACT, contract_failures
from foxml_dagster.memory import peak_rss_mb
from resources.lake import FrameBatches
from resources.sources import MarketData


@dg.asset(
    group_name="ingest",
    kinds={"polars", "parquet"},
    description="Rows from the configured source, renamed to canonical columns, values kept as text "
    "so nothing is coerced before validation. Read and written one symbol at a time.",
    check_specs=[
        dg.AssetCheckSpec(
            "raw_contract",
            asset="raw_bars",
            blocking=True,
            description="pandera schema of raw bars: canonical text columns, each row tracing to its source",
        )
    ],
    **per_symbol,
)
def raw_bars(context: dg.AssetExecutionContext, market_data: MarketData):
    symbols = run_symbols(context)
    started = time.perf_counter()
    source = market_data.source()
    failures: list[str] = []

    def read_each_symbol():
        for symbol in symbols:
            frame = source.read_raw(symbol)
            failures.extend(f"{symbol}: {line}" for line in contract_failures(frame, RAW_CONTRACT))
            yield frame

    # The IO manager consumes the batches while this output is handled, so the check below sees
    # every symbol's result.
    yield dg.Output(
        FrameBatches(read_each_symbol()),
        metadata={"symbols": len(symbols)},
    )
    yield dg.AssetCheckResult(
        check_name="raw_contract",
        passed=not failures,
        metadata={
            "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures[:50]) or "none"),
            "seconds": round(time.perf_counter() - started, 3),
            "peak_rss_mb": peak_rss_mb(),
        },
    )
