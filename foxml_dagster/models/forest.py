"""Bagged tree ensembles from scikit-learn: "random_forest" and "extra_trees"."""

from __future__ import annotations

import pickle
from typing import Any, ClassVar

import numpy as np

from foxml_dagster.models.registry import ModelFamily, register_family


class _SklearnForest(ModelFamily):
    """Shared body: `n_jobs` is 1 by default because the training stage parallelises across
    (family, fold) tasks; trees need no scaler. `random_state` is the model seed, so the same data
    and seed give the same forest whatever `n_jobs` is."""

    default_params: ClassVar[dict[str, Any]] = {
        "n_estimators": 200,
        "max_depth": 6,
        "min_samples_leaf": 50,
        "max_features": 0.5,
        "n_jobs": 1,
    }
    _estimator_name: ClassVar[str] = ""
    _forest: Any = None

    def _validate_params(self) -> None:
        p = self.params
        if int(p["n_estimators"]) < 1:
            raise ValueError(f"n_estimators must be >= 1, got {p['n_estimators']}")
        if int(p["min_samples_leaf"]) < 1:
            raise ValueError(f"min_samples_leaf must be >= 1, got {p['min_samples_leaf']}")
        if not 0 < float(p["max_features"]) <= 1:
            raise ValueError(f"max_features must be a fraction in (0, 1], got {p['max_features']}")

    def _fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, validation=None) -> None:
        from sklearn import ensemble

        p = self.params
        cls = getattr(ensemble, self._estimator_name)
        self._forest = cls(
            n_estimators=int(p["n_estimators"]),
            max_depth=None if p["max_depth"] in (None, -1) else int(p["max_depth"]),
            min_samples_leaf=int(p["min_samples_leaf"]),
            max_features=float(p["max_features"]),
            n_jobs=int(p["n_jobs"]),
            random_state=self.seed,
        ).fit(X, y, sample_weight=sample_weight)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        proba = self._forest.predict_proba(X)
        return proba[:, list(self._forest.classes_).index(1)]

    def _dump_state(self) -> bytes:
        return pickle.dumps(self._forest, protocol=pickle.HIGHEST_PROTOCOL)

    def _load_state(self, state: bytes) -> None:
        self._forest = pickle.loads(state)  # noqa: S301 - our own artifact


@register_family("random_forest")
class RandomForestFamily(_SklearnForest):
    """scikit-learn RandomForestClassifier (bootstrap rows, best split on a feature subset)."""

    _estimator_name = "RandomForestClassifier"


@register_family("extra_trees")
class ExtraTreesFamily(_SklearnForest):
    """scikit-learn ExtraTreesClassifier (random split thresholds: more bias, less variance)."""

    _estimator_name = "ExtraTreesClassifier"
