"""The Alpaca broker through the real alpaca-py TradingClient and TradingStream against the fake
Alpaca on 127.0.0.1 (tests/fakes/alpaca_trading.py): order kinds, the plan's client order ids,
Alpaca's refusals (403, 422), rate limiting (429 and the per-minute limit), server errors (5xx)
before and after the order was taken, the trade-update stream, keys, and the paper endpoint."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from foxml_dagster.execution.alpaca import PAPER_URL, AlpacaBroker
from foxml_dagster.execution.broker import Broker, BrokerError, OrderTicket, Streaming
from foxml_dagster.execution.config import AlpacaTrading, ExecutionConfig
from foxml_dagster.execution.connect import LIVE_ENV, make_broker
from tests.fakes.brokers import KEY_ENVS, fake_alpaca, flat_bars

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def no_real_keys(monkeypatch):
    for name in (*KEY_ENVS, LIVE_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake(monkeypatch):
    with fake_alpaca(monkeypatch) as server:
        yield server


def alpaca(fake, clock=None, sleep=None, **settings) -> AlpacaBroker:
    base = {"url_override": fake.url, "stream_url_override": fake.stream_url, "retry_wait_seconds": 0.001}
    extra = {k: v for k, v in {"clock": clock, "sleep": sleep}.items() if v is not None}
    return AlpacaBroker(AlpacaTrading(**(base | settings)), symbols=["AAA", "BBB", "BTC/USD"], **extra)


@pytest.fixture
def broker(fake):
    b = alpaca(fake)
    yield b
    b.close()


def ticket(cid, symbol="AAA", side="buy", qty=10.0, kind="market", limit=None, stop=None, tif="day"):
    return OrderTicket(cid, symbol, side, qty, kind, limit, tif, datetime.now(UTC), stop_price=stop)


def test_market_limit_and_stop_orders_reach_alpaca_under_the_plans_ids_and_fill(fake, broker):
    assert isinstance(broker, Broker) and isinstance(broker, Streaming)
    fake.trading.set_price("BTC/USD", 40_000.0)
    sent = [
        broker.submit(ticket("fx-mkt", qty=10)),
        broker.submit(ticket("fx-lim", kind="limit", limit=49.0, tif="gtc")),
        broker.submit(ticket("fx-stp", side="sell", kind="stop", stop=45.0, tif="gtc", qty=5)),
        broker.submit(ticket("fx-frac", qty=0.5)),  # fractional shares: a day order
        broker.submit(ticket("fx-btc", symbol="BTC/USD", qty=0.25, tif="gtc")),
    ]
    assert [o.status for o in sent] == ["accepted"] * 5
    broker.wait_for_final(["fx-mkt", "fx-frac", "fx-btc"], 5)
    by_id = {o["client_order_id"]: o for o in fake.trading.orders.values()}
    assert {k: (o["type"], o["time_in_force"], o["limit_price"], o["stop_price"]) for k, o in by_id.items()} == {
        "fx-mkt": ("market", "day", None, None),
        "fx-lim": ("limit", "gtc", "49", None),
        "fx-stp": ("stop", "gtc", None, "45"),
        "fx-frac": ("market", "day", None, None),
        "fx-btc": ("market", "gtc", None, None),
    }
    assert broker.positions() == {"AAA": 10.5, "BTC/USD": 0.25}  # Alpaca's BTCUSD, under the plan's name
    fake.trading.set_price("AAA", 44.0)  # through the limit (49) and the stop (45)
    broker.wait_for_final(["fx-lim", "fx-stp"], 5)
    fills = {f.client_order_id: (f.qty, f.price) for f in broker.fills(["fx-mkt", "fx-lim", "fx-stp", "fx-frac"])}
    assert fills == {"fx-mkt": (10.0, 50.0), "fx-lim": (10.0, 44.0), "fx-stp": (5.0, 44.0), "fx-frac": (0.5, 50.0)}
    assert broker.open_orders() == [] and broker.positions()["AAA"] == 15.5
    account = broker.account()
    assert account.cash == pytest.approx(100_000 - 10 * 50 - 10 * 44 + 5 * 44 - 0.5 * 50 - 0.25 * 40_000)


def test_partial_fills_come_back_as_separate_fills_with_stable_ids(fake, broker):
    fake.trading.fill_parts = 3
    broker.submit(ticket("fx-part", qty=10))
    broker.wait_for_final(["fx-part"], 5)
    first = broker.fills(["fx-part"])
    assert [f.qty for f in first] == [3.0, 3.0, 4.0] and len({f.fill_id for f in first}) == 3
    assert [f.fill_id for f in broker.fills(["fx-part"])] == [f.fill_id for f in first]


def test_a_client_order_id_alpaca_has_seen_is_recognised_not_sent_again_even_after_a_cancel(fake, broker):
    fake.trading.auto_fill = False
    first = broker.submit(ticket("fx-1"))
    again = broker.submit(ticket("fx-1"))
    assert (again.duplicate, again.broker_order_id, again.status) == (True, first.broker_order_id, "accepted")
    assert broker.cancel("fx-1").status == "cancelled"
    reused = broker.submit(ticket("fx-1"))  # Alpaca refuses an id used before, cancelled or not
    assert (reused.duplicate, reused.status) == (True, "cancelled")
    assert len(fake.trading.orders_for("fx-1")) == 1
    refused = [r for r in fake.trading.requests if r.method == "POST" and r.status == 422]
    assert len(refused) == 2  # Alpaca said no twice; nothing was placed


def test_alpacas_business_refusals_are_rejected_orders_with_its_reason(fake, broker):
    poor = broker.submit(ticket("fx-big", qty=10_000))
    assert (poor.status, poor.reason) == ("rejected", "HTTP 403: insufficient buying power")
    fractional = broker.submit(ticket("fx-frac-gtc", qty=0.5, tif="gtc"))
    assert (fractional.status, fractional.reason) == ("rejected", "HTTP 422: fractional orders must be DAY orders")
    assert fake.trading.orders == {}


def test_a_5xx_is_retried_and_one_after_alpaca_took_the_order_is_looked_up_not_doubled(fake, broker):
    fake.trading.fail(503, "POST", "/v2/orders")  # refused before taking it: sent again
    assert broker.submit(ticket("fx-before")).status == "accepted"
    fake.trading.fail(500, "POST", "/v2/orders", after_processing=True)  # took it, then failed
    after = broker.submit(ticket("fx-after"))
    assert after.status == "accepted" and not after.duplicate
    assert len(fake.trading.orders_for("fx-before")) == 1 and len(fake.trading.orders_for("fx-after")) == 1
    posts = [r.status for r in fake.trading.requests if r.method == "POST"]
    assert posts == [503, 200, 500]  # the order after the 500 was found by its id, not posted again
    fake.trading.fail(503, "GET", "/v2/account", times=2)  # reads are simply tried again
    assert broker.account().equity > 0
    assert [r.status for r in fake.trading.requests if r.path == "/v2/account"] == [503, 503, 200]


def test_an_order_whose_outcome_stays_unknown_raises_so_the_order_manager_asks_later(fake, broker):
    fake.trading.fail(503, "POST", "/v2/orders", times=3)
    fake.trading.fail(503, "GET", "/v2/orders:by_client_order_id", times=20)
    with pytest.raises(BrokerError, match="HTTP 503"):
        broker.submit(ticket("fx-unknown"))


def test_requests_are_held_under_the_per_minute_limit_and_a_429_waits_out_retry_after(fake):
    clock = FakeClock()
    fake.trading.clock = clock
    fake.trading.rate_limit = 5
    limited = alpaca(fake, clock=clock, sleep=clock.sleep, max_requests_per_minute=5, stream=False)
    for _ in range(12):
        limited.positions()
    stamps = [r.at for r in fake.trading.requests]
    assert [r.status for r in fake.trading.requests] == [200] * 12  # never a 429: the limiter kept to 5 a minute
    assert max(sum(1 for u in stamps if t <= u < t + 60) for t in stamps) == 5
    assert limited.limiter.waited >= 120.0

    fake.trading.requests.clear()
    clock.t += 120.0
    greedy = alpaca(fake, clock=clock, sleep=clock.sleep, max_requests_per_minute=200, stream=False)
    for _ in range(6):
        greedy.positions()
    statuses = [r.status for r in fake.trading.requests]
    assert statuses.count(429) >= 1 and statuses.count(200) == 6  # Alpaca said 429; the call waited and went on
    assert greedy.limiter.waited >= 1.0


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_trade_updates_end_the_wait_before_the_next_rest_poll(fake, broker):
    deadline = time.monotonic() + 10
    while fake.trading.listeners < 1:  # the stream connects in the background
        assert time.monotonic() < deadline, "the trade-update stream never connected"
        time.sleep(0.01)
    fake.trading.fill_delay = 0.3
    broker.poll_seconds = 5.0  # REST alone would end the wait after 5 s at the earliest
    broker.submit(ticket("fx-stream"))
    start = time.monotonic()
    broker.wait_for_final(["fx-stream"], 10)
    waited = time.monotonic() - start
    # The fill came 0.3 s after the order: the stream woke the wait long before REST was asked again.
    assert 0.2 < waited < 4.0 and broker.stream_updates == 2  # new, then fill
    polls = [r for r in fake.trading.requests if r.path == "/v2/orders:by_client_order_id"]
    assert len(polls) == 1


def test_a_replacement_gets_a_new_client_order_id_and_the_old_one_ends(fake, broker):
    fake.trading.auto_fill = False
    broker.submit(ticket("fx-old", kind="limit", limit=40.0, tif="gtc"))
    new = broker.replace("fx-old", "fx-new", qty=12, limit_price=41.0)
    assert (new.client_order_id, new.qty, new.limit_price, new.status) == ("fx-new", 12.0, 41.0, "accepted")
    (old,) = broker.orders(["fx-old"])
    assert old.status == "cancelled" and "replaced" in old.reason
    assert broker.replace("fx-old", "fx-newer").status == "rejected"
    assert broker.replace("fx-new", "fx-frac", qty=1.5).reason.startswith("Alpaca replaces whole-share")


def test_keys_come_from_the_environment_and_wrong_ones_stop_the_cycle(fake, monkeypatch):
    monkeypatch.delenv("APCA_API_KEY_ID")
    with pytest.raises(BrokerError, match="set APCA_API_KEY_ID in the environment"):
        alpaca(fake)
    monkeypatch.setenv("APCA_API_KEY_ID", "PKWRONG")
    wrong = alpaca(fake, stream=False)
    with pytest.raises(BrokerError, match="Alpaca refused the API keys.*check APCA_API_KEY_ID and APCA_API_SECRET_KEY"):
        wrong.account()


def test_paper_is_the_default_endpoint_and_live_needs_both_switches(fake, monkeypatch, tmp_path):
    paper = AlpacaBroker(AlpacaTrading(stream=False))
    assert (paper.endpoint, paper.live) == (PAPER_URL, False)
    with pytest.raises(BrokerError, match="points at Alpaca's live endpoint.*while execution.mode is paper"):
        AlpacaBroker(AlpacaTrading(url_override="https://api.alpaca.markets", stream=False))
    live = ExecutionConfig(broker="alpaca", mode="live", alpaca=AlpacaTrading(stream=False))
    with pytest.raises(PermissionError, match="live trading needs both switches"):
        make_broker(live, market=flat_bars(1), home=tmp_path)
    monkeypatch.setenv(LIVE_ENV, "I_UNDERSTAND")
    real = make_broker(live, market=flat_bars(1), home=tmp_path)
    assert (real.endpoint, real.live) == ("https://api.alpaca.markets", True)
