"""The lake (Parquet, the system of record) and its DuckDB catalog.

Parquet files are written atomically: to a hidden temp file in the same folder, then renamed, so
a reader sees the old file or the new one, never half of one. DuckDB allows one writer per file
across processes, so catalog updates take an exclusive file lock and retry while a reader holds
the database; readers open it read-only.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import duckdb
import polars as pl

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.=-]+$")


def partition_file(folder: Path, partition: str | None) -> Path:
    """lake/<group>/<asset>/<partition>.parquet; unpartitioned assets use `all.parquet`.

    A multi-dimensional key (`AAPL|2024-01-01`) is one folder per leading dimension
    (`AAPL/2024-01-01.parquet`). Characters outside letters, digits and `. _ = -` are
    percent-encoded, so a symbol like `BTC/USD` is the file `BTC%2FUSD.parquet`, never a folder.
    """
    parts = ["all"] if partition is None else partition.split("|")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"partition key {partition!r} has an empty or relative part; it cannot name a file")
    *folders, name = [quote(part, safe="=") for part in parts]
    return folder.joinpath(*folders, f"{name}.parquet")


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_bytes_atomic(data: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(text: str, path: Path) -> Path:
    return write_bytes_atomic(text.encode(), path)


def read_parquet_files(paths: list[Path]) -> pl.DataFrame:
    _check_present(paths)
    return pl.concat([pl.read_parquet(p) for p in paths], how="diagonal_relaxed")


def scan_parquet_files(paths: list[Path]) -> pl.LazyFrame:
    """A lazy scan of the files: a filter on a partition column then reads only matching files."""
    _check_present(paths)
    return pl.concat([pl.scan_parquet(p) for p in paths], how="diagonal_relaxed")


def _check_present(paths: list[Path]) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"lake files missing (materialize the upstream asset first): {missing[:5]}")
    if not paths:
        raise FileNotFoundError("no lake files to read")


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _connect_for_write(catalog: Path, timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return duckdb.connect(str(catalog))
        except duckdb.IOException as exc:  # another process holds the file
            if time.monotonic() > deadline:
                raise TimeoutError(f"{catalog}: still locked after {timeout_s:.0f}s: {exc}") from exc
            time.sleep(0.2)


def register_view(catalog: Path, view: str, folder: Path, *, timeout_s: float = 60.0) -> None:
    """Create or replace a view named `view` over every Parquet file in `folder` and below it."""
    if not _SAFE_NAME.match(view) or "." in view or "-" in view:
        raise ValueError(f"view name {view!r} must be a plain identifier")
    pattern = str(folder / "**" / "*.parquet").replace("'", "''")
    with _exclusive(catalog.with_suffix(".lock")):
        con = _connect_for_write(catalog, timeout_s)
        try:
            con.execute(
                f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet('{pattern}', union_by_name = true)"
            )
        finally:
            con.close()


def query_catalog(catalog: Path, sql: str) -> pl.DataFrame:
    """Run a read-only query against the catalog."""
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()
