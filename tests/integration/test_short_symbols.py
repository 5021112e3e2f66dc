"""Symbols with too few bars to train on are reported, not dropped in silence."""

from __future__ import annotations

import dagster as dg
import polars as pl
import yaml

from jobs.cli import main as foxml
from resources.sources import _sample_table


def test_foxml_run_names_the_symbols_too_short_to_train_and_why(small_experiment, home, capsys):
    # Landing files: two full symbols over 2010, one with its last 15 bars, one with a single bar.
    landing = home / "landing"
    landing.mkdir()
    year = _sample_table().filter(pl.col("Date").str.starts_with("2010"))
    for name, source, rows in (
        ("AAPL", "AAPL", None),
        ("MSFT", "MSFT", None),
        ("SHORT", "IBM", 15),
        ("ONE", "GOOG", 1),
    ):
        table = year.filter(pl.col("Ticker") == source).sort("Date").with_columns(pl.lit(name).alias("Ticker"))
        (table if rows is None else table.tail(rows)).write_csv(landing / f"{name}.csv")
    cfg = yaml.safe_load(small_experiment.read_text())
    cfg["data"].update(source="files", symbols=[], landing_dir="landing")
    cfg["training"]["families"] = {"logistic": {}}
    small_experiment.write_text(yaml.safe_dump(cfg))

    assert foxml(["run", "--in-process"]) == 0
    captured = capsys.readouterr()
    block = captured.out.split("left out of training, signals and orders (2 symbol(s)):", 1)[1]
    block = block.split("backtest", 1)[0]
    assert "ONE        1 bar; a training row needs the features' warm-up" in block
    assert "SHORT      15 bars; a training row needs the features' warm-up" in block
    assert "warning: training_frame: 2 symbol(s) left out" in captured.err

    instance = dg.DagsterInstance.get()
    event = instance.get_latest_materialization_event(dg.AssetKey("training_frame"))
    metadata = event.asset_materialization.metadata
    left_out = {row["symbol"]: row["bars"] for row in metadata["left_out_symbols"].value}
    assert left_out == {"ONE": 1, "SHORT": 15}
    assert metadata["bars_needed"].value > 15
