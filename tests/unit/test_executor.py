"""Steps fork from a warm forkserver by default, which is only safe while its preload starts no
threads; run config still chooses in-process or spawn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from jobs.executor import FORKSERVER_PRELOAD, WHOLE_MACHINE_TAG, _step_defaults, step_executor


@dg.op
def where_the_step_ran() -> tuple[int, int]:
    return os.getpid(), os.getppid()


@dg.job(executor_def=step_executor)
def one_step():
    where_the_step_ran()


def build_one_step() -> dg.JobDefinition:
    return one_step


def _step_pid_and_parent(tmp_path: Path, run_config: dict) -> tuple[int, int]:
    # Step processes import the job by module name, which pytest's own import does not give.
    job = dg.build_reconstructable_job("tests.unit.test_executor", "build_one_step")
    with (
        dg.instance_for_test(temp_dir=str(tmp_path)) as instance,
        dg.execute_job(job, instance=instance, run_config=run_config) as result,
    ):
        assert result.success
        return tuple(result.output_for_node("where_the_step_ran"))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux /proc")
def test_the_forkserver_preload_starts_no_threads() -> None:
    code = f"import os\nimport {', '.join(FORKSERVER_PRELOAD)}\nprint(len(os.listdir('/proc/self/task')))"
    threads = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(threads) == 1, f"importing {FORKSERVER_PRELOAD} starts threads: forked steps could deadlock"


def test_steps_fork_from_a_server_by_default(tmp_path: Path) -> None:
    pid, parent = _step_pid_and_parent(tmp_path, {})
    assert pid != os.getpid() and parent != os.getpid()  # a child of the forkserver, not of the run


def test_spawn_can_still_be_chosen(tmp_path: Path) -> None:
    spawn = {"execution": {"config": {"multiprocess": {"start_method": {"spawn": {}}}}}}
    pid, parent = _step_pid_and_parent(tmp_path, spawn)
    assert pid != os.getpid() and parent == os.getpid()


def test_in_process_can_still_be_chosen(tmp_path: Path) -> None:
    pid, _ = _step_pid_and_parent(tmp_path, {"execution": {"config": {"in_process": {}}}})
    assert pid == os.getpid()


def test_whole_machine_steps_run_one_at_a_time_on_one_machine_and_side_by_side_on_a_cluster(monkeypatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    limits = _step_defaults({"multiprocess": {}})["multiprocess"]["tag_concurrency_limits"]
    assert limits == [{"key": WHOLE_MACHINE_TAG, "limit": 1}]
    chosen = {"multiprocess": {"tag_concurrency_limits": []}}
    assert _step_defaults(chosen)["multiprocess"]["tag_concurrency_limits"] == []
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert "tag_concurrency_limits" not in _step_defaults({"multiprocess": {}})["multiprocess"]


def test_the_steps_that_take_the_whole_machine_carry_the_tag() -> None:
    from foxml_dagster.definitions import defs

    job = defs.resolve_job_def("full_pipeline")
    tagged = {node.name for node in job.graph.nodes if node.definition.tags.get(WHOLE_MACHINE_TAG)}
    training = {node.name for node in job.graph.nodes if node.name.startswith("train_")}
    assert training and training <= tagged
    assert {"production_models", "target_ranking", "model_scores", "strategy_returns"} <= tagged
