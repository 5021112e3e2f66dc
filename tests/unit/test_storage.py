"""The lake and catalog: atomic Parquet files, views by asset name, safe names only."""

import duckdb
import polars as pl
import pytest

from foxml_dagster.storage import (
    partition_file,
    query_catalog,
    register_view,
    write_parquet_atomic,
    write_parquet_batches_atomic,
)


def test_atomic_write_leaves_no_temp_files_and_replaces_the_old_file(tmp_path):
    path = partition_file(tmp_path / "lake" / "g" / "a", "AAPL")
    write_parquet_atomic(pl.DataFrame({"x": [1]}), path)
    write_parquet_atomic(pl.DataFrame({"x": [2, 3]}), path)
    assert pl.read_parquet(path)["x"].to_list() == [2, 3]
    assert [p.name for p in path.parent.iterdir()] == ["AAPL.parquet"]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "a.parquet"
    write_parquet_atomic(pl.DataFrame({"x": [1]}), path)
    with pytest.raises(pl.exceptions.PolarsError):
        write_parquet_atomic(pl.DataFrame({"x": [object()]}), path)
    assert pl.read_parquet(path)["x"].to_list() == [1]
    assert len(list(tmp_path.iterdir())) == 1


def test_catalog_view_spans_every_partition_file_and_is_readable_read_only(tmp_path):
    folder = tmp_path / "lake" / "normalize" / "bars"
    write_parquet_atomic(pl.DataFrame({"symbol": ["A"], "x": [1.0]}), partition_file(folder, "A"))
    write_parquet_atomic(pl.DataFrame({"symbol": ["B"], "x": [2.0]}), partition_file(folder, "B"))
    catalog = tmp_path / "catalog.duckdb"
    register_view(catalog, "bars", folder)
    assert query_catalog(catalog, "SELECT sum(x) AS s FROM bars")["s"][0] == 3.0
    with duckdb.connect(str(catalog), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM bars").fetchall() == [(2,)]


@pytest.mark.parametrize("key", ["", "..", "AAPL|", ".|2024-01-01"])
def test_partition_keys_that_cannot_name_a_file_are_refused(tmp_path, key):
    with pytest.raises(ValueError, match="partition key"):
        partition_file(tmp_path, key)


@pytest.mark.parametrize(
    ("key", "relative"),
    [
        ("BTC/USD", "BTC%2FUSD.parquet"),
        ("../etc", "..%2Fetc.parquet"),
        ("a b", "a%20b.parquet"),
        ("AAPL|2024-01-01", "AAPL/2024-01-01.parquet"),
        ("EUR/USD|2024-02-01", "EUR%2FUSD/2024-02-01.parquet"),
    ],
)
def test_partition_files_stay_inside_the_asset_folder(tmp_path, key, relative):
    path = partition_file(tmp_path, key)
    assert path == tmp_path / relative
    assert path.resolve().is_relative_to(tmp_path.resolve())


def test_catalog_view_reads_nested_partition_files(tmp_path):
    folder = tmp_path / "lake" / "ingest" / "raw_windows"
    for key, x in [("A|2024-01-01", 1.0), ("A|2024-02-01", 2.0), ("BTC/USD|2024-01-01", 4.0)]:
        write_parquet_atomic(pl.DataFrame({"x": [x]}), partition_file(folder, key))
    catalog = tmp_path / "catalog.duckdb"
    register_view(catalog, "raw_windows", folder)
    assert query_catalog(catalog, "SELECT sum(x) AS s FROM raw_windows")["s"][0] == 7.0


def test_batches_become_one_file_written_batch_by_batch(tmp_path):
    path = tmp_path / "all.parquet"
    batches = [pl.DataFrame({"k": ["a", "a"], "x": [1.0, 2.0]}), pl.DataFrame({"k": ["b"], "x": [3.0]})]
    rows, schema = write_parquet_batches_atomic(iter(batches), path)
    assert (rows, schema) == (3, batches[0].schema)
    assert pl.read_parquet(path).equals(pl.concat(batches))
    assert [p.name for p in tmp_path.iterdir()] == ["all.parquet"]


def test_a_batch_with_other_columns_stops_the_write_and_keeps_the_previous_file(tmp_path):
    path = tmp_path / "all.parquet"
    write_parquet_atomic(pl.DataFrame({"x": [1.0]}), path)
    with pytest.raises(ValueError, match="differ from the first"):
        write_parquet_batches_atomic(iter([pl.DataFrame({"x": [2.0]}), pl.DataFrame({"y": [3]})]), path)
    assert pl.read_parquet(path)["x"].to_list() == [1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["all.parquet"]
