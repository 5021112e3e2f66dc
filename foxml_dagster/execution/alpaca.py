"""Alpaca as a broker: alpaca-py's `TradingClient` for orders, positions and the account, its
`TradingStream` (a websocket) for trade updates while orders work.

- **Endpoint.** Paper (paper-api.alpaca.markets) unless the experiment says `mode: live`, and
  live needs the environment switch too (`connect.make_broker`). Keys come from the environment
  variables `execution.alpaca.key_env` / `secret_env`, never from a file, and are never part of
  a message this module writes.
- **Idempotence.** Orders carry the plan's client order id. Alpaca refuses an id it has seen
  (422, even after that order was cancelled); `submit` then answers with the order it holds
  (`duplicate=True`). An order whose POST failed without an answer (a timeout, a 5xx) is looked
  up by its id before it is sent again, so a retry never doubles it.
- **Refusals** (403: buying power, shorting, a closed market; 422: invalid terms, a fractional
  order that is not DAY) are `rejected` orders carrying Alpaca's message; 401 (keys refused) is
  a `BrokerError` that stops the cycle.
- **Rate limit.** Alpaca allows 200 requests a minute per account. Requests are held to
  `max_requests_per_minute` before they are sent (`pacing.RateLimiter`); a 429 anyway (another
  program on the account) waits out `Retry-After` (or `retry_wait_seconds`) and tries again, up
  to `max_attempts`, as do 5xx answers and dropped connections.
- **Fills** are Alpaca's FILL account activities (`GET /v2/account/activities/FILL`, which
  alpaca-py has no method for, so it goes through the client's own `get`): their ids are stable,
  so a fill read twice is booked once.

alpaca-py is imported inside functions: it costs about 1.5 s, and loading the experiment config
should not pay it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from foxml_dagster.execution.broker import Account, BrokerError, BrokerFill, BrokerOrder, OrderTicket
from foxml_dagster.execution.config import AlpacaTrading
from foxml_dagster.execution.orders import OrderStatus
from foxml_dagster.execution.pacing import RateLimiter

if TYPE_CHECKING:
    from alpaca.trading.client import TradingClient
    from alpaca.trading.models import Order

__all__ = ["AlpacaBroker", "AlpacaTradingError", "alpaca_status", "read_keys"]

log = logging.getLogger(__name__)
S = OrderStatus

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_HOST = "api.alpaca.markets"  # the live endpoint's host; the paper one is paper-api.alpaca.markets
RETRIED = (429, 500, 502, 503, 504)
_POLL_SECONDS = 1.0  # how often wait_for_final asks REST, in case the stream missed an update

# Alpaca's order states in the order manager's terms. Pending changes (a cancel or replace not
# yet confirmed) leave an order working: only the confirmation ends it.
_STATUS = {
    "new": S.ACCEPTED,
    "accepted": S.ACCEPTED,
    "pending_new": S.ACCEPTED,
    "accepted_for_bidding": S.ACCEPTED,
    "held": S.ACCEPTED,
    "calculated": S.ACCEPTED,
    "stopped": S.ACCEPTED,
    "suspended": S.ACCEPTED,
    "pending_cancel": S.ACCEPTED,
    "pending_replace": S.ACCEPTED,
    "pending_review": S.ACCEPTED,
    "done_for_day": S.ACCEPTED,
    "partially_filled": S.PARTIALLY_FILLED,
    "filled": S.FILLED,
    "canceled": S.CANCELLED,
    "replaced": S.CANCELLED,
    "expired": S.EXPIRED,
    "rejected": S.REJECTED,
}
_FINAL = frozenset({S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED})


def alpaca_status(status: object) -> OrderStatus:
    """Alpaca's order status (enum or text) as an order manager status."""
    text = str(getattr(status, "value", status))
    if text not in _STATUS:
        raise BrokerError(f"Alpaca reported an order status this version does not know: {text!r}")
    return _STATUS[text]


def read_keys(settings: AlpacaTrading) -> tuple[str, str]:
    """(key id, secret) from the environment; the error names the variables, never a value."""
    values = {name: os.environ.get(name) or None for name in (settings.key_env, settings.secret_env)}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise BrokerError(
            f"Alpaca trading needs an API key and secret: set {' and '.join(missing)} in the environment of "
            "the run (the variable names are execution.alpaca.key_env and secret_env; keys are never read "
            "from a file). Paper and live accounts have different keys."
        )
    return values[settings.key_env], values[settings.secret_env]  # type: ignore[return-value]


class AlpacaTradingError(BrokerError):
    """A request Alpaca did not answer usefully after the retries allowed; `status` is the last
    HTTP status (None: no answer at all)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class _Refused(Exception):
    """Alpaca refused a request (403, 404, 422): an order's refusal, or an id it does not hold."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class AlpacaBroker:
    """An Alpaca account (see the module docstring).

    Args:
        settings: `execution.alpaca`.
        live: trade the live endpoint (the caller checked both switches).
        symbols: the universe's names, so positions come back under them (Alpaca reports a
            crypto position as BTCUSD for an order on BTC/USD).
        clock, sleep: injectable for tests of the rate limit and retries.
    """

    name = "alpaca"

    def __init__(
        self,
        settings: AlpacaTrading,
        *,
        live: bool = False,
        symbols: Collection[str] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        from alpaca.trading.client import TradingClient

        if not live and settings.url_override and LIVE_HOST in settings.url_override.split("//")[-1].split("/")[0]:
            raise BrokerError(
                f"execution.alpaca.url_override points at Alpaca's live endpoint ({settings.url_override}) while "
                "execution.mode is paper; remove the override (paper is the default endpoint)"
            )
        self.settings = settings
        self.live = live
        self._sleep = sleep
        self._names = {s.replace("/", ""): s for s in symbols}
        self.limiter = RateLimiter(settings.max_requests_per_minute, 60.0, clock=clock, sleep=sleep)
        key, secret = read_keys(settings)
        client = TradingClient(api_key=key, secret_key=secret, paper=not live, url_override=settings.url_override)
        # alpaca-py retries 429 and 504 by itself, blind to idempotence and Retry-After, and sets
        # no timeout; both are ours here. These are RESTClient internals (alpaca-py 0.44).
        internals = ("_retry", "_retry_codes", "_session", "_base_url")
        missing = [name for name in internals if not hasattr(client, name)]
        if missing:
            raise BrokerError(
                f"alpaca-py's client no longer has {missing}; foxml_dagster.execution.alpaca needs updating"
            )
        client._retry = 0
        client._retry_codes = []
        client._session.request = partial(client._session.request, timeout=settings.timeout_seconds)
        self._client: TradingClient = client
        self.endpoint = str(getattr(client._base_url, "value", client._base_url))
        self._orders: dict[str, tuple[str, datetime]] = {}  # client id -> (Alpaca id, submitted at)
        self._final: dict[str, OrderStatus] = {}  # from the stream: orders it saw end
        self._updated = threading.Condition()
        self.stream_updates = 0
        self._stream: Any = None
        self._stream_thread: threading.Thread | None = None
        self.poll_seconds = _POLL_SECONDS
        if settings.stream:
            self._start_stream(key, secret)

    # --- requests ------------------------------------------------------------------------------

    def _request(
        self, what: str, call: Callable[[], Any], *, retry: bool = True, refused: tuple[int, ...] = (404,)
    ) -> Any:
        """One REST call under the rate limit; 429, 5xx and dropped connections are tried again
        (when `retry`) up to `max_attempts`, then raise AlpacaTradingError, as 401 and 403 (keys
        refused) do at once; the statuses in `refused` (an order's refusal: 403, 422; an id Alpaca
        does not hold: 404) raise _Refused."""
        from alpaca.common.exceptions import APIError
        from requests import RequestException

        s = self.settings
        attempt = 0
        while True:
            attempt += 1
            self.limiter.acquire()
            try:
                return call()
            except APIError as exc:
                status, message = exc.status_code, _message(exc)
                if status in refused:
                    raise _Refused(status, message) from None
                if status in (401, 403):
                    raise AlpacaTradingError(
                        f"Alpaca refused the API keys ({what}: HTTP {status} {message}); check {s.key_env} and "
                        f"{s.secret_env}, and that they belong to a {'live' if self.live else 'paper'} account",
                        status=status,
                    ) from None
                if status in RETRIED and retry and attempt < s.max_attempts:
                    wait = _retry_after(exc) if status == 429 else None
                    wait = s.retry_wait_seconds if wait is None else wait
                    if status == 429:
                        self.limiter.back_off(wait)
                    else:
                        self._sleep(wait)
                    log.warning(
                        "Alpaca %s: HTTP %s (%s); attempt %d of %d", what, status, message, attempt, s.max_attempts
                    )
                    continue
                raise AlpacaTradingError(
                    f"Alpaca {what}: HTTP {status} {message} after {attempt} attempt(s); "
                    + (
                        "Alpaca is rate limiting this account: lower execution.alpaca.max_requests_per_minute "
                        "(other programs may share the allowance)"
                        if status == 429
                        else "try again later, or raise execution.alpaca.max_attempts / retry_wait_seconds"
                    ),
                    status=status,
                ) from None
            except RequestException as exc:
                if retry and attempt < s.max_attempts:
                    log.warning("Alpaca %s: %s; attempt %d of %d", what, type(exc).__name__, attempt, s.max_attempts)
                    self._sleep(s.retry_wait_seconds)
                    continue
                raise AlpacaTradingError(
                    f"Alpaca {what}: cannot reach {self.endpoint} ({type(exc).__name__}) after {attempt} attempt(s); "
                    "check the network, or execution.alpaca.url_override"
                ) from None

    def _order_by_client_id(self, cid: str) -> Order | None:
        try:
            return self._request(f"order {cid}", partial(self._client.get_order_by_client_id, cid), refused=(404, 422))
        except _Refused as refused:
            if refused.status in (404, 422):
                return None
            raise AlpacaTradingError(f"Alpaca order {cid}: HTTP {refused.status} {refused.message}") from None

    def _view(self, order: Order, *, duplicate: bool = False) -> BrokerOrder:
        cid = order.client_order_id
        self._orders[cid] = (str(order.id), order.submitted_at)
        status = alpaca_status(order.status)
        reason = None
        if order.status and str(getattr(order.status, "value", order.status)) == "replaced":
            reason = f"replaced (by Alpaca order {order.replaced_by})"
        return BrokerOrder(
            client_order_id=cid,
            broker_order_id=str(order.id),
            symbol=self._name(order.symbol or ""),
            side=str(getattr(order.side, "value", order.side)),
            qty=float(order.qty or 0.0),
            status=status,
            filled_qty=float(order.filled_qty or 0.0),
            avg_fill_price=float(order.filled_avg_price) if order.filled_avg_price else None,
            reason=reason,
            updated_at=order.updated_at,
            order_type=str(getattr(order.type, "value", order.type) or "market"),
            limit_price=float(order.limit_price) if order.limit_price else None,
            stop_price=float(order.stop_price) if order.stop_price else None,
            time_in_force=str(getattr(order.time_in_force, "value", order.time_in_force)),
            duplicate=duplicate,
        )

    def _name(self, alpaca_symbol: str) -> str:
        return self._names.get(alpaca_symbol.replace("/", ""), alpaca_symbol)

    # --- the Broker interface ------------------------------------------------------------------

    def account(self) -> Account:
        acct = self._request("account", self._client.get_account)
        if acct.trading_blocked or acct.account_blocked:
            raise BrokerError(
                f"Alpaca account {acct.account_number} is blocked from trading (trading_blocked="
                f"{acct.trading_blocked}, account_blocked={acct.account_blocked}); see the Alpaca dashboard"
            )
        return Account(
            cash=float(acct.cash or 0.0),
            equity=float(acct.equity or 0.0),
            buying_power=float(acct.buying_power or 0.0),
            currency=acct.currency or "USD",
        )

    def positions(self) -> dict[str, float]:
        held = {}
        for p in self._request("positions", self._client.get_all_positions):
            qty = abs(float(p.qty))
            side = str(getattr(p.side, "value", p.side))
            if qty:
                held[self._name(p.symbol)] = -qty if side == "short" else qty
        return held

    def open_orders(self) -> list[BrokerOrder]:
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        request = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500, nested=False)
        return [self._view(o) for o in self._request("open orders", partial(self._client.get_orders, request))]

    def orders(self, client_order_ids: Collection[str]) -> list[BrokerOrder]:
        found = (self._order_by_client_id(cid) for cid in client_order_ids)
        return [self._view(o) for o in found if o is not None]

    def fills(self, client_order_ids: Collection[str]) -> list[BrokerFill]:
        wanted = [cid for cid in client_order_ids]
        unknown = [cid for cid in wanted if cid not in self._orders]
        self.orders(unknown)  # learns their Alpaca ids
        by_alpaca_id = {self._orders[cid][0]: cid for cid in wanted if cid in self._orders}
        if not by_alpaca_id:
            return []
        since = min(self._orders[by_alpaca_id[i]][1] for i in by_alpaca_id) - timedelta(seconds=1)
        fills = []
        for activity in self._fill_activities(since):
            cid = by_alpaca_id.get(str(activity.get("order_id")))
            if cid is None:
                continue
            fills.append(
                BrokerFill(
                    fill_id=str(activity["id"]),
                    client_order_id=cid,
                    broker_order_id=str(activity["order_id"]),
                    symbol=self._name(str(activity.get("symbol", ""))),
                    side=str(activity["side"]).replace("sell_short", "sell"),
                    qty=abs(float(activity["qty"])),
                    price=float(activity["price"]),
                    fee=0.0,  # Alpaca charges no commission on these fills (fees are other activities)
                    ts=datetime.fromisoformat(str(activity["transaction_time"]).replace("Z", "+00:00")),
                )
            )
        return fills

    def _fill_activities(self, since: datetime) -> list[dict]:
        """Every FILL activity after `since`, oldest first, following Alpaca's pages."""
        activities: list[dict] = []
        params: dict[str, Any] = {"after": since.astimezone(UTC).isoformat(), "direction": "asc", "page_size": 100}
        while True:
            page = self._request("fill activities", partial(self._client.get, "/account/activities/FILL", params))
            page = page or []
            activities.extend(page)
            if len(page) < params["page_size"]:
                return activities
            params = {**params, "page_token": page[-1]["id"]}

    def submit(self, ticket: OrderTicket) -> BrokerOrder:
        try:
            request = self._order_request(ticket)
        except ValueError as exc:  # alpaca-py refused the terms before sending
            return BrokerOrder.refused(ticket, f"alpaca-py refused the order's terms: {exc}")
        s = self.settings
        for attempt in range(1, s.max_attempts + 1):
            try:
                order = self._request(
                    f"submit {ticket.client_order_id}",
                    partial(self._client.submit_order, request),
                    retry=False,
                    refused=(403, 422),
                )
                return self._view(order)
            except _Refused as refused:
                if refused.status == 422 and _is_duplicate(refused.message):
                    existing = self._order_by_client_id(ticket.client_order_id)
                    if existing is not None:
                        return self._view(existing, duplicate=True)
                return BrokerOrder.refused(ticket, f"HTTP {refused.status}: {refused.message}")
            except AlpacaTradingError as exc:
                if exc.status is not None and exc.status not in RETRIED:
                    raise  # keys refused: nothing was taken, and nothing will be
                # No answer, a 429 or a 5xx: Alpaca may or may not hold the order. Ask before
                # sending again; the id makes a second send harmless all the same.
                if exc.status == 429:
                    self.limiter.back_off(s.retry_wait_seconds)
                elif attempt < s.max_attempts:
                    self._sleep(s.retry_wait_seconds)
                existing = self._order_by_client_id(ticket.client_order_id)
                if existing is not None:
                    return self._view(existing)
                if attempt == s.max_attempts:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    def _order_request(self, ticket: OrderTicket) -> Any:
        from alpaca.trading.enums import OrderSide, TimeInForce
        from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, StopOrderRequest

        common = dict(
            symbol=ticket.symbol,
            qty=ticket.qty,
            side=OrderSide(ticket.side),
            time_in_force=TimeInForce(ticket.time_in_force),
            client_order_id=ticket.client_order_id,
        )
        if ticket.order_type == "limit":
            return LimitOrderRequest(limit_price=ticket.limit_price, **common)
        if ticket.order_type == "stop":
            return StopOrderRequest(stop_price=ticket.stop_price, **common)
        return MarketOrderRequest(**common)

    def cancel(self, client_order_id: str) -> BrokerOrder | None:
        order = self._order_by_client_id(client_order_id)
        if order is None:
            return None
        if alpaca_status(order.status) in _FINAL:
            return self._view(order)
        # A 422 means it is no longer cancelable (it filled meanwhile); the order read below says how it ended.
        with contextlib.suppress(_Refused):
            call = partial(self._client.cancel_order_by_id, order.id)
            self._request(f"cancel {client_order_id}", call, refused=(404, 422))
        return self._view(self._order_by_client_id(client_order_id) or order)

    def cancel_all(self) -> list[BrokerOrder]:
        open_now = self.open_orders()
        self._request("cancel all orders", self._client.cancel_orders)
        return [o for o in self.orders([o.client_order_id for o in open_now])]

    def replace(
        self,
        client_order_id: str,
        new_client_order_id: str,
        *,
        qty: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> BrokerOrder:
        from alpaca.trading.requests import ReplaceOrderRequest

        existing = self._order_by_client_id(new_client_order_id)
        if existing is not None:
            return self._view(existing, duplicate=True)
        old = self._order_by_client_id(client_order_id)
        if old is None or alpaca_status(old.status) in _FINAL:
            why = "unknown to Alpaca" if old is None else str(getattr(old.status, "value", old.status))
            return BrokerOrder(
                new_client_order_id, None, "", "", float(qty or 0.0), S.REJECTED, 0.0, None,
                f"cannot replace order {client_order_id}: it is {why}", None,
            )  # fmt: skip
        if qty is not None and qty != math.floor(qty):
            return BrokerOrder(
                new_client_order_id, None, self._name(old.symbol or ""), str(old.side.value), qty, S.REJECTED, 0.0,
                None, "Alpaca replaces whole-share quantities only; cancel and submit a new order instead", None,
            )  # fmt: skip
        request = ReplaceOrderRequest(
            qty=int(qty) if qty is not None else None,
            limit_price=limit_price,
            stop_price=stop_price,
            client_order_id=new_client_order_id,
        )
        try:
            new = self._request(
                f"replace {client_order_id}", partial(self._client.replace_order_by_id, old.id, request)
            )
        except _Refused as refused:
            return BrokerOrder(
                new_client_order_id, None, self._name(old.symbol or ""), str(old.side.value), float(qty or 0.0),
                S.REJECTED, 0.0, None, f"HTTP {refused.status}: {refused.message}", None,
            )  # fmt: skip
        return self._view(new)

    # --- the trade-update stream ---------------------------------------------------------------

    def stream_url(self) -> str:
        """Alpaca serves the stream at /stream on the REST host; an override of the REST host
        moves it along unless `stream_url_override` says otherwise."""
        s = self.settings
        if s.stream_url_override:
            return s.stream_url_override
        base = self.endpoint.rstrip("/")
        return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/stream"

    def _start_stream(self, key: str, secret: str) -> None:
        from alpaca.trading.stream import TradingStream

        stream = TradingStream(key, secret, paper=not self.live, url_override=self.stream_url())
        stream._reconnect_max_backoff = 5.0  # a cycle lasts seconds; alpaca-py's 30 s is for daemons
        stream.subscribe_trade_updates(self._on_update)
        self._stream = stream
        self._stream_thread = threading.Thread(target=stream.run, name="alpaca-trade-updates", daemon=True)
        self._stream_thread.start()

    async def _on_update(self, update: Any) -> None:
        cid = update.order.client_order_id
        status = alpaca_status(update.order.status)
        with self._updated:
            self.stream_updates += 1
            if status in _FINAL:
                self._final[cid] = status
            self._updated.notify_all()

    def wait_for_final(self, client_order_ids: Collection[str], timeout: float) -> None:
        """Returns once every order is final (filled, cancelled, expired, rejected) or `timeout`
        passed: woken by the trade-update stream, checked over REST every `poll_seconds` in case
        the stream missed an update (it does not replay what happened before it connected)."""
        deadline = time.monotonic() + timeout
        remaining = set(client_order_ids)
        next_poll = 0.0
        while remaining:
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= next_poll:
                remaining -= {o.client_order_id for o in self.orders(sorted(remaining)) if o.status in _FINAL}
                next_poll = time.monotonic() + self.poll_seconds
                continue
            with self._updated:
                remaining -= set(self._final)
                if remaining:
                    self._updated.wait(timeout=max(0.0, min(next_poll, deadline) - time.monotonic()))
                remaining -= set(self._final)

    def close(self) -> None:
        """Stops the stream (its thread ends within a second)."""
        stream, thread = self._stream, self._stream_thread
        self._stream = self._stream_thread = None
        if stream is None or thread is None:
            return
        # alpaca-py drops a stop request that arrives while its loop is still starting up, so
        # wait (briefly) for the stream to be connected before asking it to stop.
        deadline = time.monotonic() + 1.0
        while not stream._running and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        loop = stream._loop
        if loop is not None and loop.is_running():
            # stop_ws ends the run loop; closing the socket wakes the pending receive at once.
            asyncio.run_coroutine_threadsafe(stream.stop_ws(), loop)
            asyncio.run_coroutine_threadsafe(stream.close(), loop)
        thread.join(timeout=5.0)

    def __del__(self) -> None:  # a broker dropped without close() must not leave its stream running
        with contextlib.suppress(Exception):  # interpreter shutdown: nothing left to report to
            self.close()


def _is_duplicate(message: str) -> bool:
    text = message.lower()
    return "client_order_id" in text and ("unique" in text or "duplicate" in text or "already" in text)


def _message(exc: Any) -> str:
    try:
        return str(exc.message)
    except (ValueError, KeyError, TypeError):
        return str(exc)[:300] or "(empty response)"


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
