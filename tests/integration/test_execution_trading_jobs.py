"""The trading job in Dagster against the fake Alpaca: the run's tags say the mode and broker,
the reconciliation check passes on a clean book and fails (blocking) on a planted difference,
live mode stops before any request without the environment switch, and the API keys (canaries
here) appear nowhere a run leaves a trace: run config, tags, event log, metadata, the lake, the
catalog, the outbox, logs or output."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest
from dagster._serdes import serialize_value

from assets import execution as execution_assets
from foxml_dagster.execution.connect import LIVE_ENV
from foxml_dagster.storage import query_catalog
from jobs.trading import kill_switch, resume_trading, trading
from resources.home import Experiment, FoxmlHome
from resources.lake import LakeIOManager, asset_name
from tests.fakes.alpaca_server import FakeAlpaca
from tests.fakes.brokers import PRICES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CANARY_KEY = "PKCANARY7Q2W9E4R"
CANARY_SECRET = "canary-secret-5f1d0b7e9a3c"
MARKET: dict[str, pl.DataFrame] = {}


def day(i: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i)


def market(last_day: int, weights: dict[str, float]) -> None:
    rows = [(s, day(i), p, p, p, p, 1e6) for s, p in PRICES.items() for i in range(last_day + 1)]
    schema = {"symbol": pl.String, "ts": pl.Datetime("us", "UTC")}
    MARKET["bars"] = pl.DataFrame(
        rows, schema=schema | {c: pl.Float64 for c in ("open", "high", "low", "close", "volume")}, orient="row"
    )
    MARKET["signals"] = pl.DataFrame(
        {"symbol": list(weights), "ts": [day(last_day)] * len(weights), "target_weight": list(weights.values())},
        schema=schema | {"target_weight": pl.Float64},
    )


@dg.asset(group_name="normalize")
def bars() -> pl.DataFrame:
    return MARKET["bars"]


@dg.asset(group_name="signals")
def signals() -> pl.DataFrame:
    return MARKET["signals"]


@pytest.fixture
def alpaca(monkeypatch):
    with FakeAlpaca(key_id=CANARY_KEY, secret_key=CANARY_SECRET) as fake:
        monkeypatch.setenv("APCA_API_KEY_ID", CANARY_KEY)
        monkeypatch.setenv("APCA_API_SECRET_KEY", CANARY_SECRET)
        monkeypatch.delenv(LIVE_ENV, raising=False)
        for symbol, price in PRICES.items():
            fake.trading.set_price(symbol, price)
        yield fake


@pytest.fixture
def trading_defs(home, tmp_path, alpaca):
    def build(mode: str = "paper"):
        path = tmp_path / "experiment.yaml"
        path.write_text(
            "execution:\n"
            f"  broker: alpaca\n  mode: {mode}\n  settle_seconds: 5\n"
            "  orders: {min_trade_notional: 0}\n"
            f"  alpaca: {{url_override: '{alpaca.url}', stream_url_override: '{alpaca.stream_url}'}}\n"
        )
        stage = dg.load_assets_from_modules([execution_assets])
        every = [bars, signals, *stage]
        groups = {asset_name(k): g for a in every for k, g in a.group_names_by_key.items()}
        root = FoxmlHome(root=str(home))
        return dg.Definitions(
            assets=every,
            jobs=[trading, kill_switch, resume_trading],
            resources={
                "io_manager": LakeIOManager(home=root, groups=groups),
                "home": root,
                "experiment": Experiment(path=str(path)),
            },
        )

    return build


def materialize_inputs(defs, instance) -> None:
    result = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey("bars"), dg.AssetKey("signals")}
    )
    assert result.execute_in_process(instance=instance).success


def run_trading(defs, instance, *, raise_on_error=True) -> dg.ExecuteInProcessResult:
    materialize_inputs(defs, instance)
    return defs.resolve_job_def("trading").execute_in_process(instance=instance, raise_on_error=raise_on_error)


def check_result(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_a_trading_run_is_tagged_with_its_mode_and_the_keys_leave_no_trace(trading_defs, home, alpaca, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    defs, instance = trading_defs(), dg.DagsterInstance.ephemeral()
    market(5, {"AAA": 0.2, "BBB": 0.1})
    result = run_trading(defs, instance)
    run = instance.get_run_by_id(result.run_id)
    assert (run.tags["foxml/trading_mode"], run.tags["foxml/broker"]) == ("paper", "alpaca")
    assert any("PAPER trading through alpaca" in (e.message or "") for e in instance.all_logs(result.run_id))
    evaluation = check_result(result)
    assert evaluation.check_name == "reconciled_with_broker" and evaluation.passed
    orders = query_catalog(home / "catalog.duckdb", "SELECT DISTINCT client_order_id, status FROM orders")
    assert orders.filter(pl.col("status") == "filled").height == 2 and len(alpaca.trading.orders) == 2
    assert {r.method for r in alpaca.trading.requests} >= {"GET", "POST"}  # the keys were used...

    # ...and are nowhere a run leaves a trace.
    traces = {
        "run config": json.dumps(run.run_config),
        "tags": json.dumps(run.tags),
        "event log": "\n".join(serialize_value(e) for e in instance.all_logs(result.run_id)),
        "logs": caplog.text,
        "output": "".join(capfd.readouterr()),
    }
    for path in home.rglob("*"):
        if path.is_file():
            traces[str(path.relative_to(home))] = path.read_bytes().decode("latin-1")
    assert any(name.endswith(".parquet") for name in traces) and "catalog.duckdb" in traces
    for where, text in traces.items():
        assert CANARY_KEY not in text and CANARY_SECRET not in text, f"an API key leaked into {where}"


def test_a_planted_difference_fails_the_blocking_check_and_halts_the_next_orders(trading_defs, home, alpaca):
    defs, instance = trading_defs(), dg.DagsterInstance.ephemeral()
    market(5, {"AAA": 0.2})
    assert check_result(run_trading(defs, instance)).passed
    alpaca.trading.set_position("BBB", 25.0)  # a position the journal never saw
    market(6, {"AAA": 0.3})
    failed = run_trading(defs, instance, raise_on_error=False)
    evaluation = check_result(failed)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["differences_before"].value == 1
    assert "journal holds 0, the broker 25" in evaluation.metadata["differences"].value
    assert len(alpaca.trading.orders) == 1  # the halt kept the new order from the broker
    state = query_catalog(
        home / "catalog.duckdb", "SELECT state, cause FROM risk_events ORDER BY recorded_at DESC, seq DESC"
    )
    assert state.row(0) == ("halted", "reconciliation")

    acknowledged = defs.resolve_job_def("resume_trading").execute_in_process(instance=instance)
    evaluation = check_result(acknowledged)
    assert evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN  # adopted, on the record
    # Trading again: AAA up to its new weight, and the adopted BBB (no signal: a target of 0) sold.
    sent = sorted((o["symbol"], o["side"]) for o in alpaca.trading.orders.values())
    assert sent == [("AAA", "buy"), ("AAA", "buy"), ("BBB", "sell")] and alpaca.trading.positions["BBB"] == 0


def test_live_mode_without_the_environment_switch_fails_before_any_request(trading_defs, alpaca):
    defs, instance = trading_defs(mode="live"), dg.DagsterInstance.ephemeral()
    market(5, {"AAA": 0.2})
    result = run_trading(defs, instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"{LIVE_ENV} is not set: live trading needs both switches" in failure.step_failure_data.error.to_string()
    assert alpaca.trading.requests == []


def test_foxml_kill_switch_engage_now_cancels_at_the_broker_without_a_cycle(home, tmp_path, alpaca, capsys):
    from foxml_dagster.execution.alpaca import AlpacaBroker
    from foxml_dagster.execution.broker import OrderTicket
    from foxml_dagster.execution.config import AlpacaTrading
    from foxml_dagster.execution.kill_switch import kill_switch_status
    from jobs import cli

    alpaca.trading.auto_fill = False
    placed = AlpacaBroker(AlpacaTrading(url_override=alpaca.url, stream=False))
    placed.submit(OrderTicket("fx-working", "AAA", "buy", 10, "market", None, "day", datetime.now(UTC)))
    path = tmp_path / "experiment.yaml"
    path.write_text(f"execution:\n  broker: alpaca\n  alpaca: {{url_override: '{alpaca.url}', stream: false}}\n")

    assert cli.main(["--config", str(path), "kill-switch", "engage", "--now", "--reason", "desk"]) == 0
    said = capsys.readouterr().out
    assert "Cancelled 1 open order(s) now: PAPER trading through alpaca" in said
    assert kill_switch_status(home=home)["reason"] == "desk"
    assert [o["status"] for o in alpaca.trading.orders.values()] == ["canceled"]
