"""The trading half of the fake TWS (tests/fakes/ibkr_server.py): orders, executions, positions
and the account, on IB's socket protocol as ib_async 2.1 decodes it at server version 178.

Requests it answers (the client's message ids):

    3  placeOrder        a new order (openOrder + orderStatus Submitted), or a modification of a
                         working one under the same order id; a used id of a finished order is
                         error 103; `reject_next_order` answers error 201; a symbol outside
                         `listed` (when given) error 200
    4  cancelOrder       orderStatus Cancelled + error 202; an unknown id is error 10147
    5  reqOpenOrders     this client's working orders (all of them for client 0), openOrderEnd
    16 reqAllOpenOrders  every client's working orders, openOrderEnd
    99 reqCompletedOrders  finished orders, completedOrdersEnd
    7  reqExecutions     execDetails + commissionReport per execution, execDetailsEnd
    58 reqGlobalCancel   cancels every working order of every client
    61 reqPositions      position per holding, positionEnd
    62 reqAccountSummary accountSummary rows (NetLiquidation, TotalCashValue, BuyingPower), end
    8  reqIds            nextValidId

The market is a price per symbol (`set_price`; deterministic otherwise). A market order fills
`fill_delay` seconds after it was acknowledged, at that price, with executions (execId, side
BOT/SLD, shares, price, orderRef) and a commission report of `commission_per_order`; a limit
order when the price reaches the limit, a stop order when it trades through the stop. The
executions and status changes go to the connection that placed the order, if it is still there;
orders, executions and positions outlive connections, as they do in TWS.

Scripting: `reject_next_order(text)` (201), `duplicate_id_next()` (103 for the next new order),
`silence_next_order()` (taken, never acknowledged: the crash test kills the client meanwhile),
`drop_on_next_order(taken=...)` (the connection closes as the order arrives, before or after TWS
takes it), `drop_connections()`, `set_position` (a difference to reconcile). Every message a
client sends is recorded in `messages` (time, client id, message id) for the pacing test.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

UNSET = ""  # IB leaves a value out by sending an empty field


def encode(*fields: object) -> bytes:
    payload = b"".join(str(f).encode() + b"\0" for f in fields)
    return len(payload).to_bytes(4, "big") + payload


def error(req_id: object, code: int, text: str) -> bytes:
    return encode(4, 2, req_id, code, text, "")


def default_price(symbol: str) -> float:
    return round(20.0 + zlib.crc32(symbol.encode()) % 400, 2)


def con_id(symbol: str) -> int:
    return 100_000 + zlib.crc32(symbol.encode()) % 900_000


@dataclass
class IbOrder:
    order_id: int
    client_id: int
    perm_id: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    action: str  # BUY | SELL
    qty: float
    order_type: str  # MKT | LMT | STP
    lmt: float | None
    aux: float | None
    tif: str
    account: str
    order_ref: str
    status: str = "Submitted"
    filled: float = 0.0
    avg: float = 0.0
    last: float = 0.0
    n_execs: int = 0
    completed_time: str = ""

    @property
    def remaining(self) -> float:
        return self.qty - self.filled

    @property
    def working(self) -> bool:
        return self.status in ("PreSubmitted", "Submitted", "PendingCancel")


@dataclass
class IbExecution:
    exec_id: str
    order: IbOrder
    time: str
    shares: float
    price: float
    cum_qty: float
    avg: float
    commission: float


@dataclass
class Connection:
    sock: socket.socket
    client_id: int = -1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, data: bytes) -> None:
        # A client that went away misses the message; TWS keeps the order all the same.
        with self.lock, contextlib.suppress(OSError):
            self.sock.sendall(data)


class TradingDesk:
    """The account behind the fake TWS (`FakeTws.desk`)."""

    def __init__(self, account: str, listed: set[str] | None = None):
        self.account = account
        self.listed = listed  # None: any symbol trades; else others get error 200
        self.cash = 100_000.0
        self.prices: dict[str, float] = {}
        self.positions: dict[str, float] = {}
        self.avg_cost: dict[str, float] = {}
        self.orders: list[IbOrder] = []
        self.executions: list[IbExecution] = []
        self.auto_fill = True
        self.fill_delay = 0.02
        self.commission_per_order = 0.0
        self.messages: list[tuple[float, int, int]] = []  # (monotonic time, client id, message id)
        self.connections: list[Connection] = []
        self._next_order_id = 1
        self._perm = itertools.count(900_001)
        self._reject: str | None = None
        self._duplicate = False
        self._silence = False
        self._drop: bool | None = None  # None: no drop; False: before taking; True: after taking
        self._lock = threading.RLock()
        self._timers: list[threading.Timer] = []

    # --- scripting -----------------------------------------------------------------------------

    def set_price(self, symbol: str, price: float) -> None:
        with self._lock:
            self.prices[symbol] = price
            if self.auto_fill:
                for order in list(self.orders):
                    if order.working and order.order_type != "MKT":
                        self._try_fill(order)

    def set_position(self, symbol: str, qty: float) -> None:
        with self._lock:
            self.positions[symbol] = qty
            self.avg_cost.setdefault(symbol, self.price(symbol))

    def reject_next_order(self, text: str = "Order rejected - reason:insufficient buying power") -> None:
        self._reject = text

    def duplicate_id_next(self) -> None:
        self._duplicate = True

    def silence_next_order(self) -> None:
        self._silence = True

    def drop_on_next_order(self, *, taken: bool) -> None:
        self._drop = taken

    def drop_connections(self) -> None:
        with self._lock:
            for connection in list(self.connections):
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)

    def fill_working(self) -> None:
        with self._lock:
            for order in list(self.orders):
                if order.working:
                    self._fill(order, order.remaining, self.price(order.symbol))

    def orders_with_ref(self, order_ref: str) -> list[IbOrder]:
        with self._lock:
            return [o for o in self.orders if o.order_ref == order_ref]

    def price(self, symbol: str) -> float:
        return self.prices.get(symbol, default_price(symbol))

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()

    # --- the protocol ----------------------------------------------------------------------------

    def next_valid_id(self) -> int:
        with self._lock:
            return self._next_order_id

    def handle(self, conn: Connection, fields: list[str]) -> bool:
        """Answers one trading message; False for a message id this desk does not serve.
        Raises ConnectionAbortedError where the script says to drop the connection."""
        kind = int(fields[0])
        with self._lock:
            self.messages.append((time.monotonic(), conn.client_id, kind))
            if kind == 3:
                self._place(conn, fields)
            elif kind == 4:
                self._cancel(int(fields[2]), conn)
            elif kind in (5, 16):
                everyone = kind == 16 or conn.client_id == 0
                for order in self.orders:
                    if order.working and (everyone or order.client_id == conn.client_id):
                        conn.send(self._open_order(order) + self._status(order))
                conn.send(encode(53, 1))
            elif kind == 99:
                done = b"".join(self._completed(o) for o in self.orders if not o.working)
                conn.send(done + encode(102))
            elif kind == 7:
                req_id = fields[2]
                for ex in self.executions:
                    conn.send(self._exec(req_id, ex) + self._commission(ex))
                conn.send(encode(55, 1, req_id))
            elif kind == 58:
                for order in list(self.orders):
                    if order.working:
                        self._cancelled(order, "global cancel")
            elif kind == 61:
                rows = b"".join(self._position(s, q) for s, q in sorted(self.positions.items()))
                conn.send(rows + encode(62, 1))
            elif kind == 62:
                conn.send(self._summary(fields[2]))
            elif kind == 8:
                conn.send(encode(9, 1, self._next_order_id))
            elif kind in (63, 64, 15):  # cancelAccountSummary, cancelPositions, reqAutoOpenOrders
                pass
            else:
                return False
        return True

    def _place(self, conn: Connection, f: list[str]) -> None:
        order_id = int(f[1])
        symbol, sec_type, exchange, currency = f[3], f[4], f[9], f[11]
        # After the contract's 12 fields and secIdType, secId: action, quantity, type, limit,
        # aux (stop) price, tif, OCA group, account, open/close, origin, orderRef.
        action, qty, order_type = f[16], float(f[17]), f[18]
        lmt = float(f[19]) if f[19] else None
        aux = float(f[20]) if f[20] else None
        tif, account, order_ref = f[21], f[23], f[26]
        drop, self._drop = self._drop, None
        if drop is False:
            raise ConnectionAbortedError("scripted drop before the order was taken")
        if self.listed is not None and symbol not in self.listed:
            conn.send(error(order_id, 200, "No security definition has been found for the request"))
            return
        same = [o for o in self.orders if (o.client_id, o.order_id) == (conn.client_id, order_id)]
        if same and same[0].working:  # a modification: new terms, same order
            order = same[0]
            order.qty, order.lmt, order.aux, order.order_ref = qty, lmt, aux, order_ref
            conn.send(self._open_order(order) + self._status(order))
            return
        if same or self._duplicate or order_id < 1:
            self._duplicate = False
            conn.send(error(order_id, 103, "Duplicate order id"))
            return
        order = IbOrder(
            order_id=order_id,
            client_id=conn.client_id,
            perm_id=next(self._perm),
            symbol=symbol,
            sec_type=sec_type,
            exchange=exchange,
            currency=currency,
            action=action,
            qty=qty,
            order_type=order_type,
            lmt=lmt,
            aux=aux,
            tif=tif,
            account=account or self.account,
            order_ref=order_ref,
        )
        self._next_order_id = max(self._next_order_id, order_id + 1)
        if self._reject is not None:
            text, self._reject = self._reject, None
            order.status = "Cancelled"
            order.completed_time = _ib_time()
            self.orders.append(order)
            # The refusal first: ib_async files the error on the order, then the final status.
            conn.send(error(order_id, 201, text) + self._status(order))
            return
        self.orders.append(order)
        if drop is True:
            raise ConnectionAbortedError("scripted drop after the order was taken")
        if self._silence:
            self._silence = False
            return
        conn.send(self._open_order(order) + self._status(order))
        if self.auto_fill:
            if self.fill_delay <= 0:
                self._try_fill(order)
            else:
                timer = threading.Timer(self.fill_delay, self._fill_later, args=(order,))
                timer.daemon = True
                self._timers.append(timer)
                timer.start()

    def _fill_later(self, order: IbOrder) -> None:
        with self._lock:
            if order.working:
                self._try_fill(order)

    def _try_fill(self, order: IbOrder) -> None:
        price, buy = self.price(order.symbol), order.action == "BUY"
        if order.order_type == "LMT":
            if not (price <= order.lmt if buy else price >= order.lmt):
                return
            price = min(price, order.lmt) if buy else max(price, order.lmt)
        elif order.order_type == "STP" and not (price >= order.aux if buy else price <= order.aux):
            return
        self._fill(order, order.remaining, price)

    def _fill(self, order: IbOrder, shares: float, price: float) -> None:
        sign = 1.0 if order.action == "BUY" else -1.0
        held = self.positions.get(order.symbol, 0.0)
        after = held + sign * shares
        if held == 0 or (held > 0) == (sign > 0):
            cost = self.avg_cost.get(order.symbol, price)
            self.avg_cost[order.symbol] = (cost * abs(held) + price * shares) / abs(after)
        self.positions[order.symbol] = after
        self.cash -= sign * shares * price + self.commission_per_order
        order.avg = (order.avg * order.filled + price * shares) / (order.filled + shares)
        order.filled += shares
        order.last = price
        order.n_execs += 1
        if order.remaining <= 1e-9:
            order.status, order.completed_time = "Filled", _ib_time()
        ex = IbExecution(
            exec_id=f"{order.perm_id:08x}.{order.n_execs:02d}.01",
            order=order,
            time=_ib_time(),
            shares=shares,
            price=price,
            cum_qty=order.filled,
            avg=order.avg,
            commission=self.commission_per_order,
        )
        self.executions.append(ex)
        self._to_owner(order, self._exec(-1, ex) + self._status(order) + self._commission(ex))

    def _cancel(self, order_id: int, conn: Connection) -> None:
        mine = [o for o in self.orders if (o.client_id, o.order_id) == (conn.client_id, order_id)]
        if not mine:
            conn.send(error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found."))
            return
        order = mine[0]
        if not order.working:
            conn.send(
                error(order_id, 10148, f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                      f"state: {order.status}.")
            )  # fmt: skip
            return
        self._cancelled(order, "")

    def _cancelled(self, order: IbOrder, reason: str) -> None:
        order.status, order.completed_time = "Cancelled", _ib_time()
        self._to_owner(order, error(order.order_id, 202, f"Order Canceled - reason:{reason}") + self._status(order))

    def _to_owner(self, order: IbOrder, data: bytes) -> None:
        for connection in self.connections:
            if connection.client_id in (order.client_id, 0):
                connection.send(data)

    # --- messages TWS sends ------------------------------------------------------------------------

    def _contract(self, order_or_symbol: IbOrder | str) -> list[object]:
        if isinstance(order_or_symbol, IbOrder):
            o = order_or_symbol
            return [con_id(o.symbol), o.symbol, o.sec_type, "", 0, "", "", o.exchange, o.currency, o.symbol, o.symbol]
        s = order_or_symbol
        return [con_id(s), s, "STK", "", 0, "", "", "SMART", "USD", s, s]

    def _status(self, o: IbOrder) -> bytes:
        return encode(3, o.order_id, o.status, _num(o.filled), _num(o.remaining), o.avg, o.perm_id, 0, o.last,
                      o.client_id, "", 0)  # fmt: skip

    def _open_order(self, o: IbOrder) -> bytes:
        fields: list[object] = [5, o.order_id, *self._contract(o)]
        fields += [o.action, _num(o.qty), o.order_type, _price(o.lmt), _price(o.aux), o.tif, "", o.account, "O", 0]
        fields += [o.order_ref, o.client_id, o.perm_id, 0, 0, 0, "", "", "", "", ""]  # .. faPercentage
        fields += ["", "", "", "", "", 0, "", -1]  # modelCode .. exemptCode
        fields += [0, "", "", "", "", "", 0, 0, 0, 0, "", 0, 0, 0, "", 0, 0, "", 0, "", ""]  # .. dnAuxPrice
        fields += [0, 0, "", "", "", "", ""]  # continuousUpdate .. comboLegsDescrip
        fields += [0, 0, 0]  # combo legs, order combo legs, smart combo params
        fields += ["", "", ""]  # scale init, scale subs, increment
        fields += [""]  # hedgeType
        fields += [0, "", "", 0, 0]  # optOutSmartRouting .. deltaNeutralContract present
        fields += [""]  # algoStrategy
        fields += [0, 0, o.status] + [""] * 14 + [0, 0]  # solicited, whatIf, state .. randomizePrice
        fields += [0]  # conditions
        fields += ["", "", "", "", "", "", "", 0, "", "", "", "", 0, 0, "", 0]  # adjustedOrderType .. usePriceMgmt
        fields += ["", 0, 0]  # duration, postToAts, autoCancelParent
        fields += ["", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf
        return encode(*fields)

    def _completed(self, o: IbOrder) -> bytes:
        c = self._contract(o)
        fields: list[object] = [101, *c]
        fields += [o.action, _num(o.qty), o.order_type, _price(o.lmt), _price(o.aux), o.tif, "", o.account, "O", 0]
        fields += [o.order_ref, o.perm_id, 0, 0, 0, "", "", "", ""]  # .. faPercentage
        fields += ["", "", "", "", "", 0, "", -1]  # modelCode .. exemptCode
        fields += ["", "", "", "", "", "", 0, 0, "", 0, 0, "", 0, "", ""]  # startingPrice .. dnAuxPrice
        fields += [0, 0, "", "", ""]  # continuousUpdate .. comboLegsDescrip
        fields += [0, 0, 0, "", "", "", ""]  # legs, order legs, params, scale init/subs/increment, hedgeType
        fields += ["", "", 0, 0, ""]  # clearingAccount .. dnc present, algoStrategy
        fields += [0, o.status, 0, 0, 0]  # solicited, status, randomize size/price, conditions
        fields += ["", "", "", 0, 0, "", _num(o.filled), 0, 0, "", 0, 0, 0, o.completed_time, o.status]
        fields += ["", "", "", "", ""]
        return encode(*fields)

    def _exec(self, req_id: object, ex: IbExecution) -> bytes:
        o = ex.order
        side = "BOT" if o.action == "BUY" else "SLD"
        return encode(11, req_id, o.order_id, *self._contract(o), ex.exec_id, ex.time, o.account, o.exchange, side,
                      _num(ex.shares), ex.price, o.perm_id, o.client_id, 0, _num(ex.cum_qty), ex.avg, o.order_ref,
                      "", "", "", 1, 0)  # fmt: skip

    def _commission(self, ex: IbExecution) -> bytes:
        return encode(59, 1, ex.exec_id, ex.commission, "USD", "", "", "")

    def _position(self, symbol: str, qty: float) -> bytes:
        return encode(61, 3, self.account, *self._contract(symbol), _num(qty), self.avg_cost.get(symbol, 0.0))

    def _summary(self, req_id: str) -> bytes:
        gross = sum(abs(q) * self.price(s) for s, q in self.positions.items())
        net = self.cash + sum(q * self.price(s) for s, q in self.positions.items())
        rows = {"NetLiquidation": net, "TotalCashValue": self.cash, "BuyingPower": max(0.0, 4 * net - gross)}
        data = b"".join(encode(63, 1, req_id, self.account, tag, f"{value:.2f}", "USD") for tag, value in rows.items())
        return data + encode(64, 1, req_id)


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _price(value: float | None) -> object:
    return UNSET if value is None or math.isnan(value) else value


def _ib_time() -> str:
    return datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")
