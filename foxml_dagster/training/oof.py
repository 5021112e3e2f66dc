"""Out-of-fold training: one model per (target, family, fold), scored on that fold's test rows.

Inputs are the `training_frame` and `folds` contracts (see DESIGN.md):

- training_frame: symbol, ts, target, t1, label (Int8 in {-1, 0, 1}), ret, weight, <features...>
- folds: target, fold, symbol, ts, role ("train" | "test"; other roles such as "val" are ignored)

Models are binary classifiers of "label == 1" (an up move), so y = 1 where label == 1, else 0.
Each model sees only its fold's train rows; any scaling lives inside the model (see
`foxml_dagster.models`), so nothing about the test rows reaches the fit. The result's `oof`
frame follows the predictions contract: model_id, family, target, fold, symbol, ts, y_true,
y_score, plus `path`: the backtest path of the prediction (0 for K-fold and walk-forward; with
CPCV folds each sample is predicted once per path, by the split that tests it on that path; see
`training.cpcv`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from foxml_dagster.models import ModelFamily, get_family
from foxml_dagster.training.config import FamilySpec, resolve_family, task_resources
from foxml_dagster.training.cpcv import check_test_paths, with_test_paths
from foxml_dagster.training.data import TargetPanel, build_panel, fold_rows
from foxml_dagster.training.runner import Call, InProcessRunner
from foxml_dagster.training.tasks import FitTask, fit_fold

__all__ = [
    "PREDICTIONS_SCHEMA",
    "FittedModel",
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
    "path": pl.Int32(),
}


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
    n_fit: int = 0
    n_val: int = 0
    info: dict = field(default_factory=dict)


@dataclass
class TrainingResult:
    """Fitted models, their out-of-fold predictions, and the (target, family, fold) combos skipped.

    `skipped` holds (target, family, fold, reason) tuples, e.g. a fold with no train rows.
    """

    models: list[FittedModel]
    oof: pl.DataFrame
    skipped: list[tuple[str, str, int, str]] = field(default_factory=list)
    specs: dict[str, FamilySpec] = field(default_factory=dict)
    data_hashes: dict[str, str] = field(default_factory=dict)  # target -> sha256 of its inputs
    n_paths: dict[str, int] = field(default_factory=dict)  # target -> backtest paths (1 unless CPCV)


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
    frame: pl.DataFrame | pl.LazyFrame,
    folds: pl.DataFrame,
    *,
    feature_columns: Sequence[str],
    families: Mapping[str, Mapping[str, Any] | FamilySpec],
    targets: Sequence[str] | None = None,
    seed: int = 0,
    runner: Any = None,
    val_fraction: float = 0.2,
    memory_mb: float | None = None,
) -> TrainingResult:
    """Fit every (target, family, fold) on the fold's train rows and predict its test rows.

    Args:
        frame: the training_frame (long format, one row per sample and target), or a lazy scan
            of it: each target's rows are then read (and checked) one target at a time.
        folds: the folds frame; rows with role other than "train"/"test" are ignored. Each
            sample is tested once (K-fold, walk-forward) or once per backtest `path` (CPCV:
            the folds of `splits.combinatorial_purged`); anything else is refused before training.
        feature_columns: the feature columns to use, in this order.
        families: family name -> parameters (e.g. {"lightgbm": {}, "logistic": {"C": 0.5}}), or
            name -> a resolved `FamilySpec` (TrainingConfig.resolved_families()). A plain mapping
            may hold `variant` and `resources` keys; without a `variant` the registry defaults
            apply. Names and parameters are checked before any training starts.
        targets: the targets to train; default every target in `frame`, sorted.
        seed: passed to every model; the same inputs and seed give identical `oof`.
        runner: where the (family, fold) tasks run: `InProcessRunner()` (default) or a
            `RayRunner` (resources/ray.py); both give identical predictions.
        val_fraction: share of each training fold's timeline, at its end and purged by label
            span, held out for early stopping by the families that use it (see carve_validation).
        memory_mb: per-task memory budget for families whose resources do not set one.

    A (target, family, fold) with no train rows or no test rows is skipped and reported in
    `result.skipped`, not raised (with CPCV its samples then miss that path's prediction). A
    fold whose train rows hold a single class gives a constant model (see `ModelFamily`) rather
    than an error.
    """
    feature_columns = list(feature_columns)
    stored = frame.lazy()
    _validate_columns(stored.collect_schema(), feature_columns)
    _validate_folds(folds)
    if not families:
        raise ValueError("families is empty; pass at least one, e.g. {'lightgbm': {}}")
    specs = {
        name: spec if isinstance(spec, FamilySpec) else _plain_spec(name, spec, memory_mb)
        for name, spec in families.items()
    }
    # Fail fast on unknown families or bad parameters, before hours of training.
    for spec in specs.values():
        get_family(spec.name)(seed=seed, **spec.params)
    runner = runner or InProcessRunner()

    frame_targets = set(stored.select(pl.col("target").unique()).collect().get_column("target").to_list())
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

    folds = with_test_paths(folds.filter(pl.col("role").is_in(["train", "test"]) & pl.col("target").is_in(targets)))
    n_paths = check_test_paths(folds)

    skipped: list[tuple[str, str, int, str]] = []
    calls: list[Call] = []
    meta: list[tuple[TargetPanel, np.ndarray, np.ndarray]] = []
    data_hashes: dict[str, str] = {}
    for target in targets:
        panel = build_panel(read_target_rows(stored, target, feature_columns), target, feature_columns)
        data_hashes[target] = panel.data_hash(folds)
        shared = runner.put(panel)  # once per target, however many tasks read it
        # What the predictions need after the fits, without the feature matrix: on Ray the
        # object store holds that, and this process lets its own copy go.
        labels_of = replace(panel, values=np.empty((len(panel.y), 0)))
        fold_ids = sorted(folds.filter(pl.col("target") == target).get_column("fold").unique().to_list())
        for fold in fold_ids:
            train = fold_rows(panel, folds, fold, "train")
            test = fold_rows(panel, folds, fold, "test")
            reason = "no train rows" if len(train) == 0 else "no test rows" if len(test) == 0 else None
            for spec in specs.values():
                if reason is not None:
                    skipped.append((target, spec.name, int(fold), reason))
                    continue
                task = FitTask(spec.name, spec.params, seed, int(fold), train, test, val_fraction, spec.memory_mb)
                calls.append(
                    Call(
                        (shared, task),
                        num_cpus=spec.num_cpus,
                        num_gpus=spec.num_gpus,
                        memory_mb=spec.memory_mb,
                        name=model_id_for(spec.name, target, int(fold)),
                    )
                )
                meta.append((labels_of, train, test))

    panel = shared = None  # the last target's features: only the tasks need them now
    outcomes = runner.map(fit_fold, calls)
    models: list[FittedModel] = []
    predictions: list[pl.DataFrame] = []
    for outcome, (panel, train, test) in zip(outcomes, meta, strict=True):
        mid = model_id_for(outcome.family, outcome.target, outcome.fold)
        train_ts = panel.keys.get_column("ts").gather(train)
        models.append(
            FittedModel(
                model_id=mid,
                family=outcome.family,
                target=outcome.target,
                fold=outcome.fold,
                model=ModelFamily.from_bytes(outcome.model_bytes, source=mid),
                n_train=len(train),
                n_test=len(test),
                fit_seconds=outcome.fit_seconds,
                train_start=train_ts.min(),
                train_end=train_ts.max(),
                n_fit=outcome.n_fit,
                n_val=outcome.n_val,
                info=outcome.info,
            )
        )
        keys = panel.keys.gather(test)
        n = len(test)
        predictions.append(
            pl.DataFrame(
                {
                    "model_id": [mid] * n,
                    "family": [outcome.family] * n,
                    "target": [outcome.target] * n,
                    "fold": np.full(n, outcome.fold, dtype=np.int32),
                    "symbol": keys.get_column("symbol"),
                    "ts": keys.get_column("ts"),
                    "y_true": panel.y[test].astype(np.int8),
                    "y_score": outcome.y_score,
                },
            )
        )

    oof = pl.DataFrame(schema=PREDICTIONS_SCHEMA)
    if predictions:
        # Each (fold, sample) is tested once, so this join only labels rows with their path.
        paths = folds.filter(pl.col("role") == "test").select("target", "fold", "symbol", "ts", "path")
        oof = (
            pl.concat(predictions, how="vertical")
            .join(paths, on=["target", "fold", "symbol", "ts"], how="left")
            .select(list(PREDICTIONS_SCHEMA))
            .cast(PREDICTIONS_SCHEMA)  # type: ignore[arg-type]
            .sort("model_id", "symbol", "ts")
        )
    return TrainingResult(
        models=models, oof=oof, skipped=skipped, specs=specs, data_hashes=data_hashes, n_paths=n_paths
    )


def _plain_spec(name: str, block: Mapping[str, Any], memory_mb: float | None) -> FamilySpec:
    """A family given as a plain params mapping: registry defaults unless it names a variant."""
    block = dict(block)
    if "variant" in block:
        return resolve_family(name, block, environ={}, default_memory_mb=memory_mb)
    resources = block.pop("resources", None) or {}
    params = {**get_family(name).default_params, **block}
    return FamilySpec(name=name, params=params, **task_resources(name, params, {}, resources, memory_mb))


def read_target_rows(stored: pl.LazyFrame, target: str, feature_columns: list[str]) -> pl.DataFrame:
    """One target's rows of the training frame, with only the columns a model's inputs need,
    read from `stored` (a scan of the lake, or a frame) and checked: the driver holds one target
    at a time, never the whole frame."""
    rows = stored.filter(pl.col("target") == target).select(*_FRAME_KEYS, *feature_columns).collect()
    _validate_values(rows, feature_columns)
    return rows


def _validate_columns(schema: pl.Schema, feature_columns: list[str]) -> None:
    missing_keys = [c for c in _FRAME_KEYS if c not in schema]
    if missing_keys:
        raise ValueError(f"training_frame: required column(s) {missing_keys} missing")
    if not feature_columns:
        raise ValueError("feature_columns is empty")
    missing = [c for c in feature_columns if c not in schema]
    if missing:
        raise ValueError(
            f"training_frame: feature column(s) {missing} missing; "
            f"check the selected feature set against the features asset"
        )
    clash = sorted(set(feature_columns) & set(_FRAME_KEYS))
    if clash:
        raise ValueError(f"feature_columns must not include key/label columns {clash}")
    non_numeric = [c for c in feature_columns if not schema[c].is_numeric()]
    if non_numeric:
        raise ValueError(f"training_frame: feature column(s) {non_numeric} are not numeric")


def _validate_values(frame: pl.DataFrame, feature_columns: list[str]) -> None:
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
