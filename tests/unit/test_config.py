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
