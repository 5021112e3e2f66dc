"""Configuration: the shipped file loads; a wrong value fails fast naming the file and field."""

import pytest

from foxml_dagster.config import DEFAULT_CONFIG, ConfigError, load_experiment


def test_the_shipped_experiment_loads():
    cfg = load_experiment(DEFAULT_CONFIG)
    assert cfg.data.source == "sample"
    assert set(cfg.training.families) == {"lightgbm", "logistic"}


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        ("data:\n  source: csv\n", "data.source"),
        ("splits:\n  n_folds: 1\n", "splits.n_folds"),
        ("labels:\n  triple_barrier:\n    horizon: 0\n", "labels.triple_barrier.horizon"),
        ("signals:\n  risk:\n    max_gross: -1\n", "signals.risk.max_gross"),
        ("splits:\n  nfolds: 5\n", "splits.nfolds"),
        ("features:\n  set: nonesuch\n", "features.set"),
        ("features:\n  cross_sectional: sectors\n", "features.cross_sectional"),
        ("training:\n  families:\n    lightgbm: {n_estimators: many}\n", "training.families.lightgbm.n_estimators"),
        ("training:\n  families:\n    lightgbm: {n_estimators: -10}\n", "training.families.lightgbm.n_estimators"),
        ("training:\n  families:\n    lightgbm: {num_leaves: 2.5}\n", "training.families.lightgbm.num_leaves"),
        ("training:\n  families:\n    mlp: {dropout: 1.5}\n", "training.families.mlp.dropout"),
        ("training:\n  families:\n    xgboost: {device: tpu}\n", "training.families.xgboost.device"),
        ("training:\n  families:\n    transformer: {hidden_size: 10}\n", "training.families.transformer"),
        ("training:\n  families:\n    lgbm: {}\n", "training.families.lgbm"),
    ],
)
def test_an_invalid_value_names_the_file_and_the_field(tmp_path, yaml_text, field):
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_broken_yaml_and_missing_file_are_clear(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_experiment(broken)
    with pytest.raises(ConfigError, match="not found"):
        load_experiment(tmp_path / "absent.yaml")


def test_a_bad_parameter_from_a_variant_file_or_the_environment_names_where_it_was_set(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    (models / "lightgbm.yaml").write_text("default_variant: wild\nvariants: {wild: {learning_rate: -0.1}}\n")
    monkeypatch.setenv("FOXML_MODELS_DIR", str(models))
    monkeypatch.setenv("FOXML_MODEL__LOGISTIC__C", "0")
    path = tmp_path / "experiment.yaml"
    path.write_text("training:\n  families:\n    lightgbm: {}\n    logistic: {}\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    lines = str(err.value).splitlines()
    assert any(
        "training.families.lightgbm.learning_rate" in line and "lightgbm.yaml, variant 'wild'" in line for line in lines
    )
    assert any("training.families.logistic.C" in line and "$FOXML_MODEL__LOGISTIC__C" in line for line in lines)


@pytest.mark.parametrize(
    ("yaml_text", "secret"),
    [
        # a credential under a field name that says so, even when short
        ("data:\n  alpaca:\n    api_key: hunter2\n", "hunter2"),
        ("data:\n  alpaca:\n    secret_key: 12345\n", "12345"),
        ("data:\n  ibkr:\n    password: [s3cr3t, x9y8]\n", "s3cr3t"),
        # a long opaque token anywhere: a value, a list item, a key the schema does not know
        ("features:\n  set: PKZ3X8QW2ER5TY7UI9OPA1\n", "PKZ3X8QW2ER5TY7UI9OPA1"),
        (
            "data:\n  symbols: AAPL\n  sessions: {calendar: [ghp_a1B2c3D4e5F6g7H8i9J0kLmN]}\n",
            "ghp_a1B2c3D4e5F6g7H8i9J0kLmN",
        ),
        ("data:\n  wJalrXUtnFEMI0K7MDENGbPxRfiCY: 1\n", "wJalrXUtnFEMI0K7MDENGbPxRfiCY"),
    ],
)
def test_an_error_never_prints_a_value_that_may_be_a_secret(tmp_path, yaml_text, secret):
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert str(path) in str(err.value) and "hidden" in str(err.value)
    assert secret not in str(err.value)


def test_an_error_still_shows_an_ordinary_bad_value(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text("data:\n  source: csv\n  landing_dir: /data/landing/2024-01-02\nsplits: {n_folds: 1}\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert "(got 'csv')" in str(err.value) and "(got 1)" in str(err.value)
