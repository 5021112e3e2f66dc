"""The feature registry: each feature declares its name, parameters, inputs, warm-up and meaning.

A feature's `compute` receives a `Panel` (float64 columns of bars sorted by symbol then ts, plus
the symbol group offsets) and returns one float64 array of the panel's length. It must be causal:
the value at row i may read rows of its own symbol up to and including i, never later ones.
Warm-up values are NaN (stored as null), never back-filled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from foxml_dagster.features.panel import Panel
from foxml_dagster.settings import Settings


class FeaturesConfig(Settings):
    set: str = Field(
        default="baseline", description="the registered feature set computed: baseline | minimal | standard"
    )
    cross_sectional: str | None = Field(
        default="cross_sectional",
        description="cross-sectional set joined into the training frame (ranks / z-scores across symbols); null: none",
    )
    memory_budget_mb: float = Field(
        default=2048.0,
        gt=0,
        description="MB of working set for computing features and building the training frame, in symbol "
        "batches that fit it",
    )
    # Every kernel computes in float64; float32 halves the panel's memory and storage, rounding
    # each value to 7 significant digits (its measured effect: benchmarks/results_precision.md).
    dtype: Literal["float64", "float32"] = Field(
        default="float64",
        description="how feature values are stored (features, cross_sectional_features, training_frame)",
    )

    def stored(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` with its float columns in the storage dtype."""
        if self.dtype == "float64":
            return frame
        return frame.with_columns(pl.selectors.float().cast(pl.Float32))

    @field_validator("set")
    @classmethod
    def _set_is_registered(cls, name: str) -> str:
        known = feature_sets()
        if name not in known:
            listed = ", ".join(f"{n} ({len(members)})" for n, members in sorted(known.items()))
            raise ValueError(f"unknown feature set {name!r}; registered sets: {listed}")
        return name

    @field_validator("cross_sectional")
    @classmethod
    def _cross_sectional_set_is_known(cls, name: str | None) -> str | None:
        # Imported here: the cross-sectional module builds on this registry.
        from foxml_dagster.features.cross_section import cross_sectional_set

        if name is not None:
            try:
                cross_sectional_set(name)
            except KeyError as exc:
                raise ValueError(f"{exc.args[0]}, or null for none") from None
        return name


Compute = Callable[[Panel], np.ndarray]


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    compute: Compute
    inputs: tuple[str, ...]
    warmup: int
    description: str
    params: dict[str, int | float] = field(default_factory=dict)
    #: The range the definition confines the value to (RSI: (0, 1)), if any. A bounded feature
    #: can touch both ends of its range on any sample, which the leakage audit must not take
    #: for a whole-sample min-max scaler.
    bounds: tuple[float, float] | None = None


_REGISTRY: dict[str, FeatureSpec] = {}
_SETS: dict[str, list[str]] = {}


def register_feature(spec: FeatureSpec, *, sets: tuple[str, ...] = ()) -> FeatureSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"feature {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    for name in sets:
        _SETS.setdefault(name, []).append(spec.name)
    return spec


def feature_sets() -> dict[str, list[str]]:
    _load_builtin()
    return {name: list(members) for name, members in _SETS.items()}


def feature_set(name: str) -> list[FeatureSpec]:
    """The specs of a named set, in registration order."""
    _load_builtin()
    if name not in _SETS:
        raise KeyError(f"unknown feature set {name!r}; known sets: {sorted(_SETS)}")
    return [_REGISTRY[member] for member in _SETS[name]]


def _load_builtin() -> None:
    from foxml_dagster.features import baseline, library  # noqa: F401  (register on import)
