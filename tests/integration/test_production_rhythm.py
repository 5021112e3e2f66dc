"""The production path over time: models trained up to one day, new bars landing after it, live
inference alone bringing signals and orders to the newest bar, the freshness check failing in
between, and the sensor and schedules that drive the rhythm."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.partitions import range_tags, symbol_partitions
from foxml_dagster.storage import query_catalog
from jobs.pipeline import live_daily, weekly_retrain
from sensors.live import live_after_bars

SYMBOLS = ["AAPL", "IBM", "MSFT"]
# Training stops at 15 February 2013; the sample's bars go on to 1 March.
TRAINED_UNTIL = "2013-02-15"
EXPERIMENT = """\
data:
  source: sample
  symbols: [AAPL, IBM, MSFT]
  timezone: UTC
  start: 2011-01-01
  end: {end}
  sessions: {{calendar: XNYS, interval: 1d, missing_bars: ffill}}
  columns: {{symbol: Ticker, ts: Date, open: Open, high: High, low: Low, close: Close,
            volume: Volume, adj_close: Adj Close}}
splits: {{n_folds: 3, embargo_pct: 0.01}}
training:
  seed: 3
  families:
    logistic: {{}}
signals: {{source: logistic}}
ensemble: {{methods: []}}
evaluation: {{signal_gains: [4.0], signal_dead_zones: [0.02], policies: [bet_size]}}
production:
  gates: {{auc_above: null, ic_above: null, ic_tstat_above: null}}
"""
SIGNALS_CURRENT = dg.AssetCheckKey(dg.AssetKey("signals"), "signals_current")


def _defs(config, end: str):
    config.write_text(EXPERIMENT.format(end=end))
    from foxml_dagster.definitions import build_definitions

    return build_definitions()


def _run(defs, instance, job: str, **kwargs) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False, **kwargs)


def test_live_inference_brings_models_trained_earlier_to_the_newest_bar(home, small_experiment):
    q = lambda sql: query_catalog(home / "catalog.duckdb", sql)  # noqa: E731
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions.name, SYMBOLS)
    tags = range_tags(SYMBOLS)
    trained = _run(_defs(small_experiment, TRAINED_UNTIL), instance, "full_pipeline", tags=tags)
    assert trained.success
    model = q("SELECT * FROM production_models WHERE family = 'logistic' AND target = 'fwd_ret_5'").row(0, named=True)
    first_signal = q("SELECT max(ts) AS ts FROM signals")["ts"][0]
    assert str(first_signal.date()) == TRAINED_UNTIL and model["promoted"]

    # New bars land (the data now runs to 1 March) and reach the features: the signals are stale.
    defs = _defs(small_experiment, "2013-03-01")
    assert _run(defs, instance, "symbol_refresh", tags=tags).success
    newest_bar = q("SELECT max(ts) AS ts FROM bars")["ts"][0]
    assert str(newest_bar.date()) == "2013-03-01"
    check_only = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection={SIGNALS_CURRENT}
    )
    stale = check_only.execute_in_process(instance=instance, raise_on_error=False)
    [evaluation] = stale.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["bars_behind"].value == 9  # 19 Feb (18th: a holiday) .. 1 Mar
    assert "live_refresh" in evaluation.description

    # The sensor sees the refreshed features and asks for one live_inference run ...
    context = dg.build_multi_asset_sensor_context(
        monitored_assets=[dg.AssetKey("features")], instance=instance, definitions=defs
    )
    request = live_after_bars(context)
    assert isinstance(request, dg.RunRequest) and request.run_key.startswith("features@")
    assert isinstance(live_after_bars(context), dg.SkipReason)  # nothing new since: no second run

    # ... which moves signals and orders to the newest bar with the models trained until 15 February.
    live = _run(defs, instance, "live_inference")
    assert live.success
    done = {e.asset_key.to_user_string() for e in live.get_asset_materialization_events()}
    assert done == {
        "cross_sectional_features",
        "live_predictions",
        "signals",
        "orders",
        "fills",
        "positions",
        "risk_events",
    }
    checks = {e.asset_check_key.name: e.passed for e in live.get_asset_check_evaluations()}
    assert checks["signals_current"]
    assert q("SELECT DISTINCT ts FROM signals")["ts"].to_list() == [newest_bar]
    assert q("SELECT max(signal_ts) AS ts FROM orders")["ts"][0] == newest_bar
    unchanged = q("SELECT * FROM production_models WHERE family = 'logistic' AND target = 'fwd_ret_5'")
    assert unchanged.row(0, named=True) == model  # no retraining: the same version and cutoff
    scored = q(
        "SELECT min(ts) AS first, max(ts) AS last, count(DISTINCT ts) AS bars FROM live_predictions "
        "WHERE family = 'logistic' AND target = 'fwd_ret_5'"
    ).row(0, named=True)
    # Every bar after the model's last training row up to the newest: the label horizon's tail + 9 new bars.
    after = q(f"SELECT count(DISTINCT ts) AS n FROM bars WHERE ts > '{model['train_end'].isoformat()}'")["n"][0]
    assert scored["first"] > model["train_end"] and scored["last"] == newest_bar and scored["bars"] == after == 5 + 9
    assert model["knowledge_end"] < scored["last"]


def test_schedules_run_the_live_path_daily_and_retrain_weekly_over_every_symbol(small_experiment):
    from foxml_dagster.definitions import build_definitions

    defs = build_definitions()
    assert defs.resolve_job_def("retrain").asset_layer  # resolvable
    with dg.instance_for_test() as instance:
        for schedule, job in ((live_daily, "live_refresh"), (weekly_retrain, "retrain")):
            assert schedule.job_name == job
            empty = schedule(dg.build_schedule_context(instance=instance))
            assert isinstance(empty, dg.SkipReason) and "foxml register" in empty.skip_message
        instance.add_dynamic_partitions(symbol_partitions.name, SYMBOLS)
        for schedule in (live_daily, weekly_retrain):
            request = schedule(dg.build_schedule_context(instance=instance))
            assert request.tags == range_tags(SYMBOLS)
    retrain = {k.to_user_string() for k in defs.resolve_job_def("retrain").asset_layer.executable_asset_keys}
    assert {"production_models", "model_ranking", "signals"} <= retrain and "orders" not in retrain
    live = {k.to_user_string() for k in defs.resolve_job_def("live_refresh").asset_layer.executable_asset_keys}
    assert {"features", "live_predictions", "signals", "orders"} <= live
    assert not live & {"labels", "production_models", "oof_predictions"}


@pytest.fixture
def small_experiment(home, monkeypatch):
    path = home / "experiment.yaml"
    path.write_text(EXPERIMENT.format(end=TRAINED_UNTIL))
    monkeypatch.setenv("FOXML_CONFIG", str(path))
    return path
