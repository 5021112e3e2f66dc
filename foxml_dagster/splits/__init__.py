"""Validation splits by label span across the panel: purged K-fold, walk-forward and CPCV.

Every method cuts the distinct sample timestamps of a target into contiguous groups, picks test
groups per fold, and purges and embargoes training samples the same way (see `core`). The fold
table has one row per (target, fold, sample) with role train or test and, for test rows, the
backtest `path` (always 0 except in CPCV). Purged and embargoed samples have no row in that fold.
`audit_folds` re-checks any fold table independently.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field, model_validator

from foxml_dagster.settings import Settings
from foxml_dagster.splits.audit import FoldProblem, audit_folds, expected_test_count
from foxml_dagster.splits.core import FOLD_SCHEMA, FoldSpec, build_folds
from foxml_dagster.splits.diagnostics import SplitWarning, independent_outcomes, split_warnings
from foxml_dagster.splits.methods import (
    backtest_paths,
    combinatorial_purged,
    cpcv_counts,
    purged_kfold,
    walk_forward,
)

__all__ = [
    "FOLD_SCHEMA",
    "FoldProblem",
    "FoldSpec",
    "SplitWarning",
    "SplitsConfig",
    "audit_folds",
    "audit_with",
    "backtest_paths",
    "build_folds",
    "combinatorial_purged",
    "cpcv_counts",
    "independent_outcomes",
    "make_folds",
    "purged_kfold",
    "split_warnings",
    "walk_forward",
    "weak_split_warnings",
]


class SplitsConfig(Settings):
    method: Literal["purged_kfold", "walk_forward", "cpcv"] = Field(
        "purged_kfold", description="purged K-fold, walk-forward, or combinatorial purged CV (cpcv)"
    )
    n_folds: int = Field(5, ge=2, description="K folds, walk-forward groups, or CPCV's N groups")
    embargo_pct: float = Field(
        0.01,
        ge=0,
        lt=0.5,
        description="embargo: training samples starting within this share of the target's timestamps (rounded "
        "up) after a test window are dropped; 0: none",
    )
    window: Literal["expanding", "sliding"] = Field(
        "expanding", description="walk-forward training window: every earlier group, or the last train_groups"
    )
    train_groups: int | None = Field(None, ge=1, description="sliding: groups of history per fold")
    n_test_groups: int = Field(2, ge=1, description="CPCV's k: groups tested per split")
    # Both are warnings (the non-blocking check split_warnings), never errors.
    max_purged_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="warn when purging removes more than this share of a fold's candidate training rows",
    )
    min_independent_outcomes: int = Field(
        100, ge=1, description="warn when a target has fewer non-overlapping outcomes than this"
    )

    @model_validator(mode="after")
    def _consistent(self) -> SplitsConfig:
        if self.method == "cpcv" and self.n_test_groups >= self.n_folds:
            raise ValueError(f"cpcv needs n_test_groups < n_folds, got {self.n_test_groups} >= {self.n_folds}")
        if self.method == "walk_forward" and self.window == "sliding" and self.train_groups is None:
            raise ValueError("walk_forward with window: sliding needs train_groups (groups of history per fold)")
        return self

    @property
    def times_tested(self) -> int:
        return expected_test_count(self.method, self.n_folds, self.n_test_groups)


def make_folds(samples: pl.DataFrame, cfg: SplitsConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(folds, audit) by the configured method, for samples with columns target, symbol, ts, t1."""
    if cfg.method == "walk_forward":
        history = cfg.train_groups if cfg.window == "sliding" else None
        return walk_forward(samples, n_folds=cfg.n_folds, embargo_pct=cfg.embargo_pct, train_groups=history)
    if cfg.method == "cpcv":
        return combinatorial_purged(
            samples, n_groups=cfg.n_folds, n_test_groups=cfg.n_test_groups, embargo_pct=cfg.embargo_pct
        )
    return purged_kfold(samples, n_folds=cfg.n_folds, embargo_pct=cfg.embargo_pct)


def audit_with(folds: pl.DataFrame, samples: pl.DataFrame, cfg: SplitsConfig) -> list[FoldProblem]:
    """`audit_folds` with the method, embargo and expected test count of a config."""
    return audit_folds(folds, samples, embargo_pct=cfg.embargo_pct, method=cfg.method, times_tested=cfg.times_tested)


def weak_split_warnings(samples: pl.DataFrame, audit: pl.DataFrame, cfg: SplitsConfig) -> list[SplitWarning]:
    """`split_warnings` with the thresholds of a config."""
    return split_warnings(
        samples,
        audit,
        n_folds=cfg.n_folds,
        embargo_pct=cfg.embargo_pct,
        max_purged_share=cfg.max_purged_share,
        min_independent_outcomes=cfg.min_independent_outcomes,
    )
