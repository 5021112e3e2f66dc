"""The IO manager that stores every asset as Parquet in the lake and keeps the catalog current.

Layout: lake/<group>/<asset>/<partition>.parquet (unpartitioned: all.parquet). A run that covers
several partitions (a single-run backfill) returns one frame; it is split on the partition column
(`symbol` unless the asset's metadata names another in `partition_column`) and each partition file
is replaced atomically. After each write the asset's DuckDB view is (re)created.

Keys with a prefix (`oof_predictions/lightgbm`) are stored and viewed under their full path
joined with "__" (folder `oof_predictions__lightgbm`, view `oof_predictions__lightgbm`): the last
element alone would make `trained_models/lightgbm` and `oof_predictions/lightgbm` collide.
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from foxml_dagster.storage import partition_file, read_parquet_files, register_view, write_parquet_atomic
from resources.home import FoxmlHome


def asset_name(asset_key: dg.AssetKey) -> str:
    """Folder and DuckDB view name of an asset: its key path joined with "__"."""
    return "__".join(asset_key.path)


class LakeIOManager(dg.ConfigurableIOManager):
    home: FoxmlHome
    groups: dict[str, str] = {}

    def _folder(self, asset_key: dg.AssetKey):
        name = asset_name(asset_key)
        return self.home.layout.lake / self.groups.get(name, "misc") / name

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj).__name__}"
            )
        folder = self._folder(context.asset_key)
        if context.has_asset_partitions:
            column = context.definition_metadata.get("partition_column", "symbol")
            keys = set(context.asset_partition_keys)
            stray = (
                obj.filter(~pl.col(column).is_in(list(keys)))[column].unique().to_list()
                if column in obj.columns
                else []
            )
            if column not in obj.columns or stray:
                raise ValueError(
                    f"{context.asset_key.to_user_string()}: output must carry a '{column}' column whose "
                    f"values are this run's partitions {sorted(keys)}; found {stray or 'no such column'}"
                )
            for key in sorted(keys):
                write_parquet_atomic(obj.filter(pl.col(column) == key), partition_file(folder, key))
        else:
            write_parquet_atomic(obj, partition_file(folder, None))
        register_view(self.home.layout.catalog, asset_name(context.asset_key), folder)
        context.add_output_metadata(
            {
                "dagster/row_count": obj.height,
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(name, str(dtype)) for name, dtype in obj.schema.items()]
                ),
                "lake_path": dg.MetadataValue.path(str(folder)),
            }
        )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        folder = self._folder(context.asset_key)
        if context.has_asset_partitions:
            paths = [partition_file(folder, key) for key in sorted(context.asset_partition_keys)]
        else:
            paths = [partition_file(folder, None)]
        return read_parquet_files(paths)
