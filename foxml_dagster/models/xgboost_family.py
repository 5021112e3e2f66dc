"""XGBoost gradient-boosted trees as the "xgboost" family (xgboost is imported lazily)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, StrictInt

from foxml_dagster.models.registry import FamilyParams, ModelFamily, register_family


@register_family("xgboost")
class XGBoostFamily(ModelFamily):
    """Binary XGBoost booster (`hist` trees) trained with `xgb.train`.

    Same conventions as the lightgbm family: scikit-learn parameter names, one thread by default
    (deterministic for a fixed thread count; the training stage parallelises across tasks), and
    early stopping on the validation slice's weighted log loss, keeping the best iteration.
    `device: cuda` trains on a GPU when the task was given one.
    """

    uses_validation = True

    class Params(FamilyParams):
        n_estimators: StrictInt = Field(200, ge=1, description="boosting rounds at most")
        learning_rate: float = Field(0.05, gt=0, description="shrinkage of each tree's contribution (eta)")
        max_depth: StrictInt = Field(4, ge=0, description="deepest a tree grows; 0: no limit")
        min_child_weight: float = Field(5.0, ge=0, description="least total sample weight (hessian) in a child")
        subsample: float = Field(0.8, gt=0, le=1, description="fraction of rows sampled for each tree")
        colsample_bytree: float = Field(0.8, gt=0, le=1, description="fraction of features drawn for each tree")
        reg_lambda: float = Field(1.0, ge=0, description="L2 regularisation of the leaf weights")
        num_threads: StrictInt = Field(1, ge=1, description="threads of one fit (deterministic for a fixed count)")
        early_stopping_rounds: StrictInt = Field(
            20, ge=0, description="stop after this many rounds without a better validation loss; 0: off"
        )
        device: Literal["cpu", "cuda"] = Field(
            "cpu", description="train on the CPU, or on a GPU (cuda) the task was given"
        )

    _booster: Any = None

    def _native_params(self) -> dict[str, Any]:
        p = self.params
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "device": p["device"],
            "eta": float(p["learning_rate"]),
            "max_depth": int(p["max_depth"]),
            "min_child_weight": float(p["min_child_weight"]),
            "subsample": float(p["subsample"]),
            "colsample_bytree": float(p["colsample_bytree"]),
            "lambda": float(p["reg_lambda"]),
            "nthread": int(p["num_threads"]),
            "seed": self.seed,
            "verbosity": 0,
        }

    def _fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, validation=None) -> None:
        import xgboost as xgb

        train = xgb.DMatrix(X, label=y, weight=sample_weight)
        rounds = int(self.params["n_estimators"])
        patience = int(self.params["early_stopping_rounds"])
        if validation is None or patience <= 0:
            self._booster = xgb.train(self._native_params(), train, num_boost_round=rounds)
            self.fit_info_["best_iteration"] = rounds
            return
        X_val, y_val, w_val = validation
        valid = xgb.DMatrix(X_val, label=y_val, weight=w_val)
        booster = xgb.train(
            self._native_params(),
            train,
            num_boost_round=rounds,
            evals=[(valid, "val")],
            early_stopping_rounds=patience,
            verbose_eval=False,
        )
        best = int(booster.best_iteration) + 1
        # Keep the best trees only, so predictions and the saved model need no iteration range.
        self._booster = booster[:best]
        self.fit_info_.update(best_iteration=best, val_logloss=float(booster.best_score))

    def _predict(self, X: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        return self._booster.predict(xgb.DMatrix(X))

    def _dump_state(self) -> bytes:
        # UBJSON is XGBoost's own portable format: exact floats, no pickle of library internals.
        return bytes(self._booster.save_raw(raw_format="ubj"))

    def _load_state(self, state: bytes) -> None:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(state))
        self._booster = booster
