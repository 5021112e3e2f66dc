"""Interactive Brokers historical bars as a bar source, through ib_async and a running TWS or
IB Gateway.

IB serves history in requests of limited length per bar size and punishes fast requesters with
pacing violations. This module plans the requests (walking backwards from the end of the window
with `endDateTime`, each no longer than IB allows for the bar size), keeps within IB's pacing
rules before sending, waits out a pacing violation and asks again, reconnects after a dropped
connection and resumes at the request that failed, then de-duplicates the overlaps and returns
the bars as text raw bars (foxml_dagster.data.raw).

Timestamps. Intraday bars are requested with formatDate=2 (epoch seconds), so they arrive in UTC
and are written as ISO text with their offset (2024-01-02T14:30:00+00:00): the bar open.
Daily bars come from IB as a session date (YYYYMMDD, the exchange's trading day); they are
stamped at 00:00 UTC of that date, the convention of the sample and synthetic sources, so a daily
bar keeps its trading date in UTC, and data.start / data.end select trading dates.

ib_async (0.3 s to import) is imported inside functions: the experiment config imports
IbkrConfig, and loading a config should not start an IB client library.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import polars as pl
from pydantic import Field, model_validator

from foxml_dagster.data.ibkr_pacing import BarRequest, Clock, MonotonicClock, PacingLimiter
from foxml_dagster.data.raw import ColumnMap, to_raw_bars
from foxml_dagster.settings import Settings

if TYPE_CHECKING:
    from ib_async import IB, BarData, Contract, RequestError

log = logging.getLogger(__name__)

_DAY = timedelta(days=1)
# The longest span one request may cover per bar size: IB's "historical data limitations" table
# (1 min -> 1 D, 3-5 mins -> 1 W, 15 mins -> 2 W, 30 mins..hours -> 1 M, 1 day -> 1 Y). Spans are
# sent in seconds below a day and in days above ("1800 S", "7 D"), so what a request covers never
# depends on month or year lengths; a month is taken as 28 days to stay inside IB's "1 M".
MAX_SPAN: dict[str, timedelta] = {
    "1 secs": timedelta(seconds=1800),
    "5 secs": timedelta(seconds=3600),
    "10 secs": timedelta(seconds=14400),
    "15 secs": timedelta(seconds=14400),
    "30 secs": timedelta(seconds=28800),
    "1 min": _DAY,
    "2 mins": 2 * _DAY,
    "3 mins": 7 * _DAY,
    "5 mins": 7 * _DAY,
    "10 mins": 7 * _DAY,
    "15 mins": 14 * _DAY,
    "20 mins": 14 * _DAY,
    "30 mins": 28 * _DAY,
    "1 hour": 28 * _DAY,
    "2 hours": 28 * _DAY,
    "3 hours": 28 * _DAY,
    "4 hours": 28 * _DAY,
    "8 hours": 28 * _DAY,
    "1 day": 365 * _DAY,
}
_UNIT = {"secs": 1, "min": 60, "mins": 60, "hour": 3600, "hours": 3600, "day": 86400}
BAR_LENGTH = {name: timedelta(seconds=int(name.split()[0]) * _UNIT[name.split()[1]]) for name in MAX_SPAN}
DEFAULT_EXCHANGE = {"STK": "SMART", "CRYPTO": "PAXOS", "CASH": "IDEALPRO"}
# Quote-based bars carry no volume: IB sends -1 for it, which would read as a negative volume.
NO_VOLUME_SHOWS = {"MIDPOINT", "BID", "ASK"}

PACING_VIOLATION = 162  # also IB's code for other historical-data refusals; the text tells them apart
_HINTS = {
    200: "check the symbol and data.ibkr.sec_type, exchange and currency (set data.ibkr.primary_exchange "
    "when a stock symbol is ambiguous)",
    162: "IB's historical data service refused the request; check data.ibkr.bar_size, what_to_show and the dates "
    "(bars of 30 secs or less are kept for 6 months only)",
    321: "IB could not validate the request; check data.ibkr.bar_size and what_to_show",
    354: "the account has no market data subscription for this contract",
    10090: "the account has no market data subscription for this contract",
    10167: "the account has no market data subscription for this contract",
}


class IbkrError(RuntimeError):
    """A request to IB that cannot give bars; the message says what to change."""

    def __init__(self, message: str, *, code: int | None = None):
        super().__init__(message)
        self.code = code


class IbkrConnectionError(IbkrError):
    """TWS / IB Gateway could not be reached, or the connection kept dropping."""


class IbkrConfig(Settings):
    """data.ibkr: where TWS / IB Gateway listens, which contracts and bars to ask for, and pacing."""

    host: str = Field(default="127.0.0.1", description="where TWS / IB Gateway listens")
    port: int = Field(
        default=7497, ge=1, le=65535, description="TWS paper 7497, live 7496; IB Gateway paper 4002, live 4001"
    )
    client_id: int = Field(default=17, ge=0, description="API client id, unique per connection to the same TWS")
    sec_type: Literal["STK", "CRYPTO", "CASH"] = Field(
        default="STK", description="the contracts' kind: STK (stocks), CRYPTO or CASH (forex)"
    )
    exchange: str | None = Field(
        default=None, description="the contracts' exchange; null: SMART for STK, PAXOS for CRYPTO, IDEALPRO for CASH"
    )
    primary_exchange: str | None = Field(
        default=None, description="STK only: settles ambiguous symbols (e.g. NASDAQ, NYSE)"
    )
    currency: str = Field(
        default="USD", description="the quote currency when a symbol does not name one (EUR.USD, BTC/USD)"
    )
    bar_size: str = Field(
        default="1 day", description="IB's bar size, from '1 secs' to '1 day' (e.g. '1 min', '5 mins', '1 hour')"
    )
    what_to_show: Literal["TRADES", "MIDPOINT", "BID", "ASK", "AGGTRADES"] = Field(
        default="TRADES",
        description="which prices the bars hold: TRADES (not for CASH), MIDPOINT, BID, ASK, or AGGTRADES "
        "(CRYPTO only); quote bars carry no volume",
    )
    use_rth: bool = Field(default=True, description="regular trading hours only; false: all hours")
    timeout: float = Field(default=60.0, gt=0, description="seconds for connecting and for each request")
    max_requests_per_10_minutes: int = Field(
        default=60, ge=1, description="historical-data requests in any 10 minutes at most (IB's rule: 60)"
    )
    identical_request_gap_seconds: float = Field(
        default=15.0, ge=0, description="seconds before an identical request may be sent again (IB's rule: 15)"
    )
    max_requests_per_contract_per_2_seconds: int = Field(
        default=5,
        ge=1,
        description="requests for one contract and kind of bars in any 2 seconds at most (IB's violation starts at 6)",
    )
    pacing_violation_wait_seconds: float = Field(
        default=60.0, ge=0, description="seconds nothing is sent after IB reports a pacing violation"
    )
    pacing_violation_retries: int = Field(
        default=5, ge=0, description="pacing violations waited out per symbol before its fetch fails"
    )
    reconnect_attempts: int = Field(
        default=3, ge=0, description="reconnections per symbol after a dropped or timed-out connection before it fails"
    )
    reconnect_wait_seconds: float = Field(default=5.0, ge=0, description="seconds before each reconnection")

    @model_validator(mode="after")
    def _consistent(self) -> IbkrConfig:
        if self.bar_size not in MAX_SPAN:
            raise ValueError(f"bar_size {self.bar_size!r} is not an IB bar size; use one of {', '.join(MAX_SPAN)}")
        if self.sec_type == "CASH" and self.what_to_show == "TRADES":
            raise ValueError("IB has no TRADES bars for forex (sec_type CASH); use what_to_show MIDPOINT, BID or ASK")
        if self.what_to_show == "AGGTRADES" and self.sec_type != "CRYPTO":
            raise ValueError("what_to_show AGGTRADES exists for crypto only (sec_type CRYPTO); use TRADES")
        if self.primary_exchange is not None and self.sec_type != "STK":
            raise ValueError("primary_exchange applies to stocks only (sec_type STK); remove it")
        return self

    @property
    def venue(self) -> str:
        return self.exchange or DEFAULT_EXCHANGE[self.sec_type]


def duration_text(span: timedelta) -> str:
    """IB's durationStr for a span: seconds below a day, whole days from a day on."""
    if span < _DAY:
        return f"{int(span.total_seconds())} S"
    return f"{span.days} D"


def plan_chunks(start: datetime, end: datetime, bar_size: str) -> list[datetime]:
    """The endDateTime of each request covering [start, end), newest first, each request spanning
    MAX_SPAN[bar_size]; the oldest may reach before `start` (those bars are trimmed later)."""
    span = MAX_SPAN[bar_size]
    ends = []
    chunk_end = end
    while chunk_end > start:
        ends.append(chunk_end)
        chunk_end -= span
    return ends


def split_symbol(symbol: str, sec_type: str, currency: str) -> tuple[str, str]:
    """(IB symbol, currency): 'EUR.USD', 'EUR/USD' and, for forex, 'EURUSD' name both."""
    for separator in "./":
        if sec_type != "STK" and separator in symbol:
            base, quote = symbol.split(separator, 1)
            return base, quote
    if sec_type == "CASH" and len(symbol) == 6 and symbol.isalpha():
        return symbol[:3], symbol[3:]
    return symbol, currency


def make_contract(settings: IbkrConfig, symbol: str) -> Contract:
    from ib_async import Contract

    ib_symbol, currency = split_symbol(symbol, settings.sec_type, settings.currency)
    return Contract(
        secType=settings.sec_type,
        symbol=ib_symbol,
        exchange=settings.venue,
        currency=currency,
        primaryExchange=settings.primary_exchange or "",
    )


# ---------------------------------------------------------------- the source


class IbkrSource:
    """Bars of the configured universe from IB, one symbol at a time, over the dates
    [start, end] taken in UTC (end inclusive; without end, up to the last completed bar)."""

    def __init__(
        self,
        settings: IbkrConfig,
        universe: list[str],
        start: date | None,
        end: date | None,
        *,
        clock: Clock | None = None,
    ):
        if start is not None and end is not None and start > end:
            raise ValueError(f"data.start {start} is after data.end {end}")
        self.settings = settings
        self.universe = universe
        self.start = start
        self.end = end
        self.clock = clock or MonotonicClock()
        # One limiter for the source's lifetime: IB's pacing counts every request, across symbols.
        self.limiter = PacingLimiter.from_config(settings, self.clock)

    def symbols(self) -> list[str]:
        if not self.universe:
            raise ValueError(
                "data.symbols is empty: the IBKR source does not list symbols, so name them in the "
                "experiment config (e.g. data.symbols: [AAPL, MSFT]; [BTC] for crypto, [EUR.USD] for forex)"
            )
        return sorted(self.universe)

    def origin(self, symbol: str) -> str:
        s = self.settings
        ib_symbol, currency = split_symbol(symbol, s.sec_type, s.currency)
        rth = "RTH" if s.use_rth else "all hours"
        return f"ibkr:{ib_symbol} {s.sec_type} {s.venue} {currency} {s.bar_size} {s.what_to_show} {rth}"

    def read_raw(self, symbol: str) -> pl.DataFrame:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.read_raw_async(symbol))
        raise RuntimeError(
            "IbkrSource.read_raw was called inside a running event loop (a notebook or async code); "
            "use `await source.read_raw_async(symbol)` there instead"
        )

    async def read_raw_async(self, symbol: str) -> pl.DataFrame:

        start, end = self.window()
        fetch = _Fetch(self, symbol)
        try:
            bars = await fetch.all_chunks(plan_chunks(start, end, self.settings.bar_size))
        finally:
            fetch.disconnect()
        frame = _bars_as_text(bars, start, end, self.settings.what_to_show in NO_VOLUME_SHOWS)
        # The dates belong in the origin: source rows are numbered per fetch, and a symbol's
        # history may be assembled from many fetches (data.windows).
        origin = f"{self.origin(symbol)} {start:%Y-%m-%dT%H:%M}Z..{end:%Y-%m-%dT%H:%M}Z"
        return to_raw_bars(frame, ColumnMap(), origin=origin, symbol=symbol)

    def window(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: whole dates, or up to the open of the bar now forming."""
        if self.start is None:
            raise ValueError(
                "data.start is not set: IBKR needs the first date to fetch (e.g. data.start: 2024-01-02 in "
                "the experiment config; data.end defaults to the last completed bar)"
            )
        start = datetime.combine(self.start, datetime.min.time(), UTC)
        if self.end is not None:
            return start, datetime.combine(self.end + _DAY, datetime.min.time(), UTC)
        now = datetime.now(UTC)
        length = BAR_LENGTH[self.settings.bar_size]
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return start, epoch + ((now - epoch) // length) * length


class _Fetch:
    """One symbol's requests over one (re)connected IB client, with the retries the config allows."""

    def __init__(self, source: IbkrSource, symbol: str):
        self.source = source
        self.settings = source.settings
        self.symbol = symbol
        self.contract = make_contract(source.settings, symbol)
        self.ib: IB | None = None
        self.reconnects_left = source.settings.reconnect_attempts
        self.pacing_retries_left = source.settings.pacing_violation_retries

    async def all_chunks(self, chunk_ends: list[datetime]) -> list[BarData]:
        bars: list[BarData] = []
        index = 0
        while index < len(chunk_ends):
            chunk = await self._one_chunk(chunk_ends[index])
            if chunk is None:  # a retry of the same chunk was arranged
                continue
            bars.extend(chunk)
            index += 1
        return bars

    async def _one_chunk(self, chunk_end: datetime) -> list[BarData] | None:
        from ib_async import RequestError, util

        s = self.settings
        duration = duration_text(MAX_SPAN[s.bar_size])
        request = BarRequest(
            contract=self.source.origin(self.symbol),
            end=util.formatIBDatetime(chunk_end),
            duration=duration,
            bar_size=s.bar_size,
            what_to_show=s.what_to_show,
            use_rth=s.use_rth,
        )
        try:
            ib = await self._connected()
            await self.source.limiter.acquire(request)
            call = ib.reqHistoricalDataAsync(
                self.contract, chunk_end, duration, s.bar_size, s.what_to_show, s.use_rth, formatDate=2, timeout=0
            )
            return list(await asyncio.wait_for(call, s.timeout))
        except RequestError as exc:
            return self._after_refusal(exc, request)
        except (TimeoutError, ConnectionError, OSError) as exc:
            await self._after_connection_trouble(exc, request)
            return None

    def _after_refusal(self, exc: RequestError, request: BarRequest) -> list[BarData] | None:
        s = self.settings
        text = exc.message.lower()
        if exc.code == PACING_VIOLATION and "pacing violation" in text:
            if self.pacing_retries_left == 0:
                raise IbkrError(
                    f"{self.source.origin(self.symbol)}: IB kept reporting pacing violations after "
                    f"{s.pacing_violation_retries} waits of {s.pacing_violation_wait_seconds:g} s; another client "
                    "may be using the same IB account's data allowance: wait and retry, or lower "
                    "data.ibkr.max_requests_per_10_minutes / raise pacing_violation_wait_seconds",
                    code=exc.code,
                ) from exc
            self.pacing_retries_left -= 1
            log.warning("IB pacing violation on %s; waiting %g s", request, s.pacing_violation_wait_seconds)
            self.source.limiter.back_off(s.pacing_violation_wait_seconds)
            return None
        if exc.code == PACING_VIOLATION and "no data" in text:
            return []  # a window with no trading (a weekend, a holiday, before the listing)
        hint = _HINTS.get(exc.code, "check the data.ibkr settings and the symbol")
        raise IbkrError(
            f"IB refused bars for symbol {self.symbol!r} (contract {self._describe_contract()}, {s.bar_size} "
            f"{s.what_to_show}, {request.duration} ending {request.end}): error {exc.code}: {exc.message}; {hint}",
            code=exc.code,
        ) from exc

    async def _after_connection_trouble(self, exc: BaseException, request: BarRequest) -> None:
        s = self.settings
        self.disconnect()
        what = "timed out" if isinstance(exc, TimeoutError) else f"failed ({exc!r})"
        if self.reconnects_left == 0:
            raise IbkrConnectionError(
                f"{self.source.origin(self.symbol)}: the connection to TWS / IB Gateway at {s.host}:{s.port} "
                f"{what} and {s.reconnect_attempts} reconnect attempt(s) did not help (last request: "
                f"{request.duration} ending {request.end}). Check that TWS or IB Gateway is running and logged in, "
                "that its API accepts socket clients on that port (Configure > API > Settings), and that no other "
                f"program uses client id {s.client_id} (data.ibkr.client_id)"
            ) from exc
        self.reconnects_left -= 1
        log.warning("IB connection %s; reconnecting in %g s", what, s.reconnect_wait_seconds)
        await self.source.clock.sleep(s.reconnect_wait_seconds)

    async def _connected(self) -> IB:
        from ib_async import IB
        from ib_async.ib import StartupFetchNONE

        if self.ib is not None and self.ib.isConnected():
            return self.ib
        s = self.settings
        ib = IB()
        ib.RaiseRequestErrors = True  # otherwise a refused request looks like an empty answer
        # readonly and no start-up fetches: a data client needs no orders, executions or accounts.
        await ib.connectAsync(
            s.host, s.port, s.client_id, timeout=s.timeout, readonly=True, fetchFields=StartupFetchNONE
        )
        self.ib = ib
        return ib

    def disconnect(self) -> None:
        if self.ib is not None:
            self.ib.disconnect()
            self.ib = None

    def _describe_contract(self) -> str:
        c = self.contract
        primary = f" primary {c.primaryExchange}" if c.primaryExchange else ""
        return f"{c.secType} {c.symbol} {c.currency} on {c.exchange}{primary}"


def _bars_as_text(bars: list[BarData], start: datetime, end: datetime, no_volume: bool) -> pl.DataFrame:
    """IB's bars as text rows inside [start, end), oldest first, each bar once. Chunks are fetched
    newest first, so where two requests overlap the later-ending request's bar is kept."""

    seen: set[str] = set()
    rows = []
    for bar in bars:
        ts = _timestamp(bar.date)
        if ts in seen or not start <= datetime.fromisoformat(ts) < end:
            continue
        seen.add(ts)
        volume = "0.0" if no_volume and bar.volume == -1 else str(bar.volume)
        rows.append((ts, str(bar.open), str(bar.high), str(bar.low), str(bar.close), volume))
    columns = ("ts", "open", "high", "low", "close", "volume")
    frame = pl.DataFrame(rows, schema={c: pl.Utf8 for c in columns}, orient="row")
    return frame.sort("ts")


def _timestamp(value: date | datetime) -> str:
    """ISO text with the offset: intraday in UTC; a daily bar's session date at 00:00 UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return datetime.combine(value, datetime.min.time(), UTC).isoformat()
