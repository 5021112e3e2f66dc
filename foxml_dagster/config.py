"""Typed experiment configuration, loaded from YAML and validated once at the edge.

Each stage's settings live in the module that uses them when that module is the natural owner
(risk limits in signals, costs in backtest); this file composes them into one experiment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from foxml_dagster.backtest import BacktestConfig
from foxml_dagster.data.alpaca import AlpacaConfig
from foxml_dagster.data.ibkr import IbkrConfig
from foxml_dagster.data.normalize import PlausibilityConfig, check_timestamp_format
from foxml_dagster.data.raw import ColumnMap, symbol_problem
from foxml_dagster.data.sessions import SessionsConfig, interval_minutes
from foxml_dagster.ensemble import EnsembleConfig, ensemble_families
from foxml_dagster.execution import ExecutionConfig
from foxml_dagster.features.registry import FeaturesConfig
from foxml_dagster.labels import LabelsConfig
from foxml_dagster.paths import REPO_ROOT
from foxml_dagster.promotion import ProductionConfig
from foxml_dagster.selection import SelectionConfig
from foxml_dagster.settings import Settings
from foxml_dagster.signals import SignalConfig
from foxml_dagster.splits import SplitsConfig
from foxml_dagster.strategies import EvaluationConfig
from foxml_dagster.training import TrainingConfig

DEFAULT_CONFIG = REPO_ROOT / "configs" / "experiment.yaml"


class ConfigError(ValueError):
    """A configuration file that cannot be used, with the file and field named."""


class SyntheticConfig(Settings):
    """The synthetic source's universe (foxml_dagster/data/synthetic.py): symbols SYN000.., one
    calendar of `n_bars` bar slots at `interval` from `start`; the same seed gives the same bars."""

    n_symbols: int = Field(default=10, ge=1, description="symbols generated: SYN000, SYN001, ...")
    n_bars: int = Field(default=2000, ge=2, description="bar slots in the calendar every symbol is generated on")
    interval: str = Field(default="1d", description="bar length: <n>min (1..390), <n>h, or 1d")
    seed: int = Field(default=0, description="random seed of the generator; the same seed gives the same bars")
    start: date = Field(
        default=date(2020, 1, 2), description="date of the first bar slot (rolled forward to a trading day)"
    )

    @model_validator(mode="after")
    def _interval_is_known(self) -> SyntheticConfig:
        # Imported here: the generator imports the bar schema, whose module imports this one.
        from foxml_dagster.data.synthetic import parse_interval

        parse_interval(self.interval)
        return self


WINDOWED_SOURCES = ("alpaca", "ibkr", "synthetic")


class DataConfig(Settings):
    source: Literal["sample", "files", "synthetic", "alpaca", "ibkr"] = Field(
        default="sample",
        description="where bars come from: the bundled sample, files in landing_dir, synthetic bars, Alpaca or "
        "Interactive Brokers (docs/data.md)",
    )
    symbols: list[str] = Field(
        default_factory=list,
        description="the universe; empty: every symbol of the sample or synthetic source (alpaca and ibkr need "
        "symbols; files take theirs from the landing files)",
    )
    landing_dir: str = Field(
        default="landing",
        description="files source: folder of the landing files, relative to FOXML_HOME unless absolute",
    )
    delimiter: str | None = Field(
        default=None, description="field separator of landing text files; null: sniffed from each header (, tab ; |)"
    )
    timezone: str | None = Field(
        default=None, description="IANA zone of naive timestamps; null: naive timestamps stop normalization"
    )
    timestamp_format: str | None = Field(
        default=None, description="strftime format of the timestamps; null: ISO dates and times (docs/data.md)"
    )
    adjust_prices: bool = Field(
        default=True,
        description="back-adjust prices by the adjusted close, or else the split and dividend columns, where a "
        "symbol has them; false: prices as traded",
    )
    start: date | None = Field(
        default=None,
        description="first date (UTC) of the bars read, inclusive; null: from the first (alpaca, ibkr need one)",
    )
    end: date | None = Field(
        default=None, description="last date (UTC) of the bars read, inclusive; null: to the latest"
    )
    windows: Literal["daily", "monthly"] | None = Field(
        default=None,
        description="fetch by time window (symbol x day or month partitions) so a refresh fetches only new "
        "windows; null: each symbol's whole start..end at once",
    )
    columns: ColumnMap = ColumnMap()
    sessions: SessionsConfig = SessionsConfig()
    plausibility: PlausibilityConfig = PlausibilityConfig()
    volume_spike_factor: float = Field(
        default=50.0, gt=1, description="warn when a bar's volume exceeds this multiple of its trailing median"
    )
    memory_budget_mb: int = Field(
        default=2048, ge=64, description="MB that ingest and normalize work within, in symbol batches that fit it"
    )
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    alpaca: AlpacaConfig = Field(default_factory=AlpacaConfig)
    ibkr: IbkrConfig = Field(default_factory=IbkrConfig)

    @field_validator("timezone")
    @classmethod
    def _zone_is_known(cls, zone: str | None) -> str | None:
        if zone is None:
            return None
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{zone!r} is not an IANA time zone; use a name such as America/New_York, Europe/London or UTC"
            ) from None
        return zone

    @field_validator("timestamp_format")
    @classmethod
    def _format_reads_back(cls, fmt: str | None) -> str | None:
        if fmt is not None:
            check_timestamp_format(fmt)
        return fmt

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, delimiter: str | None) -> str | None:
        if delimiter is not None and (len(delimiter) != 1 or delimiter in '\r\n"'):
            raise ValueError(f"{delimiter!r} is not one field-separating character; use ',', ';', '|' or \"\\t\"")
        return delimiter

    @field_validator("symbols")
    @classmethod
    def _symbols_can_be_partitions(cls, symbols: list[str]) -> list[str]:
        stripped = list(dict.fromkeys(symbol.strip() for symbol in symbols))  # "AAPL " is AAPL, once
        problems = [problem for problem in map(symbol_problem, stripped) if problem]
        if problems:
            raise ValueError("; ".join(problems))
        return stripped

    @model_validator(mode="after")
    def _synthetic_interval_is_the_grid(self) -> DataConfig:
        grid = self.sessions.interval
        if self.source != "synthetic" or grid is None:
            return self
        from foxml_dagster.data.synthetic import parse_interval

        if interval_minutes(grid) != parse_interval(self.synthetic.interval):
            raise ValueError(
                f"synthetic.interval {self.synthetic.interval} and sessions.interval {grid} differ, so the grid "
                "would merge or split the generated bars; set both to the same interval"
            )
        return self

    @model_validator(mode="after")
    def _window_is_ordered(self) -> DataConfig:
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self

    @model_validator(mode="after")
    def _windows_need_a_dated_source(self) -> DataConfig:
        if self.windows is None:
            return self
        if self.source not in WINDOWED_SOURCES:
            raise ValueError(
                f"windows: {self.windows} needs a source that fetches by date ({', '.join(WINDOWED_SOURCES)}); "
                f"source {self.source!r} is read whole, so remove `windows`"
            )
        if self.source != "synthetic" and self.start is None:
            raise ValueError(f"windows: {self.windows} needs data.start, the first window to fetch (e.g. 2024-01-02)")
        return self


class ExperimentConfig(Settings):
    # Factories, not instances: a default built at import would resolve the model families (and
    # their FOXML_MODEL__ overrides) before a command could report a bad one as a config error.
    data: DataConfig = Field(default_factory=DataConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    splits: SplitsConfig = Field(default_factory=SplitsConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    signals: SignalConfig = Field(default_factory=SignalConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    ensemble: EnsembleConfig = Field(default_factory=EnsembleConfig)
    production: ProductionConfig = Field(default_factory=ProductionConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)

    @model_validator(mode="after")
    def _traded_source_exists(self) -> ExperimentConfig:
        sources = [*self.training.families, *ensemble_families(self.ensemble)]
        if self.signals.source not in sources:
            raise ValueError(
                f"signals.source {self.signals.source!r} is not a family of training.families nor an ensemble "
                f"of ensemble.methods; use one of {', '.join(sources)}"
            )
        return self


def config_path() -> Path:
    """The experiment file in force: $FOXML_CONFIG, else configs/experiment.yaml."""
    return Path(os.environ.get("FOXML_CONFIG", DEFAULT_CONFIG))


def load_experiment(path: Path | str | None = None, overrides: Mapping[str, object] | None = None) -> ExperimentConfig:
    """Read and validate an experiment file; raise ConfigError naming the file and field.

    `overrides` maps dotted fields (`splits.n_folds`) to values set above the file (run config
    from the launchpad, `foxml run --set`); they are validated with the file, as if written there.
    """
    path = Path(path) if path is not None else config_path()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: experiment file not found; set FOXML_CONFIG or create it") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        node = raw
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = value
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from None


def _describe(path: Path, exc: ValidationError) -> str:
    """One line per error: file, field, what is wrong, and the value given unless it may be a
    secret (a credential pasted into the YAML must not end up in a terminal or a CI log)."""
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        field = ".".join(_shown_key(part) for part in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        got = ""
        if "input" in err and not isinstance(err["input"], dict):
            value = err["input"]
            shown = _shown_value(value, secret=any(_names_a_secret(part) for part in loc))
            if isinstance(value, str) and value and shown != repr(value):
                msg = msg.replace(value, "<hidden>")  # a validator may quote the value in its message
            got = f" (got {shown})"
        lines.append(f"{path}: {field}: {msg}{got}")
    return "\n".join(lines)


def _names_a_secret(part: object) -> bool:
    """A field name that says its value is a credential: api_key, secret_key, token, password..."""
    import re

    return isinstance(part, str) and bool(
        re.search(r"key|secret|token|passw|pwd|credential|auth|private|signature|cookie", part, re.IGNORECASE)
    )


def _looks_opaque(text: str) -> bool:
    """A long token of letters and digits with no spaces: how API keys, tokens and hashes look,
    and how config values (words, paths, dates, URLs) do not."""
    import re

    return (
        len(text) >= 20
        and not re.search(r"\s", text)
        and bool(re.search(r"[A-Za-z]", text))
        and bool(re.search(r"\d", text))
        and bool(re.search(r"[A-Za-z0-9+=]{16,}", text))
    )


def _shown_value(value: object, *, secret: bool) -> str:
    """`value` as an error shows it: hidden under a secret-like name or when it looks opaque."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shown_value(item, secret=secret) for item in value) + "]"
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str) and (secret or _looks_opaque(value)):
        return f"<hidden: {len(value)} characters>"
    if secret:
        return f"<hidden {type(value).__name__}>"
    return repr(value)


def _shown_key(part: object) -> str:
    # A key the schema does not know may be a pasted secret itself.
    return "<hidden key>" if isinstance(part, str) and _looks_opaque(part) else str(part)
