"""ingest: raw bars from the configured source, values kept as the source wrote them.

`raw_bars` reads each symbol's whole data.start..data.end from the source, or, with
`data.windows`, assembles it from the symbol's stored `raw_windows` (assets/windows.py).
"""

import time
from collections.abc import Callable, Iterator

import dagster as dg
import polars as pl

from assets.partitions import per_symbol, run_symbols
from assets.windows import build_raw_windows
from foxml_dagster.config import DataConfig
from foxml_dagster.data.raw import empty_raw_bars
from foxml_dagster.data.schema import RAW_CONTRACT, contract_failures
from foxml_dagster.memory import peak_rss_mb
from resources.lake import FrameBatches
from resources.sources import MarketData

RAW_BARS = {
    "name": "raw_bars",
    "group_name": "ingest",
    "kinds": {"polars", "parquet"},
    "check_specs": [
        dg.AssetCheckSpec(
            "raw_contract",
            asset="raw_bars",
            blocking=True,
            description="pandera schema of raw bars: canonical text columns, each row tracing to its source",
        )
    ],
    **per_symbol,
}


def _checked_raw_bars(symbols: list[str], read: Callable[[str], pl.DataFrame]) -> Iterator:
    """The output, one symbol at a time, then the raw contract check over every symbol read."""
    started = time.perf_counter()
    failures: list[str] = []

    def read_each_symbol():
        for symbol in symbols:
            frame = read(symbol)
            failures.extend(f"{symbol}: {line}" for line in contract_failures(frame, RAW_CONTRACT))
            yield frame

    # The IO manager consumes the batches while this output is handled, so the check below sees
    # every symbol's result.
    yield dg.Output(FrameBatches(read_each_symbol()), metadata={"symbols": len(symbols)})
    yield dg.AssetCheckResult(
        check_name="raw_contract",
        passed=not failures,
        metadata={
            "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures[:50]) or "none"),
            "seconds": round(time.perf_counter() - started, 3),
            "peak_rss_mb": peak_rss_mb(),
        },
    )


@dg.asset(
    description="Rows from the configured source, renamed to canonical columns, values kept as text "
    "so nothing is coerced before validation. Read and written one symbol at a time.",
    pool="market_data",  # one fetching step at a time: vendors pace and rate-limit per account
    **RAW_BARS,
)
def raw_bars_from_source(context: dg.AssetExecutionContext, market_data: MarketData):
    yield from _checked_raw_bars(run_symbols(context), market_data.source().read_raw)


@dg.asset(
    description="Each symbol's raw bars assembled from its stored windows (raw_windows), in window "
    "order, values kept as text. Every window from the first to the last must have been fetched.",
    ins={"raw_windows": dg.AssetIn(partition_mapping=dg.MultiToSingleDimensionPartitionMapping("symbol"))},
    **RAW_BARS,
)
def raw_bars_from_windows(context: dg.AssetExecutionContext, raw_windows: dict[str, pl.LazyFrame]):
    by_symbol: dict[str, list[tuple[str, pl.LazyFrame]]] = {}
    for key, scan in raw_windows.items():
        by_symbol.setdefault(key.keys_by_dimension["symbol"], []).append((key.keys_by_dimension["window"], scan))

    def assemble(symbol: str) -> pl.DataFrame:
        scans = [scan.drop("window") for _, scan in sorted(by_symbol.get(symbol, []), key=lambda item: item[0])]
        return pl.concat([empty_raw_bars().lazy(), *scans]).collect()

    yield from _checked_raw_bars(run_symbols(context), assemble)


def build_ingest_assets(data: DataConfig) -> list[dg.AssetsDefinition]:
    if data.windows is None:
        return [raw_bars_from_source]
    return [build_raw_windows(data), raw_bars_from_windows]
