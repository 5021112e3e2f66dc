"""Regularised logistic regression as the "logistic" family."""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, StrictInt

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

from foxml_dagster.models.registry import FamilyParams, ModelFamily, register_family


@register_family("logistic")
class LogisticFamily(ModelFamily):
    """StandardScaler -> L2 LogisticRegression, as one scikit-learn Pipeline.

    The scaler is part of the model: its means and standard deviations come only from the rows
    given to `fit` (the training fold), never from the test fold. `C` is the inverse L2 strength.
    Sample weights go to the logistic loss; the scaler is fitted unweighted.
    """

    class Params(FamilyParams):
        C: float = Field(1.0, gt=0, description="inverse L2 strength (smaller: stronger regularisation)")
        solver: Literal["newton-cholesky", "lbfgs"] = Field(
            "newton-cholesky",
            description="newton-cholesky: exact Newton steps, a few passes over the rows whatever their number, "
            "with a features x features Hessian (best up to some hundreds of features); lbfgs: for many more "
            "features, at many more passes",
        )
        max_iter: StrictInt = Field(1000, ge=1, description="most solver iterations")
        tol: float = Field(1e-6, gt=0, description="the solver's stopping tolerance")

    _pipeline: Pipeline | None = None  # set by fit / load

    def _fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, validation=None) -> None:
        # scikit-learn is imported where it is used: it costs seconds at code-location load.
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        pipeline = Pipeline(
            [
                ("scaler", StandardScaler()),
                (
                    "logistic",
                    LogisticRegression(
                        C=float(self.params["C"]),
                        solver=str(self.params["solver"]),
                        max_iter=int(self.params["max_iter"]),
                        tol=float(self.params["tol"]),
                        random_state=self.seed,
                    ),
                ),
            ]
        )
        pipeline.fit(X, y, logistic__sample_weight=sample_weight)
        self._pipeline = pipeline

    def _predict(self, X: np.ndarray) -> np.ndarray:
        assert self._pipeline is not None
        proba = self._pipeline.predict_proba(X)
        # Column of class 1, looked up rather than assumed.
        return proba[:, list(self._pipeline.classes_).index(1)]

    def _dump_state(self) -> bytes:
        # pickle of our own fitted Pipeline; see ModelFamily.load for why that is acceptable.
        assert self._pipeline is not None
        return pickle.dumps(self._pipeline, protocol=pickle.HIGHEST_PROTOCOL)

    def _load_state(self, state: bytes) -> None:
        self._pipeline = pickle.loads(state)  # noqa: S301 - our own artifact

    def coefficients(self) -> np.ndarray:
        """Coefficients on the standardised features (zeros for a constant model)."""
        if self._pipeline is None or self.constant_score_ is not None:
            if self.n_features_ is None:
                raise RuntimeError("model is not fitted")
            return np.zeros(self.n_features_)
        return self._pipeline.named_steps["logistic"].coef_.reshape(-1).copy()


@register_family("ridge")
class RidgeFamily(ModelFamily):
    """StandardScaler -> Ridge regression of y in {0, 1}: a linear probability model.

    The fitted value estimates P(y = 1) directly; it is clipped to [0, 1] so it reads as a
    probability. Cheap and stable, a useful linear baseline beside the logistic family. `alpha`
    is the L2 strength on the standardised features; the scaler is fitted on training rows only.
    """

    class Params(FamilyParams):
        alpha: float = Field(10.0, ge=0, description="L2 strength on the standardised features (0: least squares)")

    _pipeline: Pipeline | None = None

    def _fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, validation=None) -> None:
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        pipeline = Pipeline([("scaler", StandardScaler()), ("ridge", Ridge(alpha=float(self.params["alpha"])))])
        pipeline.fit(X, y.astype(np.float64), ridge__sample_weight=sample_weight)
        self._pipeline = pipeline

    def _predict(self, X: np.ndarray) -> np.ndarray:
        assert self._pipeline is not None
        return np.clip(self._pipeline.predict(X), 0.0, 1.0)

    def _dump_state(self) -> bytes:
        assert self._pipeline is not None
        return pickle.dumps(self._pipeline, protocol=pickle.HIGHEST_PROTOCOL)

    def _load_state(self, state: bytes) -> None:
        self._pipeline = pickle.loads(state)  # noqa: S301 - our own artifact
