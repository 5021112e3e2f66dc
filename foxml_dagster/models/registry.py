"""Model-family registry and the `ModelFamily` base class every family implements.

A *family* is a kind of binary classifier of "label == 1" (an up move). Families register
themselves by name with `@register_family("name")`; the training stage, the Dagster partitions
of `trained_models` and the configs all refer to families by that name.

Every family follows the same fit/predict shape:

    model = get_family("lightgbm")(seed=0, num_leaves=31)
    model.fit(X, y, sample_weight=w, validation=(X_val, y_val, w_val))  # validation optional
    p = model.predict_score(X_test)       # P(y = 1), float64 (n,)
    model.save(path); same = type(model).load(path)

Tabular families take X of shape (n, k); sequence families (`input_kind = "sequence"`) take
windows of shape (n, window, k) built by `foxml_dagster.models.windows`. Families that can stop
early (`uses_validation = True`) use the validation slice, which the training stage carves from
the END of the training fold by time, purged by label span; the others ignore it.

Anything stateful that is learned from data (scalers, selectors, trees) lives *inside* the model
and is fitted only on the rows handed to `fit`, so a model fitted on a training fold never sees
the test fold.

Parameters: a family declares them as a pydantic schema, a nested `class Params(FamilyParams)`
whose fields give each parameter's type, range and default (`default_params` is derived from
it). The experiment's config checks a family's parameters against that schema when it loads,
and a model checks them again when it is built. A family that only declares a
`default_params` mapping gets a schema typed from its defaults.
"""

from __future__ import annotations

import abc
import os
import pickle
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Self, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, ValidationError, create_model

__all__ = [
    "FamilyParams",
    "InvalidParams",
    "ModelFamily",
    "ParamProblem",
    "get_family",
    "register_family",
    "registered_families",
]

_REGISTRY: dict[str, type[ModelFamily]] = {}

#: Bumped when the on-disk layout written by `ModelFamily.save` changes incompatibly.
ARTIFACT_FORMAT_VERSION = 2

#: (X, y, sample_weight) of the validation slice used for early stopping.
Validation = tuple[np.ndarray, np.ndarray, np.ndarray]

F = TypeVar("F", bound="type[ModelFamily]")


def register_family(name: str) -> Callable[[F], F]:
    """Class decorator: register a `ModelFamily` subclass under `name`.

    Registering a different class under a name already taken raises ValueError (two families
    silently shadowing each other would make results depend on import order).
    """
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"family name {name!r} must be non-empty and alphanumeric (- and _ allowed)")

    def decorator(cls: F) -> F:
        if not (isinstance(cls, type) and issubclass(cls, ModelFamily)):
            raise TypeError(f"@register_family({name!r}) must decorate a ModelFamily subclass, got {cls!r}")
        existing = _REGISTRY.get(name)
        # Re-importing the same module (reloads, notebooks) re-registers the "same" class.
        if existing is not None and _qualified(existing) != _qualified(cls):
            raise ValueError(
                f"model family {name!r} is already registered by {_qualified(existing)}; "
                f"cannot register {_qualified(cls)} under the same name"
            )
        cls.family = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def get_family(name: str) -> type[ModelFamily]:
    """The class registered under `name`; KeyError naming the registered families otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; registered families: {registered_families()}") from None


def registered_families() -> list[str]:
    """Names of all registered families, sorted."""
    return sorted(_REGISTRY)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class FamilyParams(BaseModel):
    """Base of a family's parameter schema: one field per accepted parameter, with its type,
    range and default. Integer fields use `StrictInt`, so `2.5`, `true` or `"many"` is refused
    rather than truncated or coerced; float fields take ints and numeric strings (YAML reads
    `1e-6` as a string)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamProblem(NamedTuple):
    """One rejected parameter: its name (None for a rule across parameters), why, the value."""

    param: str | None
    message: str
    value: Any


class InvalidParams(ValueError):
    """Parameters a family's schema refuses, each named with the reason."""

    def __init__(self, family: str, problems: list[ParamProblem]):
        self.family = family
        self.problems = problems
        super().__init__(
            f"family {family!r}: "
            + "; ".join(f"{p.param}: {p.message} (got {p.value!r})" if p.param else p.message for p in problems)
        )


def _schema_from_defaults(name: str, defaults: Mapping[str, Any]) -> type[FamilyParams]:
    """A schema typed from default values, for a family that declares only `default_params`."""

    def annotation(value: Any) -> Any:
        if isinstance(value, bool):
            return StrictBool
        if isinstance(value, int):
            return StrictInt
        return type(value) if isinstance(value, (float, str)) else Any

    fields: dict[str, Any] = {key: (annotation(value), value) for key, value in defaults.items()}
    return create_model(f"{name}Params", __base__=FamilyParams, **fields)


class ModelFamily(abc.ABC):
    """Base class of a binary classifier family.

    Subclasses declare `Params` (a `FamilyParams` schema of every accepted parameter; a plain
    `default_params` mapping also works) and implement `_fit`, `_predict` and the
    `_dump_state` / `_load_state` pair used by `save` / `load`.

    Degenerate training data: when the `y` given to `fit` holds a single class there is nothing to
    learn, so the model predicts that class's probability (0.0 or 1.0) for every row instead of
    crashing. `describe()["constant_score"]` reports it.
    """

    family: ClassVar[str] = "<unregistered>"
    Params: ClassVar[type[FamilyParams]] = FamilyParams
    #: Every accepted parameter and its default, derived from `Params`.
    default_params: ClassVar[Mapping[str, Any]] = {}
    #: "tabular": X is (n, k). "sequence": X is (n, window, k), see models.windows.
    input_kind: ClassVar[str] = "tabular"
    #: True when `_fit` uses the validation slice (early stopping); others get all train rows.
    uses_validation: ClassVar[bool] = False

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.default_params))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} (family {self.family!r}) got unknown parameter(s) {unknown}; "
                f"accepted parameters: {sorted(self.default_params)}"
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {seed!r}")
        self.seed = int(seed)
        self.params: dict[str, Any] = self.validate_params(params)
        self.n_features_: int | None = None
        self.constant_score_: float | None = None
        #: Facts learned while fitting (best iteration, epochs, batch size): for the manifest.
        self.fit_info_: dict[str, Any] = {}
        #: Memory budget of the task that fits this model; neural families size batches from it.
        self.memory_budget_mb: float | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Params" in cls.__dict__:
            cls.default_params = cls.Params().model_dump()
        elif "default_params" in cls.__dict__:
            cls.Params = _schema_from_defaults(cls.__name__, cls.default_params)

    @classmethod
    def validate_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` over the defaults, checked against `Params`: the full set, typed.

        Raises `InvalidParams` (a ValueError) naming every refused parameter and why.
        """
        try:
            return cls.Params.model_validate(dict(params)).model_dump()
        except ValidationError as exc:
            problems = [
                ParamProblem(
                    ".".join(str(part) for part in err["loc"]) or None,
                    err["msg"].removeprefix("Value error, "),
                    err.get("input"),
                )
                for err in exc.errors()
            ]
            raise InvalidParams(cls.family, problems) from None

    @property
    def window(self) -> int:
        """Bars per input window (1 for tabular families)."""
        return int(self.params.get("window", 1)) if self.input_kind == "sequence" else 1

    # ----------------------------------------------------------------- subclass hooks

    @abc.abstractmethod
    def _fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, validation: Validation | None = None
    ) -> None:
        """Fit on rows with both classes present; `validation` only when `uses_validation`."""

    @abc.abstractmethod
    def _predict(self, X: np.ndarray) -> np.ndarray:
        """P(y = 1) for each row of X."""

    @abc.abstractmethod
    def _dump_state(self) -> bytes:
        """The fitted estimator as bytes."""

    @abc.abstractmethod
    def _load_state(self, state: bytes) -> None:
        """Inverse of `_dump_state`."""

    # ----------------------------------------------------------------- public API

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        validation: Validation | None = None,
    ) -> Self:
        """Fit on `X` (n, k) float, `y` (n,) in {0, 1}, optional `sample_weight` (n,) > 0.

        `validation` is an (X, y, w) slice for early stopping; it must come from rows that are
        not test rows and whose labels do not overlap the training rows in time (the training
        stage's `carve_validation` does this). Families that cannot use it ignore it.
        """
        X = self._as_input(X, "X")
        y, w = self._check_targets(X, y, sample_weight)
        classes = np.unique(y)
        val = None
        if validation is not None and self.uses_validation:
            X_val = self._as_input(validation[0], "validation X")
            y_val, w_val = self._check_targets(X_val, validation[1], validation[2])
            if X_val.shape[1:] != X.shape[1:]:
                raise ValueError(f"validation X has shape {X_val.shape[1:]} per row, X has {X.shape[1:]}")
            # A one-class slice gives no usable early-stopping signal; fit without one.
            if len(y_val) and len(np.unique(y_val)) == 2:
                val = (X_val, y_val, w_val)
        self.n_features_ = X.shape[-1]
        self.fit_info_ = {}
        if len(classes) == 1:
            self.constant_score_ = float(classes[0])
        else:
            self.constant_score_ = None
            self._fit(X, y, w, val)
        return self

    def _check_targets(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with {len(X)} rows (one per row of X), got shape {y.shape}")
        if len(y) == 0:
            raise ValueError("cannot fit on zero rows")
        classes = np.unique(y)
        if not np.isin(classes, (0, 1)).all():
            raise ValueError(f"y must be binary in {{0, 1}}, found values {classes.tolist()}")
        y = y.astype(np.int8)
        if sample_weight is None:
            w = np.ones(len(y), dtype=np.float64)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != y.shape:
                raise ValueError(f"sample_weight must have shape {y.shape}, got {w.shape}")
            if not np.isfinite(w).all() or (w <= 0).any():
                raise ValueError("sample_weight must be finite and > 0")
        return y, w

    def _as_input(self, X: np.ndarray, name: str) -> np.ndarray:
        if self.input_kind == "sequence":
            X = np.asarray(X, dtype=np.float64)
            if X.ndim != 3:
                raise ValueError(f"{name} must be 3-D (rows, window, features) for {self.family!r}, got {X.shape}")
            if X.shape[1] != self.window:
                raise ValueError(f"{name} windows hold {X.shape[1]} bars, the model's window is {self.window}")
            if not np.isfinite(X).all():
                raise ValueError(f"{name} contains NaN or infinite values; impute or drop them before fitting")
            return X
        return _as_matrix(X, name)

    def predict_score(self, X: np.ndarray) -> np.ndarray:
        """P(y = 1) for each row of X, float64 of shape (n,)."""
        if self.n_features_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        X = self._as_input(X, "X")
        if X.shape[-1] != self.n_features_:
            raise ValueError(f"X has {X.shape[-1]} features but the model was fitted on {self.n_features_}")
        if self.constant_score_ is not None:
            return np.full(len(X), self.constant_score_, dtype=np.float64)
        return np.asarray(self._predict(X), dtype=np.float64).reshape(-1)

    def describe(self) -> dict[str, Any]:
        """Family name, seed and full parameter set (defaults included), plus fit facts."""
        return {
            "family": self.family,
            "seed": self.seed,
            "params": dict(self.params),
            "n_features": self.n_features_,
            "constant_score": self.constant_score_,
            "fit_info": dict(self.fit_info_),
        }

    def to_bytes(self) -> bytes:
        """The fitted model as bytes (what `save` writes); `ModelFamily.from_bytes` reads it.

        Ray tasks return models this way, so a model fitted on a worker and one fitted in-process
        go through the same serialisation.
        """
        if self.n_features_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; nothing to save")
        payload = {
            "format_version": ARTIFACT_FORMAT_VERSION,
            "family": self.family,
            "seed": self.seed,
            "params": self.params,
            "n_features": self.n_features_,
            "constant_score": self.constant_score_,
            "fit_info": self.fit_info_,
            "state": None if self.constant_score_ is not None else self._dump_state(),
        }
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "<bytes>") -> ModelFamily:
        """Inverse of `to_bytes`; see `load` for the trust caveat of unpickling."""
        payload = pickle.loads(data)  # noqa: S301 - our own artifact, see load()
        if not isinstance(payload, dict) or payload.get("format_version") != ARTIFACT_FORMAT_VERSION:
            raise ValueError(f"{source}: not a foxml model artifact of format version {ARTIFACT_FORMAT_VERSION}")
        family_cls = get_family(payload["family"])
        if cls is not ModelFamily and family_cls is not cls:
            raise TypeError(f"{source}: holds a {payload['family']!r} model, not {cls.family!r}")
        model = family_cls(seed=payload["seed"], **payload["params"])
        model.n_features_ = payload["n_features"]
        model.constant_score_ = payload["constant_score"]
        model.fit_info_ = dict(payload.get("fit_info") or {})
        if payload["state"] is not None:
            model._load_state(payload["state"])
        return model

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to `path` atomically (temp file in the same dir + os.replace).

        Readers never see a half-written file: either the old artifact or the new one.
        """
        if self.n_features_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; nothing to save")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_bytes()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ModelFamily:
        """Read a model written by `save`.

        The artifact is a pickle. Unpickling runs code chosen by the file's author, so this is
        safe only for files we wrote ourselves (our own `models/` store under FOXML_HOME); never
        load a model file from an untrusted source. Called on the base class it dispatches to the
        family recorded in the file; called on a family class it also checks the family matches.
        """
        path = Path(path)
        return cls.from_bytes(path.read_bytes(), source=str(path))

    def __repr__(self) -> str:
        overrides = {k: v for k, v in self.params.items() if self.default_params.get(k) != v}
        return f"{type(self).__name__}(seed={self.seed}, {overrides})"


def _as_matrix(X: np.ndarray, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, features), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values; impute or drop them before fitting")
    return X
