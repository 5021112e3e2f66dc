"""One unit of training work: fit one family on one fold of one target, predict its test rows.

`fit_fold` is a plain module-level function so Ray can ship it to workers by reference; the
in-process runner calls the very same function, which is why both give identical predictions.

Only this module and what the task's own family needs are imported in a worker: the families
import xgboost, torch and Lightning inside their methods, so a worker that only ever fits tabular
families never pays the 8-10 s torch + Lightning import (tests/integration/test_ray_training.py
checks this).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from foxml_dagster.training.data import TargetPanel, carve_validation

__all__ = ["FitOutcome", "FitTask", "fit_fold"]


@dataclass(frozen=True)
class FitTask:
    family: str
    params: dict[str, Any]
    seed: int
    fold: int
    train_rows: np.ndarray
    test_rows: np.ndarray
    val_fraction: float
    memory_mb: float | None = None


@dataclass
class FitOutcome:
    family: str
    target: str
    fold: int
    model_bytes: bytes
    y_score: np.ndarray
    fit_seconds: float
    n_fit: int
    n_val: int
    info: dict[str, Any] = field(default_factory=dict)


def fit_fold(panel: TargetPanel, task: FitTask) -> FitOutcome:
    from foxml_dagster.models import get_family

    model = get_family(task.family)(seed=task.seed, **task.params)
    model.memory_budget_mb = task.memory_mb
    fit_rows, val_rows = task.train_rows, np.zeros(0, dtype=np.int64)
    if model.uses_validation:
        fit_rows, val_rows = carve_validation(panel.ts, panel.t1, task.train_rows, task.val_fraction)
    kind, window = model.input_kind, model.window
    validation = None
    if len(val_rows):
        validation = (panel.inputs(val_rows, window, kind), panel.y[val_rows], panel.w[val_rows])
    started = time.perf_counter()
    model.fit(
        panel.inputs(fit_rows, window, kind), panel.y[fit_rows], sample_weight=panel.w[fit_rows], validation=validation
    )
    fit_seconds = time.perf_counter() - started
    # A production refit (training.production) has no test rows: it is never scored in-sample.
    score = (
        model.predict_score(panel.inputs(task.test_rows, window, kind))
        if len(task.test_rows)
        else np.zeros(0, dtype=np.float64)
    )
    model_bytes = model.to_bytes()
    _release_gpu_cache()
    return FitOutcome(
        family=task.family,
        target=panel.target,
        fold=task.fold,
        model_bytes=model_bytes,
        y_score=score,
        fit_seconds=fit_seconds,
        n_fit=len(fit_rows),
        n_val=len(val_rows),
        info=dict(model.fit_info_),
    )


def _release_gpu_cache() -> None:
    """Give back the GPU memory torch's allocator keeps cached after a fit.

    Ray workers are reused across tasks (runner.RayRunner), so without this a worker would hold
    the cached blocks of its last model while another task on the same GPU needs them. Looks at
    sys.modules rather than importing torch, so tabular tasks stay free of torch.
    """
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
