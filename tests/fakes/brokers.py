"""One market and one plan for every broker: the paper broker, the fake Alpaca and the fake TWS.

The execution tests trade the same signals through all three and compare what they journal, so
the market here is flat (each symbol trades at one price, bar after bar): the paper broker's
next-bar open is then the price the fakes fill at, and a frictionless paper account books the
same fills, positions and equity as the two real brokers' fakes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import polars as pl

from foxml_dagster.execution.config import (
    AlpacaTrading,
    ExecutionConfig,
    IbkrTrading,
    OrderSettings,
    PaperSettings,
)
from tests.fakes.alpaca_server import FakeAlpaca
from tests.fakes.ibkr_server import DEFAULT_LISTED, FakeTws

PRICES = {"AAA": 50.0, "BBB": 20.0, "CCC": 10.0}
D0 = datetime(2024, 3, 4, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")
KEY_ENVS = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")

# The columns of each journal table that do not depend on which broker ran the plan: broker ids,
# fill ids, wall-clock and market timestamps and the paper model's slippage fields differ by
# nature; everything the plan, the risk engine and the fills decide must not.
COMPARABLE = {
    "orders": [
        "client_order_id", "seq", "status", "symbol", "side", "qty", "order_type", "limit_price", "stop_price",
        "time_in_force", "ref_price", "notional", "target_weight", "target_qty", "signal_ts", "filled_qty",
        "avg_fill_price", "risk_decision", "risk_reason", "reason",
    ],
    "fills": ["client_order_id", "symbol", "side", "qty", "price", "fee"],
    "positions": [
        "symbol", "qty", "broker_qty", "reconciled", "avg_price", "mark_price", "market_value", "weight",
        "realized_pnl", "unrealized_pnl",
    ],
    "risk_events": [
        "seq", "kind", "client_order_id", "symbol", "side", "qty", "decision", "reason", "code", "state", "cause",
        "equity", "day_start_equity", "peak_equity", "gross", "net", "detail",
    ],
}  # fmt: skip
SORT = {"orders": ["client_order_id", "seq"], "fills": ["client_order_id"], "positions": ["symbol"]}


def day(i: int) -> datetime:
    return D0 + timedelta(days=i)


def flat_bars(last_day: int, prices: dict[str, float] = PRICES) -> pl.DataFrame:
    days = range(last_day + 1)
    rows = [(symbol, day(i), price, price, price, price, 1e6) for symbol, price in prices.items() for i in days]
    schema = {"symbol": pl.String, "ts": TS} | {c: pl.Float64 for c in ("open", "high", "low", "close", "volume")}
    return pl.DataFrame(rows, schema=schema, orient="row")


def signals_at(i: int, weights: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": list(weights), "ts": [day(i)] * len(weights), "target_weight": list(weights.values())},
        schema={"symbol": pl.String, "ts": TS, "target_weight": pl.Float64},
    )


def execution_config(broker: str, port_or_url: str | int | None = None, stream_url: str | None = None, **fields):
    """An `execution` section for `broker` (paper, alpaca, ibkr) pointed at a fake, frictionless
    and with no no-trade threshold, waiting at most 5 s for fills."""
    base: dict = {
        "broker": broker,
        "paper": PaperSettings(slippage_bps=0, impact_bps=0, max_participation=1.0),
        "orders": OrderSettings(min_trade_notional=0),
        "settle_seconds": 5.0,
    }
    if broker == "alpaca":
        base["alpaca"] = AlpacaTrading(
            url_override=str(port_or_url), stream_url_override=stream_url, retry_wait_seconds=0.01, max_attempts=3
        )
    elif broker == "ibkr":
        base["ibkr"] = IbkrTrading(port=int(port_or_url), timeout_seconds=5.0, reconnect_wait_seconds=0.01)
    return ExecutionConfig(**(base | fields))


@contextmanager
def fake_alpaca(monkeypatch, prices: dict[str, float] = PRICES) -> Iterator[FakeAlpaca]:
    """The fake Alpaca at these prices, its keys in the environment (a developer's real keys
    never reach a test)."""
    with FakeAlpaca() as fake:
        monkeypatch.setenv("APCA_API_KEY_ID", fake.key_id)
        monkeypatch.setenv("APCA_API_SECRET_KEY", fake.secret_key)
        for symbol, price in prices.items():
            fake.trading.set_price(symbol, price)
        yield fake


@contextmanager
def fake_tws(prices: dict[str, float] = PRICES, **kwargs) -> Iterator[FakeTws]:
    """The fake TWS listing these symbols (and its usual ones) at these prices."""
    with FakeTws(listed=DEFAULT_LISTED | set(prices), **kwargs) as tws:
        for symbol, price in prices.items():
            tws.desk.set_price(symbol, price)
        yield tws


def comparable(journal, table: str) -> pl.DataFrame:
    """The broker-independent part of one journal table, in a stable order."""
    frame = getattr(journal, table).select(COMPARABLE[table])
    return frame.sort(SORT[table]) if table in SORT else frame
