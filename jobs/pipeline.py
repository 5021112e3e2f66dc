"""Jobs, the schedule, freshness checks and declarative automation over the asset graph."""

from datetime import timedelta

import dagster as dg

from assets.partitions import range_tags, symbol_partitions
from assets.windows import WINDOWED
from resources.home import ExperimentOverrides

PER_SYMBOL_ASSETS = ("raw_bars", "bars", "bars_quarantine", "bars_coverage", "features", "labels")
# A job runs one partitions definition: the symbol x window stage has its own job.
_WINDOWED_STAGES = dg.AssetSelection.tag(*next(iter(WINDOWED.items())))

# A run carrying this tag and no partition covers every registered symbol: the run coordinator
# (jobs/coordinator.py) adds the range when the run is submitted, from the UI or anywhere else.
ALL_SYMBOLS_TAG = "foxml/symbols"

full_pipeline = dg.define_asset_job(
    "full_pipeline",
    selection=dg.AssetSelection.all() - _WINDOWED_STAGES,
    description="Every stage from raw bars to orders. Per-symbol stages cover the run's symbol "
    "partition range; launch with the tags from `foxml register --tags` (all symbols), or launch "
    "`all_symbols`. With data.windows, raw bars are assembled from the windows window_ingest fetched.",
)

all_symbols = dg.define_asset_job(
    "all_symbols",
    selection=dg.AssetSelection.all() - _WINDOWED_STAGES,
    tags={ALL_SYMBOLS_TAG: "all"},
    # The launchpad opens on the experiment settings a run may change, each null (the file's value).
    config={"resources": {"experiment": {"config": {"overrides": ExperimentOverrides().model_dump()}}}},
    description="The whole pipeline over every registered symbol, in one run: open the "
    "launchpad, change any experiment override, and press Launch Run; no partition to pick. "
    "The same steps as full_pipeline.",
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

# The production path's daily rhythm: today's bar through the promoted models to orders, without
# retraining. Labels are left out: the newest bars have no outcome yet, and live inference reads
# features only (docs/production.md).
LIVE_ASSETS = ("cross_sectional_features", "live_predictions", "signals", "orders", "fills", "positions", "risk_events")
LIVE_INGEST = ("raw_bars", "bars", "bars_quarantine", "bars_coverage", "features")
# The live chain is one path of steps run one after another, so steps in separate processes buy
# nothing and each would pay the code location's import: one process keeps its latency low.
IN_ONE_PROCESS = {"execution": {"config": {"in_process": {}}}}

live_inference = dg.define_asset_job(
    "live_inference",
    selection=dg.AssetSelection.assets(*LIVE_ASSETS),
    config=IN_ONE_PROCESS,
    description="Live inference after new bars landed: cross-sectional features, the promoted production "
    "models' live predictions, the signals for the newest bar and the execution cycle (orders). Launched by "
    "the live_after_bars sensor once the symbols' features are refreshed.",
)

live_refresh = dg.define_asset_job(
    "live_refresh",
    selection=dg.AssetSelection.assets(*LIVE_INGEST, *LIVE_ASSETS),
    config=IN_ONE_PROCESS,
    description="The whole daily production path for the run's symbols: ingest, normalize, features, live "
    "inference, signals for the newest bar and orders; no retraining. Launched by the live_daily schedule.",
)

# Retraining refits everything (research and production) and re-decides promotion; it stops at the
# signals, so a weekend retrain never sends orders (the next live run trades on what it promoted).
retrain = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.all() - _WINDOWED_STAGES - dg.AssetSelection.groups("execution"),
    description="Retrain and re-promote: every stage from raw bars to production_models, live predictions and "
    "signals (folds, out-of-fold training, ensembles, the strategy grid, model_ranking, refits and gates), "
    "without the execution cycle. Launched weekly by the weekly_retrain schedule.",
)


def _over_every_symbol(context: dg.ScheduleEvaluationContext):
    symbols = context.instance.get_dynamic_partitions(symbol_partitions.name)
    if not symbols:
        return dg.SkipReason("no symbol partitions yet: run `foxml register` or turn on landing_files")
    return dg.RunRequest(tags=range_tags(symbols))


@dg.schedule(
    job=live_refresh,
    cron_schedule="30 21 * * 1-5",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Weekdays at 21:30 UTC, after the US close: today's bars through the promoted models to "
    "signals and orders for every registered symbol (live_refresh). For sources that land files or fetch "
    "windows, the live_after_bars sensor does the same as soon as the features are refreshed.",
)
def live_daily(context: dg.ScheduleEvaluationContext):
    return _over_every_symbol(context)


@dg.schedule(
    job=retrain,
    cron_schedule="0 6 * * 6",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Saturdays at 06:00 UTC: retrain every family, refit the production models and re-decide "
    "their promotion on the week's data (retrain); orders follow on the next live run.",
)
def weekly_retrain(context: dg.ScheduleEvaluationContext):
    return _over_every_symbol(context)


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


# The stages users refresh daily: by 23:30 UTC on weekdays (90 minutes after daily_refresh
# starts) each must have been materialized within the last 24 hours, else the UI shows it failing its
# freshness policy (evaluated by the daemon; `foxml status` evaluates the same rule).
FRESHNESS_DEADLINE = "30 23 * * 1-5"
FRESHNESS_WINDOW = timedelta(hours=24)
FRESH_DAILY = ("bars", "features", "labels", "signals", "tearsheet")
FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron=FRESHNESS_DEADLINE, lower_bound_delta=FRESHNESS_WINDOW)

# Per-symbol stages follow their inputs: when a symbol's raw bars change (a landing file, a
# window fetch), its bars, features and labels are brought up to date by the automation sensor.
# The whole-panel stages are left to full_pipeline / daily_refresh: one new symbol should not
# retrain every model.
AUTOMATED = ("bars", "bars_quarantine", "bars_coverage", "features", "labels")
AUTOMATION = dg.AutomationCondition.eager()

automation_sensor = dg.AutomationConditionSensorDefinition(
    "per_symbol_automation",
    target=dg.AssetSelection.assets(*AUTOMATED),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Evaluates the per-symbol stages' automation conditions (eager: refresh a "
    "symbol's bars, features and labels after its raw bars change). Off until turned on.",
)
