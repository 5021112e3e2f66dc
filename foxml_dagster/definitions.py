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
    ingest,
    labels,
    normalize,
    selection,
    signals,
    splits,
)
from assets.training import build_training_assets
from foxml_dagster.config import load_experiment
from jobs.pipeline import daily_refresh, full_pipeline, symbol_refresh
from resources.home import Experiment, FoxmlHome
from resources.lake import LakeIOManager, asset_name
from resources.ray import RayResource
from resources.sources import MarketData
from sensors.landing import landing_files
from sensors.universe import universe_changes

STAGES = [
    ingest,
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
    # Training assets are built per configured model family (assets/training.py says why).
    all_assets = [*dg.load_assets_from_modules(STAGES), *build_training_assets(config.training)]
    groups = {asset_name(k): group for assets_def in all_assets for k, group in assets_def.group_names_by_key.items()}
    home = FoxmlHome()
    experiment = Experiment()
    return dg.Definitions(
        assets=all_assets,
        jobs=[full_pipeline, symbol_refresh],
        schedules=[daily_refresh],
        sensors=[landing_files, universe_changes],
        resources={
            "io_manager": LakeIOManager(home=home, groups=groups),
            "home": home,
            "experiment": experiment,
            "ray": RayResource(),
            "market_data": MarketData(experiment=experiment, home=home),
        },
    )


defs = build_definitions()
