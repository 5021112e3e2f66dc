"""The whole asset graph, materialized in-process on a slice of the real sample."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from assets.partitions import range_tags, symbol_partitions
from foxml_dagster.storage import query_catalog
from jobs.cli import main as foxml

SYMBOLS = ["AAPL", "IBM", "MSFT"]
EVERY_ASSET = {
    "raw_bars",
    "bars",
    "bars_quarantine",
    "bars_coverage",
    "features",
    "cross_sectional_features",
    "labels",
    "training_frame",
    "folds",
    "fold_audit",
    "leakage_report",
    "selected_features",
    "target_ranking",
    "trained_models",
    "oof_predictions",
    # one pair per family of the small experiment (tests/conftest.py), keys prefixed by stage
    "trained_models/lightgbm",
    "trained_models/logistic",
    "oof_predictions/lightgbm",
    "oof_predictions/logistic",
    "model_scores",
    "model_ranking",
    "strategy_returns",
    "trials",
    "overfitting",
    "ensemble_predictions",
    "production_models",
    "live_predictions",
    "research_signals",
    "signals",
    "backtest",
    "tearsheet",
    "orders",
    "fills",
    "positions",
    "risk_events",
}


@pytest.fixture
def pipeline(small_experiment, home):
    """Definitions loaded under the small experiment, an instance, and the registered symbols."""
    from foxml_dagster.definitions import build_definitions

    defs = build_definitions()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions.name, SYMBOLS)
    return defs, instance, home


def run_full(defs, instance) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("full_pipeline")
    return job.execute_in_process(instance=instance, tags=range_tags(SYMBOLS))


def test_full_pipeline_materializes_every_asset_into_the_lake_and_catalog(pipeline):
    defs, instance, home = pipeline
    result = run_full(defs, instance)
    assert result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert done == EVERY_ASSET
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    blocking = {"raw_contract", "bars_contract", "folds_purged_and_embargoed", "no_leakage", "signals_current"}
    blocking |= {"reconciled_with_broker"}
    assert {name: checks[name] for name in blocking} == dict.fromkeys(blocking, True)
    assert set(checks) == blocking | {"volume_spikes", "split_warnings"}
    assert checks["split_warnings"]  # the small experiment's folds are not weak
    _every_stored_column_is_described(result)

    catalog = home / "catalog.duckdb"
    # Live orders decided at the newest bar fill on the bar after it, which does not exist yet.
    for name in EVERY_ASSET - {"bars_quarantine", "fills"}:
        view = name.replace("/", "__")  # the lake's view of a prefixed key
        assert query_catalog(catalog, f"SELECT count(*) AS n FROM {view}")["n"][0] > 0, name
    bars = query_catalog(catalog, "SELECT symbol, min(ts) AS first FROM bars GROUP BY 1 ORDER BY 1")
    assert bars["symbol"].to_list() == SYMBOLS
    assert sorted(p.name for p in (home / "lake" / "normalize" / "bars").iterdir()) == [f"{s}.parquet" for s in SYMBOLS]

    oof = query_catalog(catalog, "SELECT DISTINCT family FROM oof_predictions ORDER BY 1")
    assert oof["family"].to_list() == ["lightgbm", "logistic"]
    # Every out-of-fold prediction was made by a model whose training rows excluded that sample.
    leaked = query_catalog(
        catalog,
        "SELECT count(*) AS n FROM oof_predictions p JOIN folds f ON p.target = f.target "
        "AND p.fold = f.fold AND p.symbol = f.symbol AND p.ts = f.ts WHERE f.role = 'train'",
    )
    assert leaked["n"][0] == 0
    # The research core: every leakage check ran, selection explains itself, ranking has stats.
    checks_run = query_catalog(catalog, "SELECT DISTINCT check_name FROM leakage_report")["check_name"].to_list()
    assert {
        "single_feature_score",
        "importance_dominance",
        "preprocessing_outside_fold",
        "label_reads_future",
        "label_crosses_boundary",
        "missing_embargo",
    } <= set(checks_run)
    selected = query_catalog(catalog, "SELECT * FROM selected_features")
    assert {"mdi", "mda", "clustered_mda", "sfi", "stability", "reason"} <= set(selected.columns)
    ranking = query_catalog(catalog, "SELECT * FROM target_ranking ORDER BY rank")
    assert {"composite", "family_agreement", "psr", "dsr", "reason"} <= set(ranking.columns)
    assert (home / "reports" / "tearsheet.md").read_text().strip()
    _the_tearsheet_describes_the_traded_series(catalog, home)
    _the_production_path_acts_on_the_newest_bar(catalog, home)
    for path in query_catalog(catalog, "SELECT path FROM trained_models")["path"]:
        assert (home / "models").as_posix() in path


def test_a_second_run_replaces_outputs_instead_of_duplicating_them(pipeline):
    defs, instance, home = pipeline
    assert run_full(defs, instance).success
    first = query_catalog(home / "catalog.duckdb", "SELECT count(*) AS n FROM oof_predictions")["n"][0]
    scores = query_catalog(home / "catalog.duckdb", "SELECT * FROM model_scores ORDER BY ALL")
    trials = query_catalog(home / "catalog.duckdb", "SELECT trial_id, n_trials FROM trials ORDER BY 1")
    assert run_full(defs, instance).success
    assert query_catalog(home / "catalog.duckdb", "SELECT count(*) AS n FROM oof_predictions")["n"][0] == first
    assert query_catalog(home / "catalog.duckdb", "SELECT * FROM model_scores ORDER BY ALL").equals(scores)
    # The same configuration run again is the same trials, not new ones.
    again = query_catalog(home / "catalog.duckdb", "SELECT trial_id, n_trials, runs FROM trials ORDER BY 1")
    assert again.select("trial_id", "n_trials").equals(trials) and set(again["runs"]) == {2}


def test_one_symbol_partition_can_be_refreshed_alone(pipeline):
    defs, instance, home = pipeline
    job = defs.resolve_job_def("symbol_refresh")
    assert job.execute_in_process(instance=instance, partition_key="IBM").success
    written = sorted(p.name for p in (home / "lake" / "features" / "features").iterdir())
    assert written == ["IBM.parquet"]


def test_per_symbol_stage_without_a_partition_fails_with_instructions(pipeline):
    defs, instance, _ = pipeline
    job = defs.resolve_job_def("symbol_refresh")
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "symbol partitions" in failure.event_specific_data.error.message


def test_foxml_run_prints_the_summary_and_works_twice(small_experiment, home, capfd):
    # First with a process per step (the default, as a UI launch runs), then every step in this
    # process (--in-process); both give the whole graph and the same summary. capfd: what step
    # processes write reaches the file descriptors, not sys.stdout.
    assert foxml(["run"]) == 0
    assert foxml(["run", "--in-process"]) == 0
    captured = capfd.readouterr()
    out = captured.out
    assert captured.err.count("done training_frame") == 2
    assert "Executing step" not in captured.out + captured.err  # step processes' own lines stay out
    assert out.count(f"materialized {len(EVERY_ASSET)} assets") == 2
    assert "make ui" in out and "tearsheet.html" in out
    # The headline is shown beside its benchmark, with what decides whether it is skill.
    assert "strategy  benchmark" in out and "alpha" in out and "beta" in out and "net long in" in out
    assert "deflated Sharpe" in out and "PBO" in out
    # What production decided, and the signal orders were planned from: the newest bar's.
    assert "models promoted (production.gates)" in out and "live: signals for 2013-03-01" in out
    assert "(newest bar 2013-03-01" in out and "orders: planned from them:" in out
    sheet = query_catalog(home / "catalog.duckdb", "SELECT flags FROM tearsheet")["flags"][0].to_list()
    assert all(f"! {caveat}" in out for caveat in sheet)
    bars = pl.read_parquet(home / "lake" / "normalize" / "bars" / "AAPL.parquet")
    assert bars["ts"].is_unique().all()


def test_a_planted_future_feature_fails_the_leakage_check_and_blocks_training(
    pipeline, home, small_experiment, monkeypatch
):
    from dataclasses import replace

    import numpy as np

    from foxml_dagster.features import FeatureSpec, feature_set, register_feature, registry

    # Register the planted set in copies of the registry, so it is gone after this test.
    feature_set("baseline")
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_SETS", {k: list(v) for k, v in registry._SETS.items()})

    for spec in feature_set("baseline"):
        register_feature(replace(spec, name=f"leaky_set_{spec.name}"), sets=("planted_leak",))
    register_feature(
        FeatureSpec(
            "next_close_gap", lambda p: np.r_[p.close[1:], np.nan] / p.close - 1, ("close",), 0, "planted leak"
        ),
        sets=("planted_leak",),
    )
    small_experiment.write_text(small_experiment.read_text() + "features: {set: planted_leak}\n")
    from foxml_dagster.definitions import build_definitions

    defs = build_definitions()
    result = defs.resolve_job_def("full_pipeline").execute_in_process(
        instance=pipeline[1], tags=range_tags(SYMBOLS), raise_on_error=False
    )
    assert not result.success
    check = next(e for e in result.get_asset_check_evaluations() if e.asset_check_key.name == "no_leakage")
    assert not check.passed
    assert "next_close_gap" in check.metadata["culprits"].value
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "trained_models" not in done and "signals" not in done


def _every_stored_column_is_described(result: dg.ExecuteInProcessResult) -> None:
    """The UI shows each asset's columns from dagster/column_schema: none may be unexplained."""
    bare = set()
    for event in result.get_asset_materialization_events():
        schema = event.materialization.metadata.get("dagster/column_schema")
        assert schema is not None, f"{event.asset_key.to_user_string()} has no column schema"
        key = event.asset_key.to_user_string()
        bare |= {f"{key}.{c.name}" for c in schema.value.columns if not c.description}
    assert not bare, f"columns without a description (add them to assets/metadata.COLUMNS): {sorted(bare)}"


def _the_tearsheet_describes_the_traded_series(catalog, home) -> None:
    """Headline statistics are recomputed here from the backtest series, independently."""
    import math

    import numpy as np
    from scipy.stats import kurtosis, norm, skew

    sheet = query_catalog(catalog, "SELECT * FROM tearsheet").row(0, named=True)
    series = query_catalog(catalog, "SELECT * FROM backtest ORDER BY ts")
    r = series["net_return"].to_numpy()
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = skew(r), kurtosis(r, fisher=False)
    psr = norm.cdf(sr * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
    assert sheet["psr"] == pytest.approx(psr, rel=1e-9)
    b = series["benchmark_return"].to_numpy()
    assert sheet["beta"] == pytest.approx(np.cov(r, b)[0, 1] / b.var(ddof=1), rel=1e-9)
    assert sheet["benchmark_total_return"] == pytest.approx(np.prod(1 + b) - 1, rel=1e-9)
    # The traded strategy is one trial of the grid, with the very same series.
    traded = query_catalog(catalog, "SELECT * FROM trials WHERE traded AND in_last_run")
    assert traded.height == 1 and traded["dsr"][0] == pytest.approx(sheet["dsr"])
    assert traded["n_trials"][0] == query_catalog(catalog, "SELECT count(*) AS n FROM trials")["n"][0]
    grid = query_catalog(
        catalog,
        "SELECT s.ts, s.net_return FROM strategy_returns s JOIN trials t ON s.strategy = t.config "
        "WHERE t.traded ORDER BY s.ts",
    )
    np.testing.assert_allclose(grid["net_return"].to_numpy(), r, atol=1e-15)
    # PBO is in the catalog, one row per CSCV split, and the tearsheet's figure is its share of logit <= 0.
    pbo = query_catalog(catalog, "SELECT avg((logit <= 0)::INT) AS pbo, count(*) AS n FROM overfitting")
    assert pbo["n"][0] == math.comb(16, 8) and sheet["pbo"] == pytest.approx(pbo["pbo"][0])
    page = (home / "reports" / "tearsheet.html").read_text()
    for name in ("equity", "drawdown", "rolling", "monthly", "exposure", "models", "features"):
        assert (home / "reports" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert f"alt='{name}'" in page


def _the_production_path_acts_on_the_newest_bar(catalog, home) -> None:
    """Production models saw nothing after their cutoff; live predictions and signals reach the
    newest bar; orders are planned from them; research stays on out-of-fold predictions."""
    import json
    from pathlib import Path

    newest_bar = query_catalog(catalog, "SELECT max(ts) AS ts FROM bars")["ts"][0]
    signals = query_catalog(catalog, "SELECT * FROM signals")
    assert signals["ts"].unique().to_list() == [newest_bar]  # the newest signal is for the newest bar
    assert sorted(signals["symbol"]) == SYMBOLS
    orders = query_catalog(catalog, "SELECT DISTINCT signal_ts FROM orders")
    assert orders["signal_ts"].to_list() == [newest_bar]  # orders are planned from the live signals

    models = query_catalog(catalog, "SELECT * FROM production_models")
    frame = query_catalog(
        catalog, "SELECT target, max(ts) AS last_ts, count(*) AS n, max(t1) AS last_t1 FROM training_frame GROUP BY 1"
    )
    by_target = {r["target"]: r for r in frame.iter_rows(named=True)}
    assert set(models["kind"]) == {"family", "ensemble"} and models["reason"].is_not_null().all()
    for row in models.iter_rows(named=True):
        known = by_target[row["target"]]
        # Every labelled row, and none beyond the last known outcome: nothing after the cutoff.
        assert row["train_end"] == known["last_ts"] and row["knowledge_end"] <= newest_bar, row
        if row["kind"] == "family":
            assert row["n_train"] == known["n"], row
            manifest = json.loads((Path(row["path"]).parent / "manifest.json").read_text())
            assert manifest["version"] == row["version"] and manifest["data_hash"] == row["data_hash"]
            assert manifest["knowledge_end"].startswith(str(row["knowledge_end"].date()))
        assert (home / "models" / "production").as_posix() in row["path"]
    live = query_catalog(
        catalog,
        "SELECT l.family, l.target, min(l.ts) AS first, max(l.ts) AS last, bool_and(l.ts > m.train_end) AS after "
        "FROM live_predictions l JOIN production_models m ON l.version = m.version GROUP BY 1, 2",
    )
    assert live.height == models.height and live["after"].all() and set(live["last"]) == {newest_bar}
    # Research never reaches past the labelled rows: the backtest trades out-of-fold predictions only.
    research_end = query_catalog(catalog, "SELECT max(ts) AS ts FROM research_signals")["ts"][0]
    assert research_end < newest_bar and research_end <= max(r["last_ts"] for r in by_target.values())
    # Ensembles are scored like families, ranked beside them, and every (source, policy) is a trial.
    scored = set(query_catalog(catalog, "SELECT DISTINCT family FROM model_scores")["family"])
    assert {"ensemble", "ensemble_weighted", "ensemble_rank", "ensemble_stacked"} <= scored
    ranked = query_catalog(catalog, "SELECT DISTINCT family FROM model_ranking")["family"]
    assert set(ranked) == scored
    trials = query_catalog(catalog, "SELECT DISTINCT family, variant FROM trials WHERE kind = 'strategy'")
    assert {"ensemble_stacked", "lightgbm"} <= set(trials["family"])
    assert {"betsize_step0.1", "topk2_drop1_ls", "voltarget0.1_hl20", "band1", "meta_step0.1"} <= set(trials["variant"])
    n_grid = query_catalog(catalog, "SELECT count(DISTINCT strategy) AS n FROM strategy_returns")["n"][0]
    assert query_catalog(catalog, "SELECT max(n_strategies) AS n FROM overfitting")["n"][0] == n_grid
    page = (home / "reports" / "tearsheet.html").read_text()
    assert "Sizing policies on the traded source" in page and "Families and ensembles under the traded policy" in page
    for name in ("policies", "ensembles"):
        assert (home / "reports" / f"{name}.png").read_bytes().startswith(b"\x89PNG")


def test_the_standard_feature_set_trains_end_to_end_without_a_leakage_alarm(pipeline, small_experiment):
    small_experiment.write_text(small_experiment.read_text() + "features: {set: standard}\n")
    from foxml_dagster.definitions import build_definitions

    defs = build_definitions()
    result = run_full(defs, pipeline[1])
    assert result.success
    checks = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert checks["no_leakage"].passed, checks["no_leakage"].metadata["culprits"].value
    catalog = pipeline[2] / "catalog.duckdb"
    trained = query_catalog(catalog, "SELECT DISTINCT family FROM oof_predictions ORDER BY 1")["family"].to_list()
    assert trained == ["lightgbm", "logistic"]
    n_features = query_catalog(catalog, "SELECT count(*) AS n FROM selected_features")["n"][0]
    assert n_features >= 150  # every standard feature went through selection (near-duplicates are rows too)
