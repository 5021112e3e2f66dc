"""The whole asset graph on a small synthetic universe: the synthetic source end to end."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from assets.partitions import range_tags, symbol_partitions
from foxml_dagster.config import DataConfig, load_experiment
from foxml_dagster.data.synthetic import synthetic_bars
from foxml_dagster.storage import query_catalog
from resources.sources import SyntheticSource, make_source

SYMBOLS = ["SYN000", "SYN001", "SYN002"]
SYNTHETIC_EXPERIMENT = """\
data:
  source: synthetic
  synthetic: {n_symbols: 3, n_bars: 400, interval: 1d, seed: 5, start: 2021-01-04}
  sessions: {calendar: 24/5, interval: 1d, missing_bars: leave}  # the generator's weekdays
splits: {n_folds: 3, embargo_pct: 0.01}
training:
  seed: 3
  families:
    lightgbm: {n_estimators: 20}
    logistic: {}
"""


@pytest.fixture
def synthetic_experiment(home, monkeypatch):
    path = home / "synthetic-experiment.yaml"
    path.write_text(SYNTHETIC_EXPERIMENT)
    monkeypatch.setenv("FOXML_CONFIG", str(path))
    return path


def test_the_source_serves_the_generator_bars_as_text(synthetic_experiment, home):
    source = make_source(load_experiment().data, home)
    assert isinstance(source, SyntheticSource)
    assert source.symbols() == SYMBOLS
    raw = source.read_raw("SYN001")
    assert raw.schema["open"] == pl.Utf8 and raw["origin"][0].startswith("synthetic:")
    assert raw.height == synthetic_bars(3, 400, "1d", seed=5, symbols=["SYN001"]).height


def test_the_source_names_a_symbol_outside_its_universe():
    source = make_source(DataConfig(source="synthetic", symbols=["SYN012"]), home_root=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_symbols=10"):
        source.symbols()


def test_a_bad_interval_fails_at_load():
    with pytest.raises(ValueError, match="interval"):
        DataConfig(source="synthetic", synthetic={"interval": "90s"})


def test_full_pipeline_runs_on_synthetic_bars(synthetic_experiment, home):
    from foxml_dagster.definitions import build_definitions

    defs = build_definitions()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions.name, SYMBOLS)
    result = defs.resolve_job_def("full_pipeline").execute_in_process(instance=instance, tags=range_tags(SYMBOLS))
    assert result.success
    evaluations = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    checks = {name: e.passed for name, e in evaluations.items()}
    blocking = ["raw_contract", "bars_contract", "volume_spikes", "folds_purged_and_embargoed", "no_leakage"]
    blocking += ["signals_current", "reconciled_with_broker"]
    # 3 symbols x 400 bars hold fewer than 100 non-overlapping 10-bar outcomes: warned, not blocked.
    assert checks == {**dict.fromkeys(blocking, True), "split_warnings": False}
    assert "few_outcomes: tb_h10" in evaluations["split_warnings"].metadata["warnings"].value
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"bars", "features", "labels", "trained_models/lightgbm", "backtest", "orders"} <= done

    catalog = home / "catalog.duckdb"
    lake = home / "lake" / "normalize" / "bars"
    bars = pl.concat([pl.read_parquet(lake / f"{symbol}.parquet") for symbol in SYMBOLS])
    expected = synthetic_bars(3, 400, "1d", seed=5, start=load_experiment().data.synthetic.start)
    assert bars.select(expected.columns).equals(expected), (bars.schema, expected.schema)  # text loses nothing
    assert query_catalog(catalog, "SELECT count(*) AS n FROM bars_quarantine")["n"][0] == 0
    # The generator's missing bars and halts are the gaps the session grid finds, symbol by symbol.
    coverage = query_catalog(catalog, "SELECT * FROM bars_coverage ORDER BY symbol")
    for row in coverage.iter_rows(named=True):
        own = expected.filter(pl.col("symbol") == row["symbol"])
        weekdays = pl.date_range(own["ts"].min(), own["ts"].max(), eager=True).dt.weekday() <= 5
        assert (row["present_bars"], row["expected_bars"]) == (own.height, weekdays.sum())
    assert coverage["missing_bars"].sum() > 0
    families = query_catalog(catalog, "SELECT DISTINCT family FROM oof_predictions ORDER BY 1")["family"]
    assert families.to_list() == ["lightgbm", "logistic"]
