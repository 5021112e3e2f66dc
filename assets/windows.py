"""Time-window ingestion: `raw_windows`, partitioned by symbol x day or month (`data.windows`).

A source that fetches by date (Alpaca, IBKR, synthetic) is then read one window at a time, so a
refresh fetches only the windows that closed since the last one, and a backfill any range of
them. `raw_bars` assembles each symbol's history from its stored windows (assets/ingest.py), and
everything downstream stays partitioned by symbol. Dagster runs one partitions definition per
job, so the windows have their own job, `window_ingest` (jobs/pipeline.py); the sensors in
sensors/windows.py fetch windows as they close and refresh the symbols whose windows changed.
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from assets.partitions import contiguous_ranges, symbol_partitions
from foxml_dagster.config import DataConfig
from foxml_dagster.memory import peak_rss_mb
from resources.lake import FrameBatches
from resources.sources import MarketData, SyntheticSource

WINDOWED = {"foxml/partitions": "symbol_x_window"}  # jobs select around these (jobs/pipeline.py)
RAW_WINDOWS = dg.AssetKey("raw_windows")


def first_and_last_date(data: DataConfig) -> tuple[date, date | None]:
    """The dates windows cover: data.start..data.end (open-ended without end), or the synthetic
    calendar's span."""
    if data.source == "synthetic":
        return SyntheticSource(data.synthetic, data.symbols, market=data.sessions.calendar).dates()
    assert data.start is not None  # DataConfig requires it with windows
    return data.start, data.end


def window_partitions(data: DataConfig) -> dg.TimeWindowPartitionsDefinition:
    """Daily or monthly UTC windows from the first date on; up to the last date, or, without
    one, up to the last window that has closed."""
    first, last = first_and_last_date(data)
    if data.windows == "daily":
        end = None if last is None else last + timedelta(days=1)
        return dg.DailyPartitionsDefinition(start_date=_midnight(first), end_date=end and _midnight(end))
    month = first.replace(day=1)
    end = None if last is None else (last.replace(day=1) + timedelta(days=32)).replace(day=1)
    return dg.MonthlyPartitionsDefinition(start_date=_midnight(month), end_date=end and _midnight(end))


def symbol_window_partitions(data: DataConfig) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({"symbol": symbol_partitions, "window": window_partitions(data)})


def window_dates(data: DataConfig, window: str) -> tuple[date, date]:
    """The first and last UTC date a window fetches, inside data.start..data.end."""
    span = window_partitions(data).time_window_for_partition_key(window)
    first, last = first_and_last_date(data)
    window_last = (span.end - timedelta(days=1)).date()
    return max(span.start.date(), first), window_last if last is None else min(window_last, last)


def build_raw_windows(data: DataConfig) -> dg.AssetsDefinition:
    @dg.asset(
        name="raw_windows",
        group_name="ingest",
        kinds={"polars", "parquet"},
        tags=WINDOWED,
        partitions_def=symbol_window_partitions(data),
        backfill_policy=dg.BackfillPolicy.single_run(),
        # IB paces requests per account and Alpaca rate-limits per key: one fetching step at a time
        # (the pool's limit is in configs/dagster.yaml).
        pool="market_data",
        description=f"Raw bars fetched one {data.windows} window per symbol (data.windows), values "
        "kept as text like raw_bars; each row carries its `symbol` and `window` partition.",
    )
    def raw_windows(context: dg.AssetExecutionContext, market_data: MarketData):
        config = market_data.experiment.config.data
        keys = sorted(context.partition_keys)  # MultiPartitionKeys: symbol, then window

        def each_window():
            for key in keys:
                symbol, window = key.keys_by_dimension["symbol"], key.keys_by_dimension["window"]
                source = market_data.source(window=window_dates(config, window))
                yield source.read_raw(symbol).with_columns(pl.lit(window).alias("window"))

        # The IO manager writes each window as it is fetched, while this output is handled.
        yield dg.Output(FrameBatches(each_window()), metadata={"windows": len(keys)})
        context.log.info(f"raw_windows: {len(keys)} windows fetched; peak RSS {peak_rss_mb()} MB")

    return raw_windows


def windows_to_fetch(
    instance: dg.DagsterInstance, data: DataConfig, symbols: list[str], now: datetime | None = None
) -> list[dict[str, str]]:
    """Run tags that fetch every window not yet stored for `symbols` (in registration order).

    A symbol is fetched from its first missing window to the last closed one; symbols that share
    that first window and are adjacent share a run, so a routine refresh is one run for the
    newest window and a new symbol one run for its whole history. Stored windows after a gap are
    fetched again, which also replaces them.
    """
    windows = window_partitions(data).get_partition_keys(current_time=now)
    if not windows:
        return []
    stored = instance.get_materialized_partitions(RAW_WINDOWS)
    first_missing = {s: next((w for w in windows if f"{s}|{w}" not in stored), None) for s in symbols}
    requests = []
    for window in sorted({w for w in first_missing.values() if w is not None}):
        starting_here = {s for s, w in first_missing.items() if w == window}
        for first, last in contiguous_ranges(starting_here, symbols):
            requests.append(
                {
                    "dagster/asset_partition_range_start": f"{first}|{window}",
                    "dagster/asset_partition_range_end": f"{last}|{windows[-1]}",
                }
            )
    return requests


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)
