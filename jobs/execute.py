"""How `foxml run` executes a job: each step in its own process, as a run launched from the UI.

`JobDefinition.execute_in_process` would run every step in the `foxml` process itself. Memory a
step frees is then not all given back to the system (allocators keep freed memory for reuse, and
the run's local Ray and its workers live until the run ends), so every later step's peak comes on
top of what earlier steps left: at a million rows that was 9-11 GB held between steps. With a process per step (the
job's own executor, `jobs.executor`) a step's memory goes back when it ends, and a run costs what
its heaviest step costs.

The steps are forked from a forkserver that Python starts once per process. A process that runs
several jobs with different settings (a test session, a notebook) must not fork steps from a
server started under the previous run's FOXML_HOME or FOXML_CONFIG, so a running server is
stopped first and the next one starts from this process's current environment (and, unless the
caller wants to see them, with the steps' own prints going to /dev/null).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import dagster as dg

__all__ = ["execute_job", "execute_job_by_steps", "resolve_job"]


def resolve_job(name: str) -> dg.JobDefinition:
    """The job `name` of a code location built now, from the current environment: what a step
    process rebuilds by the reconstructable pointer to this function."""
    from foxml_dagster.definitions import build_definitions

    return build_definitions().resolve_job_def(name)


def _full_pipeline() -> dg.JobDefinition:
    return resolve_job("full_pipeline")


def _window_ingest() -> dg.JobDefinition:
    return resolve_job("window_ingest")


# Step processes find their job again through a module-level function (dg.reconstructable).
_RECONSTRUCTABLE = {"full_pipeline": _full_pipeline, "window_ingest": _window_ingest}


def execute_job(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    run_config: dict,
    tags: dict,
    run_id: str,
    *,
    in_process: bool,
    quiet_steps: bool = True,
):
    """Run `job` under `run_id`: every step in this process, or each in its own."""
    if in_process:
        return job.execute_in_process(
            run_config=run_config, instance=instance, tags=tags, raise_on_error=False, run_id=run_id
        )
    return execute_job_by_steps(job, instance, run_config=run_config, tags=tags, run_id=run_id, quiet_steps=quiet_steps)


def execute_job_by_steps(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    *,
    run_config: dict,
    tags: dict,
    run_id: str,
    quiet_steps: bool = True,
):
    """Run `job` (already resolved here, so config errors surface in this process) with its
    executor under the given run id; the result carries every event, as execute_in_process's does.

    With `quiet_steps`, what step processes print (Dagster's per-step worker lines, libraries'
    warnings) goes to /dev/null: the caller reports from the run's event log, where every event,
    log line and error of the steps is kept."""
    from dagster._core.definitions.reconstruct import ReconstructableJob
    from dagster._core.execution.api import execute_run

    _restart_forkserver(quiet=quiet_steps)
    recon = dg.reconstructable(_RECONSTRUCTABLE[job.name])
    # Dagster keeps the last job it rebuilt from a pointer; this pointer is the same for every
    # run of this process, and an earlier run may have had another experiment (other families).
    ReconstructableJob.get_definition.cache_clear()
    ReconstructableJob.get_repository_definition.cache_clear()
    run = instance.create_run_for_job(
        job_def=job, run_config=run_config, tags=tags, run_id=run_id, job_code_origin=recon.get_python_origin()
    )
    return execute_run(recon, run, instance, raise_on_error=False)


def _restart_forkserver(*, quiet: bool) -> None:
    """Stop this process's forkserver, if one runs, so step processes see the current environment,
    and start the next one (with the executor's preload) writing to /dev/null when `quiet`: the
    step processes it forks inherit its standard output and error."""
    import multiprocessing
    from multiprocessing import forkserver

    from jobs.executor import FORKSERVER_PRELOAD

    stop = getattr(forkserver._forkserver, "_stop", None)  # noqa: SLF001 - no public way to restart it
    if stop is not None:
        stop()
    if quiet and "forkserver" in multiprocessing.get_all_start_methods():
        forkserver.set_forkserver_preload(list(FORKSERVER_PRELOAD))
        with _standard_streams_to_devnull():
            forkserver.ensure_running()


@contextlib.contextmanager
def _standard_streams_to_devnull() -> Iterator[None]:
    """File descriptors 1 and 2 point at /dev/null inside, for the processes started there."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
