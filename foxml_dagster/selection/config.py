"""Settings for leakage thresholds, feature selection and target ranking."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from foxml_dagster.settings import Settings


class SelectionConfig(Settings):
    max_abs_corr: float = Field(
        0.95, gt=0, le=1, description="of two features with |Spearman| above this, only one is kept"
    )
    leak_corr: float = Field(
        0.5, gt=0, le=1, description="a feature whose |Spearman| with the realised return exceeds this is a leak"
    )
    leak_auc: float = Field(
        0.7, gt=0.5, le=1, description="a single raw feature whose AUC is beyond this (either way) is a leak"
    )
    max_importance_share: float = Field(
        0.6, gt=0, le=1, description="a feature with more than this share of a small boosted model's gain is a leak"
    )
    # The row-wise checks' estimates have errors of ~1/sqrt(n) (0.003 at 100,000), far inside the
    # limits. The scaler fingerprints always read every row (docs/research.md).
    leakage_max_rows: int | None = Field(
        100_000,
        ge=1000,
        description="rows per target the row-wise leakage checks read (target copy, single-feature score, "
        "importance dominance); null: every row",
    )
    # Power: docs/research.md.
    lookahead_symbols: int | None = Field(
        20,
        ge=1,
        description="symbols, drawn at random, that the look-ahead checks recompute features and labels on "
        "(from truncated and perturbed bars); null: every symbol",
    )
    cluster_corr: float = Field(0.7, gt=0, le=1, description="|Spearman| that puts features in one cluster")
    correlation_max_rows: int | None = Field(
        100_000,
        ge=1000,
        description="distinct (symbol, ts) rows the feature-by-feature Spearman matrix (redundancy filter, "
        "clusters) is estimated on; null: every row",
    )
    max_rows: int | None = Field(
        200_000,
        ge=1000,
        description="rows per target that feature selection reads from the training frame (a uniform draw, "
        "before the caps below draw from it), so its memory and time stay flat in the panel's size; null: every "
        "row",
    )
    n_estimators: int = Field(64, ge=8, description="trees of the importance forest")
    # Permutation cost is test rows x trees x features, so these caps keep selection flat in the
    # panel's size; an AUC drop's standard error is ~0.5 / sqrt(test rows).
    importance_max_train_rows: int | None = Field(
        50_000, ge=1000, description="training rows per fold the importance forest fits on (uniform draws); null: all"
    )
    ranking_max_train_rows: int | None = Field(
        50_000,
        ge=1000,
        description="training rows per fold target_ranking's families fit (they predict every test row); null: all",
    )
    importance_max_test_rows: int | None = Field(
        5_000,
        ge=1000,
        description="test rows per fold the importance forest is scored and permuted on (uniform draws); null: all",
    )
    min_stability: float = Field(
        0.5, ge=0, le=1, description="share of folds in which a feature's MDA must be positive"
    )
    min_features: int = Field(3, ge=1, description="never select fewer (best by clustered MDA)")
    importance: Literal["all_targets", "single_target"] = Field(
        "all_targets",
        description="all_targets: importance on every target (or importance_targets), combined by mean rank; "
        "single_target: on `target` alone",
    )
    importance_targets: list[str] | None = Field(
        None, description="all_targets: which targets; null: every target of the run"
    )
    min_target_support: float = Field(0.5, gt=0, le=1, description="all_targets: share of targets a feature must help")
    target: str | None = Field(
        None,
        description="single_target: the target importance is measured on; null: the first barrier target"
        " (else the first target)",
    )
    ranking_families: dict[str, dict] = Field(
        default_factory=lambda: {"logistic": {}, "lightgbm": {"n_estimators": 50, "num_leaves": 7}},
        description="families target_ranking fits per fold, each with parameters overriding its defaults",
    )

    @model_validator(mode="after")
    def _targets_listed(self) -> SelectionConfig:
        if self.importance_targets is not None and not self.importance_targets:
            raise ValueError("selection.importance_targets is empty; list targets or leave it out for every target")
        return self
