"""ingest: raw bars from the configured source, values kept as the source wrote them.

`raw_bars` reads each symbol's whole data.start..data.end from the source, or, with
`data.windows`, assembles it from the symbol's stored `raw_windows` (assets/windows.py). With the
files source, `landing_report` records what became of every landing file, so a file that could
not be read is reported with its reason instead of stopping the others.
"""

import time
from collections.abc import Callable, Iterator

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from assets.partitions import per_symbol, run_symbols
from assets.windows import build_raw_windows
from foxml_dagster.config import DataConfig
from foxml_dagster.data.raw import empty_raw_bars
from foxml_dagster.memory import peak_rss_mb
from resources.lake import FrameBatches
from resources.sources import LandingFolderSource, MarketData

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


def _checked_raw_bars(
    symbols: list[str], read: Callable[[str], pl.DataFrame], metadata: dict | None = None
) -> Iterator:
    """The output, one symbol at a time, then the raw contract check over every symbol read."""
    # pandera costs seconds to import: only the steps that check a contract pay it.
    from foxml_dagster.data.schema import RAW_CONTRACT, contract_failures

    started = time.perf_counter()
    failures: list[str] = []

    def read_each_symbol():
        for symbol in symbols:
            frame = read(symbol)
            failures.extend(f"{symbol}: {line}" for line in contract_failures(frame, RAW_CONTRACT))
            yield frame

    # The IO manager consumes the batches while this output is handled, so the check below sees
    # every symbol's result.
    yield dg.Output(FrameBatches(read_each_symbol()), metadata={"symbols": len(symbols), **(metadata or {})})
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
    source = market_data.source()
    if not isinstance(source, LandingFolderSource):
        yield from _checked_raw_bars(run_symbols(context), source.read_raw)
        return
    report = _warn_about_unread_files(context, source)
    yield from _checked_raw_bars(run_symbols(context), source.read_raw, _landing_metadata(report))
    _warn_about_unread_files(context, source, known=report)  # a file that broke while it was read


def _warn_about_unread_files(
    context: dg.AssetExecutionContext, source: LandingFolderSource, known: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Log each landing file with rows not read (once), and return the source's report."""
    report = source.report()
    unread = report.filter(pl.col("status") != "read")
    if known is not None:
        unread = unread.join(known, on=unread.columns, how="anti", nulls_equal=True)
    for file, status, rows, reason in unread.select("file", "status", "rows", "reason").iter_rows():
        counted = "" if rows is None else f" ({rows} data row(s))"
        context.log.warning(f"landing file {file}{counted} {status.replace('_', ' ')}: {reason}")
    return report


def _landing_metadata(report: pl.DataFrame) -> dict:
    unread = report.filter(pl.col("status") != "read")
    return {
        "files_read": report.filter(pl.col("status") == "read").height,
        "files_not_fully_read": unread.height,
        "rows_not_read": int((unread["rows"].fill_null(0) - unread["rows_read"]).sum()),
        "files_not_read": markdown_table(unread.select("file", "status", "rows", "rows_read", "reason"))
        if unread.height
        else "none",
    }


@dg.asset(
    name="landing_report",
    group_name="ingest",
    kinds={"polars", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            "every_file_read",
            asset="landing_report",
            description="every file in the landing folder was read whole (a warning: the others go on)",
        )
    ],
    description="One row per file in the landing folder (data.source: files): read, partly_read or "
    "not_read, its data rows, the rows read into symbol partitions, its symbols, and why any rows "
    "were not read. With bars and bars_quarantine it accounts for every file and every row.",
)
def landing_report(context: dg.AssetExecutionContext, market_data: MarketData):
    source = market_data.source()
    assert isinstance(source, LandingFolderSource)  # built only for data.source: files
    report = _warn_about_unread_files(context, source)
    metadata = _landing_metadata(report)
    yield dg.Output(report, metadata={"files": report.height, **metadata, "report": markdown_table(report)})
    yield dg.AssetCheckResult(
        check_name="every_file_read",
        passed=metadata["files_not_fully_read"] == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if metadata["files_not_fully_read"] == 0
        else f"{metadata['files_not_fully_read']} landing file(s) not fully read; see landing_report",
        metadata={"files_not_read": metadata["files_not_read"]},
    )


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
    if data.windows is not None:
        return [build_raw_windows(data), raw_bars_from_windows]
    return [raw_bars_from_source, *([landing_report] if data.source == "files" else [])]
