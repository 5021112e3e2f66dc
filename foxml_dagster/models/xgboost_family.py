"""XGBoost gradient-boosted trees as the "xgboost" family (xgboost is imported lazily)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from foxml_dagster.models.registry import ModelFamily, register_family


@register_family("xgboost")
class XGBoostFamily(ModelFamily):
    """Binary XGBoost booster (`hist` trees) trained with `xgb.train`.

    Same conventions as the lightgbm family: scikit-learn parameter names, one thread by default
    (deterministic for a fixed thread count; the training stage parallelises across tasks), and
    early stopping on the validation slice's weighted log loss, keeping the best iteration.
    `device: cuda` trains on a GPU when the task was given one.
    """

    uses_validation = True
    default_params: ClassVar[dict[str, Any]] = {
        "n_estimators": 200,
        "learning_rate": 0.05,
        "max_depth": 4,
        "min_child_weight": 5.0,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "num_threads": 1,
        "early_stopping_rounds": 20,
        "device": "cpu",
    }
    _booster: Any = None

    def _validate_params(self) -> None:
        p = self.params
        if int(p["n_estimators"]) < 1:
            raise ValueError(f"n_estimators must be >= 1, got {p['n_estimators']}")
        if not float(p["learning_rate"]) > 0:
            raise ValueError(f"learning_rate must be > 0, got {p['learning_rate']}")
        for key in ("subsample", "colsample_bytree"):
            if not 0 < float(p[key]) <= 1:
                raise ValueError(f"{key} must be in (0, 1], got {p[key]}")
        if p["device"] not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {p['device']!r}")

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
