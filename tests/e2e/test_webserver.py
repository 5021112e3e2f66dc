"""End to end: the real webserver and daemon, driven the way a user drives them.

Partitions are registered and runs launched through the webserver's GraphQL API (what the UI
calls), and from the `dagster job launch` command line. The instance queues every run, so each
one only completes if the daemon dequeues it; the asset backfill is run by the daemon's backfill
loop. Outputs are checked in the DuckDB catalog.
"""

from __future__ import annotations

import json
import time
import uuid

import dagster as dg
import duckdb
import pytest

from assets.partitions import range_tags
from jobs.pipeline import PER_SYMBOL_ASSETS
from resources.lake import asset_name

pytestmark = pytest.mark.e2e

SYMBOLS = ["AAPL", "IBM", "MSFT"]
RUN_TIMEOUT_S = 500  # a loaded 2-core box took 300 s for the multiprocess run; pytest stops at 600
BACKFILL_TIMEOUT_S = 300
# A Definitions object is served as the implicit repository "__repository__".
REPOSITORY_SELECTOR = {"repositoryLocationName": "foxml", "repositoryName": "__repository__"}
# Every step's compute takes a second or two here while a step process spends ~5 s importing the
# code location, so only the first test runs the default multiprocess executor; the others pick
# the in-process executor through run config, as a user may from the launchpad.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
# Catalog views users query first (besides one view per asset, which is checked too).
KEY_VIEWS = [
    "bars",
    "features",
    "labels",
    "training_frame",
    "folds",
    "oof_predictions",
    "model_scores",
    "signals",
    "backtest",
    "tearsheet",
    "orders",
]

ADD_PARTITION = """
mutation($repo: RepositorySelector!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: "symbol", partitionKey: $key) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionKey }
    ... on Error { message }
  }
}
"""

ASSET_NODES = """
query($repo: RepositorySelector!) {
  repositoryOrError(repositorySelector: $repo) {
    ... on Repository { assetNodes { assetKey { path } partitionKeys } }
  }
}
"""

LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status tags { key value } } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

RUN_STATUS = """
query($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status jobName tags { key value } }
    ... on Error { message }
  }
}
"""

RUN_DETAILS = """
query($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      status
      assetMaterializations { assetKey { path } partition }
      eventConnection(limit: 5000) {
        events {
          __typename
          ... on MessageEvent { message level stepKey }
          ... on ErrorEvent { error { message stack } }
        }
      }
    }
  }
}
"""

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PartitionKeysNotFoundError { message partitionKeys }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      numPartitions
      error { message stack }
      runs { runId status tags { key value } }
    }
    ... on Error { message }
  }
}
"""

TERMINAL_FAILURES = {"FAILURE", "CANCELED", "CANCELING"}


def as_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def run_failure_report(servers, run_id: str) -> str:
    run = servers.graphql(RUN_DETAILS, {"runId": run_id})["runOrError"]
    lines = [f"run {run_id} ended {run.get('status')}"]
    for event in run.get("eventConnection", {}).get("events", []):
        error = event.get("error")
        if error or event.get("level") in ("ERROR", "CRITICAL"):
            lines.append(f"[{event['__typename']} {event.get('stepKey')}] {event.get('message')}")
            if error:
                lines.append(error["message"] + (error.get("stack") and "".join(error["stack"]) or ""))
    return "\n".join(lines)


def wait_for_run(servers, run_id: str, timeout_s: float = RUN_TIMEOUT_S) -> dict:
    """Poll the run until it succeeds; fail fast, with its errors, when it fails."""
    deadline = time.monotonic() + timeout_s
    status = None
    while time.monotonic() < deadline:
        servers.check_alive()
        run = servers.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]
        assert run["__typename"] == "Run", run
        status = run["status"]
        if status == "SUCCESS":
            return run
        if status in TERMINAL_FAILURES:
            pytest.fail(run_failure_report(servers, run_id))
        time.sleep(2)
    pytest.fail(f"run {run_id} still {status} after {timeout_s}s")


def materialized(servers, run_id: str) -> set[tuple[str, str | None]]:
    run = servers.graphql(RUN_DETAILS, {"runId": run_id})["runOrError"]
    return {("/".join(m["assetKey"]["path"]), m["partition"]) for m in run["assetMaterializations"]}


def catalog_rows(servers, sql: str) -> list[tuple]:
    con = duckdb.connect(str(servers.home / "catalog.duckdb"), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def registered(dagster_servers):
    """The symbol partitions, added through GraphQL as the UI's "add partition" does."""
    for symbol in SYMBOLS:
        result = dagster_servers.graphql(ADD_PARTITION, {"repo": REPOSITORY_SELECTOR, "key": symbol})
        outcome = result["addDynamicPartition"]
        assert outcome["__typename"] in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"), outcome
    return dagster_servers


def test_symbol_partitions_are_registered_through_graphql(registered):
    again = registered.graphql(ADD_PARTITION, {"repo": REPOSITORY_SELECTOR, "key": "AAPL"})["addDynamicPartition"]
    assert again["__typename"] == "DuplicateDynamicPartitionError"
    nodes = registered.graphql(ASSET_NODES, {"repo": REPOSITORY_SELECTOR})["repositoryOrError"]["assetNodes"]
    partitions = {"/".join(node["assetKey"]["path"]): node["partitionKeys"] for node in nodes}
    for asset in PER_SYMBOL_ASSETS:
        assert partitions[asset] == SYMBOLS, asset


def test_full_pipeline_launched_from_graphql_runs_through_the_daemon(registered):
    params = {
        "selector": {**REPOSITORY_SELECTOR, "jobName": "full_pipeline"},
        "runConfigData": {},
        "executionMetadata": {"tags": as_tags(range_tags(SYMBOLS) | {"e2e": "graphql"})},
    }
    launched = registered.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run = launched["run"]
    assert run["status"] == "QUEUED"  # the queued coordinator: only the daemon can start it
    wait_for_run(registered, run["runId"])
    details = registered.graphql(RUN_DETAILS, {"runId": run["runId"]})["runOrError"]
    messages = [event.get("message") or "" for event in details["eventConnection"]["events"]]
    assert any("multiprocess executor" in message for message in messages)

    done = materialized(registered, run["runId"])
    assert {("bars", s) for s in SYMBOLS} <= done
    nodes = registered.graphql(ASSET_NODES, {"repo": REPOSITORY_SELECTOR})["repositoryOrError"]["assetNodes"]
    every_asset = {dg.AssetKey(node["assetKey"]["path"]) for node in nodes}
    assert {asset for asset, _ in done} == {key.to_user_string() for key in every_asset}  # the whole graph

    views = {name for (name,) in catalog_rows(registered, "SELECT view_name FROM duckdb_views() WHERE NOT internal")}
    asset_views = {asset_name(key) for key in every_asset}
    assert asset_views | set(KEY_VIEWS) <= views
    # A clean sample quarantines nothing; live orders for the newest bar fill on a bar not there yet.
    for view in sorted(asset_views - {"bars_quarantine", "fills"} | set(KEY_VIEWS)):
        assert catalog_rows(registered, f"SELECT count(*) FROM {view}")[0][0] > 0, view
    assert catalog_rows(registered, "SELECT DISTINCT symbol FROM bars ORDER BY 1") == [(s,) for s in SYMBOLS]
    families = catalog_rows(registered, "SELECT DISTINCT family FROM oof_predictions ORDER BY 1")
    assert families == [("lightgbm",), ("logistic",)]
    assert (registered.home / "reports" / "tearsheet.md").read_text().strip()


def test_asset_backfill_over_two_symbols_is_run_by_the_daemon(registered):
    params = {
        "partitionNames": ["AAPL", "IBM"],
        "assetSelection": [{"path": [asset]} for asset in PER_SYMBOL_ASSETS],
        "tags": as_tags({"e2e": "backfill"}),
        "runConfigData": IN_PROCESS,
    }
    launched = registered.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while True:
        registered.check_alive()
        backfill = registered.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        for run in backfill["runs"]:
            if run["status"] in TERMINAL_FAILURES:
                pytest.fail(run_failure_report(registered, run["runId"]))
        if backfill["status"] in ("COMPLETED_SUCCESS", "COMPLETED"):
            break
        assert backfill["status"] == "REQUESTED", backfill
        assert time.monotonic() < deadline, f"backfill {backfill_id} still {backfill['status']}: {backfill['runs']}"
        time.sleep(2)

    assert backfill["numPartitions"] == 2
    runs = backfill["runs"]
    # A single-run backfill policy: both symbols in one run, over the range AAPL..IBM.
    assert len(runs) == 1 and runs[0]["status"] == "SUCCESS", runs
    tags = {tag["key"]: tag["value"] for tag in runs[0]["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == ("AAPL", "IBM")
    done = materialized(registered, runs[0]["runId"])
    assert done == {(asset, symbol) for asset in PER_SYMBOL_ASSETS for symbol in ("AAPL", "IBM")}


def test_a_job_launched_from_the_cli_is_run_by_the_daemon(registered):
    """The README's command-line path: `foxml register --tags`, then `dagster job launch`.

    It launches symbol_refresh: full_pipeline under the daemon is the GraphQL test's, and the
    command line is the same for every job."""
    register = registered.cli(["register", "--tags"], program="foxml")
    assert register.returncode == 0, register.stdout + register.stderr
    tags = json.loads(register.stdout)
    assert tags == range_tags(SYMBOLS)

    run_id = str(uuid.uuid4())
    command = ["job", "launch", "-w", "workspace.yaml", "-j", "symbol_refresh", "--tags", json.dumps(tags)]
    launch = registered.cli([*command, "--run-id", run_id, "--config-json", json.dumps(IN_PROCESS)])
    assert launch.returncode == 0, launch.stdout + launch.stderr
    run = registered.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]
    assert run["__typename"] == "Run" and run["jobName"] == "symbol_refresh", run
    wait_for_run(registered, run_id)
    assert {(asset, s) for asset in PER_SYMBOL_ASSETS for s in SYMBOLS} == materialized(registered, run_id)


DELETE_PARTITIONS = """
mutation($repo: RepositorySelector!, $keys: [String!]!) {
  deleteDynamicPartitions(repositorySelector: $repo, partitionsDefName: "symbol", partitionKeys: $keys) {
    __typename
    ... on Error { message }
  }
}
"""

START_SENSOR = """
mutation($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

SENSOR_RUNS = """
query($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""


def test_universe_sensor_under_the_daemon_restores_a_missing_symbol_and_refreshes_it(registered):
    """The daemon ticks the sensor: a symbol of the universe that is not a partition is added back
    and a symbol_refresh run for it is launched and completes."""
    deleted = registered.graphql(DELETE_PARTITIONS, {"repo": REPOSITORY_SELECTOR, "keys": ["MSFT"]})
    assert deleted["deleteDynamicPartitions"]["__typename"] == "DeleteDynamicPartitionsSuccess", deleted
    selector = {**REPOSITORY_SELECTOR, "sensorName": "universe_changes"}
    started = registered.graphql(START_SENSOR, {"selector": selector})["startSensor"]
    assert started["__typename"] == "Sensor" and started["sensorState"]["status"] == "RUNNING", started

    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    runs: list[dict] = []
    while not runs:
        registered.check_alive()
        tags = as_tags({"dagster/sensor_name": "universe_changes"})
        runs = registered.graphql(SENSOR_RUNS, {"tags": tags})["runsOrError"]["results"]
        assert time.monotonic() < deadline, "the daemon never ticked universe_changes"
        time.sleep(2)
    assert len(runs) == 1
    assert {tag["key"]: tag["value"] for tag in runs[0]["tags"]}["dagster/partition"] == "MSFT"
    wait_for_run(registered, runs[0]["runId"])
    assert materialized(registered, runs[0]["runId"]) == {(asset, "MSFT") for asset in PER_SYMBOL_ASSETS}
    nodes = registered.graphql(ASSET_NODES, {"repo": REPOSITORY_SELECTOR})["repositoryOrError"]["assetNodes"]
    assert {"/".join(n["assetKey"]["path"]): n["partitionKeys"] for n in nodes}["bars"] == SYMBOLS


def test_bars_reaching_the_features_run_live_inference_under_the_daemon(registered):
    """The production rhythm under the real daemon: the live_after_bars sensor sees the features the
    earlier runs refreshed and launches one live_inference run; its signals are for the newest
    bar, orders are planned from them, and the freshness check on the signals passes."""
    selector = {**REPOSITORY_SELECTOR, "sensorName": "live_after_bars"}
    started = registered.graphql(START_SENSOR, {"selector": selector})["startSensor"]
    assert started["__typename"] == "Sensor" and started["sensorState"]["status"] == "RUNNING", started
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    runs: list[dict] = []
    while not runs:
        registered.check_alive()
        tags = as_tags({"dagster/sensor_name": "live_after_bars"})
        runs = registered.graphql(SENSOR_RUNS, {"tags": tags})["runsOrError"]["results"]
        assert time.monotonic() < deadline, "the daemon never ticked live_after_bars"
        time.sleep(2)
    assert len(runs) == 1  # one run for every symbol whose features changed, not one per symbol
    run = wait_for_run(registered, runs[0]["runId"])
    assert run["jobName"] == "live_inference"
    done = {asset for asset, _ in materialized(registered, runs[0]["runId"])}
    assert {"live_predictions", "signals", "orders"} <= done and "production_models" not in done

    newest_bar = catalog_rows(registered, "SELECT max(ts) FROM bars")[0][0]
    assert catalog_rows(registered, "SELECT DISTINCT ts FROM signals") == [(newest_bar,)]
    assert catalog_rows(registered, "SELECT max(signal_ts) FROM orders") == [(newest_bar,)]
    with dg.DagsterInstance.from_config(str(registered.dagster_home)) as instance:
        key = dg.AssetCheckKey(dg.AssetKey("signals"), "signals_current")
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        assert latest.run_id == runs[0]["runId"] and latest.status.value == "SUCCEEDED", latest
