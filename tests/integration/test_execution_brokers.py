"""The order manager through every broker: the built-in paper broker, Alpaca (alpaca-py against
the fake Alpaca on 127.0.0.1) and Interactive Brokers (ib_async against the fake TWS).

What must hold whichever broker trades: the same plan journals the same orders, fills, positions
and risk events; a process killed between sending an order and hearing back leaves exactly one
order at the broker, which the restarted cycle recovers; a planted difference halts trading until
acknowledged; the kill switch cancels every open order at the broker and can flatten the book; an
order that ended unfilled is sent again under the next attempt's id, never its old one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from foxml_dagster.execution import Journal, run_cycle
from foxml_dagster.execution.broker import close_broker
from foxml_dagster.execution.config import ExecutionConfig, KillSwitchSettings
from foxml_dagster.execution.connect import make_broker, make_outbox
from foxml_dagster.paths import REPO_ROOT
from tests.fakes.brokers import (
    KEY_ENVS,
    comparable,
    execution_config,
    fake_alpaca,
    fake_tws,
    flat_bars,
    signals_at,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def no_real_keys(monkeypatch):
    for name in KEY_ENVS:
        monkeypatch.delenv(name, raising=False)


def cycle(cfg: ExecutionConfig, signals, bars, journal, home: Path, n: int, **kw):
    """One cycle as the execution asset runs it: a fresh broker connection, the account's
    outbox, and the connection closed after."""
    broker = make_broker(cfg, market=bars, home=home)
    try:
        return run_cycle(
            signals,
            bars,
            cfg,
            journal,
            broker,
            cycle_id=f"c{n}",
            recorded_at=datetime(2024, 4, 1, n, tzinfo=UTC),
            outbox=make_outbox(cfg, home),
            **kw,
        )
    finally:
        close_broker(broker)


def history(journal: Journal, cid: str) -> list[str]:
    return journal.orders.filter(pl.col("client_order_id") == cid)["status"].to_list()


PLAN = [
    (2, {"AAA": 0.2, "BBB": -0.1, "CCC": 0.05}),  # open three positions, one short
    (3, {"AAA": 0.1, "BBB": 0.0, "CCC": 0.05}),  # reduce one, close one, keep one
]


def trade_the_plan(cfg: ExecutionConfig, home: Path) -> Journal:
    journal = Journal()
    for n, (at, weights) in enumerate(PLAN, start=1):
        # The bar after the decision exists, so the paper broker fills on it as a real one would now.
        result = cycle(cfg, signals_at(at, weights), flat_bars(at + 1), journal, home, n)
        assert result.summary["sent"] > 0 and result.summary["state"] == "active", result.summary
        journal = result.journal
    return journal


def test_the_same_plan_journals_the_same_through_paper_alpaca_and_ibkr(tmp_path, monkeypatch):
    paper = trade_the_plan(execution_config("paper"), tmp_path / "paper")
    with fake_alpaca(monkeypatch) as fake:
        alpaca = trade_the_plan(execution_config("alpaca", fake.url, fake.stream_url), tmp_path / "alpaca")
        assert len(fake.trading.orders) == paper.latest_orders().height
    with fake_tws() as tws:
        ibkr = trade_the_plan(execution_config("ibkr", tws.port), tmp_path / "ibkr")
        assert len(tws.desk.orders) == paper.latest_orders().height

    for table in ("orders", "fills", "positions", "risk_events"):
        expected = comparable(paper, table)
        assert expected.height > 0, table
        assert comparable(alpaca, table).equals(expected), f"alpaca {table}"
        assert comparable(ibkr, table).equals(expected), f"ibkr {table}"
    # Five orders over two cycles, each planned, sent, acknowledged and filled; the book ends
    # with AAA reduced, BBB closed and CCC kept.
    assert set(paper.latest_orders()["status"]) == {"filled"} and paper.latest_orders().height == 5
    lifecycle = ["planned", "submitted", "accepted", "filled"]
    assert all(history(paper, cid) == lifecycle for cid in paper.orders["client_order_id"])
    last = paper.positions.filter(pl.col("cycle_id") == "c2").filter(pl.col("qty") != 0)
    assert last.select("symbol", "qty").sort("symbol").rows() == [("AAA", 200.0), ("CCC", 500.0)]


# --- a crash between sending and hearing back ----------------------------------------------------

CRASHING_CYCLE = """
import sys
from pathlib import Path
import polars as pl
from foxml_dagster.execution import Journal, run_cycle
from foxml_dagster.execution.config import ExecutionConfig
from foxml_dagster.execution.connect import make_broker, make_outbox

config_json, bars_path, signals_path, home = sys.argv[1:5]
cfg = ExecutionConfig.model_validate_json(Path(config_json).read_text())
bars, signals = pl.read_parquet(bars_path), pl.read_parquet(signals_path)
broker = make_broker(cfg, market=bars, home=Path(home))
run_cycle(signals, bars, cfg, Journal(), broker, cycle_id="crashing", outbox=make_outbox(cfg, Path(home)))
raise SystemExit("the broker answered: the test meant it never to")
"""


def start_crashing_cycle(cfg: ExecutionConfig, bars, signals, tmp_path: Path) -> subprocess.Popen:
    (tmp_path / "cfg.json").write_text(cfg.model_dump_json())
    bars.write_parquet(tmp_path / "bars.parquet")
    signals.write_parquet(tmp_path / "signals.parquet")
    args = [str(tmp_path / "cfg.json"), str(tmp_path / "bars.parquet"), str(tmp_path / "signals.parquet")]
    return subprocess.Popen(
        [sys.executable, "-c", CRASHING_CYCLE, *args, str(tmp_path / "home")],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the trading process ended first:\n{process.stdout.read().decode()[-3000:]}")
        assert time.monotonic() < deadline, "the order never reached the fake broker"
        time.sleep(0.05)


@pytest.mark.parametrize("broker", ["alpaca", "ibkr"])
def test_a_process_killed_between_submit_and_acknowledgement_leaves_exactly_one_order(broker, tmp_path, monkeypatch):
    bars, signals = flat_bars(3), signals_at(2, {"AAA": 0.2})
    with fake_alpaca(monkeypatch) if broker == "alpaca" else fake_tws() as fake:
        if broker == "alpaca":
            cfg = execution_config("alpaca", fake.url, fake.stream_url)
            cfg = cfg.model_copy(update={"alpaca": cfg.alpaca.model_copy(update={"timeout_seconds": 120.0})})
            fake.trading.hang_next_submit()  # the order is taken; the answer never comes
            at_broker = fake.trading.orders.values
        else:
            cfg = execution_config("ibkr", fake.port)
            cfg = cfg.model_copy(update={"ibkr": cfg.ibkr.model_copy(update={"timeout_seconds": 120.0})})
            fake.desk.silence_next_order()  # TWS takes it and says nothing
            at_broker = lambda: fake.desk.orders  # noqa: E731
        process = start_crashing_cycle(cfg, bars, signals, tmp_path)
        try:
            wait_for(lambda: len(at_broker()) == 1, process)
        finally:
            process.kill()  # SIGKILL: no cleanup, no journal
            process.wait()
        home = tmp_path / "home"
        assert not (home / "lake").exists()  # nothing of the killed cycle was journaled...
        (pending,) = make_outbox(cfg, home).pending()  # ...but its order was written down first
        cid = pending["client_order_id"]
        if broker == "ibkr":
            fake.desk.fill_working()  # it fills while no one listens

        restarted = cycle(cfg, signals, bars, Journal(), home, 2)

        assert len(at_broker()) == 1  # exactly one order at the broker, the one sent before the kill
        assert restarted.summary["recovered"] == 1 and restarted.summary["sent"] == 0
        assert history(restarted.journal, cid) == ["planned", "submitted", "accepted", "filled"]
        recovery = restarted.new["risk_events"].filter(pl.col("kind") == "recovery")
        assert recovery["client_order_id"].to_list() == [cid]
        assert restarted.summary["reconcile_differences"] == 0 and restarted.summary["state"] == "active"
        held = restarted.new["positions"].filter(pl.col("symbol") == "AAA")
        assert held.select("qty", "broker_qty").row(0) == (400.0, 400.0)
        # The next cycle finds it journaled and drops it from the outbox.
        again = cycle(cfg, signals, bars, restarted.journal, home, 3)
        assert make_outbox(cfg, home).pending() == [] and again.summary["sent"] == 0
        assert len(at_broker()) == 1


def test_an_order_the_outbox_holds_but_the_broker_never_saw_is_journaled_rejected_and_planned_again(
    tmp_path, monkeypatch
):
    with fake_alpaca(monkeypatch) as fake:
        cfg = execution_config("alpaca", fake.url, fake.stream_url)
        home = tmp_path / "home"
        signals, bars = signals_at(2, {"AAA": 0.2}), flat_bars(3)
        # A cycle that wrote its order down and died before sending it.
        first = cycle(cfg, signals, bars, Journal(), home, 1)
        (cid,) = first.journal.latest_orders()["client_order_id"].to_list()
        planned = first.journal.orders.filter(pl.col("status") == "planned").row(0, named=True)
        make_outbox(cfg, home).record([{**planned, "client_order_id": "fx-never-sent"}])
        result = cycle(cfg, signals, bars, first.journal, home, 2)
        assert history(result.journal, "fx-never-sent") == ["planned", "submitted", "rejected"]
        assert (
            "never reached the broker"
            in result.journal.latest_orders().filter(pl.col("client_order_id") == "fx-never-sent")["reason"][0]
        )
        assert fake.trading.orders_for("fx-never-sent") == [] and len(fake.trading.orders_for(cid)) == 1


# --- reconciliation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("broker", ["alpaca", "ibkr"])
def test_a_planted_position_halts_trading_until_a_resume_acknowledges_it(broker, tmp_path, monkeypatch):
    bars = flat_bars(4)
    with fake_alpaca(monkeypatch) if broker == "alpaca" else fake_tws() as fake:
        cfg = execution_config(broker, fake.url if broker == "alpaca" else fake.port, getattr(fake, "stream_url", None))
        plant = fake.trading.set_position if broker == "alpaca" else fake.desk.set_position
        n_orders = (lambda: len(fake.trading.orders)) if broker == "alpaca" else (lambda: len(fake.desk.orders))
        first = cycle(cfg, signals_at(2, {"AAA": 0.2}), bars, Journal(), tmp_path, 1)
        assert first.summary["reconcile_differences"] == 0 and n_orders() == 1

        plant("AAA", 350.0)  # someone traded the account outside the platform
        plant("BBB", -10.0)
        halted = cycle(cfg, signals_at(3, {"AAA": 0.25, "CCC": 0.1}), bars, first.journal, tmp_path, 2)
        details = halted.new["risk_events"].filter(pl.col("kind") == "reconcile")["detail"].to_list()
        assert "before trading: journal holds 400, the broker 350" in details
        assert "before trading: journal holds 0, the broker -10" in details
        assert (halted.summary["state"], halted.summary["cause"]) == ("halted", "reconciliation")
        assert n_orders() == 1  # nothing new reached the broker
        assert set(halted.new["orders"].filter(pl.col("status") == "rejected")["risk_reason"]) == {"halted"}

        still = cycle(cfg, signals_at(3, {"AAA": 0.25, "CCC": 0.1}), bars, halted.journal, tmp_path, 3)
        assert still.summary["state"] == "halted" and n_orders() == 1  # it holds until someone acts

        resumed = cycle(cfg, signals_at(3, {"AAA": 0.25, "CCC": 0.1}), bars, still.journal, tmp_path, 4, resume=True)
        adjustments = resumed.new["fills"].filter(pl.col("client_order_id") == "reconciliation")
        assert adjustments.select("symbol", "side", "qty").sort("symbol").rows() == [
            ("AAA", "sell", 50.0),
            ("BBB", "sell", 10.0),
        ]
        assert resumed.summary["state"] == "active" and resumed.summary["sent"] > 0
        assert resumed.new["positions"]["reconciled"].all()


# --- the kill switch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("broker", ["alpaca", "ibkr"])
def test_the_kill_switch_cancels_every_open_order_at_the_broker_and_flattens(broker, tmp_path, monkeypatch):
    bars = flat_bars(3)
    with fake_alpaca(monkeypatch) if broker == "alpaca" else fake_tws() as fake:
        where = fake.url if broker == "alpaca" else fake.port
        cfg = execution_config(broker, where, getattr(fake, "stream_url", None), settle_seconds=0.2)
        state = fake.trading if broker == "alpaca" else fake.desk
        first = cycle(cfg, signals_at(2, {"AAA": 0.2}), bars, Journal(), tmp_path, 1)  # fills: AAA held
        state.auto_fill = False
        second = cycle(cfg, signals_at(3, {"AAA": 0.2, "BBB": 0.1, "CCC": 0.1}), bars, first.journal, tmp_path, 2)
        assert second.summary["sent"] == 2  # BBB and CCC stay working
        foreign = make_broker(cfg, market=bars, home=tmp_path)  # an order placed outside the journal
        try:
            from foxml_dagster.execution.broker import OrderTicket

            foreign.submit(OrderTicket("manual-1", "CCC", "buy", 5, "limit", 9.0, "gtc", datetime.now(UTC)))
        finally:
            close_broker(foreign)
        state.auto_fill = True

        flatten = cfg.model_copy(update={"kill_switch": KillSwitchSettings(flatten=True)})
        killed = cycle(flatten, signals_at(3, {"AAA": 0.2}), bars, second.journal, tmp_path, 3, kill_switch="desk")
        cancelled = killed.new["orders"].filter(pl.col("status") == "cancelled")
        assert cancelled["reason"].to_list() == ["kill switch: desk"] * 2
        event = killed.new["risk_events"].filter(pl.col("kind") == "kill_switch")["detail"][0]
        assert "cancelled 2 working order(s) and 1 other open order(s) at the broker" in event
        assert "sent 1 order(s) to flatten the book" in event
        flat = killed.new["orders"].filter(pl.col("reason") == "kill switch: flatten")
        assert flat.select("symbol", "side", "qty", "risk_decision").row(0) == ("AAA", "sell", 400.0, "override")
        assert killed.summary["state"] == "halted"
        fresh = make_broker(cfg, market=bars, home=tmp_path)
        try:
            assert fresh.open_orders() == [] and fresh.positions() == {}
        finally:
            close_broker(fresh)


# --- deliberate re-submission ------------------------------------------------------------------------


@pytest.mark.parametrize("broker", ["alpaca", "ibkr"])
def test_an_order_that_ended_unfilled_is_sent_again_under_the_next_attempt_id(broker, tmp_path, monkeypatch):
    bars, signals = flat_bars(3), signals_at(2, {"AAA": 0.2})
    with fake_alpaca(monkeypatch) if broker == "alpaca" else fake_tws() as fake:
        where = fake.url if broker == "alpaca" else fake.port
        cfg = execution_config(broker, where, getattr(fake, "stream_url", None))
        brief = cfg.model_copy(update={"settle_seconds": 0.2})  # while nothing fills, do not wait long
        state = fake.trading if broker == "alpaca" else fake.desk
        state.auto_fill = False
        first = cycle(brief, signals, bars, Journal(), tmp_path, 1)
        (cid,) = first.journal.latest_orders()["client_order_id"].to_list()
        killed = cycle(brief, signals, bars, first.journal, tmp_path, 2, kill_switch="end of day")
        assert history(killed.journal, cid)[-1] == "cancelled"
        state.auto_fill = True
        again = cycle(cfg, signals, bars, killed.journal, tmp_path, 3)
        new_ids = again.new["orders"].filter(pl.col("status") == "planned")["client_order_id"].to_list()
        assert len(new_ids) == 1 and new_ids[0] != cid  # attempt #1 of the same plan: a new id, kept in the journal
        assert history(again.journal, new_ids[0]) == ["planned", "submitted", "accepted", "filled"]
        refs = (
            [o["client_order_id"] for o in fake.trading.orders.values()]
            if broker == "alpaca"
            else [o.order_ref for o in fake.desk.orders]
        )
        assert sorted(refs) == sorted([cid, new_ids[0]])  # the cancelled id was never sent again
