"""A fake TWS / IB Gateway for tests: IB's real socket protocol on 127.0.0.1, no network.

It speaks as much of the TWS API wire protocol as ib_async 2.1's `IB.connect()` and
`IB.reqHistoricalData()` use, at server version 178:

- handshake: the client sends b"API\\0" then a length-prefixed "v<min>..<max>"; the server
  answers its version and connection time; the client's startApi (71) is answered with
  nextValidId (9), managedAccounts (15) and the usual "farm connection is OK" notices (error
  2104/2106 with reqId -1, which clients treat as information);
- reqPositions (61) -> positionEnd (62), the one start-up request ib_async always sends;
- reqHistoricalData (20) -> historicalData (17): request id, start and end text, bar count,
  then per bar date, open, high, low, close, volume, WAP, bar count. Errors are message 4:
  version 2, request id, code, text and (server version >= 166) an empty advanced-reject JSON.

Every message after the handshake is a 4-byte big-endian length and NUL-terminated text fields.

Bars are a function of (symbol, bar open, bar size, what to show) alone, so any window of any
request is reproducible and `expected_bars` tells a test what a window must contain. Sessions:
stocks (STK) trade weekdays 14:30-21:00 UTC, or 09:00-24:00 UTC when use_rth is off; forex
(CASH) weekdays around the clock; crypto every day around the clock. Daily bars are dated
"YYYYMMDD" as IB dates them, one per trading day. A request ending at E covers bar opens in
[S, E): for "N S" durations S = E - N seconds; for "N D" and "N W" durations, as IB counts them,
S is the midnight (UTC) of the N-th last trading day begun before E (a week is 5 trading days, 7
for crypto), so a "1 D" request ending on a Sunday answers Friday's session again. A duration
longer than IB's limit for the bar size (D, W, M, Y read as 1, 7, 30, 365 calendar days) is
refused with IB's 162 text.

Scripting: `pace_next(n)` answers the next n historical requests with error 162 (pacing
violation); a symbol not in `listed` gets error 200; `drop_after(k)` closes the connection when
the (k+1)-th historical request from now arrives, without answering it. Every historical request
is recorded in `requests` with its outcome.

Orders, executions, positions and the account are `tws.desk` (tests/fakes/ibkr_trading.py), which
outlives connections as TWS does; `FakeTws(account="U1234567")` is a live account's login.
"""

from __future__ import annotations

import contextlib
import math
import socket
import socketserver
import struct
import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tests.fakes.ibkr_trading import Connection, TradingDesk

SERVER_VERSION = 178
ACCOUNT = "DU0000001"
DEFAULT_LISTED = frozenset({"AAPL", "MSFT", "IBM", "BTC", "ETH", "EUR", "GBP"})

PACING_TEXT = "Historical Market Data Service error message:Historical data request pacing violation"
NO_DATA_TEXT = "Historical Market Data Service error message:HMDS query returned no data: {symbol}@{exchange} {what}"
TOO_LONG_TEXT = "Historical Market Data Service error message:Time length exceed max."
UNKNOWN_TEXT = "No security definition has been found for the request"

BAR_SECONDS = {
    "1 secs": 1,
    "5 secs": 5,
    "10 secs": 10,
    "15 secs": 15,
    "30 secs": 30,
    "1 min": 60,
    "2 mins": 120,
    "3 mins": 180,
    "5 mins": 300,
    "10 mins": 600,
    "15 mins": 900,
    "20 mins": 1200,
    "30 mins": 1800,
    "1 hour": 3600,
    "2 hours": 7200,
    "3 hours": 10800,
    "4 hours": 14400,
    "8 hours": 28800,
    "1 day": 86400,
}
_DAY = 86400
_UNIT_SECONDS = {"S": 1, "D": _DAY, "W": 7 * _DAY, "M": 30 * _DAY, "Y": 365 * _DAY}
# IB's table of the longest duration per bar size ("Historical Data Limitations"), in seconds.
MAX_DURATION = {
    "1 secs": 1800,
    "5 secs": 3600,
    "10 secs": 14400,
    "15 secs": 14400,
    "30 secs": 28800,
    "1 min": _DAY,
    "2 mins": 2 * _DAY,
    "3 mins": 7 * _DAY,
    "5 mins": 7 * _DAY,
    "10 mins": 7 * _DAY,
    "15 mins": 14 * _DAY,
    "20 mins": 14 * _DAY,
    "30 mins": 30 * _DAY,
    "1 hour": 30 * _DAY,
    "2 hours": 30 * _DAY,
    "3 hours": 30 * _DAY,
    "4 hours": 30 * _DAY,
    "8 hours": 30 * _DAY,
    "1 day": 365 * _DAY,
}
NO_VOLUME_SHOWS = {"MIDPOINT", "BID", "ASK"}  # IB sends volume -1 for quote-based bars


@dataclass(frozen=True)
class Bar:
    """One bar as the fake sends it; `ts` is the bar open (UTC; midnight of the date for daily)."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float
    count: int


@dataclass(frozen=True)
class HistoricalRequest:
    client_id: int
    req_id: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    end: str
    duration: str
    bar_size: str
    what_to_show: str
    use_rth: bool
    format_date: int
    outcome: str  # "bars", "no data", "pacing", "unknown symbol", "too long", "invalid", "dropped"
    n_bars: int = 0


def _session(sec_type: str, day: date, use_rth: bool) -> tuple[int, int] | None:
    """(open, close) in seconds after midnight UTC, or None when the market is shut that day."""
    weekend = day.weekday() >= 5
    if sec_type == "CRYPTO":
        return 0, _DAY
    if weekend:
        return None
    if sec_type == "STK":
        return (14 * 3600 + 1800, 21 * 3600) if use_rth else (9 * 3600, _DAY)
    return 0, _DAY


def _price(symbol: str, t: datetime) -> float:
    base = 20 + zlib.crc32(symbol.encode()) % 400
    x = t.timestamp() / 3600
    return round(base * (1 + 0.05 * math.sin(x / 50) + 0.01 * math.sin(x * 1.7)), 4)


def make_bar(symbol: str, ts: datetime, seconds: int, what_to_show: str) -> Bar:
    o, c = _price(symbol, ts), _price(symbol, ts + timedelta(seconds=seconds))
    spread = {"BID": 0.9995, "ASK": 1.0005}.get(what_to_show, 1.0)
    o, c = round(o * spread, 4), round(c * spread, 4)
    h, low = round(max(o, c) * 1.002, 4), round(min(o, c) * 0.998, 4)
    if what_to_show in NO_VOLUME_SHOWS:
        volume, count = -1.0, -1
    else:
        volume = float(100 + zlib.crc32(f"{symbol}{ts.isoformat()}".encode()) % 5000)
        count = int(volume // 10)
    return Bar(ts, o, h, low, c, volume, round((o + h + low + c) / 4, 4), count)


def expected_bars(
    symbol: str,
    sec_type: str,
    bar_size: str,
    start: datetime,
    end: datetime,
    *,
    use_rth: bool = True,
    what_to_show: str = "TRADES",
) -> list[Bar]:
    """Every bar the fake has whose open lies in [start, end), oldest first."""
    seconds = BAR_SECONDS[bar_size]
    bars = []
    day = start.date() - timedelta(days=1)
    while datetime.combine(day, datetime.min.time(), UTC) < end:
        session = _session(sec_type, day, use_rth)
        midnight = datetime.combine(day, datetime.min.time(), UTC)
        if session is not None:
            opens = [0] if seconds >= _DAY else range(session[0], session[1], seconds)
            for offset in opens:
                ts = midnight + timedelta(seconds=offset)
                if start <= ts < end:
                    bars.append(make_bar(symbol, ts, min(seconds, _DAY), what_to_show))
        day += timedelta(days=1)
    return bars


def parse_duration(text: str) -> int:
    amount, unit = text.split(" ")
    return int(amount) * _UNIT_SECONDS[unit]


def window_start(sec_type: str, end: datetime, duration: str, use_rth: bool) -> datetime:
    """Where a request of `duration` ending at `end` starts (see the module docstring)."""
    amount, unit = duration.split(" ")
    if unit not in ("D", "W"):
        return end - timedelta(seconds=parse_duration(duration))
    sessions = int(amount) * (1 if unit == "D" else 7 if sec_type == "CRYPTO" else 5)
    day = end.date()
    while True:
        session = _session(sec_type, day, use_rth)
        midnight = datetime.combine(day, datetime.min.time(), UTC)
        if session is not None and midnight + timedelta(seconds=session[0]) < end:
            sessions -= 1
            if sessions == 0:
                return midnight
        day -= timedelta(days=1)


def parse_end(text: str) -> datetime:
    """ib_async sends "YYYYmmdd HH:MM:SS UTC" (or "" for now)."""
    if not text:
        return datetime.now(UTC)
    stamp, zone = text.rsplit(" ", 1)
    if zone != "UTC":
        raise ValueError(f"the fake TWS reads endDateTime in UTC only, got {text!r}")
    return datetime.strptime(stamp, "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)


def _encode(*fields: object) -> bytes:
    payload = b"".join(str(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


class FakeTws:
    """Run with `with FakeTws() as tws:`; connect ib_async to ("127.0.0.1", tws.port)."""

    def __init__(self, listed: set[str] | frozenset[str] = DEFAULT_LISTED, *, account: str = ACCOUNT):
        self.listed = set(listed)
        self.desk = TradingDesk(account, self.listed)
        self.requests: list[HistoricalRequest] = []
        self.connections = 0
        self._pacing_left = 0
        self._drop_countdown: int | None = None
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-tws", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def pace_next(self, n: int) -> None:
        with self._lock:
            self._pacing_left = n

    def drop_after(self, k: int) -> None:
        with self._lock:
            self._drop_countdown = k

    def historical_requests(self, outcome: str | None = None) -> list[HistoricalRequest]:
        with self._lock:
            return [r for r in self.requests if outcome is None or r.outcome == outcome]

    def __enter__(self) -> FakeTws:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.desk.stop()
        self._server.shutdown()
        self._server.server_close()
        self.desk.drop_connections()
        self._thread.join(timeout=5)

    def answer_historical(self, client_id: int, fields: list[str]) -> tuple[list[bytes], bool]:
        """(messages to send, whether to drop the connection instead) for one reqHistoricalData."""
        (req_id, _con_id, symbol, sec_type, _expiry, _strike, _right, _mult, exchange, _primary, currency) = fields[
            1:12
        ]
        end, bar_size, duration, use_rth, what, format_date = fields[15:21]
        record = dict(
            client_id=client_id,
            req_id=int(req_id),
            symbol=symbol,
            sec_type=sec_type,
            exchange=exchange,
            currency=currency,
            end=end,
            duration=duration,
            bar_size=bar_size,
            what_to_show=what,
            use_rth=use_rth == "1",
            format_date=int(format_date),
        )
        with self._lock:
            if self._drop_countdown is not None:
                if self._drop_countdown == 0:
                    self._drop_countdown = None
                    self.requests.append(HistoricalRequest(**record, outcome="dropped"))
                    return [], True
                self._drop_countdown -= 1
            if self._pacing_left > 0:
                self._pacing_left -= 1
                self.requests.append(HistoricalRequest(**record, outcome="pacing"))
                return [_error(req_id, 162, PACING_TEXT)], False
        outcome, messages, n = self._bars_reply(record)
        with self._lock:
            self.requests.append(HistoricalRequest(**record, outcome=outcome, n_bars=n))
        return messages, False

    def _bars_reply(self, r: dict) -> tuple[str, list[bytes], int]:
        req_id = r["req_id"]
        if r["symbol"] not in self.listed:
            return "unknown symbol", [_error(req_id, 200, UNKNOWN_TEXT)], 0
        if r["bar_size"] not in BAR_SECONDS:
            text = "Error validating request.-'bP' : cause - Historical data bar size setting is invalid."
            return "invalid", [_error(req_id, 321, text)], 0
        seconds = parse_duration(r["duration"])
        if seconds > MAX_DURATION[r["bar_size"]]:
            return "too long", [_error(req_id, 162, TOO_LONG_TEXT)], 0
        end = parse_end(r["end"])
        start = window_start(r["sec_type"], end, r["duration"], r["use_rth"])
        bars = expected_bars(
            r["symbol"],
            r["sec_type"],
            r["bar_size"],
            start,
            end,
            use_rth=r["use_rth"],
            what_to_show=r["what_to_show"],
        )
        if not bars:
            text = NO_DATA_TEXT.format(symbol=r["symbol"], exchange=r["exchange"], what=r["what_to_show"])
            return "no data", [_error(req_id, 162, text)], 0
        daily = BAR_SECONDS[r["bar_size"]] >= _DAY
        fields: list[object] = [17, req_id, start.strftime("%Y%m%d %H:%M:%S"), end.strftime("%Y%m%d %H:%M:%S")]
        fields.append(len(bars))
        for bar in bars:
            fields += [_bar_date(bar.ts, daily, r["format_date"]), bar.open, bar.high, bar.low, bar.close]
            fields += [_number(bar.volume), bar.wap, bar.count]
        return "bars", [_encode(*fields)], len(bars)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _bar_date(ts: datetime, daily: bool, format_date: int) -> str:
    if daily:
        return ts.strftime("%Y%m%d")
    if format_date == 2:
        return str(int(ts.timestamp()))
    return ts.strftime("%Y%m%d %H:%M:%S UTC")


def _error(req_id: object, code: int, text: str) -> bytes:
    return _encode(4, 2, req_id, code, text, "")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _handler_for(tws: FakeTws) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            conn = Connection(sock)
            try:
                if not self._handshake(sock):
                    return
                while True:
                    fields = _read_message(sock)
                    if fields is None:
                        return
                    kind = fields[0]
                    if kind == "71":  # startApi
                        conn.client_id = int(fields[2])
                        with tws._lock:
                            tws.connections += 1
                        tws.desk.connections.append(conn)
                        conn.send(
                            _encode(9, 1, tws.desk.next_valid_id())
                            + _encode(15, 1, tws.desk.account)
                            + _error(-1, 2104, "Market data farm connection is OK:usfarm")
                            + _error(-1, 2106, "HMDS data farm connection is OK:ushmds")
                        )
                    elif kind == "20":
                        messages, drop = tws.answer_historical(conn.client_id, fields)
                        if drop:
                            sock.shutdown(socket.SHUT_RDWR)
                            return
                        conn.send(b"".join(messages))
                    else:
                        # Orders, positions, the account; anything else (cancelHistoricalData)
                        # needs no answer here.
                        tws.desk.handle(conn, fields)
            except ConnectionAbortedError:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            except (ConnectionError, TimeoutError, OSError):
                return
            finally:
                if conn in tws.desk.connections:
                    tws.desk.connections.remove(conn)

        def _handshake(self, sock: socket.socket) -> bool:
            if _read_exact(sock, 4) != b"API\0":
                return False
            header = _read_exact(sock, 4)
            versions = header and _read_exact(sock, struct.unpack(">I", header)[0])
            if not versions:
                return False
            # "v157..178", optionally followed by a space and connect options
            low, high = versions.decode().lstrip("v").split(" ")[0].split("..")
            if not int(low) <= SERVER_VERSION <= int(high):
                return False
            now = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")
            sock.sendall(_encode(SERVER_VERSION, now))
            return True

    return Handler


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_message(sock: socket.socket) -> list[str] | None:
    header = _read_exact(sock, 4)
    if header is None:
        return None
    body = _read_exact(sock, struct.unpack(">I", header)[0])
    if body is None:
        return None
    return body.decode().split("\0")[:-1]
