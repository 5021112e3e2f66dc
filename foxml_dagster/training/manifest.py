"""Saving a family's fitted models with a manifest that makes the run reproducible.

Layout under the models folder ($FOXML_HOME/models):

    <family>/<target>/fold<k>.model      one artifact per fitted model (ModelFamily.save)
    <family>/manifest.json               config hash, data hash, code version, seeds, metrics

Re-running with the same code version, config hash and data hash gives bit-identical
predictions (tests/unit/test_training_manifest.py checks this).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foxml_dagster.paths import REPO_ROOT
from foxml_dagster.storage import write_text_atomic
from foxml_dagster.training.oof import TrainingResult

__all__ = ["code_version", "save_family"]

_CODE_VERSION: str | None = None


def code_version() -> str:
    """Package version, plus `git describe --always --dirty` when run from a git checkout."""
    global _CODE_VERSION
    if _CODE_VERSION is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            package = version("foxml-dagster")
        except PackageNotFoundError:
            package = "unknown"
        try:
            described = subprocess.run(
                ["git", "describe", "--always", "--dirty"],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            described = ""
        _CODE_VERSION = f"{package}+{described}" if described else package
    return _CODE_VERSION


def save_family(
    result: TrainingResult,
    family: str,
    folder: Path,
    *,
    seed: int,
    feature_columns: list[str],
    val_fraction: float,
    metrics: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Save `family`'s models of `result` under `folder/<family>/`; return (rows, manifest).

    `rows` has one entry per model (model_id, family, target, fold, path, sizes, timing, params)
    for the trained_models asset; `metrics` maps model_id -> out-of-fold metrics to record.
    """
    spec = result.specs[family]
    config_hash = spec.config_hash(seed, {"features": feature_columns, "val_fraction": val_fraction})
    rows: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for fitted in result.models:
        if fitted.family != family:
            continue
        path = folder / family / fitted.target / f"fold{fitted.fold}.model"
        fitted.model.save(path)
        describe = fitted.model.describe()
        rows.append(
            {
                "model_id": fitted.model_id,
                "family": family,
                "variant": spec.variant,
                "target": fitted.target,
                "fold": fitted.fold,
                "path": str(path),
                "n_train": fitted.n_train,
                "n_fit": fitted.n_fit,
                "n_val": fitted.n_val,
                "n_test": fitted.n_test,
                "fit_seconds": fitted.fit_seconds,
                "params": json.dumps(describe, sort_keys=True, default=str),
                "features": json.dumps(feature_columns),
                "config_hash": config_hash,
                "data_hash": result.data_hashes.get(fitted.target, ""),
            }
        )
        entries.append(
            {
                "model_id": fitted.model_id,
                "target": fitted.target,
                "fold": fitted.fold,
                "path": str(path.relative_to(folder)),
                "data_hash": result.data_hashes.get(fitted.target),
                "n_train": fitted.n_train,
                "n_fit": fitted.n_fit,
                "n_val": fitted.n_val,
                "n_test": fitted.n_test,
                "fit_info": fitted.info,
                "metrics": (metrics or {}).get(fitted.model_id, {}),
            }
        )
    manifest = {
        "family": family,
        "variant": spec.variant,
        "params": spec.params,
        "param_sources": spec.sources,
        "resources": {"num_cpus": spec.num_cpus, "num_gpus": spec.num_gpus, "memory_mb": spec.memory_mb},
        "seed": seed,
        "val_fraction": val_fraction,
        "features": feature_columns,
        "config_hash": config_hash,
        "data_hashes": {t: h for t, h in sorted(result.data_hashes.items())},
        "code_version": code_version(),
        "written_at": datetime.now(UTC).isoformat(),
        "models": entries,
    }
    write_text_atomic(json.dumps(manifest, indent=2, sort_keys=True, default=str), folder / family / "manifest.json")
    return rows, manifest
