"""The IBKR broker through the real ib_async client against the fake TWS on 127.0.0.1
(tests/fakes/ibkr_trading.py): order kinds under the plan's orderRef, the ref checked against
open and completed orders, IB's errors 103, 201, 202 and 10147, dropped connections (reconnect,
resubscribe, order states recovered), message pacing, and the paper-account check."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from foxml_dagster.execution.broker import Broker, BrokerError, OrderTicket, Streaming
from foxml_dagster.execution.config import IbkrTrading
from foxml_dagster.execution.connect import LIVE_ENV
from foxml_dagster.execution.ibkr import IbkrBroker
from tests.fakes.brokers import fake_tws

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def tws():
    with fake_tws() as server:
        yield server


def ib(tws, live=False, **settings) -> IbkrBroker:
    base = {"port": tws.port, "timeout_seconds": 3.0, "reconnect_wait_seconds": 0.01}
    return IbkrBroker(IbkrTrading(**(base | settings)), live=live, symbols=["AAA", "BBB"])


@pytest.fixture
def broker(tws):
    b = ib(tws)
    yield b
    b.close()


def ticket(cid, symbol="AAA", side="buy", qty=10.0, kind="market", limit=None, stop=None, tif="day"):
    return OrderTicket(cid, symbol, side, qty, kind, limit, tif, datetime.now(UTC), stop_price=stop)


def test_market_limit_and_stop_orders_carry_the_plans_id_as_order_ref_and_fill(tws, broker):
    assert isinstance(broker, Broker) and isinstance(broker, Streaming)
    tws.desk.commission_per_order = 1.25
    sent = [
        broker.submit(ticket("fx-mkt")),
        broker.submit(ticket("fx-lim", kind="limit", limit=49.0, tif="gtc")),
        broker.submit(ticket("fx-stp", side="sell", kind="stop", stop=45.0, tif="gtc", qty=5)),
    ]
    assert [o.status for o in sent] in (["accepted"] * 3, ["filled", "accepted", "accepted"])
    desk = {o.order_ref: (o.order_type, o.tif, o.lmt, o.aux, o.action) for o in tws.desk.orders}
    assert desk == {
        "fx-mkt": ("MKT", "DAY", None, None, "BUY"),
        "fx-lim": ("LMT", "GTC", 49.0, None, "BUY"),
        "fx-stp": ("STP", "GTC", None, 45.0, "SELL"),
    }
    broker.wait_for_final(["fx-mkt"], 5)
    assert [(o.client_order_id, o.status) for o in sorted(broker.open_orders(), key=lambda o: o.client_order_id)] == [
        ("fx-lim", "accepted"),
        ("fx-stp", "accepted"),
    ]
    tws.desk.set_price("AAA", 44.0)
    broker.wait_for_final(["fx-lim", "fx-stp"], 5)
    fills = {f.client_order_id: (f.side, f.qty, f.price, f.fee) for f in broker.fills(["fx-mkt", "fx-lim", "fx-stp"])}
    assert fills == {
        "fx-mkt": ("buy", 10.0, 50.0, 1.25),
        "fx-lim": ("buy", 10.0, 44.0, 1.25),
        "fx-stp": ("sell", 5.0, 44.0, 1.25),
    }
    assert broker.positions() == {"AAA": 15.0}
    assert broker.account().cash == pytest.approx(100_000 - 500 - 440 + 220 - 3 * 1.25)


def test_an_order_ref_ib_already_holds_is_never_placed_again(tws, broker):
    broker.submit(ticket("fx-done"))
    broker.wait_for_final(["fx-done"], 5)
    broker.close()
    restarted = ib(tws)  # a new process: only IB's completed orders know fx-done
    try:
        again = restarted.submit(ticket("fx-done"))
        assert (again.duplicate, again.status) == (True, "filled")
        tws.desk.auto_fill = False
        restarted.submit(ticket("fx-open"))
    finally:
        restarted.close()
    other = ib(tws, client_id=99)  # another client id: fx-open is that client's open order
    try:
        assert other.submit(ticket("fx-open")).duplicate
    finally:
        other.close()
    assert [len(tws.desk.orders_with_ref(r)) for r in ("fx-done", "fx-open")] == [1, 1]


def test_an_order_id_ib_calls_used_is_placed_again_under_a_fresh_id(tws, broker):
    tws.desk.duplicate_id_next()
    order = broker.submit(ticket("fx-103"))
    assert order.status in ("accepted", "filled") and not order.duplicate
    assert len(tws.desk.orders_with_ref("fx-103")) == 1


def test_ib_errors_200_201_202_and_10147_end_orders_with_ibs_reason(tws, broker):
    tws.desk.reject_next_order("Order rejected - reason:The account has insufficient buying power")
    rejected = broker.submit(ticket("fx-201"))
    assert rejected.status == "rejected" and "insufficient buying power" in rejected.reason
    tws.desk.auto_fill = False
    broker.submit(ticket("fx-202", kind="limit", limit=40.0, tif="gtc"))
    cancelled = broker.cancel("fx-202")
    assert cancelled.status == "cancelled" and "202" in cancelled.reason
    broker.submit(ticket("fx-lost", kind="limit", limit=40.0, tif="gtc"))
    tws.desk.orders = [o for o in tws.desk.orders if o.order_ref != "fx-lost"]  # TWS no longer knows it
    lost = broker.cancel("fx-lost")
    assert lost.status == "cancelled" and "10147" in lost.reason and "not found" in lost.reason
    assert broker.cancel("fx-never") is None
    unknown = broker.submit(ticket("fx-200", symbol="ZZZZ"))
    assert unknown.status == "rejected" and "200" in unknown.reason and "No security definition" in unknown.reason


def test_a_dropped_connection_is_remade_and_order_states_are_recovered_from_ib(tws, broker):
    tws.desk.auto_fill = False
    broker.submit(ticket("fx-away"))
    tws.desk.drop_connections()
    tws.desk.fill_working()  # it fills while no one is connected
    (order,) = broker.orders(["fx-away"])  # reconnects, and IB's lists say how it ended
    assert order.status == "filled" and broker.connects == 2
    assert [f.qty for f in broker.fills(["fx-away"])] == [10.0]
    assert broker.positions() == {"AAA": 10.0}


@pytest.mark.parametrize("taken", [True, False])
def test_a_connection_that_drops_as_the_order_arrives_leaves_exactly_one_order(tws, broker, taken):
    tws.desk.drop_on_next_order(taken=taken)
    order = broker.submit(ticket("fx-drop"))
    # Taken: found by its ref after reconnecting. Not taken: placed once on the new connection.
    assert order.duplicate is taken and broker.connects == 2
    assert len(tws.desk.orders_with_ref("fx-drop")) == 1


def test_messages_are_paced_under_ibs_limit(tws):
    paced = ib(tws, messages_per_second=4)
    try:
        tws.desk.auto_fill = False
        tws.desk.messages.clear()
        for k in range(6):
            paced.submit(ticket(f"fx-{k}", kind="limit", limit=40.0, tif="gtc"))
    finally:
        paced.close()
    stamps = [t for t, _, _ in tws.desk.messages]
    assert len(stamps) >= 6
    # Timed on arrival, which jitters by milliseconds around the sender's one-second windows.
    busiest = max(sum(1 for u in stamps if t <= u < t + 0.9) for t in stamps)
    assert busiest <= 4 and stamps[-1] - stamps[0] >= 0.9  # six orders took a second or more at 4 a second


def test_paper_mode_refuses_a_live_ib_account(monkeypatch):
    with fake_tws(account="U7654321") as live_tws:
        with pytest.raises(BrokerError, match="logged into account U7654321, which is not a paper account"):
            ib(live_tws)
        monkeypatch.setenv(LIVE_ENV, "I_UNDERSTAND")  # the broker itself only sees live=True from make_broker
        real = ib(live_tws, live=True)
        assert real.account_code == "U7654321" and real.live
        real.close()


def test_fractional_quantities_go_only_where_configured(tws, broker):
    refused = broker.submit(ticket("fx-frac", qty=0.5))
    assert refused.status == "rejected" and "execution.ibkr.fractional" in refused.reason
    allowed = ib(tws, fractional=True)
    try:
        assert allowed.submit(ticket("fx-frac2", qty=0.5)).status in ("accepted", "filled")
    finally:
        allowed.close()


def test_a_replacement_modifies_the_working_order_under_its_new_ref(tws, broker):
    tws.desk.auto_fill = False
    broker.submit(ticket("fx-old", kind="limit", limit=40.0, tif="gtc"))
    new = broker.replace("fx-old", "fx-new", qty=12, limit_price=41.0)
    assert (new.client_order_id, new.qty, new.limit_price, new.status) == ("fx-new", 12.0, 41.0, "accepted")
    (at_ib,) = tws.desk.orders
    assert (at_ib.order_ref, at_ib.qty, at_ib.lmt) == ("fx-new", 12.0, 41.0)  # one order, modified in place


def test_no_tws_is_an_error_that_says_what_to_check():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here
    with pytest.raises(BrokerError, match=f"cannot reach TWS / IB Gateway at 127.0.0.1:{port} with client id 23"):
        IbkrBroker(IbkrTrading(port=port, timeout_seconds=1.0, reconnect_attempts=1, reconnect_wait_seconds=0.01))


def test_an_order_ib_never_acknowledges_stays_submitted_and_a_later_cycle_finds_how_it_ended(tws, tmp_path):
    from foxml_dagster.execution import Journal, run_cycle
    from foxml_dagster.execution.broker import close_broker
    from foxml_dagster.execution.connect import make_broker
    from tests.fakes.brokers import execution_config, flat_bars, signals_at

    cfg = execution_config("ibkr", tws.port, settle_seconds=0.1)
    cfg = cfg.model_copy(update={"ibkr": cfg.ibkr.model_copy(update={"timeout_seconds": 1.0})})
    signals, bars = signals_at(2, {"AAA": 0.2}), flat_bars(3)

    def cycle(journal, n):
        broker = make_broker(cfg, market=bars, home=tmp_path)
        try:
            return run_cycle(signals, bars, cfg, journal, broker, cycle_id=f"c{n}")
        finally:
            close_broker(broker)

    tws.desk.silence_next_order()
    first = cycle(Journal(), 1)
    (row,) = first.journal.latest_orders().iter_rows(named=True)
    assert row["status"] == "submitted" and row["reason"].startswith("broker error, outcome unknown: IB did not")
    tws.desk.fill_working()
    second = cycle(first.journal, 2)
    assert second.summary["sent"] == 0 and second.journal.latest_orders()["status"].to_list() == ["filled"]
    assert len(tws.desk.orders) == 1
