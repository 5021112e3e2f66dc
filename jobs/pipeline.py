"""Jobs and schedules over the asset graph."""

import dagster as dg

from assets.partitions import range_tags, symbol_partitions
from assets.windows import WINDOWED

PER_SYMBOL_ASSETS = ("raw_bars", "bars", "bars_quarantine", "bars_coverage", "features", "labels")
# A job runs one partitions definition: the symbol x window stage has its own job.
_WINDOWED_STAGES = dg.AssetSelection.tag(*next(iter(WINDOWED.items())))

full_pipeline = dg.define_asset_job(
    "full_pipeline",
    selection=dg.AssetSelection.all() - _WINDOWED_STAGES,
    description="Every stage from raw bars to orders. Per-symbol stages cover the run's symbol "
    "partition range; launch with the tags from `foxml register --tags` (all symbols). With "
    "data.windows, raw bars are assembled from the windows window_ingest fetched.",
)

window_ingest = dg.define_asset_job(
    "window_ingest",
    selection=_WINDOWED_STAGES,
    description="Fetch raw bars by symbol x time window (data.windows). The window_fetch sensor "
    "launches it as windows close. Launched with range tags, any symbols x windows are one run.",
)

symbol_refresh = dg.define_asset_job(
    "symbol_refresh",
    selection=dg.AssetSelection.assets(*PER_SYMBOL_ASSETS),
    description="Ingest, normalize, features and labels for the run's symbols.",
)


@dg.schedule(
    job=full_pipeline,
    cron_schedule="0 22 * * 1-5",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Weekdays after the US close: the whole pipeline over every registered symbol.",
)
def daily_refresh(context: dg.ScheduleEvaluationContext):
    symbols = context.instance.get_dynamic_partitions(symbol_partitions.name)
    if not symbols:
        return dg.SkipReason("no symbol partitions yet: run `foxml register` or turn on landing_files")
    return dg.RunRequest(tags=range_tags(symbols))
