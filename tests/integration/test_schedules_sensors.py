"""The schedule and the landing-folder sensor, evaluated with Dagster's test contexts (no daemon)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.partitions import symbol_partitions
from jobs.pipeline import PER_SYMBOL_ASSETS, daily_refresh
from resources.home import Experiment, FoxmlHome
from resources.sources import _sample_table
from sensors.landing import landing_files
from sensors.universe import universe_changes

FILES_EXPERIMENT = """\
data:
  source: files
  landing_dir: landing
  timezone: UTC
  start: 2012-01-01
  columns: {symbol: Ticker, ts: Date, open: Open, high: High, low: Low, close: Close,
            volume: Volume, adj_close: Adj Close}
splits: {n_folds: 3, embargo_pct: 0.01}
training:
  seed: 3
  families:
    logistic: {}
"""


def sample_rows(*symbols: str) -> pl.DataFrame:
    """Real daily bars of the sample stocks from 2012 on, as the vendor wrote them (text)."""
    return _sample_table().filter(pl.col("Ticker").is_in(list(symbols)) & (pl.col("Date") >= "2012-01-01"))


def write_landing_csv(path: Path, *symbols: str, with_symbol_column: bool = True) -> Path:
    rows = sample_rows(*symbols)
    (rows if with_symbol_column else rows.drop("Ticker")).write_csv(path)
    return path


def bump_mtime(path: Path, seconds: int = 10) -> None:
    """Move a file's modification time forward by whole seconds (coarse file systems agree)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


@pytest.fixture
def landing(home: Path, monkeypatch) -> Path:
    """An experiment reading files from $FOXML_HOME/landing, in force via FOXML_CONFIG."""
    config = home / "files-experiment.yaml"
    config.write_text(FILES_EXPERIMENT)
    monkeypatch.setenv("FOXML_CONFIG", str(config))
    folder = home / "landing"
    folder.mkdir()
    return folder


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def sensor_resources(home: Path) -> dict:
    return {"experiment": Experiment(path=os.environ["FOXML_CONFIG"]), "home": FoxmlHome(root=str(home))}


def tick(instance: dg.DagsterInstance, home: Path, cursor: str | None):
    """Evaluate landing_files once and apply its partition requests, as the sensor daemon does."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=sensor_resources(home))
    result = landing_files(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            assert request.partitions_def_name == symbol_partitions.name
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def requested(result: dg.SensorResult) -> list[str]:
    return sorted(request.partition_key for request in result.run_requests)


def added(result: dg.SensorResult) -> list[str]:
    return sorted(key for request in result.dynamic_partitions_requests for key in request.partition_keys)


# --- the code location -------------------------------------------------------------------------


def test_code_location_registers_jobs_schedule_and_sensor():
    from foxml_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    full = defs.resolve_job_def("full_pipeline")
    refresh = defs.resolve_job_def("symbol_refresh")
    schedule = defs.resolve_schedule_def("daily_refresh")
    sensor = defs.resolve_sensor_def("landing_files")
    assert schedule.job_name == "full_pipeline"
    assert sensor.job_name == "symbol_refresh"
    assert defs.resolve_sensor_def("universe_changes").job_name == "symbol_refresh"
    assert {key.to_user_string() for key in refresh.asset_layer.executable_asset_keys} == set(PER_SYMBOL_ASSETS)
    assert {key.to_user_string() for key in full.asset_layer.executable_asset_keys} >= {"bars", "orders", "tearsheet"}


# --- daily_refresh -----------------------------------------------------------------------------


def test_daily_refresh_skips_until_symbols_are_registered(instance):
    result = daily_refresh(dg.build_schedule_context(instance=instance))
    assert isinstance(result, dg.SkipReason)
    assert "foxml register" in result.skip_message


def test_daily_refresh_requests_one_run_over_every_registered_symbol(instance):
    instance.add_dynamic_partitions(symbol_partitions.name, ["AAPL", "IBM", "MSFT"])
    request = daily_refresh(dg.build_schedule_context(instance=instance))
    assert isinstance(request, dg.RunRequest)
    assert request.tags["dagster/asset_partition_range_start"] == "AAPL"
    assert request.tags["dagster/asset_partition_range_end"] == "MSFT"


# --- landing_files -----------------------------------------------------------------------------


def test_landing_sensor_requests_each_symbol_of_new_files_once(landing, home, instance):
    write_landing_csv(landing / "AAPL.csv", "AAPL", with_symbol_column=False)
    write_landing_csv(landing / "batch.csv", "IBM", "MSFT")

    first = tick(instance, home, cursor=None)
    assert isinstance(first, dg.SensorResult)
    assert requested(first) == ["AAPL", "IBM", "MSFT"]
    assert added(first) == ["AAPL", "IBM", "MSFT"]
    run_keys = [request.run_key for request in first.run_requests]
    assert all(run_keys) and len(set(run_keys)) == len(run_keys)
    assert set(json.loads(first.cursor)) == {"AAPL.csv", "batch.csv"}
    assert instance.get_dynamic_partitions(symbol_partitions.name) == ["AAPL", "IBM", "MSFT"]

    second = tick(instance, home, cursor=first.cursor)
    assert isinstance(second, dg.SkipReason)
    assert "no new or changed files" in second.skip_message


def test_landing_sensor_refreshes_only_the_symbols_of_a_changed_file(landing, home, instance):
    write_landing_csv(landing / "AAPL.csv", "AAPL", with_symbol_column=False)
    write_landing_csv(landing / "batch.csv", "IBM", "MSFT")
    first = tick(instance, home, cursor=None)

    bump_mtime(landing / "batch.csv")
    changed = tick(instance, home, cursor=first.cursor)
    assert requested(changed) == ["IBM", "MSFT"]
    assert added(changed) == []  # already partitions
    old_keys = {request.run_key for request in first.run_requests}
    assert not old_keys & {request.run_key for request in changed.run_requests}

    assert isinstance(tick(instance, home, cursor=changed.cursor), dg.SkipReason)


def test_landing_sensor_adds_a_new_symbol_from_a_new_file(landing, home, instance):
    write_landing_csv(landing / "AAPL.csv", "AAPL", with_symbol_column=False)
    first = tick(instance, home, cursor=None)
    assert requested(first) == ["AAPL"]

    write_landing_csv(landing / "GOOG.csv", "GOOG", with_symbol_column=False)
    (landing / "notes.txt").write_text("not a bar file")
    second = tick(instance, home, cursor=first.cursor)
    assert requested(second) == ["GOOG"]
    assert added(second) == ["GOOG"]
    # notes.txt is read (a .txt landing file), found to hold no bars, reported once and remembered.
    assert set(json.loads(second.cursor)) == {"AAPL.csv", "GOOG.csv", "notes.txt"}
    assert instance.get_dynamic_partitions(symbol_partitions.name) == ["AAPL", "GOOG"]


def test_landing_sensor_skips_unreadable_files_and_goes_on_with_the_others(landing, home, instance, capsys):
    write_landing_csv(landing / "AAPL.csv", "AAPL", with_symbol_column=False)
    (landing / "junk.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00 not bars at all")
    header = "Ticker,Date,Open,High,Low,Close,Volume,Adj Close\n"
    (landing / "cut_in_header.csv").write_text(header[:20])  # truncated before its columns are known
    rows = sample_rows("IBM").write_csv()
    (landing / "cut_in_row.csv").write_text(rows[: len(rows) // 2])  # readable; its last row is quarantined

    first = tick(instance, home, cursor=None)
    assert isinstance(first, dg.SensorResult)
    assert requested(first) == ["AAPL", "IBM"]
    warnings = capsys.readouterr().err  # the sensor's console log
    assert "junk.csv" in warnings and "cut_in_header.csv" in warnings and "missing" in warnings
    # Bad files are in the cursor too: not re-read on every tick, only once they change.
    assert set(json.loads(first.cursor)) == {"AAPL.csv", "junk.csv", "cut_in_header.csv", "cut_in_row.csv"}
    assert isinstance(tick(instance, home, cursor=first.cursor), dg.SkipReason)

    bump_mtime(landing / "junk.csv")  # changed, still unreadable: the tick records it, requests nothing
    again = tick(instance, home, cursor=first.cursor)
    assert isinstance(again, dg.SensorResult) and again.run_requests == []
    assert json.loads(again.cursor)["junk.csv"] == (landing / "junk.csv").stat().st_mtime_ns

    write_landing_csv(landing / "cut_in_header.csv", "MSFT")  # fixed: now picked up
    fixed = tick(instance, home, cursor=again.cursor)
    assert requested(fixed) == ["MSFT"] and added(fixed) == ["MSFT"]


def test_landing_sensor_skips_when_the_folder_is_empty(landing, home, instance):
    result = tick(instance, home, cursor=None)
    assert isinstance(result, dg.SkipReason)


def test_landing_sensor_skips_when_the_source_is_the_sample(small_experiment, home, instance):
    result = tick(instance, home, cursor=None)
    assert isinstance(result, dg.SkipReason)
    assert "sample" in result.skip_message


def test_a_sensor_request_runs_symbol_refresh_for_that_symbol(landing, home, instance):
    from foxml_dagster.definitions import build_definitions

    write_landing_csv(landing / "AAPL.csv", "AAPL", with_symbol_column=False)
    write_landing_csv(landing / "batch.csv", "IBM", "MSFT")
    request = next(r for r in tick(instance, home, cursor=None).run_requests if r.partition_key == "AAPL")

    defs = build_definitions()  # resources resolved under this test's FOXML_HOME and config
    job = defs.resolve_job_def("symbol_refresh")
    result = job.execute_in_process(instance=instance, partition_key=request.partition_key, tags=request.tags)
    assert result.success
    bars = pl.read_parquet(home / "lake" / "normalize" / "bars" / "AAPL.parquet")
    assert bars["symbol"].unique().to_list() == ["AAPL"]
    assert bars.height == sample_rows("AAPL").height
    assert sorted(p.name for p in (home / "lake" / "normalize" / "bars").iterdir()) == ["AAPL.parquet"]


# --- universe_changes --------------------------------------------------------------------------


def universe_tick(instance: dg.DagsterInstance, home: Path, cursor: str | None):
    """Evaluate universe_changes once and apply its partition requests, as the daemon does."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=sensor_resources(home))
    result = universe_changes(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            keys = list(request.partition_keys)
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(request.partitions_def_name, keys)
            else:
                for key in keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def test_universe_sensor_registers_entering_symbols_and_retires_leaving_ones(small_experiment, home, instance):
    instance.add_dynamic_partitions(symbol_partitions.name, ["AAPL", "FB"])
    result = universe_tick(instance, home, None)
    assert requested(result) == ["IBM", "MSFT"]  # the small experiment's universe: AAPL, IBM, MSFT
    assert sorted(instance.get_dynamic_partitions(symbol_partitions.name)) == ["AAPL", "IBM", "MSFT"]
    again = universe_tick(instance, home, result.cursor)
    assert isinstance(again, dg.SkipReason) and "unchanged (3 symbols)" in again.skip_message


def test_universe_sensor_refreshes_a_symbol_that_comes_back(small_experiment, home, instance):
    first = universe_tick(instance, home, None)
    assert requested(first) == ["AAPL", "IBM", "MSFT"]
    instance.delete_dynamic_partition(symbol_partitions.name, "IBM")  # as if IBM had left for a while
    back = universe_tick(instance, home, first.cursor)
    assert requested(back) == ["IBM"]
    assert {r.run_key for r in back.run_requests}.isdisjoint({r.run_key for r in first.run_requests})


def test_universe_sensor_leaves_file_sources_to_the_landing_sensor(landing, home, instance):
    result = universe_tick(instance, home, None)
    assert isinstance(result, dg.SkipReason) and "landing_files" in result.skip_message
