"""Settings for leakage thresholds, feature selection and target ranking."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from foxml_dagster.settings import Settings


class SelectionConfig(Settings):
    max_abs_corr: float = Field(0.95, gt=0, le=1)  # of two features more correlated, keep one
    leak_corr: float = Field(0.5, gt=0, le=1)  # |spearman(feature, realised return)| above: a leak
    leak_auc: float = Field(0.7, gt=0.5, le=1)  # single raw feature AUC beyond this either way: a leak
    max_importance_share: float = Field(0.6, gt=0, le=1)  # one feature's share of boosted gain
    # Rows per target the row-wise leakage checks read (target copy, single-feature score,
    # importance dominance): their estimates' errors are ~1/sqrt(n) (0.003 at 100,000), far
    # inside the limits.
    # null: every row. The scaler fingerprints always read every row (docs/research.md).
    leakage_max_rows: int | None = Field(100_000, ge=1000)
    # Symbols the look-ahead recomputes (features and labels on truncated and perturbed bars)
    # run on, drawn at random; null: every symbol. Power: docs/research.md.
    lookahead_symbols: int | None = Field(20, ge=1)
    cluster_corr: float = Field(0.7, gt=0, le=1)  # |spearman| that puts features in one cluster
    # Distinct (symbol, ts) rows the feature-by-feature Spearman matrix is estimated on (the
    # redundancy filter and the clusters); null: every row.
    correlation_max_rows: int | None = Field(100_000, ge=1000)
    n_estimators: int = Field(64, ge=8)  # trees of the importance forest
    # Rows per fold the importance forest fits on and is permuted on (uniform draws; null: all).
    # Permutation cost is test rows x trees x features, so these keep selection flat in the
    # panel's size; an AUC drop's standard error is ~0.5 / sqrt(test rows).
    importance_max_train_rows: int | None = Field(50_000, ge=1000)
    # Training rows per fold target_ranking's families fit (they predict every test row).
    ranking_max_train_rows: int | None = Field(200_000, ge=1000)
    importance_max_test_rows: int | None = Field(5_000, ge=1000)
    min_stability: float = Field(0.5, ge=0, le=1)  # share of folds where a feature must help
    min_features: int = Field(3, ge=1)  # never select fewer (best by clustered MDA)
    #: all_targets: importance on every target (or `importance_targets`), combined by mean rank;
    #: single_target: the earlier rule, importance on `target` alone.
    importance: Literal["all_targets", "single_target"] = "all_targets"
    importance_targets: list[str] | None = None  # all_targets: which targets; default every target of the run
    min_target_support: float = Field(0.5, gt=0, le=1)  # all_targets: share of targets a feature must help
    target: str | None = None  # single_target: the target importance is measured on; default first barrier target
    ranking_families: dict[str, dict] = Field(
        default_factory=lambda: {"logistic": {}, "lightgbm": {"n_estimators": 50, "num_leaves": 7}}
    )

    @model_validator(mode="after")
    def _targets_listed(self) -> SelectionConfig:
        if self.importance_targets is not None and not self.importance_targets:
            raise ValueError("selection.importance_targets is empty; list targets or leave it out for every target")
        return self
