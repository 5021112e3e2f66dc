"""Sensors of time-window ingestion (data.windows; assets/windows.py).

`window_fetch` fetches the windows not yet stored: each window as it closes, and a new symbol's
whole history. `windows_landed` refreshes the symbols whose windows were stored or replaced,
whoever fetched them (this sensor, a backfill from the UI, `foxml run`), so only changed symbols
are recomputed downstream. Both keep cursors: nothing is fetched or refreshed twice.
"""

import warnings

import dagster as dg

from assets.partitions import contiguous_ranges, range_tags, symbol_partitions
from assets.windows import RAW_WINDOWS, windows_to_fetch
from jobs.pipeline import symbol_refresh, window_ingest
from resources.home import Experiment

# Dagster steers towards declarative automation, which launches per asset; windows_landed must
# target symbol_refresh as one job over the changed symbols, which a multi-asset sensor does.
warnings.filterwarnings("ignore", category=dg.SupersessionWarning, message=".*MultiAssetSensorDefinition.*")


@dg.sensor(
    job=window_ingest,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Fetches every window of every registered symbol that is not stored yet: the "
    "newest window once it closes, and all windows of a symbol that joins the universe.",
)
def window_fetch(context: dg.SensorEvaluationContext, experiment: Experiment):
    data = experiment.config.data
    if data.windows is None:
        return dg.SkipReason("data.windows is not set: raw bars are fetched whole by raw_bars")
    symbols = context.instance.get_dynamic_partitions(symbol_partitions.name)
    plans = windows_to_fetch(context.instance, data, symbols)
    if not plans:
        return dg.SkipReason(f"every closed window of {len(symbols)} symbols is stored")
    # The run key is the range: a range whose run failed is not retried every tick, only once the
    # next window closes and the range grows.
    return [
        dg.RunRequest(
            run_key=f"{tags['dagster/asset_partition_range_start']}..{tags['dagster/asset_partition_range_end']}",
            tags=tags,
        )
        for tags in plans
    ]


@dg.multi_asset_sensor(
    monitored_assets=[RAW_WINDOWS],
    job=symbol_refresh,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Refreshes raw bars and everything per-symbol downstream for the symbols whose "
    "windows were stored or replaced since the last tick.",
)
def windows_landed(context: dg.MultiAssetSensorEvaluationContext):
    records = context.latest_materialization_records_by_partition(RAW_WINDOWS)
    if not records:
        return dg.SkipReason("no windows stored since the last tick")
    changed = {key.rsplit("|", 1)[0] for key in records}  # keys are "<symbol>|<window>"
    registered = context.instance.get_dynamic_partitions(symbol_partitions.name)
    latest = max(record.storage_id for record in records.values())
    context.advance_all_cursors()
    return [
        dg.RunRequest(run_key=f"{first}..{last}@{latest}", tags=range_tags([first, last]))
        for first, last in contiguous_ranges(changed, registered)
    ]
