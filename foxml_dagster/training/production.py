"""Production models: each family refit on every labelled row, versioned, and scored live.

The research path (`train_out_of_fold`) answers whether a family works; the production path
fits the model that acts on today's bar. A production fit uses the same pieces as a fold:

- the same panel of the target (`data.build_panel`: features, labels, weights, sorted by symbol
  and ts), the same family parameters, seed and sample weights;
- the same early-stopping policy (`tasks.fit_fold` -> `data.carve_validation`): the last
  `val_fraction` of the timeline is held out, purged by label span (a fitting row's label must
  be known before the first validation timestamp), for the families that stop early;
- every row whose outcome is known by the cutoff, instead of a fold's training rows.

The cutoff (`as_of`, default: the last label outcome in the frame) bounds what a model saw: only
rows whose label is known by then (t1 <= as_of) are in its panel, so no feature, label or
window of a later row can reach the fit (tests/unit/test_production.py changes every later row
and checks the model is bit-identical). A production fit is never scored: it has seen every
label, so its in-sample score would be meaningless; promotion reads the out-of-fold evidence
(foxml_dagster.promotion).

Live inference (`live_panel`, `predict_live`) scores every bar after the model's last training
row up to the newest bar, from the same feature columns joined the same way as the
training_frame (features left-joined to the cross-sectional features), skipping bars whose
features are still warming up.

Layout under the models folder ($FOXML_HOME/models):

    production/<family>/<target>/<version>/model          the refit (ModelFamily.save)
    production/<family>/<target>/<version>/manifest.json  config, data and code hashes, cutoff
    production/<ensemble>/<target>/<version>/combiner.json and manifest.json

A version is a hash of the config hash, the data hash (the rows known at the cutoff) and the
code version: the same inputs give the same version, and a retrain on new data a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from foxml_dagster.models import ModelFamily, get_family
from foxml_dagster.models.windows import group_offsets, make_windows
from foxml_dagster.storage import write_text_atomic
from foxml_dagster.training.config import FamilySpec
from foxml_dagster.training.data import build_panel
from foxml_dagster.training.manifest import code_version
from foxml_dagster.training.oof import _plain_spec, _validate_columns, read_target_rows
from foxml_dagster.training.runner import Call, InProcessRunner
from foxml_dagster.training.tasks import FitTask, fit_fold

__all__ = [
    "LIVE_SCHEMA",
    "PRODUCTION_FOLD",
    "ProductionFit",
    "ProductionResult",
    "live_panel",
    "predict_live",
    "refit_production",
    "save_combiner",
    "save_production",
    "version_id",
]

#: The `fold` a production fit runs as (FitTask.fold): it belongs to no fold.
PRODUCTION_FOLD = -1

LIVE_SCHEMA: dict[str, pl.DataType] = {
    "model_id": pl.String(),
    "family": pl.String(),
    "target": pl.String(),
    "symbol": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "y_score": pl.Float64(),
    "promoted": pl.Boolean(),
    "version": pl.String(),
    "train_end": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class ProductionFit:
    """One family refit on every row of one target known at the cutoff."""

    family: str
    target: str
    model: ModelFamily
    n_train: int  # rows known at the cutoff
    n_fit: int  # rows the model was fitted on (n_train minus the validation slice and its purge)
    n_val: int
    fit_seconds: float
    train_start: datetime  # first and last ts of the rows it saw
    train_end: datetime
    knowledge_end: datetime  # the last label outcome (t1) it saw: <= as_of
    data_hash: str
    info: dict = field(default_factory=dict)


@dataclass
class ProductionResult:
    fits: list[ProductionFit]
    specs: dict[str, FamilySpec]
    as_of: datetime
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (target, family, reason)


def refit_production(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    feature_columns: Sequence[str],
    families: Mapping[str, Mapping[str, Any] | FamilySpec],
    targets: Sequence[str] | None = None,
    seed: int = 0,
    runner: Any = None,
    val_fraction: float = 0.2,
    memory_mb: float | None = None,
    as_of: datetime | None = None,
) -> ProductionResult:
    """Fit every (target, family) on the rows of `frame` whose outcome is known by `as_of`.

    Args mirror `train_out_of_fold` (frame, feature_columns, families, targets, seed, runner,
    val_fraction, memory_mb). `as_of`: the cutoff; rows with t1 > as_of are left out before
    anything is built from the frame. Default: the frame's last t1, i.e. every labelled row.

    A (target, family) with no row known at the cutoff is skipped and reported.
    """
    feature_columns = list(feature_columns)
    stored = frame.lazy()
    _validate_columns(stored.collect_schema(), feature_columns)
    if not families:
        raise ValueError("families is empty; pass at least one, e.g. {'lightgbm': {}}")
    specs = {
        name: spec if isinstance(spec, FamilySpec) else _plain_spec(name, spec, memory_mb)
        for name, spec in families.items()
    }
    for spec in specs.values():
        get_family(spec.name)(seed=seed, **spec.params)
    runner = runner or InProcessRunner()
    cutoff = as_of if as_of is not None else stored.select(pl.col("t1").max()).collect().item()
    # The only place rows enter: those whose outcome is known by the cutoff.
    known = stored.filter(pl.col("t1") <= cutoff)
    present = sorted(stored.select(pl.col("target").unique()).collect().get_column("target").to_list())
    targets = list(targets) if targets is not None else present
    unknown = sorted(set(targets) - set(present))
    if unknown:
        raise ValueError(f"target(s) {unknown} not in training_frame; it has {present}")

    calls, meta, skipped = [], [], []
    for target in targets:
        rows = read_target_rows(known, target, feature_columns)
        if rows.is_empty():
            skipped += [(target, name, f"no row with a known outcome by {cutoff}") for name in specs]
            continue
        panel = build_panel(rows, target, feature_columns)
        # What the fits' records need, so neither the rows nor the panel outlive the submission.
        facts = {
            "n_train": len(panel.y),
            "train_start": rows.get_column("ts").min(),
            "train_end": rows.get_column("ts").max(),
            "knowledge_end": rows.get_column("t1").max(),
            "data_hash": panel.data_hash(),
        }
        rows = None
        shared = runner.put(panel)
        every = np.arange(len(panel.y), dtype=np.int64)
        panel = None
        for spec in specs.values():
            task = FitTask(
                spec.name,
                spec.params,
                seed,
                PRODUCTION_FOLD,
                every,
                np.zeros(0, dtype=np.int64),
                val_fraction,
                spec.memory_mb,
            )
            calls.append(
                Call(
                    (shared, task),
                    num_cpus=spec.num_cpus,
                    num_gpus=spec.num_gpus,
                    memory_mb=spec.memory_mb,
                    name=f"{spec.name}:{target}:production",
                )
            )
            meta.append(facts)

    shared = None  # the last target's panel: only the tasks need it now
    fits = []
    for outcome, facts in zip(runner.map(fit_fold, calls), meta, strict=True):
        fits.append(
            ProductionFit(
                family=outcome.family,
                target=outcome.target,
                model=ModelFamily.from_bytes(outcome.model_bytes, source=f"{outcome.family}:{outcome.target}"),
                n_fit=outcome.n_fit,
                n_val=outcome.n_val,
                fit_seconds=outcome.fit_seconds,
                info=outcome.info,
                **facts,
            )
        )
    return ProductionResult(fits=fits, specs=specs, as_of=cutoff, skipped=skipped)


def version_id(*parts: str) -> str:
    """A short content hash: the same config, data and code give the same version."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def save_production(
    result: ProductionResult,
    folder: Path,
    *,
    seed: int,
    feature_columns: list[str],
    val_fraction: float,
) -> list[dict[str, Any]]:
    """Save each fit under `folder/<family>/<target>/<version>/` with its manifest; one row per
    fit (family, target, version, path, config_hash, data_hash, code_version, cutoffs, sizes)."""
    code = code_version()
    rows = []
    for fit in result.fits:
        spec = result.specs[fit.family]
        config_hash = spec.config_hash(seed, {"features": feature_columns, "val_fraction": val_fraction})
        version = version_id(config_hash, fit.data_hash, code)
        where = folder / fit.family / fit.target / version
        fit.model.save(where / "model")
        manifest = {
            "family": fit.family,
            "target": fit.target,
            "version": version,
            "variant": spec.variant,
            "params": spec.params,
            "param_sources": spec.sources,
            "seed": seed,
            "val_fraction": val_fraction,
            "features": feature_columns,
            "config_hash": config_hash,
            "data_hash": fit.data_hash,
            "code_version": code,
            "as_of": result.as_of,
            "train_start": fit.train_start,
            "train_end": fit.train_end,
            "knowledge_end": fit.knowledge_end,
            "n_train": fit.n_train,
            "n_fit": fit.n_fit,
            "n_val": fit.n_val,
            "fit_info": fit.info,
            "written_at": datetime.now(UTC).isoformat(),
        }
        write_text_atomic(json.dumps(manifest, indent=2, sort_keys=True, default=str), where / "manifest.json")
        rows.append(
            {
                "family": fit.family,
                "target": fit.target,
                "version": version,
                "path": str(where / "model"),
                "variant": spec.variant,
                "config_hash": config_hash,
                "data_hash": fit.data_hash,
                "code_version": code,
                "train_start": fit.train_start,
                "train_end": fit.train_end,
                "knowledge_end": fit.knowledge_end,
                "n_train": fit.n_train,
                "n_fit": fit.n_fit,
                "n_val": fit.n_val,
                "fit_seconds": fit.fit_seconds,
            }
        )
    return rows


def save_combiner(
    state: dict[str, Any],
    folder: Path,
    *,
    family: str,
    target: str,
    members: Mapping[str, str],
    train_start: datetime,
    train_end: datetime,
    knowledge_end: datetime,
    n_train: int,
) -> dict[str, Any]:
    """Save a fitted ensemble combiner (`ensemble.Combiner.state()`) with the versions of the
    member models it combines; its version hashes both."""
    code = code_version()
    blob = json.dumps(state, sort_keys=True, default=str)
    member_versions = json.dumps(dict(sorted(members.items())))
    version = version_id(blob, member_versions, code)
    where = folder / family / target / version
    write_text_atomic(blob, where / "combiner.json")
    manifest = {
        "family": family,
        "target": target,
        "version": version,
        "members": dict(sorted(members.items())),
        "combiner": state,
        "code_version": code,
        "train_start": train_start,
        "train_end": train_end,
        "knowledge_end": knowledge_end,
        "written_at": datetime.now(UTC).isoformat(),
    }
    write_text_atomic(json.dumps(manifest, indent=2, sort_keys=True, default=str), where / "manifest.json")
    return {
        "family": family,
        "target": target,
        "version": version,
        "path": str(where / "combiner.json"),
        "variant": None,
        "config_hash": hashlib.sha256(blob.encode()).hexdigest(),
        "data_hash": hashlib.sha256(member_versions.encode()).hexdigest(),
        "code_version": code,
        "train_start": train_start,
        "train_end": train_end,
        "knowledge_end": knowledge_end,
        "n_train": n_train,
        "n_fit": n_train,
        "n_val": 0,
        "fit_seconds": 0.0,
    }


def live_panel(
    features: pl.DataFrame, cross_sectional: pl.DataFrame | None, feature_columns: Sequence[str]
) -> pl.DataFrame:
    """symbol, ts and the feature columns of every bar whose features are all defined, sorted by
    (symbol, ts): the features joined as the training_frame joins them (dataset.py)."""
    lazy = features.lazy()
    if cross_sectional is not None:
        lazy = lazy.join(cross_sectional.lazy(), on=["symbol", "ts"], how="left")
    columns = list(feature_columns)
    missing = [c for c in columns if c not in lazy.collect_schema().names()]
    if missing:
        raise ValueError(
            f"features: column(s) {missing} the production models were trained on are missing; "
            "re-run the features assets, or retrain (production_models) on the current feature set"
        )
    return (
        lazy.select(pl.col("symbol").cast(pl.String), "ts", *columns)
        .drop_nulls(subset=columns)
        .sort("symbol", "ts")
        .collect()
    )


def predict_live(model: ModelFamily, panel: pl.DataFrame, feature_columns: Sequence[str], *, after: datetime):
    """symbol, ts, y_score for every row of `panel` (`live_panel`) with ts > `after` (the model's
    last training row). A sequence family reads the window of its own symbol's rows ending at
    each live row, as in training."""
    live = np.flatnonzero((panel.get_column("ts") > after).to_numpy())
    keys = panel.select("symbol", "ts")[live]
    if len(live) == 0:
        return keys.with_columns(pl.lit(None, pl.Float64).alias("y_score")).head(0)
    values = np.ascontiguousarray(panel.select(list(feature_columns)).to_numpy().astype(np.float64, copy=False))
    if model.input_kind == "sequence":
        offsets = group_offsets(panel.get_column("symbol").to_numpy())
        inputs = make_windows(values, offsets, live, model.window)
    else:
        inputs = values[live]
    return keys.with_columns(pl.Series("y_score", model.predict_score(inputs), dtype=pl.Float64))
