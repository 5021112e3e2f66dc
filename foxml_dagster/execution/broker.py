"""The interface every broker implements: the paper broker here, Alpaca and IBKR adapters later.

The order manager talks to a broker only through `Broker`, keyed by the client order id it
chose, so an adapter maps a handful of calls onto its API (alpaca-py `TradingClient`; ib_async `IB`):

- `account()`: alpaca-py `get_account()` (cash, equity, buying_power); ib_async
  `accountSummary()` (TotalCashValue, NetLiquidation).
- `positions()`: `get_all_positions()` (qty signed by side); `positions()`.
- `submit(ticket)`: `submit_order(MarketOrderRequest | LimitOrderRequest, client_order_id=...)`;
  `placeOrder(contract, MarketOrder | LimitOrder(orderRef=client_order_id))`.
- `cancel(id)`: `get_order_by_client_id(id)` then `cancel_order_by_id`; `cancelOrder(trade.order)`
  for the trade whose `orderRef` is the id.
- `orders(ids)`: `get_order_by_client_id` per id; `trades()` filtered by `orderRef`.
- `open_orders()`: `get_orders(GetOrdersRequest(status=OPEN))`; `openTrades()`.
- `fills(ids)`: `get_account_activities(FILL)` (or the trade-updates stream); `fills()`
  (execution id, shares, price, commission report).

Contract for adapters (the paper broker is the reference they are tested against):

- `submit` never raises for a business refusal: it returns a `BrokerOrder` with status
  `rejected` and the broker's reason. An exception means "unknown outcome" (a timeout): the
  order manager keeps the order as submitted and asks `orders([id])` next cycle.
- A second `submit` with a client order id the broker has seen is rejected, never re-sent.
- Statuses use the order manager's names: accepted, partially_filled, filled, cancelled,
  rejected, expired (`OrderStatus`); quantities are positive, sides are buy/sell.
- `fills` returns every fill of the given orders with a stable `fill_id` (Alpaca's activity
  id, IB's execId), so fetching the same fill twice books it once.
- Positions are signed (short < 0), in the instrument's units (shares, coins).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["Account", "Broker", "BrokerFill", "BrokerOrder", "Clocked", "OrderTicket"]


@dataclass(frozen=True)
class OrderTicket:
    """What the order manager sends: one order, keyed by its client order id."""

    client_order_id: str
    symbol: str
    side: str  # buy | sell
    qty: float
    order_type: str  # market | limit
    limit_price: float | None
    time_in_force: str  # day | gtc
    submitted_at: datetime


@dataclass(frozen=True)
class BrokerOrder:
    """What the broker says about one order."""

    client_order_id: str
    broker_order_id: str | None
    symbol: str
    side: str
    qty: float
    status: str  # an OrderStatus value
    filled_qty: float
    avg_fill_price: float | None
    reason: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class BrokerFill:
    """One execution of an order."""

    fill_id: str
    client_order_id: str
    broker_order_id: str | None
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    ts: datetime
    slippage_bps: float | None = None
    participation: float | None = None


@dataclass(frozen=True)
class Account:
    cash: float
    equity: float
    buying_power: float
    currency: str = "USD"


@runtime_checkable
class Broker(Protocol):
    """A broker account the order manager trades through (see the module docstring)."""

    name: str
    live: bool  # True only where real money moves

    def account(self) -> Account: ...

    def positions(self) -> dict[str, float]: ...

    def open_orders(self) -> list[BrokerOrder]: ...

    def orders(self, client_order_ids: Collection[str]) -> list[BrokerOrder]: ...

    def fills(self, client_order_ids: Collection[str]) -> list[BrokerFill]: ...

    def submit(self, ticket: OrderTicket) -> BrokerOrder: ...

    def cancel(self, client_order_id: str) -> BrokerOrder | None: ...


@runtime_checkable
class Clocked(Protocol):
    """A simulated broker whose market moves only when told: `advance(until)` lets it trade
    the bars up to `until`. Real brokers' markets move by themselves and lack this."""

    def advance(self, until: datetime) -> None: ...
