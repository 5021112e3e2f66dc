"""LightGBM gradient-boosted trees as the "lightgbm" family."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import lightgbm as lgb

from pydantic import Field, StrictInt

from foxml_dagster.models.registry import FamilyParams, ModelFamily, register_family


@register_family("lightgbm")
class LightGBMFamily(ModelFamily):
    """Binary LightGBM classifier trained with `lgb.train`.

    Parameters use the scikit-learn spelling (`n_estimators`, `subsample`, `colsample_bytree`)
    and are mapped to LightGBM's native names. Small, conservative defaults suit noisy financial
    labels: shallow trees (15 leaves), 50 samples per leaf, row and column subsampling.

    Reproducibility: `seed` drives every LightGBM random stream (bagging, feature fraction,
    data sampling); `deterministic=True` with `force_row_wise=True` makes the histogram
    construction order fixed, so the same data, params and seed give bit-identical models.
    `num_threads` defaults to 1: results are deterministic for a fixed thread count, and the
    training stage parallelises across folds/families instead.

    Early stopping: with a validation slice and `early_stopping_rounds > 0`, boosting stops when
    the slice's weighted log loss has not improved for that many rounds, and the booster keeps
    the best iteration (recorded in `fit_info_["best_iteration"]`).
    """

    uses_validation = True

    class Params(FamilyParams):
        n_estimators: StrictInt = Field(200, ge=1, description="boosting rounds at most")
        learning_rate: float = Field(0.05, gt=0, description="shrinkage of each tree's contribution")
        num_leaves: StrictInt = Field(15, ge=2, description="most leaves per tree")
        max_depth: StrictInt = Field(-1, description="deepest a tree grows; <= 0: no limit")
        min_child_samples: StrictInt = Field(50, ge=1, description="fewest training rows in a leaf")
        subsample: float = Field(0.8, gt=0, le=1, description="fraction of rows bagged for each tree (1: all)")
        colsample_bytree: float = Field(0.8, gt=0, le=1, description="fraction of features drawn for each tree")
        reg_lambda: float = Field(0.0, ge=0, description="L2 regularisation of the leaf values")
        num_threads: StrictInt = Field(1, ge=1, description="threads of one fit (deterministic for a fixed count)")
        early_stopping_rounds: StrictInt = Field(
            20, ge=0, description="stop after this many rounds without a better validation loss; 0: off"
        )

    _booster: lgb.Booster | None = None  # set by fit / load

    def _native_params(self) -> dict[str, Any]:
        p = self.params
        return {
            "objective": "binary",
            "learning_rate": float(p["learning_rate"]),
            "num_leaves": int(p["num_leaves"]),
            "max_depth": int(p["max_depth"]),
            "min_data_in_leaf": int(p["min_child_samples"]),
            "bagging_fraction": float(p["subsample"]),
            "bagging_freq": 1 if float(p["subsample"]) < 1 else 0,
            "feature_fraction": float(p["colsample_bytree"]),
            "lambda_l2": float(p["reg_lambda"]),
            "num_threads": int(p["num_threads"]),
            "seed": self.seed,
            "bagging_seed": self.seed,
            "feature_fraction_seed": self.seed,
            "data_random_seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

    def _fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, validation=None) -> None:
        import lightgbm as lgb  # lazy: it pulls in scikit-learn, seconds at code-location load

        params = self._native_params()
        data = lgb.Dataset(X, label=y, weight=sample_weight, params={"verbose": -1}, free_raw_data=True)
        rounds = int(self.params["n_estimators"])
        patience = int(self.params["early_stopping_rounds"])
        if validation is None or patience <= 0:
            self._booster = lgb.train(params, data, num_boost_round=rounds)
            self.fit_info_["best_iteration"] = rounds
            return
        X_val, y_val, w_val = validation
        valid = lgb.Dataset(X_val, label=y_val, weight=w_val, reference=data, params={"verbose": -1})
        params = {**params, "metric": "binary_logloss"}
        booster = lgb.train(
            params,
            data,
            num_boost_round=rounds,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(patience, first_metric_only=True, verbose=False)],
        )
        best = booster.best_iteration or rounds
        # Keep only the best trees, so predict() and the saved model agree without extra args.
        self._booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        self.fit_info_.update(
            best_iteration=int(best), val_logloss=float(booster.best_score["valid_0"]["binary_logloss"])
        )

    def _predict(self, X: np.ndarray) -> np.ndarray:
        assert self._booster is not None
        return self._booster.predict(X, num_threads=int(self.params["num_threads"]))

    def _dump_state(self) -> bytes:
        # LightGBM's text model format writes doubles at full precision, so a round trip
        # through it reproduces predictions exactly and does not depend on pickle internals.
        assert self._booster is not None
        return self._booster.model_to_string().encode("utf-8")

    def _load_state(self, state: bytes) -> None:
        import lightgbm as lgb

        self._booster = lgb.Booster(model_str=state.decode("utf-8"))

    def feature_importance(self, importance_type: str = "gain") -> np.ndarray:
        """Per-feature importance ("gain" or "split"); zeros for a constant (single-class) model."""
        if self._booster is None or self.constant_score_ is not None:
            if self.n_features_ is None:
                raise RuntimeError("model is not fitted")
            return np.zeros(self.n_features_)
        return self._booster.feature_importance(importance_type=importance_type).astype(np.float64)
