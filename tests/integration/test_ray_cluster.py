"""The heavy stages on a real two-node Ray cluster give what one process gives.

`ray.cluster_utils.Cluster` starts a head node and a second node (each its own raylet, object
store and workers) on this machine, and the stages reach it the way a user's run reaches a
KubeRay cluster: `RAY_ADDRESS` read by `RayResource`. Per stage the test records which node ran
each task (`RayRunner.placements`) and compares every result with the in-process run.

The cluster runs in a child process: the session's `ray_cluster` fixture may already have
connected this pytest process to a local Ray, and a process holds one Ray connection at a time.
Run by hand: `python -m tests.integration.test_ray_cluster` prints the JSON report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

from foxml_dagster.paths import REPO_ROOT

NODE_CPUS = 1  # per node: with more tasks than CPUs, the scheduler must use both nodes
OBJECT_STORE_MB = 100


def test_heavy_stages_fan_out_over_two_ray_nodes_with_identical_results() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "FOXML_RAY", "FOXML_RAY_STAGES")}
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "tests.integration.test_ray_cluster"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, f"multi-node run failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    report = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"two-node Ray run: {time.perf_counter() - started:.1f}s; stages {report['stages']}")

    assert len(report["cluster_nodes"]) == 2
    for stage, facts in report["stages"].items():
        assert facts["identical"], f"{stage}: the Ray result differs from the in-process one"
        assert facts["runner"] == "ray", stage
        assert set(facts["nodes"]) <= set(report["cluster_nodes"]), stage
    # Every stage with more tasks than the cluster has CPUs ran on both nodes.
    for stage in ("features", "lookahead", "importance", "training"):
        facts = report["stages"][stage]
        assert facts["tasks"] > 2 * NODE_CPUS, stage
        assert set(facts["nodes"]) == set(report["cluster_nodes"]), f"{stage} ran on {facts['nodes']} only"
    # The planted look-ahead was found on the cluster too (identical rows, and not vacuously).
    assert report["stages"]["lookahead"]["failed"] == ["peek_close"]


def _peek_next_close(panel) -> np.ndarray:
    """A planted leak: the next bar's close (module level, so Ray ships it by reference)."""
    return np.r_[panel.close[1:], np.nan]


def _run_on_two_nodes() -> dict:
    import ray
    from ray.cluster_utils import Cluster

    from foxml_dagster.features import FeatureSpec, compute_features, feature_set
    from foxml_dagster.leakage import feature_lookahead_rows
    from foxml_dagster.runner import InProcessRunner, RayRunner
    from foxml_dagster.selection.importance import importance_tables
    from foxml_dagster.training import train_out_of_fold
    from resources.ray import RayResource

    # Every node's workers import this checkout (the test module included), as installed workers
    # of a real cluster import the package from their image.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    node_args = {"num_cpus": NODE_CPUS, "object_store_memory": OBJECT_STORE_MB * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**node_args, "include_dashboard": False})
    cluster.add_node(**node_args)
    cluster.wait_for_nodes()
    os.environ["RAY_ADDRESS"] = cluster.address  # what a user exports for their cluster
    resource = RayResource()
    # Test data helpers, imported after the resource read the environment: tests/conftest.py
    # turns Ray off (FOXML_RAY=0) for the in-process pipeline tests.
    from tests.conftest import random_walk_bars
    from tests.unit.test_selection import synthetic_frame
    from tests.unit.test_training import FEATURES, make_folds, make_frame

    stages: dict[str, dict] = {}

    def record(stage: str, runner: RayRunner, identical: bool, **extra) -> None:
        names = [name for name, _ in runner.placements]
        nodes = sorted({node for _, node in runner.placements})
        stages[stage] = {"runner": runner.name, "identical": identical, "tasks": len(names), "nodes": nodes, **extra}

    try:
        assert resource.address == cluster.address
        here = InProcessRunner()

        bars = random_walk_bars(symbols=tuple(f"S{i:02d}" for i in range(8)), n=300, seed=5)
        specs = feature_set("baseline")
        budget_mb = 0.2  # two symbols per batch: 8 symbols make 4 batches (tasks)
        runner = resource.stage_runner()
        fanned = compute_features(bars, specs, memory_budget_mb=budget_mb, runner=runner)
        record("features", runner, fanned.equals(compute_features(bars, specs, memory_budget_mb=budget_mb)))

        peek = FeatureSpec("peek_close", _peek_next_close, ("close",), 0, "planted: next close")
        probe_bars = bars.filter(bars["symbol"].is_in(["S00", "S01", "S02"]))
        runner = resource.stage_runner()
        rows = feature_lookahead_rows(probe_bars, [*specs, peek], seed=3, runner=runner)
        failed = sorted(r["subject"] for r in rows if r["status"] == "fail")
        local_rows = feature_lookahead_rows(probe_bars, [*specs, peek], seed=3, runner=here)
        record("lookahead", runner, rows == local_rows, failed=failed)

        frame, names = synthetic_frame(n=500, drivers=("signal", None))
        folds = make_folds(frame, n_folds=3)
        clusters = np.arange(len(names))
        kwargs = {"targets": ["noise_t", "tb_h1"], "n_estimators": 20, "seed": 2}
        runner = resource.stage_runner()
        remote = importance_tables(frame, folds, names, clusters, runner=runner, **kwargs)
        local = importance_tables(frame, folds, names, clusters, runner=here, **kwargs)
        record("importance", runner, all(remote[t].equals(local[t]) for t in kwargs["targets"]))

        # Fits long enough (a few hundred ms) that one node's worker is still busy when the next
        # task is placed; millisecond fits can all run back to back on the first lease.
        frame = make_frame(n_bars=1500, symbols=("AAA", "BBB"))
        folds = make_folds(frame, n_folds=3)
        lightgbm = {"n_estimators": 300, "num_leaves": 31, "min_child_samples": 5, "early_stopping_rounds": 0}
        train = {"feature_columns": FEATURES, "families": {"lightgbm": lightgbm}, "seed": 4}
        runner = resource.runner()
        fitted = train_out_of_fold(frame, folds, runner=runner, **train)
        record("training", runner, fitted.oof.equals(train_out_of_fold(frame, folds, runner=here, **train).oof))

        cluster_nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
    finally:
        ray.shutdown()
        cluster.shutdown()
    return {"cluster_nodes": cluster_nodes, "stages": stages}


if __name__ == "__main__":
    print(json.dumps(_run_on_two_nodes()))
