"""Family resolution: variants, experiment overrides, environment overrides, errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from foxml_dagster.training import TrainingConfig, resolve_family
from foxml_dagster.training.config import load_variants, models_dir

ALL = ["lightgbm", "xgboost", "logistic", "ridge", "random_forest", "extra_trees", "mlp"]
ALL += ["lstm", "gru", "cnn1d", "tcn", "transformer"]


@pytest.mark.parametrize("family", ALL)
def test_every_family_has_three_variants_that_build(family: str) -> None:
    file = load_variants(family)
    assert set(file["variants"]) == {"conservative", "balanced", "aggressive"}
    for variant in file["variants"]:
        spec = resolve_family(family, {"variant": variant}, environ={})
        assert spec.variant == variant
        from foxml_dagster.models import get_family

        get_family(family)(**spec.params)  # every variant is a valid parameter set


def test_precedence_is_variant_then_experiment_then_environment() -> None:
    variant = load_variants("lightgbm")["variants"]["aggressive"]
    spec = resolve_family("lightgbm", {"variant": "aggressive", "num_leaves": 9}, environ={})
    assert spec.params["learning_rate"] == variant["learning_rate"] and spec.params["num_leaves"] == 9
    env = {"FOXML_MODEL__LIGHTGBM__NUM_LEAVES": "5", "FOXML_MODEL__LIGHTGBM__LEARNING_RATE": "0.2"}
    spec = resolve_family("lightgbm", {"variant": "aggressive", "num_leaves": 9}, environ=env)
    assert (spec.params["num_leaves"], spec.params["learning_rate"]) == (5, 0.2)
    assert spec.sources["num_leaves"] == "env" and spec.sources["n_estimators"] == "variant:aggressive"
    picked = resolve_family("lightgbm", {}, environ={"FOXML_MODEL__LIGHTGBM__VARIANT": "conservative"})
    assert picked.variant == "conservative"


def test_resources_come_from_the_yaml_and_the_experiment() -> None:
    spec = resolve_family("mlp", {"resources": {"num_gpus": 1}}, environ={}, default_memory_mb=512)
    assert (spec.num_gpus, spec.memory_mb) == (1.0, 1024.0)
    assert resolve_family("logistic", {}, environ={}, default_memory_mb=512).memory_mb == 512


def test_config_hash_changes_with_any_parameter() -> None:
    a = resolve_family("xgboost", {}, environ={})
    b = resolve_family("xgboost", {"max_depth": 2}, environ={})
    assert a.config_hash(1) == resolve_family("xgboost", {}, environ={}).config_hash(1)
    assert a.config_hash(1) != b.config_hash(1) and a.config_hash(1) != a.config_hash(2)


@pytest.mark.parametrize(
    ("families", "match"),
    [
        ({"catboost": {}}, "registered families"),
        ({"lightgbm": {"variant": "reckless"}}, "reckless"),
        ({"lightgbm": {"num_trees": 3}}, "num_trees"),
        ({"lightgbm": {"resources": {"tpus": 1}}}, "tpus"),
        ({"Bad-Name": {}}, "lower-case"),
    ],
)
def test_bad_family_blocks_fail_when_the_config_loads(families: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        TrainingConfig(families=families)


@pytest.mark.parametrize(
    ("block", "loc"),
    [
        ({"n_estimators": "many"}, ("families", "lightgbm", "n_estimators")),
        ({"n_estimators": -10}, ("families", "lightgbm", "n_estimators")),
        ({"n_estimators": 2.5}, ("families", "lightgbm", "n_estimators")),
        ({"early_stopping_rounds": True}, ("families", "lightgbm", "early_stopping_rounds")),
        ({"subsample": 1.5}, ("families", "lightgbm", "subsample")),
    ],
)
def test_a_parameter_of_the_wrong_type_or_range_fails_at_its_own_location(block: dict, loc: tuple) -> None:
    with pytest.raises(ValidationError) as err:
        TrainingConfig(families={"lightgbm": block})
    assert [e["loc"] for e in err.value.errors()] == [loc]


def test_resolved_parameters_are_typed_by_the_family_schema() -> None:
    # YAML 1.1 reads 1e-3 as a string; the schema makes it the float the family expects.
    spec = resolve_family("mlp", {"learning_rate": "1e-3", "dropout": 0}, environ={})
    assert spec.params["learning_rate"] == 0.001 and isinstance(spec.params["dropout"], float)


def test_an_environment_override_reaches_a_parameter_spelled_in_capitals() -> None:
    spec = resolve_family("logistic", {}, environ={"FOXML_MODEL__LOGISTIC__C": "0.25"})
    assert spec.params["C"] == 0.25 and spec.sources["C"] == "env"


def test_the_models_dir_can_be_moved(tmp_path, monkeypatch) -> None:
    (tmp_path / "logistic.yaml").write_text("default_variant: tiny\nvariants: {tiny: {C: 0.5}}\n")
    monkeypatch.setenv("FOXML_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path
    assert resolve_family("logistic", {}, environ={}).params["C"] == 0.5
