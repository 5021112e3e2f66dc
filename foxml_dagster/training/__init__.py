"""Out-of-fold training: one model per (target, family, fold), scored on that fold's test rows.

Inputs are the `training_frame` and `folds` contracts (see DESIGN.md):

- training_frame: symbol, ts, target, t1, label (Int8 in {-1, 0, 1}), ret, weight, <features...>
- folds: target, fold, symbol, ts, role ("train" | "test"; other roles such as "val" are ignored)

Models are binary classifiers of "label == 1" (an up move). Each model sees only its fold's train
rows (minus a purged validation slice at the end, for the families that stop early); scalers
live inside the models. Modules:

- config: `TrainingConfig` (the experiment's `training` section) and family resolution
  (variants in configs/models/, environment and command-line overrides);
- data: per-target panels, fold row indices, the purged validation slice;
- tasks: `fit_fold`, one (family, fold) unit of work;
- runner: in-process or Ray execution of those tasks;
- oof: `train_out_of_fold`, which ties them together;
- cpcv: backtest paths of the predictions (CPCV tests a sample once per path) and
  `audit_predictions`, which re-checks a finished run for predictions that saw their sample;
- manifest: what a training run wrote, so it can be reproduced.
"""

from foxml_dagster.training.config import FamilySpec, TrainingConfig, resolve_family
from foxml_dagster.training.cpcv import LEAK_KINDS, PredictionProblem, audit_predictions, check_test_paths
from foxml_dagster.training.data import carve_validation
from foxml_dagster.training.oof import (
    PREDICTIONS_SCHEMA,
    FittedModel,
    TrainingResult,
    fold_matrix,
    model_id_for,
    train_out_of_fold,
)
from foxml_dagster.training.runner import InProcessRunner, RayRunner

__all__ = [
    "LEAK_KINDS",
    "PREDICTIONS_SCHEMA",
    "FamilySpec",
    "FittedModel",
    "InProcessRunner",
    "PredictionProblem",
    "RayRunner",
    "TrainingConfig",
    "TrainingResult",
    "audit_predictions",
    "carve_validation",
    "check_test_paths",
    "fold_matrix",
    "model_id_for",
    "resolve_family",
    "train_out_of_fold",
]
