"""The pieces of live and paper trading that need no broker: the two live switches, the rate
limiter, the outbox, the journal's migration, stop orders and replacements in the paper broker,
and the configuration of the real brokers (keys never in a file)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from pydantic import ValidationError

from foxml_dagster.config import ExperimentConfig
from foxml_dagster.execution import ExecutionConfig, Journal, run_cycle
from foxml_dagster.execution.broker import Broker, OrderTicket, Streaming
from foxml_dagster.execution.config import OrderSettings, PaperSettings
from foxml_dagster.execution.connect import LIVE_ENV, make_broker, trading_mode
from foxml_dagster.execution.orders import ORDERS_SCHEMA
from foxml_dagster.execution.outbox import Outbox
from foxml_dagster.execution.pacing import RateLimiter
from foxml_dagster.execution.paper import PaperBroker

D0 = datetime(2024, 3, 1, tzinfo=UTC)
FRICTIONLESS = PaperSettings(slippage_bps=0, impact_bps=0, max_participation=1.0)


def bars(opens, highs, lows, closes, symbol="AAA"):
    n = len(closes)
    return pl.DataFrame(
        {
            "symbol": [symbol] * n,
            "ts": [D0 + timedelta(days=i) for i in range(n)],
            "open": opens,
            "high": highs,
            "low": lows,
            "close": closes,
            "volume": [1e6] * n,
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )


def ticket(cid="t1", side="buy", qty=10.0, kind="market", limit=None, stop=None, tif="gtc"):
    return OrderTicket(cid, "AAA", side, qty, kind, limit, tif, submitted_at=D0, stop_price=stop)


# --- the two switches ---------------------------------------------------------------------------


def test_live_mode_needs_the_environment_to_say_i_understand(monkeypatch, tmp_path):
    live = ExecutionConfig(broker="alpaca", mode="live")
    monkeypatch.delenv(LIVE_ENV, raising=False)
    with pytest.raises(PermissionError, match=f"{LIVE_ENV} is not set: live trading needs both switches"):
        trading_mode(live)
    for almost in ("1", "true", "yes", "i_understand"):
        monkeypatch.setenv(LIVE_ENV, almost)
        with pytest.raises(PermissionError, match=f"export {LIVE_ENV}=I_UNDERSTAND"):
            trading_mode(live)
        # make_broker checks first: nothing is built, no key is read, no connection is made.
        with pytest.raises(PermissionError):
            make_broker(live, market=bars([1.0], [1.0], [1.0], [1.0]), home=tmp_path)
    monkeypatch.setenv(LIVE_ENV, "I_UNDERSTAND")
    mode = trading_mode(live)
    assert (mode.mode, mode.broker) == ("live", "alpaca") and mode.describe().startswith("LIVE trading through alpaca")


def test_the_environment_switch_alone_trades_paper(monkeypatch, caplog):
    monkeypatch.setenv(LIVE_ENV, "I_UNDERSTAND")
    with caplog.at_level(logging.WARNING):
        mode = trading_mode(ExecutionConfig(broker="alpaca"))
    assert mode.mode == "paper" and mode.venue == "Alpaca paper API"
    assert f"{LIVE_ENV} is set but execution.mode is paper" in caplog.text


def test_live_is_a_mode_the_paper_broker_cannot_have_and_keys_cannot_be_configured():
    with pytest.raises(ValidationError, match="paper broker never trades real money"):
        ExecutionConfig(mode="live")
    with pytest.raises(ValidationError, match="execution.live is now execution.mode"):
        ExecutionConfig.model_validate({"live": True, "broker": "alpaca"})
    for secret in ({"alpaca": {"api_key": "PK123"}}, {"alpaca": {"secret_key": "x"}}, {"ibkr": {"password": "x"}}):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            ExperimentConfig.model_validate({"execution": {"broker": "alpaca", **secret}})
    cfg = ExperimentConfig.model_validate(
        {"execution": {"broker": "ibkr", "ibkr": {"port": 4002, "account": "DU1"}, "kill_switch": {"flatten": True}}}
    ).execution
    assert (cfg.ibkr.port, cfg.ibkr.account, cfg.kill_switch.flatten, cfg.live) == (4002, "DU1", True, False)


# --- the rate limiter -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_the_rate_limiter_never_lets_more_than_max_calls_into_any_window():
    clock = FakeClock()
    limiter = RateLimiter(3, 60.0, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(8):
        limiter.acquire()
        sent.append(clock.t)
        clock.t += 1.0  # one request a second, far faster than 3 a minute
    for t in sent:
        assert sum(1 for u in sent if t <= u < t + 60.0) <= 3
    assert sent[3] == pytest.approx(sent[0] + 60.0) and limiter.waited > 100
    limiter.back_off(30.0)
    assert limiter.wait_needed() >= 30.0
    with pytest.raises(ValueError, match="max_calls >= 1"):
        RateLimiter(0, 60.0)


# --- the outbox --------------------------------------------------------------------------------------


def test_the_outbox_keeps_what_the_journal_lacks_and_survives_a_torn_write(tmp_path):
    path = tmp_path / "trading" / "acct.outbox.jsonl"
    box = Outbox(path)
    box.record([{"client_order_id": "a", "signal_ts": D0, "qty": 1.0}, {"client_order_id": "b", "signal_ts": None}])
    with open(path, "a") as handle:
        handle.write('{"client_order_id": "c", "qty"')  # the process died mid-line: c was never sent
    assert [(r["client_order_id"], r["signal_ts"]) for r in Outbox(path).pending()] == [("a", D0), ("b", None)]
    box.settle({"a"})
    assert [r["client_order_id"] for r in box.pending()] == ["b"]
    box.settle({"b"})
    assert not path.exists() and box.pending() == []


# --- the journal ----------------------------------------------------------------------------------------


def test_an_orders_table_from_before_stop_prices_is_read_with_nulls_not_started_afresh():
    row = {name: None for name in ORDERS_SCHEMA if name != "stop_price"} | {"client_order_id": "fx-1", "seq": 0}
    old = pl.DataFrame([row], schema={k: v for k, v in ORDERS_SCHEMA.items() if k != "stop_price"})
    journal, notes = Journal.load(orders=old)
    assert journal.orders["client_order_id"].to_list() == ["fx-1"] and journal.orders["stop_price"].to_list() == [None]
    assert notes == ["orders: columns ['stop_price'] are new since the table was written; older rows have nulls"]


# --- the paper broker: stops, replacements, cancel all -----------------------------------------------


def test_a_paper_stop_order_waits_for_its_stop_then_fills_at_it_or_at_a_gap():
    market = bars(opens=[100, 100, 100, 108], highs=[101, 101, 104, 109], lows=[99] * 4, closes=[100, 100, 103, 108])
    broker = PaperBroker(FRICTIONLESS, capital=1e5, market=market)
    assert isinstance(broker, Broker) and not isinstance(broker, Streaming)
    broker.submit(ticket("stop", kind="stop", stop=103.0))
    broker.submit(ticket("gap", kind="stop", stop=106.0))
    broker.advance(D0 + timedelta(days=1))
    assert [o.status for o in broker.orders(["stop", "gap"])] == ["accepted", "accepted"]  # highs 101: no trigger
    broker.advance(D0 + timedelta(days=3))
    (stop,) = broker.fills(["stop"])
    (gap,) = broker.fills(["gap"])
    assert (stop.ts, stop.price) == (D0 + timedelta(days=2), 103.0)  # traded through 103 on day 2
    assert (gap.ts, gap.price) == (D0 + timedelta(days=3), 108.0)  # opened above 106: filled at the open


def test_a_paper_replacement_moves_the_order_to_its_new_id_and_cancel_all_clears_the_book():
    market = bars([100.0] * 2, [101.0] * 2, [99.0] * 2, [100.0] * 2)
    broker = PaperBroker(FRICTIONLESS, capital=1e5, market=market)
    broker.submit(ticket("old", kind="limit", limit=90.0, qty=10))
    new = broker.replace("old", "new", qty=20, limit_price=95.0)
    (old,) = broker.orders(["old"])
    assert (old.status, old.reason) == ("cancelled", "replaced by new")
    assert (new.client_order_id, new.qty, new.limit_price, new.status) == ("new", 20.0, 95.0, "accepted")
    assert broker.replace("old", "newer").status == "rejected"  # the old id is done
    assert broker.replace("new", "new").duplicate  # an id in use is never a second order
    broker.submit(ticket("other", kind="limit", limit=80.0))
    assert sorted(o.client_order_id for o in broker.cancel_all()) == ["new", "other"]
    assert broker.open_orders() == []


def test_stop_orders_are_planned_past_the_reference_on_the_tick_grid_and_checked_at_their_stop():
    market = bars([50.0] * 4, [50.0] * 4, [50.0] * 4, [50.0] * 4)
    signals = pl.DataFrame(
        {"symbol": ["AAA"], "ts": [D0 + timedelta(days=2)], "target_weight": [0.2]},
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    cfg = ExecutionConfig(paper=FRICTIONLESS, orders=OrderSettings(order_type="stop", stop_offset_bps=33))
    broker = PaperBroker(cfg.paper, capital=cfg.capital, market=market)
    result = run_cycle(signals, market, cfg, Journal(), broker, cycle_id="c1")
    planned = result.journal.orders.filter(pl.col("status") == "planned").row(0, named=True)
    # 50 x 1.0033 = 50.165, rounded up onto the cent grid: a buy stop at least 33 bp above.
    assert (planned["order_type"], planned["stop_price"], planned["limit_price"]) == ("stop", 50.17, None)
    assert planned["notional"] == pytest.approx(planned["qty"] * 50.17)
    assert result.journal.latest_orders()["status"].to_list() == ["accepted"]  # the flat market never reaches it
