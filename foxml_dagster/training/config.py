"""The `training` section of the experiment, and how a family's parameters are resolved.

A family's parameters come from, lowest precedence first:

1. the family's defaults (its `Params` schema in foxml_dagster/models);
2. the chosen variant in `configs/models/<family>.yaml` (conservative | balanced | aggressive;
   the file's `default_variant` when the experiment names none);
3. the family's block under `training.families` in the experiment file;
4. environment variables `FOXML_MODEL__<FAMILY>__<PARAM>=value` (e.g.
   `FOXML_MODEL__LIGHTGBM__LEARNING_RATE=0.1`; `..__VARIANT=aggressive` picks a variant);
5. the command line, `foxml run --set training.families.lightgbm.n_estimators=50`, which sets
   the same environment variables for the run.

Two keys of a family block are not model parameters: `variant`, and `resources` (`num_cpus`,
`num_gpus`, `memory_mb`: what one (family, fold) task asks Ray for). A neural family with
`devices > 1` trains on that many Ray Train workers that ask for their own CPUs or GPUs, so its
task asks for no CPU or GPU unless the experiment's block says otherwise.

The resolved parameters are checked against the family's own schema (type, range, rules across
parameters) when the experiment loads; an error names the parameter and the layer that set it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from foxml_dagster.paths import REPO_ROOT
from foxml_dagster.settings import Settings

__all__ = ["FamilyConfigError", "FamilySpec", "TrainingConfig", "load_variants", "models_dir", "resolve_family"]

ENV_PREFIX = "FOXML_MODEL__"
_RESERVED = ("variant", "resources")


@dataclass(frozen=True)
class FamilySpec:
    """Everything needed to build and schedule one family: resolved params and resources."""

    name: str
    params: dict[str, Any]
    variant: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_mb: float | None = None
    sources: dict[str, str] = field(default_factory=dict)  # param -> where its value came from

    def config_hash(self, seed: int, extra: Mapping[str, Any] | None = None) -> str:
        """sha256 over the family, variant, params, seed and `extra` (e.g. the feature list)."""
        blob = json.dumps(
            {"family": self.name, "variant": self.variant, "params": self.params, "seed": seed, **(extra or {})},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


class FamilyConfigError(ValueError):
    """A family block that cannot be resolved. `problems` holds (where, why, value) triples;
    `where` is a path below `training.families` (family, then parameter or key)."""

    def __init__(self, problems: list[tuple[tuple[str, ...], str, Any]]):
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(where)}: {why}" for where, why, _ in problems))


def models_dir() -> Path:
    """Folder of the per-family variant YAMLs: $FOXML_MODELS_DIR, else configs/models."""
    return Path(os.environ.get("FOXML_MODELS_DIR", REPO_ROOT / "configs" / "models"))


def load_variants(family: str, folder: Path | None = None) -> dict[str, Any]:
    """The parsed configs/models/<family>.yaml, or {} when the family has none."""
    path = (folder or models_dir()) / f"{family}.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not isinstance(data.get("variants", {}), dict):
        raise ValueError(f"{path}: expected a mapping with a 'variants' mapping")
    return data


def _env_overrides(family: str, environ: Mapping[str, str], accepted: Iterable[str]) -> dict[str, Any]:
    prefix = f"{ENV_PREFIX}{family.upper()}__"
    # Variable names are upper case; parameter names are matched without case (logistic's `C`).
    spelled = {name.lower(): name for name in (*accepted, *_RESERVED)}
    out = {}
    for key, raw in environ.items():
        if key.startswith(prefix):
            param = key[len(prefix) :].lower()
            # YAML parsing gives numbers, booleans and null their natural types ("0.1" -> 0.1).
            out[spelled.get(param, param)] = yaml.safe_load(raw)
    return out


def resolve_family(
    name: str,
    block: Mapping[str, Any] | None,
    *,
    environ: Mapping[str, str] | None = None,
    folder: Path | None = None,
    default_memory_mb: float | None = None,
) -> FamilySpec:
    """Resolve one family's params through the layers described in the module docstring."""
    from foxml_dagster.models import InvalidParams, get_family, registered_families

    try:
        cls = get_family(name)
    except KeyError:
        known = ", ".join(registered_families())
        raise FamilyConfigError(
            [((name,), f"unknown model family {name!r}; registered families: {known}", name)]
        ) from None
    environ = os.environ if environ is None else environ
    block = dict(block or {})
    env = _env_overrides(name, environ, cls.default_params)
    file = load_variants(name, folder)
    variant = env.pop("variant", None) or block.pop("variant", None) or file.get("default_variant")
    block_resources = block.pop("resources", None) or {}
    variants = file.get("variants", {})
    variants_file = (folder or models_dir()) / f"{name}.yaml"
    if variant is not None and variant not in variants:
        raise FamilyConfigError(
            [((name, "variant"), f"variant {variant!r} not in {variants_file} (has {sorted(variants)})", variant)]
        )
    params: dict[str, Any] = {}
    sources: dict[str, str] = {}
    layers = [(f"variant:{variant}", variants.get(variant, {}) if variant else {}), ("experiment", block), ("env", env)]
    for source, layer in layers:
        for key, value in (layer or {}).items():
            params[key] = value
            sources[key] = source

    def set_by(param: str | None) -> str:
        """Where a value came from, when it is not the experiment's own family block."""
        source = sources.get(param or "", "")
        if source.startswith("variant:"):
            return f" (set by {variants_file}, variant {source.split(':', 1)[1]!r})"
        if source == "env":
            return f" (set by ${ENV_PREFIX}{name.upper()}__{(param or '').upper()} or foxml run --set)"
        return ""

    unknown = sorted(set(params) - set(cls.default_params))
    if unknown:
        accepted = ", ".join(sorted(cls.default_params))
        raise FamilyConfigError(
            [((name, key), f"unknown parameter{set_by(key)}; accepted: {accepted}", params[key]) for key in unknown]
        )
    try:
        params = cls.validate_params(params)
    except InvalidParams as exc:
        raise FamilyConfigError(
            [((name, p.param) if p.param else (name,), f"{p.message}{set_by(p.param)}", p.value) for p in exc.problems]
        ) from None
    resources = task_resources(name, params, file.get("resources", {}), block_resources, default_memory_mb)
    return FamilySpec(name=name, params=params, variant=variant, sources=sources, **resources)


def task_resources(
    name: str,
    params: Mapping[str, Any],
    file_resources: Mapping[str, Any],
    block_resources: Mapping[str, Any],
    default_memory_mb: float | None,
) -> dict[str, Any]:
    """What one (family, fold) task asks Ray for: the family file's resources, then the block's."""
    if int(params.get("devices", 1)) > 1:
        # The task only waits on its Ray Train workers, which ask for the CPUs or GPUs themselves;
        # a CPU or GPU held by the task could be the one they wait for.
        file_resources = {**file_resources, "num_cpus": 0, "num_gpus": 0}
    resources = {**file_resources, **block_resources}
    bad = sorted(set(resources) - {"num_cpus", "num_gpus", "memory_mb"})
    if bad:
        raise ValueError(f"family {name!r}: unknown resources key(s) {bad}; use num_cpus, num_gpus, memory_mb")
    return {
        "num_cpus": float(resources.get("num_cpus", 1)),
        "num_gpus": float(resources.get("num_gpus", 0)),
        "memory_mb": float(resources["memory_mb"]) if resources.get("memory_mb") else default_memory_mb,
    }


class TrainingConfig(Settings):
    """The seed, the validation slice, the per-task memory budget and the chosen families.

    `families` maps a registered family name to its block: an optional `variant`, optional
    `resources`, and parameter overrides (see foxml_dagster.models for the names).
    """

    seed: int = Field(
        default=7, description="random seed of every model fit and of the seeded draws in selection and evaluation"
    )
    val_fraction: float = Field(
        default=0.2,
        ge=0.0,
        lt=0.9,
        description="share of each training fold's timeline, at its end, held out for early stopping; 0: none",
    )
    memory_mb: float = Field(
        default=2048.0, gt=0, description="memory budget of one (family, fold) task in MB, unless its resources set one"
    )
    families: dict[str, dict] = Field(
        default_factory=lambda: {"lightgbm": {}, "logistic": {}},
        description="the model families trained: family name -> its block (variant, resources, parameter overrides)",
    )

    @model_validator(mode="after")
    def _families_resolve(self) -> TrainingConfig:
        """Unknown families, variants, parameters and out-of-range values fail at load, each
        located at `families.<family>.<param>` so the error names the field."""
        import re

        problems: list[tuple[tuple[str, ...], str, Any]] = []
        for name, block in self.families.items():
            # Family names become asset key parts and DuckDB view names.
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                problems.append(((name,), f"family name {name!r} must be lower-case letters, digits and _", name))
                continue
            try:
                resolve_family(name, block, default_memory_mb=self.memory_mb)
            except FamilyConfigError as exc:
                problems += exc.problems
            except ValueError as exc:  # resources, or a variants file that is not a mapping
                problems.append(((name,), str(exc), block))
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("family_config", "{reason}", {"reason": why}),
                        loc=("families", *where),
                        input=value,
                    )
                    for where, why, value in problems
                ],
            )
        return self

    def resolved_families(self, environ: Mapping[str, str] | None = None) -> dict[str, FamilySpec]:
        """Every chosen family with its params resolved (variant, experiment, env overrides)."""
        return {
            name: resolve_family(name, block, environ=environ, default_memory_mb=self.memory_mb)
            for name, block in self.families.items()
        }
