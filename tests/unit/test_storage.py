"""The lake and catalog: atomic Parquet files, views by asset name, safe names only."""

import duckdb
import polars as pl
import pytest

from foxml_dagster.storage import partition_file, query_catalog, register_view, write_parquet_atomic


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
