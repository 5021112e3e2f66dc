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


def _forkserver_by_default(config: dict[str, Any]) -> dict[str, Any]:
    multiprocess = config.get("multiprocess")
    if multiprocess is None or "start_method" in multiprocess:
        return config
    if "forkserver" not in multiprocessing.get_all_start_methods():  # Windows
        return config
    start_method = {"forkserver": {"preload_modules": list(FORKSERVER_PRELOAD)}}
    return {"multiprocess": {**multiprocess, "start_method": start_method}}


step_executor = dg.multi_or_in_process_executor.configured(
    _forkserver_by_default,
    name="multi_or_in_process_executor",
    config_schema=dg.multi_or_in_process_executor.config_schema.as_field(),
)
