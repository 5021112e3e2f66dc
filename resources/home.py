"""Where everything lives (FOXML_HOME) and which experiment is in force, as Dagster resources."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field, PrivateAttr

from foxml_dagster.config import ExperimentConfig, config_path, load_experiment
from foxml_dagster.paths import HomeLayout, foxml_home
from foxml_dagster.storage import partition_file


class FoxmlHome(dg.ConfigurableResource):
    """The FOXML_HOME folder: lake, catalog, models, reports."""

    root: str = Field(default_factory=lambda: str(foxml_home().root))

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(Path(self.root).resolve())

    def stored(self, group: str, asset: str) -> pl.DataFrame | None:
        """What the last run stored for an unpartitioned asset, or None before its first run.

        For an asset that carries history forward (`trials`): it reads its own last output.
        """
        path = partition_file(self.layout.lake / group / asset, None)
        return pl.read_parquet(path) if path.exists() else None

    def price_series(self, path: str) -> pl.DataFrame:
        """symbol, ts, close of a benchmark file (CSV or Parquet with columns ts and close;
        `path` relative to FOXML_HOME unless absolute). Naive timestamps are read as UTC."""
        where = Path(path) if Path(path).is_absolute() else self.layout.root / path
        if not where.exists():
            raise FileNotFoundError(
                f"backtest.benchmark.path: {where} does not exist; point it at a CSV or Parquet file"
            )
        frame = (
            pl.read_parquet(where) if where.suffix.lower() == ".parquet" else pl.read_csv(where, try_parse_dates=True)
        )
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


class Experiment(dg.ConfigurableResource):
    """The experiment YAML, validated once per process."""

    path: str = Field(default_factory=lambda: str(config_path()))
    _config: ExperimentConfig | None = PrivateAttr(default=None)

    @property
    def config(self) -> ExperimentConfig:
        if self._config is None:
            self._config = load_experiment(self.path)
        return self._config
