"""A fake Alpaca market-data server for tests: real HTTP on 127.0.0.1, no network.

It answers the two routes alpaca-py's historical bar clients call,

    GET /v2/stocks/bars           (APCA-API-KEY-ID / APCA-API-SECRET-KEY headers required)
    GET /v1beta3/crypto/us/bars   (anonymous allowed; keys, when sent, must be right)

with the query parameters Alpaca takes (symbols, timeframe, start, end, limit, page_token,
adjustment, feed, sort) and Alpaca's reply shape: {"bars": {symbol: [{t o h l c v n vw}]},
"next_page_token": str | null}. Errors carry Alpaca's JSON body {"code", "message"}.

Every bar is a function of (symbol, timestamp) alone, so the same bar has the same values in any
request and a test can compute what a window should contain with `expected_bars`. Stocks trade
weekdays 14:30-21:00 UTC (daily bars at 05:00 UTC); crypto trades around the clock (daily bars at
00:00 UTC). Pages hold min(limit, max_page_size) bars; the page token is opaque, as Alpaca's is.

Scripting: `fail_next(429, 503)` answers the next requests with those statuses, `fail_always(503)`
answers every request with one, `reject_symbol("XXXX")` makes a symbol a 422, and every request
is recorded in `requests` (path, query, headers, status) so tests can assert paging and retries.

The same server answers Alpaca's trading API (account, positions, orders, fills) and serves the
trade-updates websocket on a second port (`stream_url`): `fake.trading` is that account, with its
own scripting (tests/fakes/alpaca_trading.py).
"""

from __future__ import annotations

import base64
import json
import math
import re
import socket
import threading
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import serve as serve_websocket

from tests.fakes.alpaca_trading import TradingState, stream_handler

STOCKS_PATH = "/v2/stocks/bars"
CRYPTO_PATH = "/v1beta3/crypto/us/bars"
DEFAULT_LIMIT = 1000  # Alpaca's page size when a request sends no limit
MAX_LIMIT = 10_000
SESSION_OPEN = timedelta(hours=14, minutes=30)
SESSION_CLOSE = timedelta(hours=21)
ADJUSTMENTS = {"raw", "split", "dividend", "all"}
FEEDS = {"iex", "sip", "delayed_sip", "otc", "boats", "overnight"}
_TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D)$")
_STEP = {"Min": 60, "T": 60, "Hour": 3600, "H": 3600, "Day": 86400, "D": 86400}
_MESSAGES = {
    401: "unauthorized.",
    403: "forbidden.",
    404: "endpoint not found.",
    429: "too many requests.",
    500: "internal server error occurred",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


class _Refusal(Exception):
    def __init__(self, status: int, message: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message or _MESSAGES.get(status, "error")


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


def _step_seconds(timeframe: str) -> int:
    match = _TIMEFRAME.match(timeframe)
    if match is None:
        raise _Refusal(422, f"invalid timeframe: {timeframe}")
    return int(match[1]) * _STEP[match[2]]


def _parse_time(text: str, field_name: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _Refusal(422, f"invalid {field_name}: {text}") from None
    if parsed.tzinfo is None:
        raise _Refusal(422, f"invalid {field_name}: {text} (no time zone)")
    return parsed.astimezone(UTC)


def _timestamps(asset_class: str, step: int, start: datetime, end: datetime) -> list[datetime]:
    """Bar open times in [start, end] on the asset class's calendar, ascending."""
    out: list[datetime] = []
    day = start.date()
    while day <= end.date():
        midnight = datetime.combine(day, datetime.min.time(), UTC)
        if asset_class == "stocks" and day.weekday() >= 5:
            slots: list[datetime] = []
        elif step >= 86400:
            slots = [midnight + (timedelta(hours=5) if asset_class == "stocks" else timedelta())]
        elif asset_class == "stocks":
            first = math.ceil(SESSION_OPEN.total_seconds() / step) * step
            slots = [midnight + timedelta(seconds=s) for s in range(first, int(SESSION_CLOSE.total_seconds()), step)]
        else:
            slots = [midnight + timedelta(seconds=s) for s in range(0, 86400, step)]
        out.extend(t for t in slots if start <= t <= end)
        day += timedelta(days=1)
    return out


def _price(symbol: str, t: datetime) -> float:
    """A smooth deterministic price path per symbol, positive everywhere."""
    seed = zlib.crc32(symbol.encode())
    level = 20.0 + seed % 400
    hours = t.timestamp() / 3600.0
    return round(level * (1.0 + 0.05 * math.sin(hours / 37.0 + seed % 17) + 0.01 * math.sin(hours * 1.3)), 4)


def make_bar(asset_class: str, symbol: str, t: datetime, step: int) -> dict[str, Any]:
    """The bar of `symbol` opening at `t`: OHLC consistent, volume whole for stocks, fractional for crypto."""
    open_, close = _price(symbol, t), _price(symbol, t + timedelta(seconds=step))
    seed = zlib.crc32(f"{symbol}{t.isoformat()}".encode())
    volume: float = 100 + seed % 5000 if asset_class == "stocks" else round((seed % 100_000) / 7919.0, 6)
    return {
        "t": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "o": open_,
        "h": round(max(open_, close) * 1.002, 4),
        "l": round(min(open_, close) * 0.998, 4),
        "c": close,
        "v": volume,
        "n": 1 + seed % 97,
        "vw": round((open_ + close) / 2, 4),
    }


def expected_bars(asset_class: str, symbol: str, timeframe: str, start: datetime, end: datetime) -> list[dict]:
    """What the fake serves for one symbol over [start, end], all pages together."""
    step = _step_seconds(timeframe)
    return [make_bar(asset_class, symbol, t, step) for t in _timestamps(asset_class, step, start, end)]


def _token(symbol: str, t: str) -> str:
    return base64.urlsafe_b64encode(f"{symbol}|{t}".encode()).decode()


def _untoken(token: str) -> tuple[str, str]:
    try:
        symbol, t = base64.urlsafe_b64decode(token.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        raise _Refusal(422, f"invalid page_token: {token}") from None
    return symbol, t


@dataclass
class FakeAlpaca:
    """The server's state; start it with `with FakeAlpaca() as fake:` and point clients at `fake.url`."""

    key_id: str = "fake-key-id"
    secret_key: str = "fake-secret-key"
    max_page_size: int = MAX_LIMIT  # the server's own cap on a page, whatever limit asks
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: deque[int | None] = field(default_factory=deque)  # None: answer normally
    _always: int | None = None
    _rejected: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    trading: TradingState = field(default_factory=TradingState)
    _stream_server: Any = None

    # --- scripting -------------------------------------------------------------------------
    def fail_next(self, *statuses: int, after: int = 0) -> None:
        """Answer the next requests with these statuses, once `after` more requests have passed."""
        with self._lock:
            self._failures.extend([None] * after + list(statuses))

    def fail_always(self, status: int | None) -> None:
        with self._lock:
            self._always = status

    def reject_symbol(self, symbol: str, message: str | None = None) -> None:
        with self._lock:
            self._rejected[symbol] = message or f"invalid symbol: {symbol}"

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first (with FakeAlpaca() as fake: ...)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def stream_url(self) -> str:
        """The trade-updates websocket (execution.alpaca.stream_url_override)."""
        assert self._stream_server is not None, "start the fake first (with FakeAlpaca() as fake: ...)"
        host, port = self._stream_server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/stream"

    def __enter__(self) -> FakeAlpaca:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll keeps shutdown() (which waits for the next poll) from costing each test 0.5 s.
        serve = partial(self._server.serve_forever, poll_interval=0.02)
        threading.Thread(target=serve, name="fake-alpaca", daemon=True).start()
        self._stream_server = serve_websocket(
            stream_handler(self.trading, self.key_id, self.secret_key), "127.0.0.1", 0
        )
        threading.Thread(target=self._stream_server.serve_forever, name="fake-alpaca-stream", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self.trading.stop()
        self._server.shutdown()
        self._server.server_close()
        if self._stream_server is not None:
            self._stream_server.shutdown()

    def trade(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: dict | None):
        """(status, JSON body, extra headers) of one trading request; keys as for stock bars."""
        key, secret = headers.get("apca-api-key-id"), headers.get("apca-api-secret-key")
        if key is None and secret is None:
            return 401, {"code": 40110000, "message": "request is not authorized"}, {}
        if (key, secret) != (self.key_id, self.secret_key):
            return 403, {"code": 40310000, "message": "forbidden"}, {}
        return self.trading.handle(method, path, query, body)

    # --- answering ---------------------------------------------------------------------------
    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, dict]:
        try:
            body = self._bars(path, query, headers)
            status = 200
        except _Refusal as refusal:
            status, body = refusal.status, {"code": refusal.status * 100_000, "message": refusal.message}
        with self._lock:
            self.requests.append(RecordedRequest(path, query, headers, status))
        return status, body

    def _bars(self, path: str, query: dict[str, str], headers: dict[str, str]) -> dict:
        if path not in (STOCKS_PATH, CRYPTO_PATH):
            raise _Refusal(404)
        asset_class = "stocks" if path == STOCKS_PATH else "crypto"
        self._check_keys(asset_class, headers)
        with self._lock:
            scripted = self._failures.popleft() if self._failures else self._always
            rejected = dict(self._rejected)
        if scripted is not None:
            raise _Refusal(scripted)

        symbols = [s for s in query.get("symbols", "").split(",") if s]
        if not symbols:
            raise _Refusal(422, "symbols is required")
        for symbol in symbols:
            if symbol in rejected:
                raise _Refusal(422, rejected[symbol])
        if "timeframe" not in query:
            raise _Refusal(422, "timeframe is required")
        step = _step_seconds(query["timeframe"])
        if asset_class == "stocks":
            if query.get("adjustment", "raw") not in ADJUSTMENTS:
                raise _Refusal(422, f"invalid adjustment: {query['adjustment']}")
            if query.get("feed", "iex") not in FEEDS:
                raise _Refusal(422, f"invalid feed: {query['feed']}")
        now = datetime.now(UTC)
        start = _parse_time(query["start"], "start") if "start" in query else now.replace(hour=0, minute=0, second=0)
        end = _parse_time(query["end"], "end") if "end" in query else now
        if start > end:
            raise _Refusal(422, "end should not be before start.")
        try:
            limit = int(query.get("limit", DEFAULT_LIMIT))
        except ValueError:
            raise _Refusal(422, f"invalid limit: {query['limit']}") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise _Refusal(422, f"invalid limit: exceeds {MAX_LIMIT} or below 1")

        # Alpaca pages a multi-symbol request symbol by symbol, each in time order.
        rows = [
            (symbol, make_bar(asset_class, symbol, t, step))
            for symbol in sorted(set(symbols))
            for t in _timestamps(asset_class, step, start, end)
        ]
        offset = 0
        if query.get("page_token"):
            position = _untoken(query["page_token"])
            offset = next((i for i, (s, bar) in enumerate(rows) if (s, bar["t"]) >= position), len(rows))
        page = rows[offset : offset + min(limit, self.max_page_size)]
        rest = rows[offset + len(page) :]
        bars: dict[str, list[dict]] = {}
        for symbol, bar in page:
            bars.setdefault(symbol, []).append(bar)
        next_token = _token(rest[0][0], rest[0][1]["t"]) if rest else None
        return {"bars": bars, "next_page_token": next_token}

    def _check_keys(self, asset_class: str, headers: dict[str, str]) -> None:
        key, secret = headers.get("apca-api-key-id"), headers.get("apca-api-secret-key")
        if key is None and secret is None:
            if asset_class == "crypto":
                return
            raise _Refusal(401)
        if (key, secret) != (self.key_id, self.secret_key):
            raise _Refusal(403)


def _is_trading(path: str) -> bool:
    return path.startswith("/v2/") and path != STOCKS_PATH


def _handler_for(fake: FakeAlpaca) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as requests' session expects of Alpaca

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without this, Nagle's algorithm holds the
            # body until the client's delayed ACK (40 ms a request on a kept-alive connection).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            extra: dict[str, str] = {}
            if _is_trading(parts.path):
                body = json.loads(raw) if raw else None
                status, answer, extra = fake.trade(method, parts.path, query, headers, body)
                if status == 599:  # a hung request released at shutdown: drop the connection
                    self.close_connection = True
                    return
            elif method == "GET":
                status, answer = fake.answer(parts.path, query, headers)
            else:
                status, answer = 405, {"code": 40500000, "message": "method not allowed"}
            payload = b"" if status == 204 else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass  # keep test output quiet; requests are recorded on the fake instead

    return Handler
