"""The Dagster code location: every asset, check, job, schedule, sensor and resource.

This is the one module of the library that imports Dagster; it only assembles.
"""

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
    selection,
    signals,
    splits,
)
from assets.ingest import build_ingest_assets
from assets.training import build_training_assets
from foxml_dagster.config import load_experiment
from jobs.executor import step_executor
from jobs.pipeline import daily_refresh, full_pipeline, symbol_refresh, window_ingest
from resources.home import Experiment, FoxmlHome
from resources.lake import LakeIOManager, asset_name
from resources.ray import RayResource
from resources.sources import MarketData
from sensors.landing import landing_files
from sensors.universe import universe_changes
from sensors.windows import window_fetch, windows_landed

STAGES = [
    normalize,
    features,
    labels,
    dataset,
    splits,
    selection,
    evaluation,
    ensemble,
    signals,
    backtest,
    execution,
]


def build_definitions() -> dg.Definitions:
    config = load_experiment()  # fail the code location at load, naming the file and field
    # Ingest follows data.windows, and training assets are built per configured model family
    # (assets/ingest.py and assets/training.py say why).
    all_assets = [
        *build_ingest_assets(config.data),
        *dg.load_assets_from_modules(STAGES),
        *build_training_assets(config.training),
    ]
    windowed = config.data.windows is not None
    groups = {asset_name(k): group for assets_def in all_assets for k, group in assets_def.group_names_by_key.items()}
    home = FoxmlHome()
    experiment = Experiment()
    return dg.Definitions(
        assets=all_assets,
        jobs=[full_pipeline, symbol_refresh, *([window_ingest] if windowed else [])],
        schedules=[daily_refresh],
        executor=step_executor,
        sensors=[landing_files, universe_changes, *([window_fetch, windows_landed] if windowed else [])],
        resources={
            "io_manager": LakeIOManager(home=home, groups=groups),
            "home": home,
            "experiment": experiment,
            "ray": RayResource(),
            "market_data": MarketData(experiment=experiment, home=home),
        },
    )


defs = build_definitions()
