"""The execution stage in Dagster: orders through the Rust engine to the paper broker, the
kill_switch and resume_trading jobs, and a daily-loss trip, with everything in the catalog.

The upstream `signals` and `bars` are small stand-in assets, so the test drives the market
day by day: an order decided on the last bar stays working until a later bar arrives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from assets import execution as execution_assets
from foxml_dagster.storage import query_catalog
from jobs.trading import kill_switch, resume_trading
from resources.home import Experiment, FoxmlHome
from resources.lake import LakeIOManager, asset_name

SYMBOLS = ["AAA", "BBB", "CCC"]
MARKET: dict[str, pl.DataFrame] = {}
EXPERIMENT = """
execution:
  capital: 100000
  paper: {slippage_bps: 0, impact_bps: 0}
  risk: {max_daily_loss: 0.05, daily_loss_action: reducing}
"""


def day(i: int) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i)


def market(last_day: int, crash_on: int | None = None) -> None:
    """Bars up to `last_day` (a 12% fall between the open and the close of `crash_on`), and
    equal-weight signals on the last bar."""
    rows = []
    for symbol in SYMBOLS:
        for i in range(last_day + 1):
            close = 100.0 * (0.88 if crash_on is not None and i >= crash_on else 1.0)
            open_ = 100.0 if i == crash_on else close
            rows.append((symbol, day(i), open_, max(open_, close), min(open_, close), close, 1e6))
    MARKET["bars"] = pl.DataFrame(
        rows,
        schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "open": pl.Float64, "high": pl.Float64}
        | {"low": pl.Float64, "close": pl.Float64, "volume": pl.Float64},
        orient="row",
    )
    MARKET["signals"] = pl.DataFrame(
        {"symbol": SYMBOLS, "ts": [day(last_day)] * 3, "target_weight": [0.25] * 3},
        schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "target_weight": pl.Float64},
    )


@dg.asset(group_name="normalize")
def bars() -> pl.DataFrame:
    return MARKET["bars"]


@dg.asset(group_name="signals")
def signals() -> pl.DataFrame:
    return MARKET["signals"]


@pytest.fixture
def trading(home, tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENT)
    stage = dg.load_assets_from_modules([execution_assets])
    every = [bars, signals, *stage]
    groups = {asset_name(k): g for a in every for k, g in a.group_names_by_key.items()}
    root = FoxmlHome(root=str(home))
    defs = dg.Definitions(
        assets=every,
        jobs=[kill_switch, resume_trading],
        resources={
            "io_manager": LakeIOManager(home=root, groups=groups),
            "home": root,
            "experiment": Experiment(path=str(path)),
        },
    )
    instance = dg.DagsterInstance.ephemeral()

    def run(job: str | None = None) -> None:
        if job is None:
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)
        else:
            result = defs.resolve_job_def(job).execute_in_process(instance=instance)
        assert result.success

    def sql(query: str) -> pl.DataFrame:
        return query_catalog(home / "catalog.duckdb", query)

    return run, sql, home


def latest(sql) -> pl.DataFrame:
    return sql(
        "SELECT * FROM orders QUALIFY row_number() OVER (PARTITION BY client_order_id ORDER BY seq DESC) = 1 "
        "ORDER BY symbol, recorded_at"
    )


def test_orders_reach_the_paper_broker_fill_and_land_in_the_catalog(trading):
    run, sql, home = trading
    market(last_day=5)
    run()
    working = latest(sql)
    assert working["status"].to_list() == ["accepted"] * 3 and working["risk_reason"].to_list() == ["accepted"] * 3
    assert sql("SELECT count(*) AS n FROM fills")["n"][0] == 0  # no bar after the decision yet

    market(last_day=6)  # the next bar arrives: the orders fill at its open
    run()
    fills = sql("SELECT symbol, qty, price, ts FROM fills ORDER BY symbol")
    assert fills.rows() == [(s, 250.0, 100.0, day(6)) for s in SYMBOLS]
    held = sql(
        "SELECT symbol, qty, broker_qty, reconciled FROM positions WHERE as_of = (SELECT max(as_of) FROM positions)"
    )
    assert held.sort("symbol").rows() == [(s, 250.0, 250.0, True) for s in SYMBOLS]
    checks = sql("SELECT decision, count(*) AS n FROM risk_events WHERE kind = 'check' GROUP BY 1")
    assert checks.rows() == [("accept", 3)]
    assert (home / "paper" / "paper.json").exists()


def test_the_kill_switch_job_halts_and_cancels_and_resume_trading_releases_it(trading):
    run, sql, home = trading
    market(last_day=5)
    run()
    assert latest(sql)["status"].to_list() == ["accepted"] * 3

    run("kill_switch")
    assert (home / "trading" / "KILL_SWITCH").exists()
    cancelled = sql("SELECT reason FROM orders WHERE status = 'cancelled'")
    assert cancelled["reason"].to_list() == ["kill switch: kill switch engaged from the UI"] * 3
    event = sql("SELECT state, cause, detail FROM risk_events WHERE kind = 'kill_switch'").row(0)
    assert event[:2] == ("halted", "kill_switch") and "cancelled 3 working order(s)" in event[2]

    run()  # a scheduled cycle while the switch is engaged: HALTED never submits
    denied = sql("SELECT DISTINCT risk_reason FROM orders WHERE status = 'rejected'")
    assert denied["risk_reason"].to_list() == ["halted"]
    assert sql("SELECT count(*) AS n FROM orders WHERE status = 'submitted'")["n"][0] == 3  # the first three only

    run("resume_trading")
    assert not (home / "trading" / "KILL_SWITCH").exists()
    assert latest(sql).filter(pl.col("status") == "accepted").height == 3  # sent again, new ids
    last = sql("SELECT state FROM risk_events ORDER BY recorded_at DESC, seq DESC LIMIT 1")
    assert last["state"][0] == "active"


def test_a_daily_loss_trips_reducing_by_itself_and_denies_adding_orders(trading):
    run, sql, home = trading
    market(last_day=5)
    run()  # three orders working, 75% of equity
    market(last_day=6, crash_on=6)  # they fill at the open, and the close is 12% lower
    run()
    trip = sql("SELECT reason, state, detail FROM risk_events WHERE kind = 'trip'")
    assert trip.rows()[0][:2] == ("daily_loss", "reducing")
    assert "over its limit of 5.00%" in trip["detail"][0]
    mark = sql("SELECT equity, day_start_equity FROM risk_events WHERE kind = 'mark' ORDER BY recorded_at DESC LIMIT 1")
    assert mark["equity"][0] == pytest.approx(91_000) and mark["day_start_equity"][0] == pytest.approx(100_000)
    # Back to 25% each of the smaller book means buying: denied while reducing.
    denied = sql("SELECT symbol, side, risk_reason FROM orders WHERE status = 'rejected' ORDER BY symbol")
    assert denied.rows() == [(s, "buy", "reducing") for s in SYMBOLS]
