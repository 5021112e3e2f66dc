"""The lake (Parquet, the system of record) and its DuckDB catalog.

The lake is a local folder (`$FOXML_HOME/lake`) or a prefix on object storage
(`FOXML_LAKE_URI=s3://bucket/lake`, through fsspec: `lake_path`). Every function here takes a
local `Path` or a remote `UPath` and does the right thing for each.

Parquet files are published atomically, so a reader sees the old file or the new one, never half
of one:
- locally: written to a hidden temp file in the same folder, then renamed over the old one;
- on object storage: the complete file is built in memory (a streamed output: in a local temp
  file) and sent as one PUT (s3fs switches to a multipart upload above 50 MB, which S3 also
  publishes only on its final request). An object
  store has no rename, and a copy + delete would double the traffic and leave a window in which
  a temp object is listed, so nothing is ever written under the prefix except finished files.

DuckDB allows one writer per file across processes, so catalog updates take an exclusive file
lock and retry while a reader holds the database; readers open it read-only. The catalog file
stays local (next to the Dagster instance) even when the lake is remote; its views then read the
objects through the same fsspec filesystem, registered on each connection (`open_catalog`),
because DuckDB's own httpfs extension cannot be installed offline for duckdb 2.0.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import duckdb
import polars as pl

if TYPE_CHECKING:
    from upath import UPath

    LakePath = Path | UPath
else:
    LakePath = Any

# Polars' own default: small enough that a filtered scan skips most of a large file by its
# statistics, large enough that 200-odd columns do not make the footer a cost of its own.
_ROW_GROUP_ROWS = 512**2
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.=-]+$")
_VIEW_PROTOCOL = re.compile(r"read_parquet\(\s*'([a-z][a-z0-9+.-]*)://", re.IGNORECASE)


def lake_path(uri: str) -> LakePath:
    """The lake folder a `lake_uri` names: `s3://bucket/prefix` (any fsspec protocol whose
    package is installed), `file:///abs/path`, or a plain local path.

    Object-storage credentials and endpoint come from the environment only (for S3:
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or AWS_PROFILE, AWS_DEFAULT_REGION,
    AWS_ENDPOINT_URL for an S3-compatible server), never from configuration files of this project.
    """
    text = uri.strip()
    scheme = urlsplit(text).scheme
    if scheme in ("", "file") or len(scheme) == 1:  # a plain path, file://, or a Windows drive
        return Path(text.removeprefix("file://")).resolve()
    from upath import UPath

    try:
        path = UPath(text, **_storage_options(scheme))
        path.fs  # noqa: B018  (creates the filesystem now, so a missing package fails here)
    except (ImportError, ValueError) as exc:
        raise ValueError(
            f"lake_uri {uri!r}: no filesystem for {scheme!r} ({exc}); install its fsspec package "
            "(s3fs for s3://) or use a local path"
        ) from exc
    if not path.path.strip("/"):
        raise ValueError(f"lake_uri {uri!r} names no bucket; write it as {scheme}://<bucket>/<prefix>")
    return path


def lake_filesystem(protocol: str):
    """The fsspec filesystem the lake and the catalog's views use for `protocol` (cached)."""
    import fsspec

    return fsspec.filesystem(protocol, **_storage_options(protocol))


def _storage_options(protocol: str) -> dict:
    # Directory listings are never cached: another process (a step, a backfill) may have written
    # a partition since this one listed the folder.
    return {"use_listings_cache": False} if protocol in ("s3", "s3a", "gs", "gcs", "abfs", "az") else {}


def is_remote(path: LakePath) -> bool:
    """True for a path on object storage (a UPath that is not a local file)."""
    return not isinstance(path, PurePath)


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


def write_parquet_atomic(frame: pl.DataFrame, path: LakePath) -> LakePath:
    if is_remote(path):
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd", statistics=True)
        return _put_object(buffer.getvalue(), path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_parquet_batches_atomic(batches: Iterable[pl.DataFrame], path: LakePath) -> tuple[int, pl.Schema | None]:
    """One Parquet file written batch by batch, each batch a row group (or several), so only one
    batch is ever in memory; published as atomically as `write_parquet_atomic`. Every batch must
    have the first one's columns and types. Returns the rows written and the schema (None, and
    no file, when there was no batch)."""
    import pyarrow.parquet as pq

    folder = path.parent if not is_remote(path) else Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
    writer, rows, schema = None, 0, None
    try:
        for batch in batches:
            table = batch.to_arrow()
            if writer is None:
                writer, schema = pq.ParquetWriter(tmp, table.schema, compression="zstd"), batch.schema
            elif batch.schema != schema:
                raise ValueError(f"{path.name}: a batch's columns {batch.schema} differ from the first's {schema}")
            writer.write_table(table, row_group_size=_ROW_GROUP_ROWS)
            rows += batch.height
        if writer is None:
            return 0, None
        writer.close()
        writer = None
        if is_remote(path):
            _put_file(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return rows, schema


def write_bytes_atomic(data: bytes, path: LakePath) -> LakePath:
    if is_remote(path):
        return _put_object(data, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(text: str, path: LakePath) -> LakePath:
    return write_bytes_atomic(text.encode(), path)


def _put_object(data: bytes, path: LakePath) -> LakePath:
    """One PUT of the complete object: it appears whole or not at all (see the module docstring)."""
    try:
        path.fs.pipe_file(path.path, data)
    except Exception as exc:  # botocore/aiohttp errors name the bucket and the reason, never the keys
        raise _write_error(path, len(data), exc) from exc
    return path


def _write_error(path: LakePath, size: int, exc: Exception) -> OSError:
    return OSError(
        f"{path}: could not write {size} bytes to object storage ({type(exc).__name__}: {exc}); "
        "check that the bucket exists and that the AWS_* credentials and AWS_ENDPOINT_URL in the "
        "environment reach it"
    )


def _put_file(local: Path, path: LakePath) -> None:
    """One upload of a finished local file (s3fs: a multipart upload above its block size, which
    the store publishes only when its last request completes)."""
    try:
        path.fs.put_file(str(local), path.path)
    except Exception as exc:
        raise _write_error(path, local.stat().st_size, exc) from exc


def read_parquet_file(path: LakePath) -> pl.DataFrame:
    """One Parquet file of the lake, local or remote."""
    if is_remote(path):
        return pl.read_parquet(io.BytesIO(_get_object(path)))
    return pl.read_parquet(path)


def scan_parquet_file(path: LakePath) -> pl.LazyFrame:
    """A lazy scan of one file. On object storage it goes through pyarrow's dataset reader over
    the same fsspec filesystem (ranged reads: only the footer, and the row groups and columns
    the query needs)."""
    if not is_remote(path):
        return pl.scan_parquet(path)
    import pyarrow.dataset as ds
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    return pl.scan_pyarrow_dataset(
        ds.dataset(path.path, filesystem=PyFileSystem(FSSpecHandler(path.fs)), format="parquet")
    )


def read_parquet_files(paths: list[LakePath]) -> pl.DataFrame:
    _check_present(paths)
    return pl.concat([read_parquet_file(p) for p in paths], how="diagonal_relaxed")


def scan_parquet_files(paths: list[LakePath]) -> pl.LazyFrame:
    """A lazy scan of the files: a filter on a partition column then reads only matching files."""
    _check_present(paths)
    return pl.concat([scan_parquet_file(p) for p in paths], how="diagonal_relaxed")


def _get_object(path: LakePath) -> bytes:
    try:
        return path.fs.cat_file(path.path)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise OSError(
            f"{path}: could not read from object storage ({type(exc).__name__}: {exc}); check the "
            "AWS_* credentials and AWS_ENDPOINT_URL in the environment"
        ) from exc


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


def register_view(catalog: Path, view: str, folder: LakePath, *, timeout_s: float = 60.0) -> None:
    """Create or replace a view named `view` over every Parquet file in `folder` and below it."""
    if not _SAFE_NAME.match(view) or "." in view or "-" in view:
        raise ValueError(f"view name {view!r} must be a plain identifier")
    pattern = str(folder / "**" / "*.parquet").replace("'", "''")
    with _exclusive(catalog.with_suffix(".lock")):
        con = _connect_for_write(catalog, timeout_s)
        try:
            if is_remote(folder):  # DuckDB checks the files' schema when it creates the view
                con.register_filesystem(lake_filesystem(folder.protocol))
            con.execute(
                f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet('{pattern}', union_by_name = true)"
            )
        finally:
            con.close()


@contextmanager
def open_catalog(catalog: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the catalog whose views also work over a remote lake: the
    filesystem of every protocol the views read (`s3://...`) is registered on it first."""
    if not catalog.exists():
        raise FileNotFoundError(f"{catalog}: no catalog yet; materialize an asset first (foxml run)")
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        definitions = con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()
        for protocol in sorted({p.lower() for (sql,) in definitions for p in _VIEW_PROTOCOL.findall(sql or "")}):
            if protocol != "file":
                con.register_filesystem(lake_filesystem(protocol))
        yield con
    finally:
        con.close()


def query_catalog(catalog: Path, sql: str) -> pl.DataFrame:
    """Run a read-only query against the catalog (local or remote lake alike)."""
    with open_catalog(catalog) as con:
        return con.sql(sql).pl()
