"""Model families: registry, fit/predict on a planted signal, save/load, degenerate data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from foxml_dagster.models import (
    FamilyParams,
    InvalidParams,
    LightGBMFamily,
    LogisticFamily,
    ModelFamily,
    get_family,
    register_family,
    registered_families,
)
from foxml_dagster.models import registry as registry_module
from foxml_dagster.models.windows import make_windows

FAMILIES = [
    "lightgbm",
    "xgboost",
    "logistic",
    "ridge",
    "random_forest",
    "extra_trees",
    "mlp",
    "lstm",
    "gru",
    "cnn1d",
    "tcn",
    "transformer",
]
#: Small settings so every family trains in well under a second on these tiny data sets.
FAST: dict[str, dict] = {
    "random_forest": {"n_estimators": 30},
    "extra_trees": {"n_estimators": 30},
    "mlp": {"hidden_size": 8, "max_epochs": 8, "learning_rate": 0.01, "batch_size": 32},
    **{
        f: {"hidden_size": 8, "max_epochs": 6, "learning_rate": 0.01, "window": 4, "batch_size": 32}
        for f in ("lstm", "gru", "cnn1d", "tcn")
    },
    "transformer": {
        "hidden_size": 8,
        "num_heads": 2,
        "max_epochs": 6,
        "learning_rate": 0.01,
        "window": 4,
        "batch_size": 32,
    },
}


def make(family: str, seed: int = 0, **params) -> ModelFamily:
    return get_family(family)(seed=seed, **{**FAST.get(family, {}), **params})


def inputs(model: ModelFamily, X: np.ndarray) -> np.ndarray:
    """Tabular rows as they are, or (one symbol's) windows for a sequence family."""
    if model.input_kind != "sequence":
        return X
    return make_windows(X, np.array([0, len(X)]), np.arange(len(X)), model.window)


def planted(n: int = 900, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features where column 0 drives P(y = 1); the rest is noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k))
    y = (X[:, 0] + 0.7 * rng.normal(size=n) > 0).astype(np.int8)
    return X, y


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register toy families without leaking them into other tests."""
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))


def test_builtin_families_are_registered_by_importing_the_package() -> None:
    assert set(FAMILIES) <= set(registered_families())
    assert get_family("lightgbm") is LightGBMFamily
    assert get_family("logistic") is LogisticFamily
    assert registered_families() == sorted(registered_families())


def test_unknown_family_raises_key_error_listing_registered_names() -> None:
    with pytest.raises(KeyError, match="catboost.*lightgbm.*logistic"):
        get_family("catboost")


@pytest.mark.parametrize("family", FAMILIES)
def test_unknown_parameter_is_rejected_with_the_accepted_names(family: str) -> None:
    with pytest.raises(TypeError, match="n_trees"):
        get_family(family)(seed=0, n_trees=10)


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("lightgbm", {"num_leaves": 1}),
        ("lightgbm", {"subsample": 0.0}),
        ("logistic", {"C": 0.0}),
        ("xgboost", {"device": "tpu"}),
        ("random_forest", {"max_features": 2.0}),
        ("lstm", {"window": 1}),
        ("transformer", {"hidden_size": 10, "num_heads": 4}),
        ("mlp", {"dropout": 1.0}),
        ("lightgbm", {"n_estimators": "many"}),
        ("lightgbm", {"n_estimators": -10}),
        ("xgboost", {"n_estimators": 2.5}),
        ("random_forest", {"n_jobs": 0}),
        ("random_forest", {"max_depth": 0}),
        ("gru", {"max_epochs": True}),
        ("mlp", {"devices": 2, "accelerator": "auto"}),
    ],
)
def test_out_of_range_parameter_is_rejected(family: str, params: dict) -> None:
    with pytest.raises(ValueError):
        get_family(family)(**params)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_declares_a_typed_schema_whose_defaults_are_valid(family: str) -> None:
    cls = get_family(family)
    assert cls.Params is not FamilyParams
    assert set(cls.Params.model_fields) == set(cls.default_params)
    assert cls.validate_params({}) == dict(cls.default_params)


@pytest.mark.usefixtures("clean_registry")
def test_a_family_declaring_only_defaults_gets_a_schema_typed_from_them() -> None:
    @register_family("toy_defaults")
    class Toy(ModelFamily):
        default_params = {"p": 0.3, "rounds": 5, "name": "x"}

        def _fit(self, X, y, sample_weight, validation=None):
            pass

        def _predict(self, X):
            return np.full(len(X), self.params["p"])

        def _dump_state(self) -> bytes:
            return b""

        def _load_state(self, state: bytes) -> None:
            pass

    assert Toy(p=1, rounds=7).params == {"p": 1.0, "rounds": 7, "name": "x"}
    with pytest.raises(InvalidParams, match="rounds"):
        Toy(rounds="many")


@pytest.mark.usefixtures("clean_registry")
def test_register_family_decorator_registers_a_new_family_and_refuses_a_name_clash() -> None:
    @register_family("toy_constant")
    class Toy(ModelFamily):
        default_params = {"p": 0.3}

        def _fit(self, X, y, sample_weight, validation=None):
            pass

        def _predict(self, X):
            return np.full(len(X), self.params["p"])

        def _dump_state(self) -> bytes:
            return b""

        def _load_state(self, state: bytes) -> None:
            pass

    assert get_family("toy_constant") is Toy
    assert Toy.family == "toy_constant"
    X, y = planted(n=50)
    assert np.allclose(Toy(p=0.4).fit(X, y).predict_score(X), 0.4)

    with pytest.raises(ValueError, match="already registered"):

        @register_family("lightgbm")
        class Impostor(Toy):
            pass


@pytest.mark.parametrize("family", FAMILIES)
def test_family_learns_a_planted_signal_out_of_sample(family: str) -> None:
    X, y = planted()
    model = make(family)
    Z = inputs(model, X)
    model.fit(Z[:500], y[:500], validation=(Z[500:600], y[500:600], np.ones(100)))
    score = model.predict_score(Z[600:])
    assert score.shape == (300,) and score.dtype == np.float64
    assert ((score >= 0) & (score <= 1)).all()
    assert roc_auc_score(y[600:], score) > 0.7


@pytest.mark.parametrize("family", FAMILIES)
def test_save_then_load_reproduces_predictions_exactly(family: str, tmp_path) -> None:
    X, y = planted()
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=600)
    model = make(family, seed=3)
    Z = inputs(model, X)
    model.fit(Z[:600], y[:600], sample_weight=w)
    path = model.save(tmp_path / "nested" / f"{family}.model")

    via_class = get_family(family).load(path)
    via_base = ModelFamily.load(path)
    expected = model.predict_score(Z[600:])
    np.testing.assert_array_equal(via_class.predict_score(Z[600:]), expected)
    np.testing.assert_array_equal(via_base.predict_score(Z[600:]), expected)
    assert via_base.describe() == model.describe()
    # Atomic write leaves no temp files behind.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_loading_with_the_wrong_family_class_is_refused(tmp_path) -> None:
    X, y = planted(n=200)
    path = LogisticFamily().fit(X, y).save(tmp_path / "m.model")
    with pytest.raises(TypeError, match="logistic"):
        LightGBMFamily.load(path)


def test_save_overwrites_an_existing_artifact(tmp_path) -> None:
    X, y = planted(n=300)
    path = tmp_path / "m.model"
    LogisticFamily(C=0.01).fit(X, y).save(path)
    second = LogisticFamily(C=10.0).fit(X, y)
    second.save(path)
    assert LogisticFamily.load(path).params["C"] == 10.0


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_gives_identical_predictions(family: str) -> None:
    X, y = planted(n=600)
    Z = inputs(make(family), X)
    val = (Z[400:500], y[400:500], np.ones(100))
    a = make(family, seed=7).fit(Z[:400], y[:400], validation=val).predict_score(Z[500:])
    b = make(family, seed=7).fit(Z[:400], y[:400], validation=val).predict_score(Z[500:])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("only_class", [0, 1])
def test_single_class_training_data_gives_a_constant_score(family: str, only_class: int, tmp_path) -> None:
    X, _ = planted(n=100)
    y = np.full(100, only_class)
    model = make(family)
    Z = inputs(model, X)
    model.fit(Z, y)
    np.testing.assert_array_equal(model.predict_score(Z[:5]), np.full(5, float(only_class)))
    assert model.describe()["constant_score"] == float(only_class)
    loaded = ModelFamily.load(model.save(tmp_path / "c.model"))
    np.testing.assert_array_equal(loaded.predict_score(Z[:5]), np.full(5, float(only_class)))


def test_logistic_scaler_is_fitted_on_the_training_rows_only() -> None:
    X, y = planted()
    X = X * 5 + 3  # far from standardised, so the scaler matters
    model = LogisticFamily().fit(X[:600], y[:600])
    scaler = model._pipeline.named_steps["scaler"]
    np.testing.assert_allclose(scaler.mean_, X[:600].mean(axis=0))
    # Predicting rows one at a time equals predicting the batch: nothing is fitted at predict.
    batch = model.predict_score(X[600:610])
    single = np.array([model.predict_score(X[i : i + 1])[0] for i in range(600, 610)])
    np.testing.assert_allclose(batch, single)


def test_sample_weight_changes_the_fit() -> None:
    X, y = planted(n=400)
    w = np.where(X[:, 1] > 0, 10.0, 0.1)
    plain = LogisticFamily().fit(X, y).predict_score(X)
    weighted = LogisticFamily().fit(X, y, sample_weight=w).predict_score(X)
    assert not np.allclose(plain, weighted)


@pytest.mark.parametrize(
    ("X", "y", "w", "match"),
    [
        (np.array([[np.nan], [1.0]]), np.array([0, 1]), None, "NaN"),
        (np.array([[0.0], [1.0]]), np.array([0, 2]), None, "binary"),
        (np.array([[0.0], [1.0]]), np.array([0, 1]), np.array([1.0, 0.0]), "sample_weight"),
        (np.array([0.0, 1.0]), np.array([0, 1]), None, "2-D"),
    ],
)
def test_fit_rejects_bad_inputs_with_clear_messages(X, y, w, match) -> None:
    with pytest.raises(ValueError, match=match):
        LogisticFamily().fit(X, y, sample_weight=w)


def test_predict_before_fit_or_with_wrong_width_is_an_error() -> None:
    X, y = planted(n=200)
    with pytest.raises(RuntimeError, match="not fitted"):
        LightGBMFamily().predict_score(X)
    model = LightGBMFamily(n_estimators=5).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict_score(X[:, :2])


def test_describe_reports_family_seed_and_full_params() -> None:
    d = LightGBMFamily(seed=5, num_leaves=7).describe()
    assert d["family"] == "lightgbm" and d["seed"] == 5
    assert d["params"]["num_leaves"] == 7 and d["params"]["n_estimators"] == 200


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
def test_boosting_stops_early_on_the_validation_slice(family: str) -> None:
    X, y = planted()
    model = make(family, n_estimators=500, early_stopping_rounds=5, learning_rate=0.3)
    model.fit(X[:500], y[:500], validation=(X[500:600], y[500:600], np.ones(100)))
    assert model.fit_info_["best_iteration"] < 500
    without = make(family, n_estimators=500, learning_rate=0.3).fit(X[:500], y[:500])
    assert without.fit_info_["best_iteration"] == 500


def test_neural_scaler_lives_in_the_model_and_uses_training_rows_only() -> None:
    X, y = planted()
    X = X * 5 + 3
    model = make("mlp").fit(X[:600], y[:600])
    np.testing.assert_allclose(model._net.mean.numpy(), X[:600].mean(axis=0), rtol=1e-5)
    batch = model.predict_score(X[600:610])
    single = np.array([model.predict_score(X[i : i + 1])[0] for i in range(600, 610)])
    np.testing.assert_allclose(batch, single, rtol=1e-6)


def test_sequence_family_rejects_tabular_input_and_wrong_window() -> None:
    X, y = planted(n=50)
    with pytest.raises(ValueError, match="3-D"):
        make("lstm").fit(X, y)
    with pytest.raises(ValueError, match="window"):
        make("lstm").fit(make_windows(X, np.array([0, 50]), np.arange(50), 3), y)
