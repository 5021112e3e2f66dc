"""Training on a real local Ray cluster (one per test session) gives what in-process gives;
one family can be retrained alone, through Ray, without touching the others."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg
import pytest

from assets.partitions import range_tags, symbol_partitions
from foxml_dagster.paths import REPO_ROOT
from foxml_dagster.storage import query_catalog
from foxml_dagster.training import InProcessRunner, RayRunner, train_out_of_fold
from resources.ray import RayResource
from tests.unit.test_training import FEATURES, TINY, make_folds, make_frame

SYMBOLS = ["AAPL", "IBM", "MSFT"]


def test_ray_fan_out_gives_the_same_predictions_as_in_process(ray_cluster) -> None:
    frame = make_frame(n_bars=200, symbols=("AAA", "BBB"))
    folds = make_folds(frame, n_folds=2)
    families = {k: TINY[k] for k in ("lightgbm", "xgboost", "logistic", "random_forest", "mlp", "gru", "tcn")}
    kwargs = {"feature_columns": FEATURES, "families": families, "targets": ["tb_h5"], "seed": 4}
    local = train_out_of_fold(frame, folds, runner=InProcessRunner(), **kwargs)
    fanned = train_out_of_fold(frame, folds, runner=RayRunner(), **kwargs)
    assert fanned.oof.equals(local.oof)
    assert len(fanned.models) == len(families) * 2  # one Ray task per (family, fold)
    assert [m.model_id for m in fanned.models] == [m.model_id for m in local.models]


def test_workers_are_reused_across_tasks_and_fan_outs(ray_cluster) -> None:
    """A fresh worker per task would pay every import (torch + Lightning: 8-10 s) per fold."""
    from foxml_dagster.training.runner import Call

    def pid() -> int:  # local, so Ray ships it by value: workers cannot import this test module
        import os
        import time

        time.sleep(0.05)  # long enough that both workers take tasks
        return os.getpid()

    calls = [Call((), name=f"pid{i}") for i in range(8)]
    pids = set(RayRunner().map(pid, calls)) | set(RayRunner().map(pid, calls))
    assert len(pids) <= 2  # the session's cluster has 2 CPUs and each task asks for 1


def test_a_tabular_task_never_imports_torch(tmp_path) -> None:
    """Workers that only fit tabular families must not pay the torch + Lightning import."""
    script = (
        "import sys\n"
        "from foxml_dagster.training.data import build_panel, fold_rows\n"
        "from foxml_dagster.training.tasks import FitTask, fit_fold\n"
        "from tests.unit.test_training import FEATURES, make_folds, make_frame\n"
        "frame = make_frame(n_bars=120, symbols=('AAA', 'BBB'))\n"
        "folds = make_folds(frame, n_folds=2)\n"
        "panel = build_panel(frame, 'tb_h5', FEATURES)\n"
        "train, test = (fold_rows(panel, folds, 0, role) for role in ('train', 'test'))\n"
        "for family in ('lightgbm', 'xgboost', 'logistic', 'ridge', 'random_forest', 'extra_trees'):\n"
        "    fit_fold(panel, FitTask(family, {}, 0, 0, train, test, 0.2))\n"
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_failing_task_names_its_family_and_fold(ray_cluster) -> None:
    with pytest.raises(RuntimeError, match=r"transformer:tb_h5:fold0"):
        RayRunner().map(_explode, [_call("transformer:tb_h5:fold0")])


def _explode():
    raise ValueError("boom")


def _call(name):
    from foxml_dagster.training.runner import Call

    return Call((), name=name)


def test_one_family_is_retrained_alone_through_ray(ray_cluster, small_experiment, home, monkeypatch) -> None:
    from foxml_dagster.definitions import build_definitions

    defs = build_definitions()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions.name, SYMBOLS)
    assert defs.resolve_job_def("full_pipeline").execute_in_process(instance=instance, tags=range_tags(SYMBOLS)).success
    catalog = home / "catalog.duckdb"
    before = query_catalog(catalog, "SELECT * FROM oof_predictions__lightgbm ORDER BY model_id, symbol, ts")
    manifest_path = home / "models" / "logistic" / "manifest.json"
    first = json.loads(manifest_path.read_text())

    monkeypatch.setenv("FOXML_RAY", "1")  # the resource joins the session's cluster
    defs = build_definitions()
    keys = [dg.AssetKey(["trained_models", "logistic"]), dg.AssetKey(["oof_predictions", "logistic"])]
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=keys)
    assert result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert done == {"trained_models/logistic", "oof_predictions/logistic"}
    meta = next(e.materialization.metadata for e in result.get_asset_materialization_events() if e.asset_key == keys[0])
    assert meta["runner"].value == "ray"

    # Same inputs, seed and config through Ray: the same manifest hashes and predictions.
    second = json.loads(manifest_path.read_text())
    assert (second["config_hash"], second["data_hashes"]) == (first["config_hash"], first["data_hashes"])
    assert query_catalog(catalog, "SELECT * FROM oof_predictions__lightgbm ORDER BY model_id, symbol, ts").equals(
        before
    )
    models = query_catalog(catalog, "SELECT family, target, fold, path FROM trained_models__logistic")
    assert models.height > 0 and set(models["family"]) == {"logistic"}
    for path in models["path"]:
        assert "/models/logistic/" in path
    combined = query_catalog(catalog, "SELECT DISTINCT family FROM oof_predictions ORDER BY 1")
    assert combined["family"].to_list() == ["lightgbm", "logistic"]
    scores = query_catalog(catalog, "SELECT * FROM model_scores WHERE fold = -1")
    assert {"f1", "balanced_accuracy", "rank_ic", "ic_ir", "sign_hit_rate"} <= set(scores.columns)


_STEP_WITH_RAY = """
import dagster as dg
import ray
from resources.ray import RayResource

@dg.asset
def uses_ray(ray_resource: RayResource) -> None:
    ray_resource.runner()
    assert ray.is_initialized()

assert dg.materialize([uses_ray], resources={"ray_resource": RayResource(enabled=True, num_cpus=1)}).success
print(ray.is_initialized())
"""


def test_a_local_ray_started_by_a_step_is_stopped_with_it() -> None:
    # A fresh process, so the resource is the one that starts Ray.
    done = subprocess.run([sys.executable, "-c", _STEP_WITH_RAY], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_the_resource_leaves_a_connection_it_did_not_make(ray_cluster) -> None:
    @dg.asset
    def uses_ray(ray_resource: RayResource) -> None:
        ray_resource.runner()

    assert dg.materialize([uses_ray], resources={"ray_resource": RayResource(enabled=True)}).success
    assert ray_cluster.is_initialized()
