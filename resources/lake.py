"""The IO manager that stores every asset as Parquet in the lake and keeps the catalog current.

Layout: lake/<group>/<asset>/<partition>.parquet (unpartitioned: all.parquet; a two-dimensional
key `AAPL|2024-01-01` is AAPL/2024-01-01.parquet). A run that covers several partitions (a
single-run backfill) returns one frame; it is split on the partition column (`symbol` unless the
asset's metadata names another in `partition_column`; a multi-partitioned asset carries one column
per dimension, named after it) and each partition file is replaced atomically. After each write
the asset's DuckDB view is (re)created.

Keys with a prefix (`oof_predictions/lightgbm`) are stored and viewed under their full path
joined with "__" (folder `oof_predictions__lightgbm`, view `oof_predictions__lightgbm`): the last
element alone would make `trained_models/lightgbm` and `oof_predictions/lightgbm` collide.

With `lake_uri` set (FOXML_LAKE_URI=s3://bucket/lake) the same layout lives under that prefix on
object storage: each partition file is published with one PUT of the complete object, never a
temp object and a rename (foxml_dagster/storage.py), and the catalog's views read it through the
same fsspec filesystem.

Large per-symbol stages stream: they return `FrameBatches` (frames made one symbol batch at a
time) and downstream stages may take their input as a `pl.LazyFrame` (a scan of the partition
files), so no step holds the whole panel. An input typed `dict[str, pl.LazyFrame]` gets one scan
per upstream partition, keyed by partition key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, get_origin

import dagster as dg
import polars as pl

from assets.metadata import column_schema
from foxml_dagster.storage import (
    partition_file,
    read_parquet_files,
    register_view,
    scan_parquet_file,
    scan_parquet_files,
    write_parquet_atomic,
    write_parquet_batches_atomic,
)
from resources.home import FoxmlHome

_KEY = "__partition_key"


@dataclass
class FrameBatches:
    """An asset output produced lazily, batch by batch; a partition's rows are all in one batch.

    The IO manager writes each batch's partitions as it arrives and then lets it go (an
    unpartitioned asset: each batch becomes row groups of its one file). `summary`, when given,
    is called once every batch is written, and its metadata is added to the materialization:
    for what is known only once the batches have been made (counts, what was left out).
    """

    batches: Iterable[pl.DataFrame]
    summary: Callable[[], Mapping[str, Any]] | None = None

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return iter(self.batches)


def asset_name(asset_key: dg.AssetKey) -> str:
    """Folder and DuckDB view name of an asset: its key path joined with "__"."""
    return "__".join(asset_key.path)


class LakeIOManager(dg.ConfigurableIOManager):
    home: FoxmlHome
    groups: dict[str, str] = {}

    def _folder(self, asset_key: dg.AssetKey):
        name = asset_name(asset_key)
        return self.home.layout.lake / self.groups.get(name, "misc") / name

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | FrameBatches | None) -> None:
        if obj is None:
            return
        name = context.asset_key.to_user_string()
        if not isinstance(obj, pl.DataFrame | FrameBatches):
            raise TypeError(f"{name}: expected a polars DataFrame or FrameBatches, got {type(obj).__name__}")
        folder = self._folder(context.asset_key)
        if isinstance(obj, pl.DataFrame) and not context.has_asset_partitions:
            write_parquet_atomic(obj, partition_file(folder, None))
            rows, schema = obj.height, obj.schema
        elif not context.has_asset_partitions:
            rows, schema = write_parquet_batches_atomic(obj, partition_file(folder, None))
            if schema is None:
                raise ValueError(f"{name}: produced no batch, not even an empty frame with its columns")
        else:
            batches = [obj] if isinstance(obj, pl.DataFrame) else obj
            key_columns = _key_columns(context)
            rows, schema = self._write_partitions(name, folder, key_columns, set(context.asset_partition_keys), batches)
        register_view(self.home.layout.catalog, asset_name(context.asset_key), folder)
        summary = obj.summary() if isinstance(obj, FrameBatches) and obj.summary is not None else {}
        context.add_output_metadata(
            {
                **summary,
                "dagster/row_count": rows,
                "dagster/column_schema": column_schema(schema or {}),
                "lake_path": dg.MetadataValue.path(str(folder)),
            }
        )

    def _write_partitions(
        self, name: str, folder, key_columns: list[str], keys: set[str], batches: Iterable[pl.DataFrame]
    ) -> tuple[int, pl.Schema | None]:
        """Write each partition's rows; a partition with no rows gets an empty file (a re-run
        must replace what an earlier run wrote)."""
        written: set[str] = set()
        rows, schema = 0, None
        for batch in batches:
            absent = [c for c in key_columns if c not in batch.columns]
            keyed = batch if absent else batch.with_columns(pl.concat_str(key_columns, separator="|").alias(_KEY))
            unkeyed = 0 if absent else keyed[_KEY].null_count()
            if unkeyed:  # such rows belong to no partition: refuse rather than drop them
                raise ValueError(
                    f"{name}: {unkeyed} row(s) have no value in {' or '.join(map(repr, key_columns))}, so they "
                    "belong to no partition; the source must name each row's symbol"
                )
            stray = [] if absent else keyed.filter(~pl.col(_KEY).is_in(list(keys)))[_KEY].unique().to_list()
            if absent or stray:
                raise ValueError(
                    f"{name}: output must carry {' and '.join(map(repr, key_columns))} column(s) naming this "
                    f"run's partitions {sorted(keys)[:10]}; found {stray[:10] or f'no column {absent}'}"
                )
            present = set(keyed[_KEY].unique().to_list())
            if present & written:
                raise ValueError(f"{name}: partitions {sorted(present & written)} arrived in more than one batch")
            for key in sorted(present):
                write_parquet_atomic(keyed.filter(pl.col(_KEY) == key).drop(_KEY), partition_file(folder, key))
            written |= present
            rows, schema = rows + batch.height, schema or batch.schema
        if schema is not None:
            for key in sorted(keys - written):
                write_parquet_atomic(pl.DataFrame(schema=schema), partition_file(folder, key))
        return rows, schema

    def load_input(self, context: dg.InputContext) -> pl.DataFrame | pl.LazyFrame | dict[str, pl.LazyFrame]:
        """The partitions this step reads, as a frame; as a lazy scan when the input is typed
        `pl.LazyFrame` (the step then collects one symbol batch at a time); as one scan per
        partition when it is typed `dict[str, pl.LazyFrame]`."""
        folder = self._folder(context.asset_key)
        keys = sorted(context.asset_partition_keys) if context.has_asset_partitions else [None]
        files = {key: partition_file(folder, key) for key in keys}
        missing = [key for key, path in files.items() if not path.exists()]
        if missing:
            name = context.asset_key.to_user_string()
            what = f"partitions {missing[:10]}{' ...' if len(missing) > 10 else ''}" if keys != [None] else "it"
            raise FileNotFoundError(
                f"{name}: {len(missing)} of {len(keys)} input file(s) are not in the lake ({folder}); "
                f"materialize {name} for {what} first, then re-run this step"
            )
        wanted = context.dagster_type.typing_type
        if get_origin(wanted) is dict:
            return {key: scan_parquet_file(path) for key, path in files.items()}
        if wanted is pl.LazyFrame:
            return scan_parquet_files(list(files.values()))
        return read_parquet_files(list(files.values()))


def _key_columns(context: dg.OutputContext) -> list[str]:
    """The columns whose values name a row's partition: one per dimension of a multi-partitioned
    asset, in Dagster's key order (dimension names sorted), else `partition_column` or `symbol`."""
    partitions = context.asset_partitions_def
    if isinstance(partitions, dg.MultiPartitionsDefinition):
        return sorted(dimension.name for dimension in partitions.partitions_defs)
    return [context.definition_metadata.get("partition_column", "symbol")]
