"""The executor every job runs with: Dagster's default, with steps forked from a warm server.

Dagster's multiprocess executor spawns a fresh interpreter per step, which pays the whole import
of Dagster and its instance storage again each time (about 6 s here, before any of the step's
work). With the forkserver start method, steps fork from one server that has already imported
`FORKSERVER_PRELOAD`.

Only modules that start no threads may be preloaded: forking a process that has threads can
deadlock the child. Dagster's import starts none, while polars (jemalloc and spill threads) and
numpy (BLAS workers) do, so they are imported per step (tests/unit/test_executor.py checks this).

Run config still chooses, exactly as with Dagster's default: `in_process: {}`, or
`multiprocess: {start_method: {spawn: {}}}` to opt out.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

import dagster as dg

# Dagster, and the instance's SQLite storages a step process opens first thing: importing those
# (SQLAlchemy, Alembic and Dagster's storage layer) took ~4 s of every step's start here.
FORKSERVER_PRELOAD = (
    "dagster",
    "dagster._core.instance.factory",
    "dagster._core.storage.sqlite_storage",
    "dagster._core.storage.event_log.sqlite",
    "dagster._core.storage.runs.sqlite",
    "dagster._core.storage.schedules.sqlite",
)


#: Op tag of the steps that each take the whole machine on one machine: a private local Ray over
#: every core (training, production refits), or a working set that grows with the panel (target
#: ranking, which fits on every row of each target; the scores and the strategy grid, one
#: prediction per sample and model).
WHOLE_MACHINE_TAG = "foxml/whole_machine"


def _step_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """The forkserver start method, and one whole-machine step at a time, unless run config says
    otherwise.

    A local Ray takes every core of the machine for its workers, and holds its object store and
    workers' memory until its step ends: two such steps side by side gain no speed and double the
    memory (at a million rows, two training steps at once were the run's 15.8 GB peak; target
    ranking beside training, 8.0 GB). With a cluster (RAY_ADDRESS set where the run starts) the
    training runs there, and the steps run side by side."""
    multiprocess = config.get("multiprocess")
    if multiprocess is None:
        return config
    multiprocess = dict(multiprocess)
    if "start_method" not in multiprocess and "forkserver" in multiprocessing.get_all_start_methods():
        multiprocess["start_method"] = {"forkserver": {"preload_modules": list(FORKSERVER_PRELOAD)}}
    if "tag_concurrency_limits" not in multiprocess and not os.environ.get("RAY_ADDRESS"):
        multiprocess["tag_concurrency_limits"] = [{"key": WHOLE_MACHINE_TAG, "limit": 1}]
    return {"multiprocess": multiprocess}


step_executor = dg.multi_or_in_process_executor.configured(
    _step_defaults,
    name="multi_or_in_process_executor",
    config_schema=dg.multi_or_in_process_executor.config_schema.as_field(),
)
