"""Bagged tree ensembles from scikit-learn: "random_forest" and "extra_trees"."""

from __future__ import annotations

import pickle
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, StrictInt, field_validator

from foxml_dagster.models.registry import FamilyParams, ModelFamily, register_family


class _SklearnForest(ModelFamily):
    """Shared body: `n_jobs` is 1 by default because the training stage parallelises across
    (family, fold) tasks; trees need no scaler. `random_state` is the model seed, so the same data
    and seed give the same forest whatever `n_jobs` is."""

    class Params(FamilyParams):
        n_estimators: StrictInt = Field(200, ge=1, description="trees in the forest")
        max_depth: StrictInt | None = Field(
            6, description="deepest a tree grows; null or -1: until the leaves are pure"
        )
        min_samples_leaf: StrictInt = Field(50, ge=1, description="fewest training rows in a leaf")
        max_features: float = Field(0.5, gt=0, le=1, description="fraction of the features tried at each split")
        n_jobs: StrictInt = Field(1, ge=-1, description="parallel jobs of one fit; -1: every core")

        @field_validator("max_depth")
        @classmethod
        def _depth(cls, value: int | None) -> int | None:
            if value is not None and value != -1 and value < 1:
                raise ValueError("must be >= 1, or -1 / null for no limit")
            return value

        @field_validator("n_jobs")
        @classmethod
        def _jobs(cls, value: int) -> int:
            if value == 0:
                raise ValueError("must be >= 1, or -1 for every core")
            return value

    _estimator_name: ClassVar[str] = ""
    _forest: Any = None

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
