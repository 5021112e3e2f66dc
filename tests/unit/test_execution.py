"""Order management and the paper broker: the state machine, deterministic ids, fills,
partial fills and rejections, the journal, restarts, reconciliation, the kill switch and the
daily-loss trip, all through `run_cycle` as the execution asset calls it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from foxml_dagster.config import ExperimentConfig
from foxml_dagster.execution import ExecutionConfig, Journal, RiskConfig, run_cycle
from foxml_dagster.execution.broker import Broker, Clocked, OrderTicket
from foxml_dagster.execution.config import OrderSettings, PaperSettings
from foxml_dagster.execution.connect import make_broker
from foxml_dagster.execution.journal import average_cost
from foxml_dagster.execution.kill_switch import (
    engage_kill_switch,
    kill_switch_status,
    release_kill_switch,
    request_resume,
    take_resume_request,
)
from foxml_dagster.execution.orders import InvalidTransition, OrderStatus, check_transition, client_order_id
from foxml_dagster.execution.paper import PaperBroker

D0 = datetime(2024, 3, 1, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")


def day(i: int) -> datetime:
    return D0 + timedelta(days=i)


def make_bars(closes: dict[str, list[float]], *, volume: float = 1e6, opens: dict[str, list[float]] | None = None):
    """Daily bars: open = previous close unless given, high/low around both."""
    rows = []
    for symbol, series in closes.items():
        for i, close in enumerate(series):
            open_ = (opens or {}).get(symbol, [None] * len(series))[i] or (series[i - 1] if i else close)
            rows.append((symbol, day(i), open_, max(open_, close) * 1.01, min(open_, close) * 0.99, close, volume))
    schema = {"symbol": pl.String, "ts": TS, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64}
    return pl.DataFrame(rows, schema={**schema, "close": pl.Float64, "volume": pl.Float64}, orient="row")


def make_signals(at: int, weights: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": list(weights), "ts": [day(at)] * len(weights), "target_weight": list(weights.values())},
        schema={"symbol": pl.String, "ts": TS, "target_weight": pl.Float64},
    )


FRICTIONLESS = PaperSettings(slippage_bps=0, impact_bps=0, max_participation=1.0)


def config(**overrides) -> ExecutionConfig:
    base = {"paper": FRICTIONLESS, "orders": OrderSettings(min_trade_notional=0)}
    return ExecutionConfig(**{**base, **overrides})


def paper(cfg: ExecutionConfig, bars: pl.DataFrame, path=None) -> PaperBroker:
    return PaperBroker(cfg.paper, capital=cfg.capital, market=bars, path=path)


def cycle(signals, bars, cfg, journal, broker, n=1, **kw):
    return run_cycle(signals, bars, cfg, journal, broker, cycle_id=f"c{n}", recorded_at=day(100 + n), **kw)


def history(result, cid: str) -> list[str]:
    rows = result.journal.orders.filter(pl.col("client_order_id") == cid)
    return rows["status"].to_list()


# --- the order state machine and ids ---------------------------------------------------------


def test_the_state_machine_allows_the_lifecycle_and_refuses_the_rest():
    path = ["planned", "submitted", "accepted", "partially_filled", "partially_filled", "filled"]
    for old, new in zip([None, *path[:-1]], path, strict=True):
        check_transition(OrderStatus(old) if old else None, OrderStatus(new), "fx-1")
    for old, new in [
        ("filled", "cancelled"),
        ("planned", "filled"),
        ("rejected", "submitted"),
        ("accepted", "planned"),
    ]:
        with pytest.raises(InvalidTransition, match=f"fx-1: {old} -> {new} is not a valid transition"):
            check_transition(OrderStatus(old), OrderStatus(new), "fx-1")
    with pytest.raises(InvalidTransition, match="first state must be planned"):
        check_transition(None, OrderStatus.SUBMITTED, "fx-1")


def test_client_order_ids_are_a_deterministic_hash_of_what_the_order_is_for():
    a = client_order_id("paper", day(0), "AAA", "buy", 40, "open#0")
    assert a == client_order_id("paper", day(0), "AAA", "buy", 40.0, "open#0") and a.startswith("fx-")
    others = [
        client_order_id("live", day(0), "AAA", "buy", 40, "open#0"),
        client_order_id("paper", day(1), "AAA", "buy", 40, "open#0"),
        client_order_id("paper", day(0), "AAA", "buy", 41, "open#0"),
        client_order_id("paper", day(0), "AAA", "buy", 40, "close#0"),
        client_order_id("paper", day(0), "AAA", "buy", 40, "open#1"),
    ]
    assert a not in others and len(set(others)) == len(others)


# --- the paper broker ------------------------------------------------------------------------


def ticket(cid="t1", symbol="AAA", side="buy", qty=100.0, at=0, **kw) -> OrderTicket:
    fields = {"order_type": "market", "limit_price": None, "time_in_force": "day"} | kw
    return OrderTicket(cid, symbol, side, qty, submitted_at=day(at), **fields)


def test_the_paper_broker_is_a_broker_and_fills_at_the_next_open_with_slippage_and_impact():
    bars = make_bars({"AAA": [100, 102, 104]}, opens={"AAA": [100, 101, 104]}, volume=10_000)
    settings = PaperSettings(slippage_bps=5, impact_bps=50, impact_exponent=0.5, max_participation=1.0, fee_bps=1)
    broker = PaperBroker(settings, capital=1e5, market=bars)
    assert isinstance(broker, Broker) and isinstance(broker, Clocked) and not broker.live
    assert broker.submit(ticket(qty=100)).status == "accepted"
    broker.advance(day(2))
    (fill,) = broker.fills(["t1"])
    assert fill.ts == day(1)  # the first bar after the order, not the bar it was decided on
    slip = 5 + 50 * (100 / 10_000) ** 0.5
    assert fill.price == pytest.approx(101 * (1 + slip / 1e4))
    assert fill.fee == pytest.approx(1e-4 * 100 * fill.price)
    assert fill.slippage_bps == pytest.approx(slip) and fill.participation == pytest.approx(0.01)
    assert broker.positions() == {"AAA": 100.0}
    assert broker.account().cash == pytest.approx(1e5 - 100 * fill.price - fill.fee)


def test_an_order_over_the_participation_cap_fills_in_parts_and_a_day_order_expires():
    bars = make_bars({"AAA": [10.0] * 4}, volume=1_000)
    settings = PaperSettings(slippage_bps=0, impact_bps=0, max_participation=0.1)
    broker = PaperBroker(settings, capital=1e5, market=bars)
    broker.submit(ticket("day", qty=250))
    broker.submit(ticket("gtc", qty=250, time_in_force="gtc"))
    broker.advance(day(3))
    day_order, gtc = broker.orders(["day", "gtc"])
    # Capped at 100 shares a bar (10% of 1,000), shared by both orders' bars alike.
    assert (day_order.status, day_order.filled_qty) == ("expired", 100)
    assert (gtc.status, gtc.filled_qty) == ("filled", 250)
    assert [f.qty for f in broker.fills(["gtc"])] == [100, 100, 50]


def test_a_limit_order_fills_only_through_its_limit_and_never_worse():
    bars = make_bars({"AAA": [100, 100, 95]}, opens={"AAA": [100, 100, 96]})
    broker = PaperBroker(FRICTIONLESS, capital=1e5, market=bars)
    broker.submit(ticket("lim", qty=10, order_type="limit", limit_price=97.0, time_in_force="gtc"))
    broker.advance(day(1))
    assert broker.orders(["lim"])[0].status == "accepted"  # day 1 low 99: not through 97
    broker.advance(day(2))
    (fill,) = broker.fills(["lim"])
    assert fill.price == 96.0  # opened below the limit


def test_the_simulated_account_rejects_what_a_broker_would():
    bars = make_bars({"AAA": [100.0, 100.0]})
    broker = PaperBroker(PaperSettings(allow_short=False, leverage=1.0), capital=10_000, market=bars)
    assert "unknown symbol ZZZ" in broker.submit(ticket("a", symbol="ZZZ")).reason
    assert "short selling is disabled" in broker.submit(ticket("b", side="sell", qty=1)).reason
    assert "insufficient buying power" in broker.submit(ticket("c", qty=101)).reason
    first = broker.submit(ticket("d", qty=100))
    assert first.status == "accepted" and not first.duplicate
    # A repeated id sends nothing: the answer is the order already held under it.
    again = broker.submit(ticket("d", qty=100))
    assert (again.status, again.duplicate, again.broker_order_id) == ("accepted", True, first.broker_order_id)
    assert len(broker.open_orders()) == 1


def test_the_paper_account_outlives_the_process(tmp_path):
    bars = make_bars({"AAA": [100.0, 100.0, 100.0]})
    path = tmp_path / "paper" / "acct.json"
    first = PaperBroker(FRICTIONLESS, capital=1e5, market=bars, path=path)
    first.submit(ticket(qty=10))
    first.advance(day(1))
    second = PaperBroker(FRICTIONLESS, capital=1, market=bars, path=path)  # capital only opens accounts
    assert second.positions() == {"AAA": 10.0} and second.clock == day(1)
    assert second.account().cash == pytest.approx(1e5 - 1_000)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot be read.*delete it to open a new paper account"):
        PaperBroker(FRICTIONLESS, capital=1, market=bars, path=path)


# --- the cycle -------------------------------------------------------------------------------


def test_a_cycle_checks_sends_fills_and_journals_every_transition():
    bars = make_bars({"AAA": [50.0] * 5, "BBB": [20.0] * 5})
    cfg = config()
    result = cycle(make_signals(2, {"AAA": 0.2, "BBB": -0.1}), bars, cfg, Journal(), paper(cfg, bars))
    orders = result.journal.latest_orders().sort("symbol")
    assert orders.select("symbol", "side", "qty", "status", "risk_reason").rows() == [
        ("AAA", "buy", 400.0, "filled", "accepted"),
        ("BBB", "sell", 500.0, "filled", "accepted"),
    ]
    cid = orders["client_order_id"][0]
    assert history(result, cid) == ["planned", "submitted", "accepted", "filled"]
    assert result.journal.fills["ts"].to_list() == [day(3), day(3)]  # the bar after the signal
    checks = result.journal.risk_events.filter(pl.col("kind") == "check")
    assert checks["decision"].to_list() == ["accept", "accept"]
    held = result.journal.positions.filter(pl.col("qty") != 0).sort("symbol")
    assert held.select("symbol", "qty", "broker_qty", "reconciled").rows() == [
        ("AAA", 400.0, 400.0, True),
        ("BBB", -500.0, -500.0, True),
    ]


def test_orders_are_the_difference_from_held_positions_in_whole_lots_above_the_threshold():
    bars = make_bars({"AAA": [50.0] * 8, "BBB": [20.0] * 8})
    cfg = config(risk=RiskConfig(lot_size=10), orders=OrderSettings(min_trade_notional=1_000))
    broker = paper(cfg, bars)
    first = cycle(make_signals(2, {"AAA": 0.2, "BBB": 0.1}), bars, cfg, Journal(), broker)
    second = cycle(make_signals(5, {"AAA": 0.3, "BBB": 0.105}), bars, cfg, first.journal, broker, n=2)
    new = second.new["orders"].filter(pl.col("status") == "planned")
    # AAA: 400 held, 600 wanted (0.3 x 100k / 50): buy 200. BBB: 500 held, 525 wanted: 20 shares
    # (whole lots of 10) worth 400 < the 1,000 threshold: no order.
    assert new.select("symbol", "side", "qty").rows() == [("AAA", "buy", 200.0)]


def test_rerunning_a_plan_never_sends_an_order_twice():
    bars = make_bars({"AAA": [50.0] * 3})  # no bar after the signal: the order stays working
    cfg = config()
    broker = paper(cfg, bars)
    signals = make_signals(2, {"AAA": 0.2})
    first = cycle(signals, bars, cfg, Journal(), broker)
    assert first.summary["sent"] == 1 and first.journal.latest_orders()["status"].to_list() == ["accepted"]
    again = cycle(signals, bars, cfg, first.journal, broker, n=2)
    assert again.summary["sent"] == 0 and again.new["orders"].is_empty()
    assert len(broker.open_orders()) == 1


def test_a_restart_rebuilds_from_the_journal_and_books_later_fills_once(tmp_path):
    bars = make_bars({"AAA": [50.0] * 5})
    cfg = config()
    path = tmp_path / "acct.json"
    first = cycle(
        make_signals(2, {"AAA": 0.2}),
        bars.filter(pl.col("ts") <= day(2)),
        cfg,
        Journal(),
        paper(cfg, bars.filter(pl.col("ts") <= day(2)), path),
    )
    assert first.journal.fills.is_empty()
    # A new process: the journal from the lake, the broker from its own store, more bars known.
    restarted, notes = Journal.load(
        **{name: getattr(first.journal, name) for name in ("orders", "fills", "positions", "risk_events")}
    )
    assert notes == []
    second = cycle(make_signals(2, {"AAA": 0.2}), bars, cfg, restarted, paper(cfg, bars, path), n=2)
    assert second.journal.fills["qty"].to_list() == [400.0]
    assert second.summary["reconcile_differences"] == 0 and second.summary["sent"] == 0
    third = cycle(make_signals(2, {"AAA": 0.2}), bars, cfg, second.journal, paper(cfg, bars, path), n=3)
    assert third.new["fills"].is_empty()


def test_risk_denials_are_journaled_as_rejected_with_their_reason_code():
    bars = make_bars({"AAA": [50.0] * 4, "BBB": [20.0] * 4, "CCC": [10.0] * 4})
    cfg = config(risk=RiskConfig(max_position_notional=15_000, restricted=["CCC"]))
    result = cycle(make_signals(2, {"AAA": 0.2, "BBB": 0.1, "CCC": 0.1}), bars, cfg, Journal(), paper(cfg, bars))
    latest = {r["symbol"]: r for r in result.journal.latest_orders().iter_rows(named=True)}
    assert (latest["AAA"]["status"], latest["AAA"]["risk_reason"]) == ("rejected", "max_position_notional")
    assert latest["AAA"]["reason"] == "risk: max_position_notional"
    assert (latest["CCC"]["status"], latest["CCC"]["risk_reason"]) == ("rejected", "restricted")
    assert latest["BBB"]["status"] == "filled"
    denied = result.journal.risk_events.filter(pl.col("decision") == "deny")
    assert sorted(denied["reason"].to_list()) == ["max_position_notional", "restricted"]
    assert (denied["code"] > 0).all()


def test_a_broker_rejection_is_journaled_and_frees_the_engine():
    bars = make_bars({"AAA": [50.0] * 4})
    cfg = config(paper=PaperSettings(allow_short=False, slippage_bps=0, impact_bps=0))
    result = cycle(make_signals(2, {"AAA": -0.1}), bars, cfg, Journal(), paper(cfg, bars))
    (row,) = result.journal.latest_orders().iter_rows(named=True)
    assert row["status"] == "rejected" and row["risk_reason"] == "accepted"
    assert row["reason"].startswith("broker: short selling is disabled")
    assert result.summary["broker_rejected"] == 1


def test_a_journal_and_broker_that_disagree_halt_trading_or_adopt_the_broker(tmp_path):
    bars = make_bars({"AAA": [50.0] * 6})
    path = tmp_path / "acct.json"
    cfg = config()
    first = cycle(make_signals(2, {"AAA": 0.2}), bars, cfg, Journal(), paper(cfg, bars, path))
    state = json.loads(path.read_text())
    state["positions"]["AAA"] = 350.0  # someone traded the account outside the platform
    path.write_text(json.dumps(state))
    halted = cycle(make_signals(3, {"AAA": 0.25}), bars, cfg, first.journal, paper(cfg, bars, path), n=2)
    events = halted.new["risk_events"]
    # Found before trading (nothing is sent) and still there after it.
    assert events.filter(pl.col("kind") == "reconcile")["detail"].to_list() == [
        "before trading: journal holds 400, the broker 350",
        "after trading: journal holds 400, the broker 350",
    ]
    assert (halted.summary["state"], halted.summary["cause"]) == ("halted", "reconciliation")
    assert (halted.summary["reconcile_differences"], halted.summary["reconcile_differences_after"]) == (1, 1)
    assert set(halted.new["orders"].filter(pl.col("status") == "rejected")["risk_reason"]) == {"halted"}

    adopting = config(reconcile="adopt")
    adopted = cycle(make_signals(3, {"AAA": 0.25}), bars, adopting, first.journal, paper(adopting, bars, path), n=3)
    assert adopted.summary["state"] == "active"
    assert adopted.new["fills"].filter(pl.col("client_order_id") == "reconciliation")["qty"].to_list() == [50.0]
    assert adopted.new["positions"]["reconciled"].all()


def test_the_kill_switch_cancels_working_orders_and_halts_until_released():
    bars = make_bars({"AAA": [50.0] * 3, "BBB": [20.0] * 3})  # orders stay working
    cfg = config()
    broker = paper(cfg, bars)
    signals = make_signals(2, {"AAA": 0.2, "BBB": 0.1})
    first = cycle(signals, bars, cfg, Journal(), broker)
    killed = cycle(signals, bars, cfg, first.journal, broker, n=2, kill_switch="risk desk")
    assert killed.summary["state"] == "halted" and broker.open_orders() == []
    cancelled = killed.new["orders"].filter(pl.col("status") == "cancelled")
    assert cancelled["reason"].to_list() == ["kill switch: risk desk"] * 2
    assert (
        "cancelled 2 working order(s)" in killed.new["risk_events"].filter(pl.col("kind") == "kill_switch")["detail"][0]
    )
    # The plan is made again (the cancelled orders left the targets unmet), and HALTED denies it.
    retried = killed.new["orders"].filter(pl.col("status") == "planned")
    assert retried.height == 2 and set(retried["risk_reason"]) == {"halted"} and killed.summary["sent"] == 0
    still = cycle(signals, bars, cfg, killed.journal, broker, n=3, kill_switch="risk desk")
    assert still.summary["sent"] == 0 and set(still.new["orders"]["risk_reason"].drop_nulls()) == {"halted"}
    released = cycle(signals, bars, cfg, still.journal, broker, n=4)
    assert released.summary["state"] == "active" and released.summary["sent"] == 2  # new attempts, new ids
    assert released.new["risk_events"]["detail"][0] == "kill switch released: trading again"


def test_a_daily_loss_trips_reducing_denies_adding_and_lets_closing_orders_through():
    closes = {"AAA": [100.0] * 3 + [88.0, 88.0], "BBB": [50.0] * 5}
    bars = make_bars(closes, opens={"AAA": [100.0] * 4 + [88.0], "BBB": [50.0] * 5})
    cfg = config(risk=RiskConfig(max_daily_loss=0.05))
    broker = paper(cfg, bars)
    first = cycle(make_signals(2, {"AAA": 0.5}), bars.filter(pl.col("ts") <= day(2)), cfg, Journal(), broker)
    assert broker.positions() == {}
    # Day 3: the order fills at the open (100), AAA closes 12% lower: the book lost 6% of 100k.
    crash = cycle(
        make_signals(3, {"AAA": 0.5, "BBB": 0.2}), bars.filter(pl.col("ts") <= day(3)), cfg, first.journal, broker, n=2
    )
    trip = crash.new["risk_events"].filter(pl.col("kind") == "trip")
    assert trip["reason"].to_list() == ["daily_loss"] and trip["state"].to_list() == ["reducing"]
    latest = {r["symbol"]: r for r in crash.journal.latest_orders().iter_rows(named=True)}
    assert latest["BBB"]["risk_reason"] == "reducing"  # opening BBB adds exposure
    assert latest["AAA"]["risk_reason"] == "reducing"  # buying back to 0.5 of a smaller book adds too
    # Still reducing on the same day: a closing order passes.
    closing = cycle(make_signals(3, {"AAA": 0.0}), bars.filter(pl.col("ts") <= day(3)), cfg, crash.journal, broker, n=3)
    assert closing.summary["state"] == "reducing"
    assert closing.new["orders"].filter(pl.col("status") == "planned")["risk_reason"].to_list() == ["accepted"]
    # The next day the trip expires.
    next_day = cycle(make_signals(4, {"AAA": 0.0}), bars, cfg, closing.journal, broker, n=4)
    assert next_day.new["risk_events"].filter(pl.col("kind") == "state")["detail"].to_list() == [
        "a new day: the daily-loss trip expired"
    ]
    assert next_day.summary["state"] == "active"


def test_a_journal_written_by_an_older_version_starts_afresh():
    old_orders = pl.DataFrame({"client_order_id": ["fx-1"], "qty": [3]})
    journal, notes = Journal.load(orders=old_orders, fills=None)
    assert journal.orders.is_empty() and notes == [
        "orders: the stored table has other columns (an older version's); the journal starts afresh"
    ]


def test_average_cost_realizes_pnl_on_reductions_and_reopens_at_the_fill_after_a_flip():
    fills = pl.DataFrame(
        {
            "symbol": ["A"] * 4,
            "side": ["buy", "buy", "sell", "sell"],
            "qty": [10.0, 10.0, 15.0, 10.0],
            "price": [100.0, 110.0, 120.0, 90.0],
            "fee": [1.0, 0.0, 0.0, 0.0],
        }
    )
    qty, avg, realized = average_cost(fills)["A"]
    # 20 @ 105; sell 15 @ 120 realizes 225; sell 10 @ 90: closes 5 (-75), opens 5 short at 90.
    assert (qty, avg) == (-5.0, 90.0)
    assert realized == pytest.approx(225 - 75 - 1)


# --- switches ---------------------------------------------------------------------------------


def test_the_kill_switch_and_resume_are_files_any_process_can_flip(tmp_path):
    assert kill_switch_status(home=tmp_path) is None
    flag = engage_kill_switch("fat finger", home=tmp_path, by="ops")
    assert flag == tmp_path / "trading" / "KILL_SWITCH"
    assert kill_switch_status(home=tmp_path)["reason"] == "fat finger"
    flag.write_text("")  # a flag made by hand binds all the same
    assert kill_switch_status(home=tmp_path)["reason"] == "flag file present"
    assert release_kill_switch(home=tmp_path) and not release_kill_switch(home=tmp_path)
    request_resume("drawdown reviewed", home=tmp_path)
    assert take_resume_request(home=tmp_path)["reason"] == "drawdown reviewed"
    assert take_resume_request(home=tmp_path) is None


def test_live_mode_is_refused_for_the_paper_broker_and_the_old_switch_names_the_new_one(tmp_path):
    bars = make_bars({"AAA": [1.0]})
    with pytest.raises(ValueError, match="paper broker never trades real money"):
        ExecutionConfig(mode="live")
    with pytest.raises(ValueError, match="execution.live is now execution.mode"):
        ExecutionConfig.model_validate({"live": True})
    assert make_broker(ExecutionConfig(), market=bars, home=tmp_path).live is False


def test_the_experiment_file_configures_execution_and_rejects_typos():
    cfg = ExperimentConfig.model_validate(
        {
            "execution": {
                "risk": {"max_daily_loss": 0.03, "reference_max_age": "PT15M", "symbols": {"AAA": {"lot_size": 0.5}}}
            }
        }
    ).execution
    assert cfg.risk.reference_max_age == timedelta(minutes=15) and cfg.risk.symbols["AAA"].lot_size == 0.5
    for bad in ({"risk": {"max_daily_los": 0.03}}, {"risk": {"max_daily_loss": 1.5}}, {"paper": {"fill_price": "mid"}}):
        with pytest.raises(ValueError):
            ExperimentConfig.model_validate({"execution": bad})
