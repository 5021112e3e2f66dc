"""`foxml run` on runs that fail: what failed and why, in a few lines, never a traceback."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yaml

from jobs.cli import main as foxml


@pytest.fixture
def tiny_experiment(small_experiment):
    """The small experiment cut to two symbols over 2010 and one family: every stage runs, fast."""
    cfg = yaml.safe_load(small_experiment.read_text())
    cfg["data"].update(symbols=["AAPL", "MSFT"], end="2010-12-31")
    cfg["training"]["families"] = {"logistic": {}}
    small_experiment.write_text(yaml.safe_dump(cfg))
    return small_experiment


def assert_no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Stack Trace" not in err, err


def test_a_step_that_raises_prints_the_step_and_its_error_line_and_exits_1(tiny_experiment, monkeypatch, capsys):
    import assets.dataset

    def broken(*args, **kwargs):
        raise ValueError("planted: the join found no rows\nsecond line of detail")

    monkeypatch.setattr(assets.dataset, "TrainingFrameBuild", broken)
    assert foxml(["run", "--in-process"]) == 1
    err = capsys.readouterr().err
    assert_no_traceback(err)
    assert "step training_frame failed: ValueError: planted: the join found no rows" in err
    assert "second line of detail" not in err
    assert "downstream step(s) not run: folds" in err


def test_a_planted_leak_prints_the_no_leakage_check_and_its_culprits(tiny_experiment, monkeypatch, capsys):
    from foxml_dagster.features import FeatureSpec, feature_set, register_feature, registry

    # The planted set lives in copies of the registry, gone after this test.
    feature_set("baseline")
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_SETS", {k: list(v) for k, v in registry._SETS.items()})
    for spec in feature_set("baseline"):
        register_feature(replace(spec, name=f"leaky_set_{spec.name}"), sets=("planted_leak",))
    register_feature(
        FeatureSpec("next_close_gap", lambda p: np.r_[p.close[1:], np.nan] / p.close - 1, ("close",), 0, "leak"),
        sets=("planted_leak",),
    )
    tiny_experiment.write_text(tiny_experiment.read_text() + "features: {set: planted_leak}\n")

    assert foxml(["run", "--in-process"]) == 1
    err = capsys.readouterr().err
    assert_no_traceback(err)
    assert "step leakage_report failed: asset check no_leakage on leakage_report did not pass" in err
    culprits = err.split("culprits:", 1)[1]
    assert "next_close_gap" in culprits
