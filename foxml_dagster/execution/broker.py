"""The interface every broker implements: the paper broker, Alpaca and Interactive Brokers.

The order manager talks to a broker only through `Broker`, keyed by the client order id it
chose, so an adapter maps a handful of calls onto its API (alpaca-py `TradingClient`; ib_async `IB`):

- `account()`: alpaca-py `get_account()` (cash, equity, buying_power); ib_async account summary
  (TotalCashValue, NetLiquidation, BuyingPower).
- `positions()`: `get_all_positions()` (qty signed by side); `reqPositions()`.
- `submit(ticket)`: `submit_order(MarketOrderRequest | LimitOrderRequest | StopOrderRequest,
  client_order_id=...)`; `placeOrder(contract, MarketOrder | LimitOrder | StopOrder, orderRef=id)`.
- `cancel(id)`: `get_order_by_client_id(id)` then `cancel_order_by_id`; `cancelOrder(trade.order)`
  for the trade whose `orderRef` is the id.
- `cancel_all()`: `cancel_orders()`; `reqGlobalCancel()`. Every open order of the account,
  including ones this platform did not send.
- `replace(id, new_id, ...)`: `replace_order_by_id(ReplaceOrderRequest(client_order_id=new_id))`;
  on IB a modification (`placeOrder` with the same order id) under the new `orderRef`. The old id
  ends `cancelled`, the order works on under `new_id`, so an id always names one set of terms.
- `orders(ids)`: `get_order_by_client_id` per id; `trades()` (open and completed) by `orderRef`.
- `open_orders()`: `get_orders(GetOrdersRequest(status=OPEN))`; `reqAllOpenOrders()`.
- `fills(ids)`: account activities of type FILL; `reqExecutions()` with commission reports.

Contract for adapters (the paper broker is the reference they are tested against):

- `submit` never raises for a business refusal: it returns a `BrokerOrder` with status
  `rejected` and the broker's reason. An exception means "unknown outcome" (a timeout, a dropped
  connection): the order manager keeps the order as submitted and asks `orders([id])` later.
- A `submit` with a client order id the broker already holds sends nothing: it returns that
  order as it stands (`duplicate=True`). This is what makes a crash between sending and
  journaling harmless: the restarted cycle plans the same id and the broker recognises it.
- Statuses use the order manager's names: accepted, partially_filled, filled, cancelled,
  rejected, expired (`OrderStatus`), or submitted while the broker has not acknowledged it;
  quantities are positive, sides are buy/sell.
- `fills` returns every fill of the given orders with a stable `fill_id` (Alpaca's activity
  id, IB's execId), so fetching the same fill twice books it once.
- Positions are signed (short < 0), in the instrument's units (shares, coins).

Optional abilities: a simulated broker has `advance(until)` (`Clocked`); a real one has
`wait_for_final(ids, timeout)` (`Streaming`), woken by the broker's own updates (Alpaca's trade
updates, IB's order status events) while orders work; `close()` releases connections.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from foxml_dagster.execution.orders import OrderStatus

__all__ = [
    "Account",
    "Broker",
    "BrokerError",
    "BrokerFill",
    "BrokerOrder",
    "Clocked",
    "OrderTicket",
    "Streaming",
    "close_broker",
]


class BrokerError(RuntimeError):
    """The broker cannot be used at all (keys refused, not reachable, the wrong kind of account):
    the cycle stops before it sends anything. The message says what to fix."""


@dataclass(frozen=True)
class OrderTicket:
    """What the order manager sends: one order, keyed by its client order id."""

    client_order_id: str
    symbol: str
    side: str  # buy | sell
    qty: float
    order_type: str  # market | limit | stop
    limit_price: float | None
    time_in_force: str  # day | gtc
    submitted_at: datetime
    stop_price: float | None = None  # stop orders: becomes a market order once traded through


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
    order_type: str = "market"
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: str = "day"
    duplicate: bool = False  # a submit that found this id already at the broker (nothing was sent)

    @classmethod
    def refused(cls, ticket: OrderTicket, reason: str) -> BrokerOrder:
        """The broker's answer to a ticket it refused outright (bad terms, HTTP 4xx): the order
        never worked, so nothing filled."""
        return cls(
            client_order_id=ticket.client_order_id,
            broker_order_id=None,
            symbol=ticket.symbol,
            side=ticket.side,
            qty=ticket.qty,
            status=OrderStatus.REJECTED,
            filled_qty=0.0,
            avg_fill_price=None,
            reason=reason,
            updated_at=datetime.now(UTC),
            order_type=ticket.order_type,
            limit_price=ticket.limit_price,
            stop_price=ticket.stop_price,
            time_in_force=ticket.time_in_force,
        )


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

    def cancel_all(self) -> list[BrokerOrder]: ...

    def replace(
        self,
        client_order_id: str,
        new_client_order_id: str,
        *,
        qty: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> BrokerOrder: ...


@runtime_checkable
class Clocked(Protocol):
    """A simulated broker whose market moves only when told: `advance(until)` lets it trade
    the bars up to `until`. Real brokers' markets move by themselves and lack this."""

    def advance(self, until: datetime) -> None: ...


@runtime_checkable
class Streaming(Protocol):
    """A real broker that pushes order updates: `wait_for_final` returns once every given order
    is final at the broker (filled, cancelled, rejected, expired) or `timeout` seconds passed."""

    def wait_for_final(self, client_order_ids: Collection[str], timeout: float) -> None: ...


def close_broker(broker: object) -> None:
    """Releases a broker's connections (sockets, streams) if it holds any."""
    close = getattr(broker, "close", None)
    if callable(close):
        close()
