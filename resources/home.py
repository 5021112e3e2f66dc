"""Where everything lives (FOXML_HOME) and which experiment is in force, as Dagster resources."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import get_args

import dagster as dg
import polars as pl
from pydantic import BaseModel, Field, PrivateAttr, create_model
from pydantic.fields import FieldInfo

from foxml_dagster.config import ExperimentConfig, config_path, load_experiment
from foxml_dagster.paths import HomeLayout, foxml_home
from foxml_dagster.storage import is_remote, lake_path, partition_file, read_parquet_file


class FoxmlHome(dg.ConfigurableResource):
    """The FOXML_HOME folder: lake, catalog, models, reports; the lake on object storage when
    `lake_uri` (FOXML_LAKE_URI, e.g. s3://bucket/lake) is set."""

    root: str = Field(default_factory=lambda: str(foxml_home().root))
    lake_uri: str | None = Field(
        default_factory=lambda: os.environ.get("FOXML_LAKE_URI") or None,
        description="Where every asset's Parquet goes instead of FOXML_HOME/lake, e.g. s3://bucket/lake; "
        "credentials from the environment (AWS_*).",
    )

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(Path(self.root).resolve(), self.lake_uri)

    def stored(self, group: str, asset: str) -> pl.DataFrame | None:
        """What the last run stored for an unpartitioned asset, or None before its first run.

        For an asset that carries history forward (`trials`): it reads its own last output.
        """
        path = partition_file(self.layout.lake / group / asset, None)
        return read_parquet_file(path) if path.exists() else None

    def price_series(self, path: str) -> pl.DataFrame:
        """symbol, ts, close of a benchmark file (CSV or Parquet with columns ts and close;
        `path` relative to FOXML_HOME unless absolute or a URI such as s3://bucket/spy.parquet).
        Naive timestamps are read as UTC."""
        if "://" in path:
            where = lake_path(path)
        else:
            where = Path(path) if Path(path).is_absolute() else self.layout.root / path
        if not where.exists():
            raise FileNotFoundError(
                f"backtest.benchmark.path: {where} does not exist; point it at a CSV or Parquet file"
            )
        if where.suffix.lower() == ".parquet":
            frame = read_parquet_file(where)
        else:
            source = io.BytesIO(where.read_bytes()) if is_remote(where) else where
            frame = pl.read_csv(source, try_parse_dates=True)
        missing = [c for c in ("ts", "close") if c not in frame.columns]
        if missing:
            raise ValueError(f"{where}: benchmark file needs columns ts and close; missing {missing}")
        ts = pl.col("ts")
        if frame.schema["ts"] == pl.String:
            ts = ts.str.to_datetime()
        frame = frame.select(ts.alias("ts"), pl.col("close").cast(pl.Float64))
        if frame.schema["ts"] == pl.Date:
            frame = frame.with_columns(pl.col("ts").cast(pl.Datetime("us")))
        tz = getattr(frame.schema["ts"], "time_zone", None)
        stamps = pl.col("ts").dt.replace_time_zone("UTC") if tz is None else pl.col("ts").dt.convert_time_zone("UTC")
        return frame.select(pl.lit(where.stem).alias("symbol"), stamps.dt.cast_time_unit("us").alias("ts"), "close")


# Experiment settings a run may change from the launchpad (run config) or `foxml run --set`.
# None of them changes the asset graph: model families and data.windows do, so they stay in the
# file (the code location reloads to pick them up).
OVERRIDABLE = (
    "data.start",
    "data.end",
    "features.set",
    "labels.triple_barrier.horizon",
    "splits.method",
    "splits.n_folds",
    "splits.embargo_pct",
    "selection.target",
    "training.seed",
    "signals.gain",
    "signals.policy",
    "signals.source",
    "backtest.cost_bps",
)


def _field(dotted: str) -> FieldInfo:
    model: type[BaseModel] = ExperimentConfig
    *parents, leaf = dotted.split(".")
    for part in parents:
        model = model.model_fields[part].annotation
    return model.model_fields[leaf]


def _config_type(annotation) -> type:
    """The Dagster config type of a pydantic field: its scalar type, text for dates and choices
    (the experiment's own validation checks the value)."""
    scalars = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    scalar = scalars[0]
    return scalar if scalar in (int, float, bool) else str


def _overrides_class() -> type[dg.Config]:
    """One nested Config per section, every field optional: null keeps the file's value."""
    sections: dict[str, dict[str, tuple]] = {}
    for dotted in OVERRIDABLE:
        section, _, rest = dotted.partition(".")
        info = _field(dotted)
        about = (info.description or "").strip()
        sections.setdefault(section, {})[rest.replace(".", "__")] = (
            _config_type(info.annotation) | None,
            Field(default=None, description=f"{dotted}{': ' + about if about else ''}; null: as in the file."),
        )
    fields = {}
    for name, members in sections.items():
        section = create_model(f"{name.title()}Overrides", __base__=dg.Config, **members)
        fields[name] = (section, Field(default_factory=section))
    return create_model("ExperimentOverrides", __base__=dg.Config, **fields)


ExperimentOverrides = _overrides_class()


def set_overrides(overrides: dg.Config) -> dict[str, object]:
    """The dotted fields an ExperimentOverrides sets (not null)."""
    found = {}
    for section, values in overrides.model_dump().items():
        for name, value in (values or {}).items():
            if value is not None:
                found[f"{section}.{name.replace('__', '.')}"] = value
    return found


class Experiment(dg.ConfigurableResource):
    """The experiment YAML, validated once per process, with the run's overrides on top."""

    path: str = Field(default_factory=lambda: str(config_path()), description="The experiment file.")
    overrides: ExperimentOverrides = Field(  # type: ignore[valid-type]
        default_factory=ExperimentOverrides,
        description="Experiment settings for this run only, over the file; null keeps the file's value.",
    )
    _config: ExperimentConfig | None = PrivateAttr(default=None)

    @property
    def config(self) -> ExperimentConfig:
        if self._config is None:
            self._config = load_experiment(self.path, set_overrides(self.overrides))
        return self._config
