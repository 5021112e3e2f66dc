"""A sensor that runs live inference once new bars have reached the features.

Whatever brought the bars (a landing file and its symbol_refresh, the window sensors, a backfill,
`foxml run`), once a symbol's features are materialized the newest bar can be scored: the sensor
launches `live_inference` (cross-sectional features, live predictions of the promoted production
models, signals for the newest bar, the execution cycle) once for everything that landed since
its last tick, so a batch of symbols refreshed one by one gives one live run, not one per symbol.
"""

import warnings

import dagster as dg

from jobs.pipeline import live_inference

# Dagster steers towards declarative automation, which launches per asset; live inference must be
# one run over the whole panel after a batch of per-symbol refreshes, which a multi-asset sensor does.
warnings.filterwarnings("ignore", category=dg.SupersessionWarning, message=".*MultiAssetSensorDefinition.*")

FEATURES = dg.AssetKey("features")


@dg.multi_asset_sensor(
    monitored_assets=[FEATURES],
    job=live_inference,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="After new bars reach the features (any symbol, any way they landed): one live_inference run "
    "over the panel, so signals and orders follow the newest bar. Off until turned on.",
)
def live_after_bars(context: dg.MultiAssetSensorEvaluationContext):
    records = context.latest_materialization_records_by_partition(FEATURES)
    if not records:
        return dg.SkipReason("no features materialized since the last tick")
    latest = max(record.storage_id for record in records.values())
    context.advance_all_cursors()
    return dg.RunRequest(run_key=f"features@{latest}", tags={"foxml/trigger": f"features of {len(records)} symbol(s)"})
