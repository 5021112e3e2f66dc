"""The lake IO manager's partition handling, through real materializations."""

from __future__ import annotations

import dagster as dg
import polars as pl

from resources.home import FoxmlHome
from resources.lake import LakeIOManager

SYMBOLS = dg.StaticPartitionsDefinition(["AAA", "BTC/USD"])


def materialize(asset, home, keys: list[str]):
    io = LakeIOManager(home=FoxmlHome(root=str(home)), groups={asset.key.to_user_string(): "g"})
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    return dg.materialize([asset], resources={"io_manager": io}, tags=tags, raise_on_error=False)


def test_rows_that_name_no_partition_stop_the_write_instead_of_vanishing(home):
    @dg.asset(partitions_def=SYMBOLS, backfill_policy=dg.BackfillPolicy.single_run())
    def quarantine(context) -> pl.DataFrame:
        return pl.DataFrame({"symbol": ["AAA", None, "BTC/USD"], "rule": ["a", "b", "c"]})

    result = materialize(quarantine, home, ["AAA", "BTC/USD"])
    assert not result.success
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "1 row(s) have no value in 'symbol'" in (error.cause or error).message
    assert not list(home.rglob("*.parquet"))  # refused before anything was written


def test_a_symbol_with_a_slash_is_one_file_and_reads_back(home):
    @dg.asset(partitions_def=SYMBOLS, backfill_policy=dg.BackfillPolicy.single_run())
    def prices(context) -> pl.DataFrame:
        return pl.DataFrame({"symbol": ["AAA", "BTC/USD"], "close": [1.0, 2.0]})

    assert materialize(prices, home, ["AAA", "BTC/USD"]).success
    folder = home / "lake" / "g" / "prices"
    assert sorted(p.name for p in folder.iterdir()) == ["AAA.parquet", "BTC%2FUSD.parquet"]
    assert pl.read_parquet(folder / "BTC%2FUSD.parquet")["close"].to_list() == [2.0]
