"""End to end: the `trading` job, launched through GraphQL as the UI launches it, run by the real
daemon in its own process against the fake Alpaca on 127.0.0.1.

Kept lean: the lake is seeded with the bars and signals a pipeline run would have stored, so the
daemon runs one execution cycle and nothing else. The run worker reads the keys from the
environment the daemon was started with, as it would in production.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from tests.e2e.conftest import E2E_EXPERIMENT
from tests.e2e.test_webserver import IN_PROCESS, LAUNCH_RUN, REPOSITORY_SELECTOR, catalog_rows, wait_for_run
from tests.fakes.alpaca_server import FakeAlpaca
from tests.fakes.brokers import PRICES

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 240
SYMBOLS = sorted(PRICES)
DECIDED = datetime(2024, 3, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def alpaca():
    with FakeAlpaca() as fake:
        for symbol, price in PRICES.items():
            fake.trading.set_price(symbol, price)
        yield fake


@pytest.fixture(scope="module")
def e2e_experiment(alpaca):
    """The servers' experiment: the small one, trading through the fake Alpaca; its keys in the
    environment the webserver and daemon inherit."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("APCA_API_KEY_ID", alpaca.key_id)
        env.setenv("APCA_API_SECRET_KEY", alpaca.secret_key)
        env.delenv("FOXML_LIVE_TRADING", raising=False)
        yield E2E_EXPERIMENT + (
            "execution:\n"
            "  broker: alpaca\n"
            "  settle_seconds: 10\n"
            f"  alpaca: {{url_override: '{alpaca.url}', stream_url_override: '{alpaca.stream_url}'}}\n"
        )


def seed_lake(servers) -> None:
    """The bars and signals the execution step reads, where a pipeline run would have put them."""
    lake = servers.home / "lake"
    for symbol, price in PRICES.items():
        days = [DECIDED - timedelta(days=k) for k in range(3, -1, -1)]
        frame = pl.DataFrame(
            {"symbol": symbol, "ts": days, "open": price, "high": price, "low": price, "close": price, "volume": 1e6},
            schema_overrides={"ts": pl.Datetime("us", "UTC")},
        )
        (lake / "normalize" / "bars").mkdir(parents=True, exist_ok=True)
        frame.write_parquet(lake / "normalize" / "bars" / f"{symbol}.parquet")
    signals = pl.DataFrame(
        {"symbol": SYMBOLS, "ts": [DECIDED] * 3, "target_weight": [0.2, -0.1, 0.05]},
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    (lake / "signals" / "signals").mkdir(parents=True, exist_ok=True)
    signals.write_parquet(lake / "signals" / "signals" / "all.parquet")
    with dg.DagsterInstance.from_config(str(servers.dagster_home)) as instance:
        instance.add_dynamic_partitions("symbol", SYMBOLS)


def test_the_trading_job_runs_under_the_daemon_and_trades_through_the_fake_alpaca(dagster_servers, alpaca):
    assert os.environ.get("APCA_API_KEY_ID") == alpaca.key_id
    seed_lake(dagster_servers)
    params = {
        "selector": {**REPOSITORY_SELECTOR, "jobName": "trading"},
        "runConfigData": {
            **IN_PROCESS,
            "ops": {"execution": {"config": {"kill_switch": False, "resume": False, "reason": "e2e"}}},
        },
    }
    launched = dagster_servers.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    assert launched["run"]["status"] == "QUEUED"  # only the daemon can start it
    run = wait_for_run(dagster_servers, launched["run"]["runId"], timeout_s=RUN_TIMEOUT_S)

    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (tags["foxml/trading_mode"], tags["foxml/broker"]) == ("paper", "alpaca")
    at_alpaca = sorted((o["symbol"], o["side"], o["status"]) for o in alpaca.trading.orders.values())
    assert at_alpaca == [("AAA", "buy", "filled"), ("BBB", "sell", "filled"), ("CCC", "buy", "filled")]
    journaled = catalog_rows(
        dagster_servers,
        "SELECT client_order_id, status FROM orders "
        "QUALIFY row_number() OVER (PARTITION BY client_order_id ORDER BY seq DESC) = 1",
    )
    assert sorted(cid for cid, _ in journaled) == sorted(o["client_order_id"] for o in alpaca.trading.orders.values())
    assert {status for _, status in journaled} == {"filled"}
    held = catalog_rows(dagster_servers, "SELECT symbol, qty, broker_qty, reconciled FROM positions ORDER BY symbol")
    assert held == [("AAA", 400.0, 400.0, True), ("BBB", -500.0, -500.0, True), ("CCC", 500.0, 500.0, True)]
