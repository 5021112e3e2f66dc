"""Run tags every run carries, and the run coordinator that adds them wherever a run is launched.

Every run gets `foxml/config_hash` (the experiment it runs: the file plus the run's overrides)
and `foxml/git_revision` (the checkout's commit, `-dirty` with uncommitted changes), so two runs
can be compared, and a result traced to its code and settings, from the runs page alone.

Runs launched from the UI, GraphQL, `dagster job launch`, schedules, sensors and backfills are
all submitted through the instance's run coordinator, so `FoxmlRunCoordinator` (named in
dagster.yaml) tags them there; `foxml run`, which executes in-process, calls `run_tags` itself.
A run of `all_symbols` with no partition gets the range over every registered symbol.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from collections.abc import Mapping

from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG

from foxml_dagster.paths import REPO_ROOT

CONFIG_HASH_TAG = "foxml/config_hash"
GIT_REVISION_TAG = "foxml/git_revision"


@functools.cache
def git_revision() -> str:
    """The checkout's commit (12 hex digits), `-dirty` with uncommitted changes to tracked files;
    `unknown` outside a git checkout. Cached: one process serves one checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=REPO_ROOT, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.returncode == 1 else "")


def experiment_overrides(run_config: Mapping) -> dict[str, object]:
    """The dotted experiment fields a run's config overrides (resources.experiment.config)."""
    from resources.home import ExperimentOverrides, set_overrides

    section = ((run_config.get("resources") or {}).get("experiment") or {}).get("config") or {}
    return set_overrides(ExperimentOverrides(**(section.get("overrides") or {})))


def config_hash(overrides: Mapping[str, object] | None = None) -> str:
    """A short hash of the experiment in force (FOXML_CONFIG) with `overrides` applied: equal
    hashes, equal settings. `invalid` when the experiment does not load (the run will say why)."""
    from foxml_dagster.config import ConfigError, load_experiment

    try:
        cfg = load_experiment(overrides=overrides)
    except ConfigError:
        return "invalid"
    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:12]


def run_tags(run_config: Mapping | None = None) -> dict[str, str]:
    """The provenance tags of a run with this run config."""
    overrides = experiment_overrides(run_config or {})
    return {CONFIG_HASH_TAG: config_hash(overrides), GIT_REVISION_TAG: git_revision()}


def all_symbols_tags(run: DagsterRun, symbols: list[str]) -> dict[str, str]:
    """Range tags over every registered symbol for an `all_symbols` run that names no partition."""
    from assets.partitions import range_tags
    from jobs.pipeline import ALL_SYMBOLS_TAG

    if run.tags.get(ALL_SYMBOLS_TAG) != "all" or not symbols:
        return {}
    if PARTITION_NAME_TAG in run.tags or ASSET_PARTITION_RANGE_START_TAG in run.tags:
        return {}  # the user picked partitions: theirs win
    return range_tags(symbols)


class FoxmlRunCoordinator(QueuedRunCoordinator):
    """Dagster's queued run coordinator (same settings, same queue) that tags each run first."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        from assets.partitions import symbol_partitions

        run = context.dagster_run
        try:
            provenance = run_tags(run.run_config)
        except Exception as exc:  # noqa: BLE001 - a tag must never stop a launch; the run reports config errors
            self._logger.warning(f"foxml: no provenance tags for run {run.run_id}: {exc}")
            provenance = {}
        tags = {k: v for k, v in provenance.items() if k not in run.tags}
        tags |= all_symbols_tags(run, list(self._instance.get_dynamic_partitions(symbol_partitions.name)))
        if tags:
            self._instance.add_run_tags(run.run_id, tags)
            run = self._instance.get_run_by_id(run.run_id) or run
        return super().submit_run(SubmitRunContext(run, context.workspace))
