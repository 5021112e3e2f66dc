"""Data-parallel training of a neural family on CPU workers through Ray Train (DDP over gloo),
on the session's real local Ray cluster: the path a GPU cluster takes with `accelerator: gpu`.

Each fit starts a Ray Train controller and two fresh worker processes that import torch and
Lightning: about 30 s on 2 idle cores, almost all of it start-up, so the module fits once and the
tests share that model.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from foxml_dagster.models import get_family
from foxml_dagster.training import InProcessRunner, train_out_of_fold
from foxml_dagster.training.config import resolve_family
from tests.unit.test_training import FEATURES, make_folds, make_frame

#: Two workers of one CPU each: the whole of the session cluster's 2 CPUs.
PARAMS = {"devices": 2, "hidden_size": 16, "num_layers": 1, "max_epochs": 6, "patience": 3, "batch_size": 64}


def _dataset(n: int = 2400, seed: int = 0):
    """y depends on two features linearly and on a product of two others; two are noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    logit = 2.0 * X[:, 0] - 1.5 * X[:, 1] + X[:, 2] * X[:, 3]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    w = rng.uniform(0.5, 1.5, n)
    train, val, test = slice(0, 1600), slice(1600, 2000), slice(2000, None)
    return (X[train], y[train], w[train]), (X[val], y[val], w[val]), (X[test], y[test])


@pytest.fixture(scope="module")
def model(ray_cluster):
    (X, y, w), validation, _ = _dataset()
    return get_family("mlp")(seed=5, **PARAMS).fit(X, y, w, validation=validation)


def test_two_cpu_workers_train_the_model_over_gloo(model) -> None:
    info = model.describe()["fit_info"]  # what the manifest records
    assert info["data_parallel_workers"] == 2  # the workers' own process group, not our request
    assert info["data_parallel_backend"] == "gloo"
    assert 1 <= info["epochs"] <= PARAMS["max_epochs"] and info["best_epoch"] >= 0


def test_the_data_parallel_model_beats_chance_out_of_sample(model) -> None:
    _, _, (X_test, y_test) = _dataset()
    assert roc_auc_score(y_test, model.predict_score(X_test)) > 0.75  # chance 0.5; the signal allows ~0.85


def test_the_returned_weights_predict_the_same_after_save_and_load(model, tmp_path) -> None:
    _, _, (X_test, _) = _dataset()
    model.save(tmp_path / "mlp")
    assert np.array_equal(type(model).load(tmp_path / "mlp").predict_score(X_test), model.predict_score(X_test))


def test_data_parallel_needs_an_explicit_accelerator() -> None:
    with pytest.raises(ValueError, match="accelerator to cpu or gpu"):
        get_family("mlp")(devices=2, accelerator="auto")


def test_a_data_parallel_task_leaves_the_cpus_and_gpus_to_its_workers() -> None:
    single = resolve_family("mlp", {}, environ={})
    assert (single.num_cpus, single.num_gpus) == (1, 0)  # configs/models/mlp.yaml
    parallel = resolve_family("mlp", {"devices": 2}, environ={})
    assert (parallel.num_cpus, parallel.num_gpus) == (0, 0)
    chosen = resolve_family("mlp", {"devices": 2, "resources": {"num_cpus": 2}}, environ={})
    assert (chosen.num_cpus, chosen.num_gpus) == (2, 0)  # the experiment's own choice wins


class _Stopped(Exception):
    pass


class _RequestsSeen(InProcessRunner):
    """Notes what each task would ask the scheduler for, then stops before any training."""

    def map(self, fn, calls):
        self.requests = {(call.num_cpus, call.num_gpus) for call in calls}
        raise _Stopped


def test_a_family_given_as_plain_params_follows_the_same_resource_rule() -> None:
    frame = make_frame(n_bars=120, symbols=("AAA",))
    runner = _RequestsSeen()
    with pytest.raises(_Stopped):
        train_out_of_fold(
            frame,
            make_folds(frame, n_folds=2),
            feature_columns=FEATURES,
            families={"mlp": {"devices": 2}},
            runner=runner,
        )
    assert runner.requests == {(0.0, 0.0)}
