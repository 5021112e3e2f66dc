"""The Dagster code location: every asset, check, job, schedule, sensor and resource.

This is the one module of the library that imports Dagster; it only assembles. What every asset
carries the same way is applied here, over all of them, rather than in each stage module: owners
by group, the `duckdb` kind (each asset is a catalog view), declarative automation on the
per-symbol stages, and code references to the line that defines it.
"""

import warnings

import dagster as dg

from assets import (
    backtest,
    dataset,
    ensemble,
    evaluation,
    execution,
    features,
    labels,
    normalize,
    production,
    selection,
    signals,
    splits,
)
from assets.ingest import build_ingest_assets
from assets.training import build_training_assets
from foxml_dagster.config import load_experiment
from jobs.executor import step_executor
from jobs.pipeline import (
    AUTOMATED,
    AUTOMATION,
    FRESH_DAILY,
    FRESHNESS,
    all_symbols,
    automation_sensor,
    daily_refresh,
    full_pipeline,
    live_daily,
    live_inference,
    live_refresh,
    retrain,
    symbol_refresh,
    weekly_retrain,
    window_ingest,
)
from jobs.trading import kill_switch, resume_trading, trading
from resources.home import Experiment, FoxmlHome
from resources.lake import LakeIOManager, asset_name
from resources.ray import RayResource
from resources.sources import MarketData
from sensors.landing import landing_files
from sensors.live import live_after_bars
from sensors.universe import universe_changes
from sensors.windows import window_fetch, windows_landed

# Code references (the file and line of each asset, shown in the UI) are labelled beta in 1.13.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*(source_code_references|CodeReference).*")

STAGES = [
    normalize,
    features,
    labels,
    dataset,
    splits,
    selection,
    evaluation,
    ensemble,
    production,
    signals,
    backtest,
    execution,
]


# Who answers for each group's assets (Dagster owners: a team or an e-mail address).
OWNERS = {"ingest": "team:data", "normalize": "team:data", "execution": "team:trading"}
DEFAULT_OWNER = "team:research"
# Stages that fan out through Ray (resources/ray.py): training per family, and with a cluster
# the features, the leakage look-ahead and permutation importance.
RAY_STAGES = ("features", "leakage_report", "selected_features")


def _runs_on_ray(spec: dg.AssetSpec) -> bool:
    name = spec.key.to_user_string()
    return name in RAY_STAGES or (spec.group_name == "training" and len(spec.key.path) > 1)


def _conventions(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Owners by group; `duckdb` beside the asset's own kinds (every asset is a catalog view);
    eager automation on the per-symbol stages; a freshness policy on the daily stages."""
    name = spec.key.to_user_string()
    return spec.replace_attributes(
        owners=spec.owners or [OWNERS.get(spec.group_name or "", DEFAULT_OWNER)],
        kinds=set(spec.kinds) | {"duckdb"} | ({"ray"} if _runs_on_ray(spec) else set()),
        automation_condition=AUTOMATION if name in AUTOMATED else spec.automation_condition,
        freshness_policy=FRESHNESS if name in FRESH_DAILY else spec.freshness_policy,
    )


def build_definitions() -> dg.Definitions:
    config = load_experiment()  # fail the code location at load, naming the file and field
    # Ingest follows data.windows, and training assets are built per configured model family
    # (assets/ingest.py and assets/training.py say why).
    all_assets = [
        *build_ingest_assets(config.data),
        *dg.load_assets_from_modules(STAGES),
        *build_training_assets(config.training),
    ]
    all_assets = dg.with_source_code_references(dg.map_asset_specs(_conventions, all_assets))
    windowed = config.data.windows is not None
    groups = {asset_name(k): group for assets_def in all_assets for k, group in assets_def.group_names_by_key.items()}
    home = FoxmlHome()
    experiment = Experiment()
    return dg.Definitions(
        assets=all_assets,
        asset_checks=dg.load_asset_checks_from_modules([signals]),
        jobs=[
            full_pipeline,
            all_symbols,
            symbol_refresh,
            live_inference,
            live_refresh,
            retrain,
            trading,
            kill_switch,
            resume_trading,
            *([window_ingest] if windowed else []),
        ],
        schedules=[daily_refresh, live_daily, weekly_retrain],
        executor=step_executor,
        sensors=[
            landing_files,
            universe_changes,
            automation_sensor,
            live_after_bars,
            *([window_fetch, windows_landed] if windowed else []),
        ],
        # Where files go (FOXML_HOME, FOXML_LAKE_URI) is the environment's business, not a run's:
        # those resources are bound here, so the launchpad shows only what a run may change (the
        # experiment's overrides, the Ray cluster to use).
        resources={
            "io_manager": dg.IOManagerDefinition.hardcoded_io_manager(LakeIOManager(home=home, groups=groups)),
            "home": dg.ResourceDefinition.hardcoded_resource(home),
            "experiment": experiment,
            "ray": RayResource(),
            "market_data": MarketData(experiment=experiment, home=home),
        },
    )


defs = build_definitions()
