"""The trading half of the fake Alpaca (tests/fakes/alpaca_server.py): an account, orders,
positions, fills and the trade-updates websocket, in the shapes alpaca-py's TradingClient and
TradingStream read.

Routes (all under /v2, keys required as for stock bars):

    GET    /account                        the account (cash, equity, buying power)
    GET    /positions                      positions, qty signed and side long/short
    POST   /orders                         submit; 422 for a client_order_id seen before
    GET    /orders?status=open             open orders
    GET    /orders:by_client_order_id      one order by its client order id (404 if none)
    GET    /orders/{id}                    one order
    PATCH  /orders/{id}                    replace: a new order (new client id), the old one "replaced"
    DELETE /orders/{id}                    cancel (422 once it cannot be cancelled)
    DELETE /orders                         cancel every open order (207, one status per order)
    GET    /account/activities/FILL        fills, oldest first with direction=asc, paged by page_token

The market is a price per symbol (`set_price`; a deterministic default otherwise). A market
order fills `fill_delay` seconds after it was accepted (in `fill_parts` parts) at that price; a
limit order when the price reaches its limit, at the better of the two; a stop order when the
price trades through its stop. `auto_fill = False` leaves orders working until `fill_working()`.

Alpaca's rules the adapter must meet: a repeated client_order_id is a 422 (even when the first
order was cancelled); a fractional quantity needs time_in_force day (422); an order beyond the
buying power is a 403. Scripting: `fail(status, method, path, after_processing=...)` answers the
next matching request with an error, before or after acting on it (a 5xx after the order was
taken is the case that tempts a client to send it twice); `hang_next_submit()` takes the next
order and never answers (the client is killed meanwhile in the crash tests); `rate_limit` answers
429 with Retry-After past that many requests a minute; `set_position` plants a difference.
Every trading request is recorded with its method, path, status and clock time.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

OPEN = {"new", "accepted", "pending_new", "partially_filled", "pending_cancel", "pending_replace"}


class TradingRefusal(Exception):
    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.code = code or status * 100_000


@dataclass(frozen=True)
class TradingRequest:
    method: str
    path: str
    status: int
    at: float  # the fake's clock
    body: dict | None = None


@dataclass
class _Failure:
    status: int
    method: str | None
    path: str | None
    after_processing: bool
    retry_after: float | None


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def default_price(symbol: str) -> float:
    return round(20.0 + zlib.crc32(symbol.encode()) % 400, 2)


class TradingState:
    """The account behind the trading routes; `FakeAlpaca.trading` is one."""

    def __init__(self, *, cash: float = 100_000.0, clock: Callable[[], float] = time.monotonic):
        self.cash = cash
        self.leverage = 2.0
        self.account_number = "PA3FAKE0001"
        self.prices: dict[str, float] = {}
        self.positions: dict[str, float] = {}
        self.cost: dict[str, float] = {}  # average entry price per position
        self.orders: dict[str, dict] = {}  # Alpaca id -> order JSON
        self.by_client_id: dict[str, str] = {}
        self.activities: list[dict] = []
        self.requests: list[TradingRequest] = []
        self.auto_fill = True
        self.fill_delay = 0.02
        self.fill_parts = 1
        self.rate_limit: int | None = None  # requests per minute before 429
        self.clock = clock
        self._failures: deque[_Failure] = deque()
        self._hang: threading.Event | None = None
        self.hung = threading.Event()  # set once a hung submit has been taken
        self._lock = threading.RLock()
        self._subscribers: list[Callable[[dict], None]] = []
        self._activity_seq = itertools.count(1)
        self._timers: list[threading.Timer] = []

    # --- scripting -----------------------------------------------------------------------------

    def set_price(self, symbol: str, price: float) -> None:
        with self._lock:
            self.prices[symbol] = price
            self._work()

    def set_position(self, symbol: str, qty: float) -> None:
        """Plants a position the platform did not trade (a reconciliation difference)."""
        with self._lock:
            self.positions[symbol] = qty
            self.cost.setdefault(symbol, self.price(symbol))

    def fail(
        self,
        status: int,
        method: str | None = None,
        path: str | None = None,
        *,
        after_processing: bool = False,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests matching (method, path prefix) get `status`; with
        `after_processing` the request is carried out first (an order is taken, then 5xx)."""
        with self._lock:
            for _ in range(times):
                self._failures.append(_Failure(status, method, path, after_processing, retry_after))

    def hang_next_submit(self) -> threading.Event:
        """The next POST /v2/orders is taken and never answered until the returned event is set
        (or the fake stops)."""
        with self._lock:
            self._hang = threading.Event()
            self.hung.clear()
            return self._hang

    def fill_working(self) -> None:
        """Fills every working market order now (with auto_fill off)."""
        with self._lock:
            for order in list(self.orders.values()):
                if order["status"] in OPEN:
                    self._try_fill(order, force=True)

    def expire_day_orders(self) -> None:
        with self._lock:
            for order in self.orders.values():
                if order["status"] in OPEN and order["time_in_force"] == "day":
                    self._set_status(order, "expired", event="expired", stamp="expired_at")

    def orders_for(self, client_order_id: str) -> list[dict]:
        """Every order carrying this client order id (more than one would be a double order)."""
        with self._lock:
            return [o for o in self.orders.values() if o["client_order_id"] == client_order_id]

    def price(self, symbol: str) -> float:
        return self.prices.get(symbol, default_price(symbol))

    @property
    def listeners(self) -> int:
        """Trade-update streams listening now."""
        with self._lock:
            return len(self._subscribers)

    def subscribe(self, send: Callable[[dict], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(send)
        return lambda: self._unsubscribe(send)

    def _unsubscribe(self, send: Callable[[dict], None]) -> None:
        with self._lock:
            if send in self._subscribers:
                self._subscribers.remove(send)

    def stop(self) -> None:
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            if self._hang is not None:
                self._hang.set()

    # --- requests --------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: dict | None) -> tuple[int, Any, dict]:
        """(status, JSON body, extra headers) for one trading request."""
        hang = None
        try:
            with self._lock:
                self._rate_check()
                failure = self._next_failure(method, path)
                if failure is not None and not failure.after_processing:
                    raise TradingRefusal(failure.status, _message(failure.status), headers=_retry(failure))
                status, answer = self._route(method, path, query, body)
                if failure is not None:
                    raise TradingRefusal(failure.status, _message(failure.status), headers=_retry(failure))
                if method == "POST" and path == "/v2/orders" and self._hang is not None:
                    hang, self._hang = self._hang, None
                    self.hung.set()
                self._record(method, path, status, body)
        except TradingRefusal as refusal:
            with self._lock:
                self._record(method, path, refusal.status, body)
            return refusal.status, {"code": refusal.code, "message": refusal.message}, refusal.headers
        if hang is not None:
            hang.wait()
            return 599, {"code": 0, "message": "the fake hung up"}, {}
        return status, answer, {}

    def _record(self, method: str, path: str, status: int, body: dict | None) -> None:
        self.requests.append(TradingRequest(method, path, status, self.clock(), body))

    def _rate_check(self) -> None:
        if self.rate_limit is None:
            return
        now = self.clock()
        recent = [r.at for r in self.requests if r.at > now - 60.0]
        if len(recent) >= self.rate_limit:
            wait = max(0.0, recent[-self.rate_limit] + 60.0 - now)
            raise TradingRefusal(429, "too many requests.", headers={"Retry-After": f"{math.ceil(wait)}"})

    def _next_failure(self, method: str, path: str) -> _Failure | None:
        for k, failure in enumerate(self._failures):
            if (failure.method in (None, method)) and (failure.path is None or path.startswith(failure.path)):
                del self._failures[k]
                return failure
        return None

    def _route(self, method: str, path: str, query: dict[str, str], body: dict | None) -> tuple[int, Any]:
        if (method, path) == ("GET", "/v2/account"):
            return 200, self._account()
        if (method, path) == ("GET", "/v2/positions"):
            return 200, [self._position(s, q) for s, q in sorted(self.positions.items()) if q]
        if (method, path) == ("POST", "/v2/orders"):
            return 200, self._submit(body or {})
        if (method, path) == ("GET", "/v2/orders"):
            wanted = query.get("status", "open")
            orders = [o for o in self.orders.values() if wanted == "all" or (o["status"] in OPEN) == (wanted == "open")]
            return 200, orders[: int(query.get("limit", 500))]
        if (method, path) == ("DELETE", "/v2/orders"):
            answers = []
            for order in list(self.orders.values()):
                if order["status"] in OPEN:
                    self._set_status(order, "canceled", event="canceled", stamp="canceled_at")
                    answers.append({"id": order["id"], "status": 200, "body": None})
            return 207, answers
        if (method, path) == ("GET", "/v2/orders:by_client_order_id"):
            return 200, self._order(self.by_client_id.get(query.get("client_order_id", "")))
        if path.startswith("/v2/orders/"):
            order = self._order(path.removeprefix("/v2/orders/"))
            if method == "GET":
                return 200, order
            if method == "DELETE":
                if order["status"] not in OPEN:
                    raise TradingRefusal(422, f"order is not cancelable (status {order['status']})")
                self._set_status(order, "canceled", event="canceled", stamp="canceled_at")
                return 204, None
            if method == "PATCH":
                return 200, self._replace(order, body or {})
        if (method, path) == ("GET", "/v2/account/activities/FILL"):
            return 200, self._fill_page(query)
        raise TradingRefusal(404, "endpoint not found.")

    def _order(self, alpaca_id: str | None) -> dict:
        if alpaca_id is None or alpaca_id not in self.orders:
            raise TradingRefusal(404, "order not found", code=40410000)
        return self.orders[alpaca_id]

    # --- the account -------------------------------------------------------------------------------

    def _equity(self) -> float:
        return self.cash + sum(q * self.price(s) for s, q in self.positions.items())

    def _gross(self) -> float:
        return sum(abs(q) * self.price(s) for s, q in self.positions.items())

    def _account(self) -> dict:
        equity = self._equity()
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.account_number)),
            "account_number": self.account_number,
            "status": "ACTIVE",
            "currency": "USD",
            "cash": _number(round(self.cash, 6)),
            "equity": _number(round(equity, 6)),
            "portfolio_value": _number(round(equity, 6)),
            "buying_power": _number(round(max(0.0, equity * self.leverage - self._gross()), 6)),
            "multiplier": _number(self.leverage),
            "trading_blocked": False,
            "account_blocked": False,
            "transfers_blocked": False,
            "pattern_day_trader": False,
            "shorting_enabled": True,
            "created_at": "2024-01-02T00:00:00Z",
        }

    def _position(self, symbol: str, qty: float) -> dict:
        price = self.price(symbol)
        crypto = "/" in symbol
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)),
            # Alpaca names a crypto position without the slash of the order's symbol.
            "symbol": symbol.replace("/", "") if crypto else symbol,
            "exchange": "CRYPTO" if crypto else "NASDAQ",
            "asset_class": "crypto" if crypto else "us_equity",
            "avg_entry_price": _number(self.cost.get(symbol, price)),
            "qty": _number(qty),
            "side": "long" if qty > 0 else "short",
            "market_value": _number(qty * price),
            "cost_basis": _number(qty * self.cost.get(symbol, price)),
            "current_price": _number(price),
        }

    # --- orders --------------------------------------------------------------------------------------

    def _submit(self, body: dict) -> dict:
        cid = body.get("client_order_id") or str(uuid.uuid4())
        if cid in self.by_client_id:
            raise TradingRefusal(422, "client_order_id must be unique", code=40010001)
        symbol, side = body.get("symbol"), body.get("side")
        try:
            qty = float(body["qty"])
        except (KeyError, TypeError, ValueError):
            raise TradingRefusal(422, "qty is required") from None
        if not symbol or side not in ("buy", "sell") or qty <= 0:
            raise TradingRefusal(422, "invalid order: symbol, side and a positive qty are required")
        kind, tif = body.get("type", "market"), body.get("time_in_force", "day")
        if qty != int(qty) and "/" not in symbol and tif != "day":
            raise TradingRefusal(422, "fractional orders must be DAY orders", code=42210000)
        if kind == "limit" and body.get("limit_price") is None:
            raise TradingRefusal(422, "limit orders require a limit_price")
        if kind == "stop" and body.get("stop_price") is None:
            raise TradingRefusal(422, "stop orders require a stop_price")
        held = self.positions.get(symbol, 0.0)
        grows = (side == "buy" and held >= 0) or (side == "sell" and held <= 0)
        notional = qty * float(body.get("limit_price") or body.get("stop_price") or self.price(symbol))
        buying_power = max(0.0, self._equity() * self.leverage - self._gross())
        if grows and notional > buying_power:
            raise TradingRefusal(403, "insufficient buying power", code=40310000)
        now = _now()
        order = {
            "id": str(uuid.uuid4()),
            "client_order_id": cid,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "expired_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)),
            "symbol": symbol,
            "asset_class": "crypto" if "/" in symbol else "us_equity",
            "notional": None,
            "qty": _number(qty),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "simple",
            "order_type": kind,
            "type": kind,
            "side": side,
            "time_in_force": tif,
            "limit_price": None if body.get("limit_price") is None else _number(float(body["limit_price"])),
            "stop_price": None if body.get("stop_price") is None else _number(float(body["stop_price"])),
            "status": "new",
            "extended_hours": False,
            "legs": None,
        }
        self.orders[order["id"]] = order
        self.by_client_id[cid] = order["id"]
        self._emit("new", order)
        self._schedule(order)
        return order

    def _replace(self, old: dict, body: dict) -> dict:
        if old["status"] not in OPEN:
            raise TradingRefusal(422, f"order is not replaceable (status {old['status']})")
        cid = body.get("client_order_id") or str(uuid.uuid4())
        if cid in self.by_client_id:
            raise TradingRefusal(422, "client_order_id must be unique", code=40010001)
        remaining = float(old["qty"]) - float(old["filled_qty"])
        terms = {
            "symbol": old["symbol"],
            "side": old["side"],
            "type": old["type"],
            "time_in_force": body.get("time_in_force") or old["time_in_force"],
            "qty": body.get("qty") if body.get("qty") is not None else remaining,
            "limit_price": body.get("limit_price") if body.get("limit_price") is not None else old["limit_price"],
            "stop_price": body.get("stop_price") if body.get("stop_price") is not None else old["stop_price"],
            "client_order_id": cid,
        }
        self._set_status(old, "replaced", event="replaced", stamp="replaced_at")
        new = self._submit(terms)
        new["replaces"], old["replaced_by"] = old["id"], new["id"]
        return new

    def _set_status(self, order: dict, status: str, *, event: str, stamp: str | None = None) -> None:
        now = _now()
        order["status"], order["updated_at"] = status, now
        if stamp:
            order[stamp] = now
        self._emit(event, order)

    def _schedule(self, order: dict) -> None:
        if not self.auto_fill:
            return
        if self.fill_delay <= 0:
            self._try_fill(order)
            return
        timer = threading.Timer(self.fill_delay, self._fill_later, args=(order["id"],))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _fill_later(self, alpaca_id: str) -> None:
        with self._lock:
            order = self.orders.get(alpaca_id)
            if order is not None and order["status"] in OPEN:
                self._try_fill(order)

    def _work(self) -> None:
        for order in list(self.orders.values()):
            if order["status"] in OPEN and order["type"] != "market" and self.auto_fill:
                self._try_fill(order)

    def _try_fill(self, order: dict, *, force: bool = False) -> None:
        price, side = self.price(order["symbol"]), order["side"]
        if order["type"] == "limit":
            limit = float(order["limit_price"])
            if not (price <= limit if side == "buy" else price >= limit):
                return
            price = min(price, limit) if side == "buy" else max(price, limit)
        elif order["type"] == "stop" and not force:
            stop = float(order["stop_price"])
            if not (price >= stop if side == "buy" else price <= stop):
                return
        remaining = float(order["qty"]) - float(order["filled_qty"])
        parts = self.fill_parts if self.fill_parts > 1 and remaining == int(remaining) >= self.fill_parts else 1
        piece = math.floor(remaining / parts)
        for k in range(parts):
            self._book(order, piece if k < parts - 1 else remaining - piece * (parts - 1), price)

    def _book(self, order: dict, qty: float, price: float) -> None:
        sign = 1.0 if order["side"] == "buy" else -1.0
        symbol = order["symbol"]
        held = self.positions.get(symbol, 0.0)
        after = held + sign * qty
        if held == 0 or (held > 0) == (sign > 0):
            self.cost[symbol] = (self.cost.get(symbol, price) * abs(held) + price * qty) / abs(after)
        elif after != 0 and (after > 0) != (held > 0):
            self.cost[symbol] = price
        self.positions[symbol] = after
        self.cash -= sign * qty * price
        before = float(order["filled_qty"])
        filled = before + qty
        avg = ((float(order["filled_avg_price"] or 0.0)) * before + price * qty) / filled
        order["filled_qty"], order["filled_avg_price"] = _number(filled), _number(round(avg, 6))
        done = filled >= float(order["qty"]) - 1e-9
        status = "filled" if done else "partially_filled"
        now = _now()
        order["status"], order["updated_at"] = status, now
        if done:
            order["filled_at"] = now
        seq = next(self._activity_seq)
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
        activity = {
            "id": f"{stamp}::{uuid.UUID(int=seq)}",
            "activity_type": "FILL",
            "transaction_time": now,
            "type": "fill" if done else "partial_fill",
            "price": _number(price),
            "qty": _number(qty),
            "side": order["side"],
            "symbol": symbol,
            "leaves_qty": _number(float(order["qty"]) - filled),
            "order_id": order["id"],
            "cum_qty": _number(filled),
            "order_status": status,
        }
        self.activities.append(activity)
        self._emit("fill" if done else "partial_fill", order, price=price, qty=qty, execution_id=str(uuid.uuid4()))

    def _fill_page(self, query: dict[str, str]) -> list[dict]:
        after = query.get("after")
        rows = list(self.activities)
        if after:
            since = datetime.fromisoformat(after.replace("Z", "+00:00"))
            rows = [a for a in rows if datetime.fromisoformat(a["transaction_time"].replace("Z", "+00:00")) > since]
        if query.get("direction", "desc") == "desc":
            rows.reverse()
        token = query.get("page_token")
        if token:
            ids = [a["id"] for a in rows]
            rows = rows[ids.index(token) + 1 :] if token in ids else []
        return rows[: int(query.get("page_size", 100))]

    def _emit(self, event: str, order: dict, **extra: Any) -> None:
        message = {"stream": "trade_updates", "data": {"event": event, "order": dict(order), "timestamp": _now()}}
        for key in ("price", "qty"):
            if key in extra:
                message["data"][key] = _number(extra[key])
        if "execution_id" in extra:
            message["data"]["execution_id"] = extra["execution_id"]
            message["data"]["position_qty"] = _number(self.positions.get(order["symbol"], 0.0))
        for send in list(self._subscribers):
            try:
                send(message)
            except Exception:  # noqa: BLE001 - a closed subscriber is dropped, the fake goes on
                self._unsubscribe(send)


def _message(status: int) -> str:
    return {
        401: "request is not authorized",
        403: "forbidden",
        429: "too many requests.",
        500: "internal server error occurred",
        502: "bad gateway",
        503: "service unavailable",
        504: "gateway timeout",
    }.get(status, "error")


def _retry(failure: _Failure) -> dict[str, str]:
    return {"Retry-After": _number(failure.retry_after)} if failure.retry_after is not None else {}


def stream_handler(state: TradingState, key_id: str, secret_key: str) -> Callable[[Any], None]:
    """A websockets (sync server) handler speaking Alpaca's trade-updates protocol:
    authenticate, listen to trade_updates, then receive every order event as JSON."""

    def handler(connection: Any) -> None:
        lock = threading.Lock()

        def send(message: dict) -> None:
            with lock:
                connection.send(json.dumps(message))

        try:
            auth = json.loads(connection.recv(timeout=10))
            data = auth.get("data") or {}
            if auth.get("action") != "authenticate" or (data.get("key_id"), data.get("secret_key")) != (
                key_id,
                secret_key,
            ):
                send({"stream": "authorization", "data": {"status": "unauthorized", "action": "authenticate"}})
                return
            send({"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}})
            listen = json.loads(connection.recv(timeout=10))
            streams = (listen.get("data") or {}).get("streams") or []
            send({"stream": "listening", "data": {"streams": streams}})
            unsubscribe = state.subscribe(send) if "trade_updates" in streams else (lambda: None)
            try:
                for _ in connection:  # nothing else is expected; this ends when the client leaves
                    pass
            finally:
                unsubscribe()
        except Exception:  # noqa: BLE001 - a client that goes away mid-handshake ends its handler
            return

    return handler
