"""End to end: time-window ingestion (data.windows) under the real webserver and daemon.

A windowed synthetic experiment (3 symbols x 3 monthly windows) is served by its own webserver
and daemon. The daemon ticks `window_fetch`, which launches `window_ingest` over every symbol x
window; `windows_landed` then sees the stored windows and launches `symbol_refresh`, which
assembles raw bars from the lake. An asset backfill of `raw_windows` over 2 symbols x 2 months,
launched through GraphQL as the UI does, replaces exactly those windows' files.

The daemon ticks a sensor as soon as it is started, then not before its minimum interval (300 s
for window_fetch, 60 s for windows_landed). So windows_landed is started once the fetch run has
stored every window: its first tick sees all of them (a tick in the middle of the fetch could
see only some), and no test waits for a second tick.
"""

from __future__ import annotations

import time

import dagster as dg
import polars as pl
import pytest

from assets.partitions import range_tags
from jobs.pipeline import PER_SYMBOL_ASSETS
from tests.e2e.test_webserver import (
    ADD_PARTITION,
    BACKFILL_STATUS,
    IN_PROCESS,
    LAUNCH_BACKFILL,
    REPOSITORY_SELECTOR,
    START_SENSOR,
    TERMINAL_FAILURES,
    as_tags,
    materialized,
    run_failure_report,
    wait_for_run,
)

pytestmark = pytest.mark.e2e

SYMBOLS = ["SYN000", "SYN001", "SYN002"]
MONTHS = ["2021-01-01", "2021-02-01", "2021-03-01"]  # 300 hourly bars from 4 January reach March
WINDOWED_EXPERIMENT = """\
data:
  source: synthetic
  windows: monthly
  symbols: [SYN000, SYN001, SYN002]
  synthetic: {n_symbols: 3, n_bars: 300, interval: 1h, seed: 7, start: 2021-01-04}
splits: {n_folds: 3, embargo_pct: 0.01}
training:
  families:
    logistic: {}
"""
RAW_WINDOWS = dg.AssetKey("raw_windows")
TICK_TIMEOUT_S = 120  # the sensor loop runs every 5 s, once the daemon has loaded the code location
RUN_TIMEOUT_S = 240

SENSOR_TICKS = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState {
        id
        status
        ticks(limit: 10) { status runIds skipReason error { message stack } }
      }
    }
    ... on Error { message }
  }
}
"""

STOP_SENSOR = """
mutation($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

RUN_TAGS = """
query($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { jobName tags { key value } } }
}
"""


@pytest.fixture(scope="module")
def e2e_experiment() -> str:
    """The servers of this module (tests/e2e/conftest.py) run the windowed experiment."""
    return WINDOWED_EXPERIMENT


@pytest.fixture(scope="module")
def registered(dagster_servers):
    for symbol in SYMBOLS:
        result = dagster_servers.graphql(ADD_PARTITION, {"repo": REPOSITORY_SELECTOR, "key": symbol})
        outcome = result["addDynamicPartition"]
        assert outcome["__typename"] == "AddDynamicPartitionSuccess", outcome
    return dagster_servers


def window_file(servers, symbol: str, month: str):
    return servers.home / "lake" / "ingest" / "raw_windows" / symbol / f"{month}.parquet"


def stored_windows(servers) -> set[str]:
    """raw_windows partitions materialized, as the instance (the UI's partition view) records them."""
    with dg.DagsterInstance.from_config(str(servers.dagster_home)) as instance:
        return set(instance.get_materialized_partitions(RAW_WINDOWS))


def start_sensor(servers, name: str) -> str:
    selector = {**REPOSITORY_SELECTOR, "sensorName": name}
    started = servers.graphql(START_SENSOR, {"selector": selector})["startSensor"]
    assert started["__typename"] == "Sensor" and started["sensorState"]["status"] == "RUNNING", started
    return name


def stop_sensor(servers, name: str) -> None:
    state = sensor_state(servers, name)
    stopped = servers.graphql(STOP_SENSOR, {"id": state["id"]})["stopSensor"]
    assert stopped["__typename"] == "StopSensorMutationResult", stopped
    assert stopped["instigationState"]["status"] == "STOPPED", stopped


def sensor_state(servers, name: str) -> dict:
    selector = {**REPOSITORY_SELECTOR, "sensorName": name}
    sensor = servers.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]
    assert sensor["__typename"] == "Sensor", sensor
    return sensor["sensorState"]


def first_tick_runs(servers, name: str) -> list[str]:
    """The run ids the sensor's first daemon tick launched; fails with the tick's error or skip
    reason when it launched none."""
    deadline = time.monotonic() + TICK_TIMEOUT_S
    while True:
        servers.check_alive()
        ticks = sensor_state(servers, name)["ticks"]
        done = [tick for tick in ticks if tick["status"] != "STARTED"]
        if done:
            tick = done[-1]  # newest first: the last one is the first tick
            assert tick["status"] == "SUCCESS", f"{name}: {tick}"
            assert tick["runIds"], f"{name}: tick launched no run: {tick}"
            return tick["runIds"]
        assert time.monotonic() < deadline, f"the daemon never ticked {name}: {ticks}"
        time.sleep(2)


def run_tags(servers, run_id: str) -> tuple[str, dict[str, str]]:
    run = servers.graphql(RUN_TAGS, {"runId": run_id})["runOrError"]
    return run["jobName"], {tag["key"]: tag["value"] for tag in run["tags"]}


def test_sensors_fetch_every_window_then_refresh_every_symbol_under_the_daemon(registered):
    try:
        start_sensor(registered, "window_fetch")
        [fetch_run] = first_tick_runs(registered, "window_fetch")
        job, tags = run_tags(registered, fetch_run)
        assert job == "window_ingest"
        # One run over the product of both ranges: every window of every symbol.
        assert tags["dagster/asset_partition_range_start"] == "SYN000|2021-01-01"
        assert tags["dagster/asset_partition_range_end"] == "SYN002|2021-03-01"
        wait_for_run(registered, fetch_run, RUN_TIMEOUT_S)
        every_window = {f"{s}|{m}" for s in SYMBOLS for m in MONTHS}
        assert materialized(registered, fetch_run) == {("raw_windows", key) for key in every_window}
        assert stored_windows(registered) == every_window
        for symbol in SYMBOLS:
            for month in MONTHS:
                stored = pl.read_parquet(window_file(registered, symbol, month))
                assert stored["window"].unique().to_list() == [month], (symbol, month)
                assert stored["ts"].str.slice(0, 7).unique().to_list() == [month[:7]], (symbol, month)

        start_sensor(registered, "windows_landed")
        [refresh_run] = first_tick_runs(registered, "windows_landed")
        job, tags = run_tags(registered, refresh_run)
        assert job == "symbol_refresh"
        assert range_tags(SYMBOLS).items() <= tags.items()  # one run over every symbol whose windows landed
        wait_for_run(registered, refresh_run, RUN_TIMEOUT_S)
        assert materialized(registered, refresh_run) == {(asset, s) for asset in PER_SYMBOL_ASSETS for s in SYMBOLS}
    finally:
        for name in ("window_fetch", "windows_landed"):
            if sensor_state(registered, name)["status"] == "RUNNING":
                stop_sensor(registered, name)

    # raw_bars is the symbol's windows, in window order, read back from the lake.
    for symbol in SYMBOLS:
        windows = pl.concat([pl.read_parquet(window_file(registered, symbol, m)) for m in MONTHS])
        assembled = pl.read_parquet(registered.home / "lake" / "ingest" / "raw_bars" / f"{symbol}.parquet")
        assert assembled.equals(windows.drop("window")), symbol
        bars = pl.read_parquet(registered.home / "lake" / "normalize" / "bars" / f"{symbol}.parquet")
        assert bars.height > 0 and bars["ts"].is_sorted() and bars["ts"].n_unique() == bars.height, symbol
    for name in ("window_fetch", "windows_landed"):
        assert sensor_state(registered, name)["status"] == "STOPPED"


def test_asset_backfill_of_two_symbols_by_two_months_replaces_exactly_those_windows(registered):
    before = {(s, m): window_file(registered, s, m).stat().st_mtime_ns for s in SYMBOLS for m in MONTHS}
    chosen = [(s, m) for s in ("SYN000", "SYN001") for m in ("2021-01-01", "2021-02-01")]
    params = {
        "partitionNames": [f"{s}|{m}" for s, m in chosen],
        "assetSelection": [{"path": ["raw_windows"]}],
        "tags": as_tags({"e2e": "window-backfill"}),
        "runConfigData": IN_PROCESS,
    }
    launched = registered.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline = time.monotonic() + RUN_TIMEOUT_S
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

    assert backfill["numPartitions"] == 4
    runs = backfill["runs"]
    assert all(run["status"] == "SUCCESS" for run in runs), runs
    # raw_windows has a single-run backfill policy, but Dagster (1.13) turns a two-dimensional
    # selection into key ranges that hold one dimension fixed: one run per window here (the
    # window is the primary dimension and both dimensions have two keys), each over both symbols.
    ranges = set()
    for run in runs:
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        ranges.add((tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]))
    assert ranges == {(f"SYN000|{m}", f"SYN001|{m}") for m in ("2021-01-01", "2021-02-01")}, runs
    done = set().union(*(materialized(registered, run["runId"]) for run in runs))
    assert done == {("raw_windows", f"{s}|{m}") for s, m in chosen}

    after = {key: window_file(registered, *key).stat().st_mtime_ns for key in before}
    assert {key for key in before if after[key] > before[key]} == set(chosen)  # replaced: those, only
    assert {key for key in before if after[key] == before[key]} == set(before) - set(chosen)
