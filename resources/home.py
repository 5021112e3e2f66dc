"""Where everything lives (FOXML_HOME) and which experiment is in force, as Dagster resources."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from foxml_dagster.config import ExperimentConfig, config_path, load_experiment
from foxml_dagster.paths import HomeLayout, foxml_home


class FoxmlHome(dg.ConfigurableResource):
    """The FOXML_HOME folder: lake, catalog, models, reports."""

    root: str = Field(default_factory=lambda: str(foxml_home().root))

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(Path(self.root).resolve())


class Experiment(dg.ConfigurableResource):
    """The experiment YAML, validated once per process."""

    path: str = Field(default_factory=lambda: str(config_path()))
    _config: ExperimentConfig | None = PrivateAttr(default=None)

    @property
    def config(self) -> ExperimentConfig:
        if self._config is None:
            self._config = load_experiment(self.path)
        return self._config
