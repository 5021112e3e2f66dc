"""Out-of-fold training: one model per (target, family, fold), scored on that fold's test rows.

Inputs are the `training_frame` and `folds` contracts (see DESIGN.md):

- training_frame: symbol, ts, target, t1, label (Int8 in {-1, 0, 1}), ret, weight, <features...>
- folds: target, fold, symbol, ts, role ("train" | "test"; other roles such as "val" are ignored)

Models are binary classifiers of "label == 1" (an up move), so y = 1 where label == 1, else 0.
Each model sees only its fold's train rows; any scaling lives inside the model (see
`foxml_dagster.models`), so nothing about the test rows reaches the fit. The result's `oof`
frame follows the predictions contract: model_id, family, target, fold, symbol, ts, y_true,
y_score.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from foxml_dagster.models import ModelFamily, get_family
from foxml_dagster.settings import Settings

__all__ = [
    "PREDICTIONS_SCHEMA",
    "FittedModel",
    "TrainingConfig",
    "TrainingResult",
    "fold_matrix",
    "model_id_for",
    "train_out_of_fold",
]

PREDICTIONS_SCHEMA: dict[str, pl.DataType] = {
    "model_id": pl.String(),
    "family": pl.String(),
    "target": pl.String(),
    "fold": pl.Int32(),
    "symbol": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "y_true": pl.Int8(),
    "y_score": pl.Float64(),
}


class TrainingConfig(Settings):
    """The seed and each family's parameters (see foxml_dagster.models for the names)."""

    seed: int = 7
    families: dict[str, dict] = Field(default_factory=lambda: {"lightgbm": {}, "logistic": {}})


_FRAME_KEYS = ("symbol", "ts", "target", "t1", "label", "ret", "weight")
_FOLD_KEYS = ("target", "fold", "symbol", "ts", "role")


def model_id_for(family: str, target: str, fold: int) -> str:
    """The model id used everywhere: "<family>:<target>:fold<fold>"."""
    return f"{family}:{target}:fold{fold}"


@dataclass(frozen=True)
class FittedModel:
    """One fitted model and the facts about its fit."""

    model_id: str
    family: str
    target: str
    fold: int
    model: ModelFamily
    n_train: int
    n_test: int
    fit_seconds: float
    train_start: datetime
    train_end: datetime


@dataclass
class TrainingResult:
    """Fitted models, their out-of-fold predictions, and the (target, family, fold) combos skipped.

    `skipped` holds (target, family, fold, reason) tuples, e.g. a fold with no train rows.
    """

    models: list[FittedModel]
    oof: pl.DataFrame
    skipped: list[tuple[str, str, int, str]] = field(default_factory=list)


def fold_matrix(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    target: str,
    fold: int,
    role: str,
    feature_columns: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pl.DataFrame]:
    """Rows of `frame` that `folds` assigns to (target, fold, role), as model inputs.

    Joins on (target, symbol, ts); rows come out sorted by (symbol, ts) so the result does not
    depend on input order. Returns:

    - X: float64 (n, len(feature_columns))
    - y: int8 (n,), 1 where label == 1 else 0
    - w: float64 (n,), the `weight` column
    - keys: DataFrame with symbol, ts, t1, label, ret (row-aligned with X)
    """
    sel = folds.filter((pl.col("target") == target) & (pl.col("fold") == fold) & (pl.col("role") == role)).select(
        "symbol", "ts"
    )
    rows = frame.filter(pl.col("target") == target).join(sel, on=["symbol", "ts"], how="inner").sort("symbol", "ts")
    X = rows.select(feature_columns).to_numpy().astype(np.float64, copy=False)
    X = np.ascontiguousarray(X)
    y = (rows.get_column("label") == 1).cast(pl.Int8).to_numpy()
    w = rows.get_column("weight").cast(pl.Float64).to_numpy()
    keys = rows.select("symbol", "ts", "t1", "label", "ret")
    return X, y, w, keys


def train_out_of_fold(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    *,
    feature_columns: Sequence[str],
    families: Mapping[str, Mapping[str, Any]],
    targets: Sequence[str] | None = None,
    seed: int = 0,
) -> TrainingResult:
    """Fit every (target, family, fold) on the fold's train rows and predict its test rows.

    Args:
        frame: the training_frame (long format, one row per sample and target).
        folds: the folds frame; rows with role other than "train"/"test" are ignored.
        feature_columns: the feature columns to use, in this order.
        families: family name -> parameters for that family (e.g. {"lightgbm": {}, "logistic":
            {"C": 0.5}}). Names and parameters are checked before any training starts.
        targets: the targets to train; default every target in `frame`, sorted.
        seed: passed to every model; the same inputs and seed give identical `oof`.

    A (target, family, fold) with no train rows or no test rows is skipped and reported in
    `result.skipped`, not raised. A fold whose train rows hold a single class gives a constant
    model (see `ModelFamily`) rather than an error.
    """
    feature_columns = list(feature_columns)
    _validate_frame(frame, feature_columns)
    _validate_folds(folds)
    if not families:
        raise ValueError("families is empty; pass at least one, e.g. {'lightgbm': {}}")
    # Fail fast on unknown families or bad parameters, before hours of training.
    for name, params in families.items():
        get_family(name)(seed=seed, **dict(params))

    frame_targets = set(frame.get_column("target").unique().to_list())
    fold_targets = set(folds.get_column("target").unique().to_list())
    if targets is None:
        targets = sorted(frame_targets)
    else:
        targets = list(targets)
        missing = sorted(set(targets) - frame_targets)
        if missing:
            raise ValueError(f"target(s) {missing} not in training_frame; it has {sorted(frame_targets)}")
    absent = sorted(set(targets) - fold_targets)
    if absent:
        raise ValueError(
            f"target(s) {absent} have no rows in folds (folds has {sorted(fold_targets)}); "
            "rebuild the folds asset for these targets or pass targets=[...]"
        )

    folds = folds.filter(pl.col("role").is_in(["train", "test"]) & pl.col("target").is_in(targets))
    _check_single_test_fold(folds)

    models: list[FittedModel] = []
    predictions: list[pl.DataFrame] = []
    skipped: list[tuple[str, str, int, str]] = []

    for target in targets:
        target_frame = frame.filter(pl.col("target") == target)
        target_folds = folds.filter(pl.col("target") == target)
        fold_ids = sorted(target_folds.get_column("fold").unique().to_list())
        for fold in fold_ids:
            X_tr, y_tr, w_tr, keys_tr = fold_matrix(target_frame, target_folds, target, fold, "train", feature_columns)
            X_te, y_te, _, keys_te = fold_matrix(target_frame, target_folds, target, fold, "test", feature_columns)
            reason = None
            if len(y_tr) == 0:
                reason = "no train rows"
            elif len(y_te) == 0:
                reason = "no test rows"
            for family, params in families.items():
                if reason is not None:
                    skipped.append((target, family, int(fold), reason))
                    continue
                model = get_family(family)(seed=seed, **dict(params))
                started = time.perf_counter()
                model.fit(X_tr, y_tr, sample_weight=w_tr)
                fit_seconds = time.perf_counter() - started
                score = model.predict_score(X_te)
                mid = model_id_for(family, target, int(fold))
                ts_tr = keys_tr.get_column("ts")
                models.append(
                    FittedModel(
                        model_id=mid,
                        family=family,
                        target=target,
                        fold=int(fold),
                        model=model,
                        n_train=len(y_tr),
                        n_test=len(y_te),
                        fit_seconds=fit_seconds,
                        train_start=ts_tr.min(),
                        train_end=ts_tr.max(),
                    )
                )
                predictions.append(
                    pl.DataFrame(
                        {
                            "model_id": [mid] * len(y_te),
                            "family": [family] * len(y_te),
                            "target": [target] * len(y_te),
                            "fold": np.full(len(y_te), fold, dtype=np.int32),
                            "symbol": keys_te.get_column("symbol"),
                            "ts": keys_te.get_column("ts"),
                            "y_true": y_te.astype(np.int8),
                            "y_score": score,
                        },
                        schema=PREDICTIONS_SCHEMA,
                    )
                )

    oof = (
        pl.concat(predictions, how="vertical").sort("model_id", "symbol", "ts")
        if predictions
        else pl.DataFrame(schema=PREDICTIONS_SCHEMA)
    )
    return TrainingResult(models=models, oof=oof, skipped=skipped)


def _validate_frame(frame: pl.DataFrame, feature_columns: list[str]) -> None:
    missing_keys = [c for c in _FRAME_KEYS if c not in frame.columns]
    if missing_keys:
        raise ValueError(f"training_frame: required column(s) {missing_keys} missing")
    if not feature_columns:
        raise ValueError("feature_columns is empty")
    missing = [c for c in feature_columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"training_frame: feature column(s) {missing} missing; "
            f"check the selected feature set against the features asset"
        )
    clash = sorted(set(feature_columns) & set(_FRAME_KEYS))
    if clash:
        raise ValueError(f"feature_columns must not include key/label columns {clash}")
    non_numeric = [c for c in feature_columns if not frame.schema[c].is_numeric()]
    if non_numeric:
        raise ValueError(f"training_frame: feature column(s) {non_numeric} are not numeric")
    bad = frame.select(
        [(pl.col(c).is_null() | ~pl.col(c).cast(pl.Float64).is_finite()).sum().alias(c) for c in feature_columns]
    ).row(0, named=True)
    bad = {c: n for c, n in bad.items() if n}
    if bad:
        raise ValueError(
            f"training_frame: feature column(s) with null/NaN/inf values (count per column): {bad}; "
            "drop warm-up rows before building the training frame"
        )
    labels = set(frame.get_column("label").unique().to_list())
    if not labels <= {-1, 0, 1}:
        raise ValueError(f"training_frame: label must be in {{-1, 0, 1}}, found {sorted(labels)}")
    if frame.filter(~(pl.col("weight") > 0)).height:
        raise ValueError("training_frame: weight must be > 0 and not null on every row")
    n_dup = frame.height - frame.select("target", "symbol", "ts").n_unique()
    if n_dup:
        raise ValueError(f"training_frame: {n_dup} duplicate (target, symbol, ts) rows")


def _validate_folds(folds: pl.DataFrame) -> None:
    missing = [c for c in _FOLD_KEYS if c not in folds.columns]
    if missing:
        raise ValueError(f"folds: required column(s) {missing} missing")
    n_dup = folds.height - folds.select("target", "fold", "symbol", "ts").n_unique()
    if n_dup:
        raise ValueError(f"folds: {n_dup} duplicate (target, fold, symbol, ts) rows; a sample has one role per fold")


def _check_single_test_fold(folds: pl.DataFrame) -> None:
    """Each sample is a test sample in at most one fold, so it gets one out-of-fold prediction."""
    test = folds.filter(pl.col("role") == "test")
    n_dup = test.height - test.select("target", "symbol", "ts").n_unique()
    if n_dup:
        raise ValueError(f"folds: {n_dup} samples are test samples in more than one fold")
