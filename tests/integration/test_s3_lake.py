"""The lake on S3-compatible object storage, end to end against a real local S3 server.

moto runs in server mode on 127.0.0.1 (tests/fakes/s3_server.py) and the platform reaches it the
way it reaches AWS or MinIO: `FOXML_LAKE_URI=s3://bucket/lake` plus the standard AWS_* variables.
FOXML_HOME stays a local folder for the Dagster instance and the catalog file.
"""

from __future__ import annotations

import threading
import time
import uuid

import dagster as dg
import numpy as np
import polars as pl
import pytest

from assets.partitions import symbol_partitions
from foxml_dagster.storage import (
    lake_filesystem,
    lake_path,
    open_catalog,
    query_catalog,
    read_parquet_file,
    write_parquet_atomic,
)
from resources.home import FoxmlHome
from tests.fakes.s3_server import s3_environment, s3_server
from tests.integration.test_pipeline import EVERY_ASSET, SYMBOLS, run_full


@pytest.fixture(scope="module")
def s3_endpoint():
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint, monkeypatch) -> str:
    """A fresh bucket on the local server, with the server's endpoint and keys in the environment."""
    import s3fs

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_environment(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()  # an earlier test's filesystem knew another server
    name = f"lake-{uuid.uuid4().hex[:12]}"
    lake_filesystem("s3").mkdir(name)
    yield name
    s3fs.S3FileSystem.clear_instance_cache()


def test_the_small_pipeline_materializes_into_the_bucket_and_the_catalog_answers(
    small_experiment, home, bucket, monkeypatch
):
    from foxml_dagster.definitions import build_definitions

    monkeypatch.setenv("FOXML_LAKE_URI", f"s3://{bucket}/lake")
    defs = build_definitions()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions.name, SYMBOLS)
    result = run_full(defs, instance)
    assert result.success
    trials_stored = FoxmlHome().stored("evaluation", "trials")

    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert done == EVERY_ASSET
    # Every asset's Parquet is in the bucket and none under FOXML_HOME, which keeps the instance.
    assert not (home / "lake").exists()
    keys = lake_filesystem("s3").find(f"{bucket}/lake")
    folders = {key.split("/")[3] for key in keys}  # <bucket>/lake/<group>/<asset>/...
    assert folders == {name.replace("/", "__") for name in EVERY_ASSET}
    # Published whole, never through a temp object: only finished .parquet files were ever listed.
    assert all(k.endswith(".parquet") and not k.rsplit("/", 1)[1].startswith(".") for k in keys), keys
    assert {f"{bucket}/lake/normalize/bars/{s}.parquet" for s in SYMBOLS} <= set(keys)

    # The catalog (a local DuckDB file) answers queries over the objects, httpfs or not.
    catalog = home / "catalog.duckdb"
    for name in EVERY_ASSET - {"bars_quarantine", "fills"}:  # live orders fill on a bar not there yet
        view = name.replace("/", "__")
        assert query_catalog(catalog, f"SELECT count(*) AS n FROM {view}")["n"][0] > 0, name
    with open_catalog(catalog) as con:
        views = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'bars'").fetchone()[0]
        assert f"s3://{bucket}/lake/normalize/bars/" in views
    leaked = query_catalog(
        catalog,
        "SELECT count(*) AS n FROM oof_predictions p JOIN folds f ON p.target = f.target "
        "AND p.fold = f.fold AND p.symbol = f.symbol AND p.ts = f.ts WHERE f.role = 'train'",
    )
    assert leaked["n"][0] == 0
    bars = query_catalog(catalog, "SELECT DISTINCT symbol FROM bars ORDER BY 1")
    assert bars["symbol"].to_list() == SYMBOLS

    # FoxmlHome reads what the run stored (the trials history carried to the next run) from S3.
    assert trials_stored is not None
    in_catalog = query_catalog(catalog, "SELECT trial_id FROM trials ORDER BY 1")["trial_id"].to_list()
    assert sorted(trials_stored["trial_id"].to_list()) == in_catalog
    # The secret key never reached a log line.
    secret = s3_environment("")["AWS_SECRET_ACCESS_KEY"]
    logs = instance.all_logs(result.run_id)
    assert logs and not [e for e in logs if secret in (e.message or "") or secret in str(e.dagster_event or "")]


def test_a_reader_never_sees_a_partial_object_while_it_is_replaced(bucket):
    """Two versions of a ~5 MB partition file replace each other while another thread reads the
    key and lists the folder: every read is one complete version, and only the key is listed."""
    rng = np.random.default_rng(0)
    versions = [pl.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n)}) for n in (300_000, 200_000)]
    folder = lake_path(f"s3://{bucket}/lake/features/features")
    path = folder / "AAPL.parquet"
    write_parquet_atomic(versions[0], path)
    fs = lake_filesystem("s3")
    seen_rows: list[int] = []
    listed: set[str] = set()
    errors: list[BaseException] = []
    done = threading.Event()

    def read_while_writing() -> None:
        try:
            while not done.is_set():
                seen_rows.append(read_parquet_file(path).height)
                listed.update(fs.ls(folder.path, refresh=True))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    reader = threading.Thread(target=read_while_writing)
    reader.start()
    writes, deadline = 0, time.monotonic() + 60
    try:
        # Keep replacing until the reader has read several times during the writes (on a loaded
        # machine a few writes can finish between two reads).
        while writes < 8 or (len(seen_rows) < 6 and time.monotonic() < deadline and not errors):
            writes += 1
            write_parquet_atomic(versions[writes % 2], path)
    finally:
        done.set()
        reader.join(timeout=120)
    assert not errors, errors
    assert len(seen_rows) >= 6
    assert set(seen_rows) <= {300_000, 200_000}
    assert listed == {path.path}
    assert read_parquet_file(path).equals(versions[writes % 2])  # the last write is whole


def test_home_reads_benchmarks_and_stored_outputs_from_object_storage(bucket, home) -> None:
    lake = FoxmlHome(lake_uri=f"s3://{bucket}/lake")
    assert lake.stored("evaluation", "trials") is None  # before the first run: nothing, no error
    fs = lake_filesystem("s3")
    fs.pipe_file(f"{bucket}/benchmarks/SPY.csv", b"ts,close\n2024-01-02,470.1\n2024-01-03,468.8\n")
    series = lake.price_series(f"s3://{bucket}/benchmarks/SPY.csv")
    assert series["symbol"].to_list() == ["SPY", "SPY"]
    assert series["close"].to_list() == [470.1, 468.8]
    assert str(series.schema["ts"]) == "Datetime(time_unit='us', time_zone='UTC')"
    with pytest.raises(FileNotFoundError, match=r"backtest.benchmark.path: s3://.*/QQQ.csv does not exist"):
        lake.price_series(f"s3://{bucket}/benchmarks/QQQ.csv")


def test_a_wrong_lake_uri_or_bucket_says_what_to_fix(bucket) -> None:
    with pytest.raises(ValueError, match=r"lake_uri 's3://' names no bucket; write it as s3://<bucket>/<prefix>"):
        lake_path("s3://")
    with pytest.raises(ValueError, match=r"lake_uri 'nosuchfs://b/lake': no filesystem for 'nosuchfs'"):
        lake_path("nosuchfs://b/lake")
    frame = pl.DataFrame({"x": [1.0]})
    with pytest.raises(OSError, match=r"s3://no-such-bucket-here/lake/all.parquet: could not write") as caught:
        write_parquet_atomic(frame, lake_path("s3://no-such-bucket-here/lake") / "all.parquet")
    assert "bucket exists" in str(caught.value)
    assert s3_environment("")["AWS_SECRET_ACCESS_KEY"] not in str(caught.value)
