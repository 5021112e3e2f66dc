"""Interactive Brokers as a broker: ib_async's `IB` against a running TWS or IB Gateway.

- **Connection.** One API connection per broker object, with `execution.ibkr.client_id` (not the
  data source's). On connect ib_async fetches positions, this client's open orders, completed
  orders and today's executions; this adapter adds every client's open orders. Paper mode
  refuses an account that is not a paper account (IB's paper account codes start with D, e.g.
  DU1234567): a TWS logged into a live account would otherwise trade real money while the run
  says paper.
- **Idempotence.** IB has no client order id; the plan's id travels as the order's `orderRef`.
  Before placing, `submit` looks for that ref among the open and completed orders IB reported
  (and the ones placed in this session); found, it sends nothing and answers with that order
  (`duplicate=True`). IB's own numeric order id is the session's next valid id; an id IB refuses
  as used (error 103) is replaced by a fresh one and the order placed again, since IB took
  nothing.
- **Answers.** A placed order counts as acknowledged once IB reports it PreSubmitted or
  Submitted; none within `timeout_seconds` is an unknown outcome (an exception: the order manager
  keeps it submitted and asks again). Error 201 (order rejected) is a `rejected` order with IB's
  reason; 202 (cancelled) and 10147 (the order to cancel is not found) end a cancel.
- **Pacing.** IB disconnects a client that sends more than 50 messages a second; ib_async's own
  throttle holds outgoing messages to `messages_per_second`.
- **Dropped connections.** Every call reconnects first if the connection is gone (up to
  `reconnect_attempts`, `reconnect_wait_seconds` apart) and is then retried; reconnecting fetches
  the open and completed orders, executions and positions again, so order states are recovered
  from IB rather than assumed. A submit interrupted by a drop looks for its ref after
  reconnecting before it places anything.

ib_async is imported inside functions (0.3 s, and a config load should not start a client).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

from foxml_dagster.data.ibkr import IbkrConfig, make_contract, split_symbol
from foxml_dagster.execution.broker import Account, BrokerError, BrokerFill, BrokerOrder, OrderTicket
from foxml_dagster.execution.config import IbkrTrading
from foxml_dagster.execution.orders import OrderStatus

if TYPE_CHECKING:
    from ib_async import IB, Contract, Trade

__all__ = ["IbkrBroker", "ib_status"]

log = logging.getLogger(__name__)
S = OrderStatus
T = TypeVar("T")

UNSET_DOUBLE = 1.7976931348623157e308  # IB's "no value" for a price
_REJECTED = 201
_CANCELLED = 202
_DUPLICATE_ID = 103
_NOT_FOUND = 10147
_FINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})


def ib_status(trade: Trade) -> tuple[OrderStatus, str | None]:
    """A trade's IB status (and the error IB filed on it) as an order manager status and reason."""
    status = trade.orderStatus.status
    errors = [e for e in trade.log if getattr(e, "errorCode", 0)]
    last = errors[-1] if errors else None
    reason = last.message if last is not None else None
    filled = trade.orderStatus.filled or getattr(trade.order, "filledQuantity", 0.0) or 0.0
    if filled == UNSET_DOUBLE:
        filled = 0.0
    if status in ("PendingSubmit", "ApiPending"):
        return S.SUBMITTED, None
    if status in ("PreSubmitted", "Submitted", "PendingCancel", "ValidationError"):
        return (S.PARTIALLY_FILLED if filled > 0 else S.ACCEPTED), None
    if status == "Filled":
        return S.FILLED, None
    if status in ("Cancelled", "ApiCancelled"):
        # IB ends a refused order as Cancelled: 201, or any other error (200: no such contract)
        # before IB ever acknowledged the order, is a rejection; 202 is a cancellation.
        codes = {e.errorCode for e in errors}
        acknowledged = any(e.status in ("PreSubmitted", "Submitted") for e in trade.log)
        if _REJECTED in codes or (codes and _CANCELLED not in codes and not acknowledged):
            return S.REJECTED, reason
        return S.CANCELLED, reason
    if status == "Inactive":
        return S.REJECTED, reason or "IB reports the order inactive (not working)"
    raise BrokerError(f"IB reported an order status this version does not know: {status!r}")


class IbkrBroker:
    """An IB account through TWS / IB Gateway (see the module docstring).

    Args:
        settings: `execution.ibkr`.
        live: real money (the caller checked both switches); otherwise the account must be a
            paper account.
        symbols: the universe's names, so positions and fills come back under them.
        sleep: injectable for tests of the reconnect waits.
    """

    name = "ibkr"

    def __init__(
        self,
        settings: IbkrTrading,
        *,
        live: bool = False,
        symbols: Collection[str] = (),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.live = live
        self._sleep = sleep
        what = "MIDPOINT" if settings.sec_type == "CASH" else "TRADES"
        self._contracts = IbkrConfig(
            sec_type=settings.sec_type,
            exchange=settings.exchange,
            primary_exchange=settings.primary_exchange,
            currency=settings.currency,
            what_to_show=what,
        )
        self._names = {split_symbol(s, settings.sec_type, settings.currency): s for s in symbols}
        self.ib: IB | None = None
        self.account_code = ""
        self.connects = 0
        self._ensure()

    # --- the connection ------------------------------------------------------------------------

    def _connect(self) -> None:
        from ib_async import IB
        from ib_async.ib import StartupFetch

        s = self.settings
        ib = IB()
        ib.RaiseRequestErrors = True
        ib.RequestTimeout = s.timeout_seconds
        # IB disconnects a client past 50 messages a second; ib_async queues what is over this.
        ib.client.MaxRequests = s.messages_per_second
        ib.client.RequestsInterval = 1.0
        fetch = StartupFetch.POSITIONS | StartupFetch.ORDERS_OPEN | StartupFetch.ORDERS_COMPLETE
        fetch |= StartupFetch.EXECUTIONS
        try:
            ib.connect(
                s.host, s.port, s.client_id, timeout=s.timeout_seconds, account=s.account or "", fetchFields=fetch
            )
        except (ConnectionError, OSError, TimeoutError) as exc:
            ib.disconnect()
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from None
        accounts = ib.managedAccounts()
        try:
            self.account_code = self._pick_account(accounts)
        except BrokerError:
            ib.disconnect()
            raise
        try:
            ib.reqAllOpenOrders()  # other client ids' orders count for the ref check too
        except (ConnectionError, OSError) as exc:  # a timeout included: the connection is not usable
            ib.disconnect()
            raise ConnectionError(f"{type(exc).__name__} while listing open orders: {exc}") from None
        self.ib = ib
        self.connects += 1

    def _pick_account(self, accounts: list[str]) -> str:
        s = self.settings
        if s.account:
            if s.account not in accounts:
                raise BrokerError(
                    f"execution.ibkr.account {s.account} is not managed by the TWS at {s.host}:{s.port} "
                    f"(it manages {', '.join(accounts) or 'none'}); fix the account code or log TWS into it"
                )
            account = s.account
        elif len(accounts) == 1:
            account = accounts[0]
        else:
            raise BrokerError(
                f"the TWS at {s.host}:{s.port} manages several accounts ({', '.join(accounts)}); "
                "name the one to trade in execution.ibkr.account"
            )
        if not self.live and not account.startswith("D"):
            raise BrokerError(
                f"execution.mode is paper but TWS / IB Gateway at {s.host}:{s.port} is logged into account "
                f"{account}, which is not a paper account (those start with D, e.g. DU1234567): orders would "
                "be real. Log in with the paper trading login (TWS paper port 7497, Gateway 4002), or trade "
                "live on purpose with execution.mode: live and FOXML_LIVE_TRADING"
            )
        return account

    def _ensure(self) -> IB:
        if self.ib is not None and self.ib.isConnected():
            return self.ib
        s = self.settings
        if self.ib is not None:
            self.ib.disconnect()
            self.ib = None
        last: Exception | None = None
        for attempt in range(s.reconnect_attempts + 1):
            if attempt:
                log.warning("IB connection lost; reconnecting (%d of %d)", attempt, s.reconnect_attempts)
                self._sleep(s.reconnect_wait_seconds)
            try:
                self._connect()
                return self.ib  # type: ignore[return-value]
            except ConnectionError as exc:
                last = exc
        raise BrokerError(
            f"cannot reach TWS / IB Gateway at {s.host}:{s.port} with client id {s.client_id} after "
            f"{s.reconnect_attempts + 1} attempt(s) ({last}); check that it is running and logged in, that "
            "its API accepts socket clients on that port (Configure > API > Settings), and that no other "
            "program uses that client id (execution.ibkr.client_id)"
        )

    def _with_connection(self, what: str, call: Callable[[IB], T]) -> T:
        """`call` on a live connection; a connection that drops under it is re-made (which
        fetches orders, executions and positions again) and the call made once more."""
        for attempt in range(self.settings.reconnect_attempts + 1):
            ib = self._ensure()
            try:
                return call(ib)
            except (ConnectionError, OSError) as exc:
                log.warning("IB %s: connection trouble (%s); reconnecting", what, exc)
                if attempt == self.settings.reconnect_attempts:
                    raise BrokerError(
                        f"IB {what}: the connection to {self.settings.host}:{self.settings.port} kept dropping "
                        f"({exc}); check TWS / IB Gateway and the network"
                    ) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def close(self) -> None:
        if self.ib is not None:
            self.ib.disconnect()
            self.ib = None

    # --- mapping -------------------------------------------------------------------------------

    def _contract(self, symbol: str) -> Contract:
        return make_contract(self._contracts, symbol)

    def _name(self, contract: Any) -> str:
        return self._names.get((contract.symbol, contract.currency), contract.symbol)

    def _trades_with_ref(self, ib: IB, ref: str) -> list[Trade]:
        if ref.startswith("ib-perm-"):
            return [t for t in ib.trades() if str(t.order.permId) == ref.removeprefix("ib-perm-")]
        return [
            t
            for t in ib.trades()
            if t.order.orderRef == ref and not any(getattr(e, "errorCode", 0) == _DUPLICATE_ID for e in t.log)
        ]

    def _find(self, ib: IB, ref: str) -> Trade | None:
        trades = self._trades_with_ref(ib, ref)
        if not trades:
            return None
        working = [t for t in trades if not t.isDone()]
        return (working or trades)[-1]

    def _view(self, trade: Trade, *, duplicate: bool = False) -> BrokerOrder:
        status, reason = ib_status(trade)
        order = trade.order
        filled = trade.orderStatus.filled or 0.0
        if not filled and getattr(order, "filledQuantity", UNSET_DOUBLE) not in (UNSET_DOUBLE, None):
            filled = float(order.filledQuantity)
        avg = trade.orderStatus.avgFillPrice or None
        if avg is None and trade.fills:
            shares = sum(f.execution.shares for f in trade.fills)
            avg = sum(f.execution.shares * f.execution.price for f in trade.fills) / shares if shares else None
        kind = {"MKT": "market", "LMT": "limit", "STP": "stop"}.get(order.orderType, order.orderType.lower())
        return BrokerOrder(
            client_order_id=order.orderRef or f"ib-perm-{order.permId}",
            broker_order_id=str(order.permId or order.orderId),
            symbol=self._name(trade.contract),
            side="buy" if order.action == "BUY" else "sell",
            qty=float(order.totalQuantity),
            status=status,
            filled_qty=float(filled),
            avg_fill_price=avg,
            reason=reason,
            updated_at=trade.log[-1].time if trade.log else None,
            order_type=kind,
            limit_price=_price(order.lmtPrice),
            stop_price=_price(order.auxPrice) if order.orderType == "STP" else None,
            time_in_force=order.tif.lower() or "day",
            duplicate=duplicate,
        )

    def _wait(self, ib: IB, done: Callable[[], bool], timeout: float) -> bool:
        """Lets ib_async process IB's messages until `done()` or `timeout` seconds; raises
        ConnectionError if the connection drops meanwhile."""
        deadline = time.monotonic() + timeout
        while not done():
            if not ib.isConnected():
                raise ConnectionError("TWS closed the connection")
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ib.waitOnUpdate(timeout=min(left, 0.1))
        return True

    # --- the Broker interface --------------------------------------------------------------------

    def account(self) -> Account:
        def read(ib: IB) -> Account:
            # A fresh summary each time (TWS refreshes a standing subscription every 3 minutes).
            req_id = ib.client.getReqId()
            future = ib.wrapper.startReq(req_id)
            ib.client.reqAccountSummary(req_id, "All", "NetLiquidation,TotalCashValue,BuyingPower")
            try:
                ib.run(future, timeout=self.settings.timeout_seconds)
            finally:
                if ib.isConnected():
                    ib.client.cancelAccountSummary(req_id)
            values = {
                v.tag: float(v.value)
                for v in ib.wrapper.acctSummary.values()
                if v.account == self.account_code and v.tag in ("NetLiquidation", "TotalCashValue", "BuyingPower")
            }
            missing = {"NetLiquidation", "TotalCashValue"} - set(values)
            if missing:
                raise BrokerError(f"IB's account summary for {self.account_code} lacks {sorted(missing)}")
            return Account(
                cash=values["TotalCashValue"],
                equity=values["NetLiquidation"],
                buying_power=values.get("BuyingPower", 0.0),
            )

        return self._with_connection("account summary", read)

    def positions(self) -> dict[str, float]:
        def read(ib: IB) -> dict[str, float]:
            held: dict[str, float] = {}
            for p in ib.reqPositions():
                if p.account == self.account_code and p.position:
                    name = self._name(p.contract)
                    held[name] = held.get(name, 0.0) + float(p.position)
            return {k: v for k, v in held.items() if v}

        return self._with_connection("positions", read)

    def open_orders(self) -> list[BrokerOrder]:
        def read(ib: IB) -> list[BrokerOrder]:
            trades = ib.reqAllOpenOrders()
            views = {}
            for trade in trades:
                if trade.order.account in ("", self.account_code) and not trade.isDone():
                    current = self._find(ib, trade.order.orderRef) if trade.order.orderRef else trade
                    view = self._view(current or trade)
                    views[view.client_order_id] = view
            return [v for v in views.values() if v.status not in _FINAL]

        return self._with_connection("open orders", read)

    def orders(self, client_order_ids: Collection[str]) -> list[BrokerOrder]:
        def read(ib: IB) -> list[BrokerOrder]:
            ib.sleep(0)  # take in what IB has sent meanwhile
            found = {cid: self._find(ib, cid) for cid in client_order_ids}
            if any(t is None for t in found.values()):
                # Orders another session placed or finished: ask IB for its lists again.
                ib.reqAllOpenOrders()
                ib.reqCompletedOrders(False)
                found = {cid: self._find(ib, cid) for cid in client_order_ids}
            return [self._view(t) for t in found.values() if t is not None]

        return self._with_connection("order status", read)

    def fills(self, client_order_ids: Collection[str]) -> list[BrokerFill]:
        wanted = set(client_order_ids)

        def read(ib: IB) -> list[BrokerFill]:
            ib.reqExecutions()
            fills = []
            for fill in ib.fills():
                ex = fill.execution
                ref = ex.orderRef or f"ib-perm-{ex.permId}"
                if ref not in wanted:
                    continue
                fills.append(
                    BrokerFill(
                        fill_id=ex.execId,
                        client_order_id=ref,
                        broker_order_id=str(ex.permId),
                        symbol=self._name(fill.contract),
                        side="buy" if ex.side == "BOT" else "sell",
                        qty=float(ex.shares),
                        price=float(ex.price),
                        fee=float(fill.commissionReport.commission or 0.0),
                        ts=ex.time if ex.time.tzinfo else ex.time.replace(tzinfo=UTC),
                    )
                )
            return fills

        return self._with_connection("executions", read)

    def submit(self, ticket: OrderTicket) -> BrokerOrder:
        if ticket.qty != math.floor(ticket.qty) and not self.settings.fractional:
            return BrokerOrder.refused(
                ticket,
                f"fractional quantity {ticket.qty:g}: IB takes fractional orders only for accounts and contracts "
                "enabled for them; set execution.ibkr.fractional: true if yours are, or risk.lot_size: 1",
            )

        def place(ib: IB) -> BrokerOrder:
            existing = self._find(ib, ticket.client_order_id)
            if existing is not None:
                return self._view(existing, duplicate=True)
            for _ in range(2):  # a second try only after error 103 (IB took nothing)
                trade = ib.placeOrder(self._contract(ticket.symbol), self._order(ticket))
                acknowledged = self._wait(
                    ib, lambda t=trade: t.orderStatus.status not in ("PendingSubmit", "ApiPending"), self._ack_timeout
                )
                if not acknowledged:  # not an OSError: a reconnect would not tell us more
                    raise BrokerError(
                        f"IB did not acknowledge order {ticket.client_order_id} within "
                        f"{self._ack_timeout:g} s; its outcome is unknown (the next cycle asks IB by its orderRef)"
                    )
                if not any(getattr(e, "errorCode", 0) == _DUPLICATE_ID for e in trade.log):
                    return self._view(trade)
                log.warning("IB refused order id %s as used (103); placing under a fresh id", trade.order.orderId)
            return self._view(trade)

        return self._with_connection(f"submit {ticket.client_order_id}", place)

    @property
    def _ack_timeout(self) -> float:
        return self.settings.timeout_seconds

    def _order(self, ticket: OrderTicket) -> Any:
        from ib_async import LimitOrder, MarketOrder, StopOrder

        action = "BUY" if ticket.side == "buy" else "SELL"
        common = dict(tif=ticket.time_in_force.upper(), orderRef=ticket.client_order_id, account=self.account_code)
        if ticket.order_type == "limit":
            return LimitOrder(action, ticket.qty, ticket.limit_price, **common)
        if ticket.order_type == "stop":
            return StopOrder(action, ticket.qty, ticket.stop_price, **common)
        return MarketOrder(action, ticket.qty, **common)

    def cancel(self, client_order_id: str) -> BrokerOrder | None:
        def cancel(ib: IB) -> BrokerOrder | None:
            trade = self._find(ib, client_order_id)
            if trade is None:
                ib.reqCompletedOrders(False)
                trade = self._find(ib, client_order_id)
                return self._view(trade) if trade is not None else None
            if trade.isDone():
                return self._view(trade)
            ib.cancelOrder(trade.order)
            self._wait(ib, trade.isDone, self.settings.timeout_seconds)
            if any(getattr(e, "errorCode", 0) == _NOT_FOUND for e in trade.log):
                # IB no longer knows it as working: it finished meanwhile; its record says how.
                ib.reqCompletedOrders(False)
                ib.reqExecutions()
                trade = self._find(ib, client_order_id) or trade
            return self._view(trade)

        return self._with_connection(f"cancel {client_order_id}", cancel)

    def cancel_all(self) -> list[BrokerOrder]:
        def cancel(ib: IB) -> list[BrokerOrder]:
            before = [o.client_order_id for o in self.open_orders()]
            ib.reqGlobalCancel()
            trades = [t for cid in before if (t := self._find(ib, cid)) is not None]
            self._wait(ib, lambda: all(t.isDone() for t in trades), self.settings.timeout_seconds)
            return [self._view(t) for t in trades]

        return self._with_connection("global cancel", cancel)

    def replace(
        self,
        client_order_id: str,
        new_client_order_id: str,
        *,
        qty: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> BrokerOrder:
        """A modification of the working order (same IB order id) under the new ref: IB then
        knows it only as `new_client_order_id`."""

        def modify(ib: IB) -> BrokerOrder:
            existing = self._find(ib, new_client_order_id)
            if existing is not None:
                return self._view(existing, duplicate=True)
            trade = self._find(ib, client_order_id)
            if trade is None or trade.isDone():
                why = "unknown to IB" if trade is None else trade.orderStatus.status
                return BrokerOrder(
                    new_client_order_id, None, "", "", float(qty or 0.0), S.REJECTED, 0.0, None,
                    f"cannot replace order {client_order_id}: it is {why}", None,
                )  # fmt: skip
            order = trade.order
            if qty is not None:
                order.totalQuantity = qty
            if limit_price is not None:
                order.lmtPrice = limit_price
            if stop_price is not None:
                order.auxPrice = stop_price
            order.orderRef = new_client_order_id
            ib.placeOrder(trade.contract, order)
            self._wait(ib, lambda: trade.log[-1].message != "Modify", self.settings.timeout_seconds)
            return self._view(trade)

        return self._with_connection(f"replace {client_order_id}", modify)

    def wait_for_final(self, client_order_ids: Collection[str], timeout: float) -> None:
        """Returns once every order is final or `timeout` passed, woken by IB's order status
        and execution messages."""
        ids = list(client_order_ids)
        deadline = time.monotonic() + timeout

        def final(ib: IB) -> bool:
            trades = [self._find(ib, cid) for cid in ids]
            return all(t is None or ib_status(t)[0] in _FINAL for t in trades)

        def wait(ib: IB) -> None:
            self._wait(ib, lambda: final(ib), max(0.0, deadline - time.monotonic()))

        self._with_connection("waiting for orders", wait)


def _price(value: float | None) -> float | None:
    if value is None or value == UNSET_DOUBLE or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)
