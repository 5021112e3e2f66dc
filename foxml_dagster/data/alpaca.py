"""Alpaca historical bars (stocks or crypto) as a bar source, through alpaca-py's data clients.

alpaca-py does the HTTP: it pages through `next_page_token` until the range is exhausted and
retries the statuses it is told to. This module chooses the request (symbol, timeframe, window,
adjustment, feed), reads the keys from the environment, turns alpaca-py's `APIError` into errors
that say what to fix, and returns Alpaca's JSON values as text raw bars (foxml_dagster.data.raw).

alpaca-py (about 1.5 s to import) is imported inside functions: the experiment config imports
AlpacaConfig, and loading a config should not pay for an HTTP client library.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import Field, model_validator

from foxml_dagster.data.raw import ColumnMap, to_raw_bars
from foxml_dagster.settings import Settings

if TYPE_CHECKING:
    from alpaca.common.rest import RESTClient
    from alpaca.data.timeframe import TimeFrame

# Rate limiting and server trouble are worth waiting out; any other refusal will not change.
RETRIED_STATUSES = (429, 500, 502, 503, 504)
MAX_PAGE_SIZE = 10_000  # Alpaca's largest `limit` per request

_TIMEFRAME = re.compile(r"^(\d+)(Min|Hour|Day|Week|Month)$")
# The amounts Alpaca accepts per unit (alpaca-py's TimeFrame applies the same rules).
_AMOUNTS = {"Min": range(1, 60), "Hour": range(1, 24), "Day": {1}, "Week": {1}, "Month": {1, 2, 3, 6, 12}}
# Alpaca's JSON keys for the canonical raw-bar columns (vwap `vw` and trade count `n` have no place there).
_BAR_FIELDS = {"ts": "t", "open": "o", "high": "h", "low": "l", "close": "c", "volume": "v"}


class AlpacaError(RuntimeError):
    """A request to Alpaca that cannot give bars; the message says what to change."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int | None = None):
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class AlpacaCredentialsError(AlpacaError):
    """An API key or secret missing from the environment."""


def parse_timeframe(text: str) -> tuple[int, str]:
    """'5Min' -> (5, 'Min'), checked against the amounts Alpaca accepts for the unit."""
    match = _TIMEFRAME.match(text)
    if match is None or int(match[1]) not in _AMOUNTS[match[2]]:
        raise ValueError(
            f"timeframe {text!r} is not an Alpaca timeframe: use <n>Min (1-59), <n>Hour (1-23), "
            "1Day, 1Week or <n>Month (1, 2, 3, 6, 12), e.g. 1Min, 5Min, 1Hour, 1Day"
        )
    return int(match[1]), match[2]


class AlpacaConfig(Settings):
    """data.alpaca: what to ask Alpaca for and how patiently. Keys come from the environment only."""

    asset_class: Literal["stocks", "crypto"] = Field(
        default="stocks", description="stock bars, or crypto bars (symbols like BTC/USD; keys optional)"
    )
    timeframe: str = Field(
        default="1Day",
        description="bar length: <n>Min (1-59), <n>Hour (1-23), 1Day, 1Week or <n>Month (1, 2, 3, 6, 12)",
    )
    # Server-side adjustment is Alpaca's equivalent of an adjusted close, which its bars do not
    # carry; split and dividend jumps would otherwise look like returns. (None rather than "all"
    # as the default, so a crypto config dumps and reloads unchanged.)
    adjustment: Literal["raw", "split", "dividend", "all"] | None = Field(
        default=None, description="stocks only: Alpaca's server-side price adjustment; null: all"
    )
    feed: Literal["iex", "sip", "delayed_sip", "otc", "boats", "overnight"] | None = Field(
        default=None, description="stocks only: the data feed; null: the best feed the account's plan allows"
    )
    url_override: str | None = Field(
        default=None, description="another data API URL (e.g. a proxy or a test server); null: Alpaca's real one"
    )
    page_limit: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="bars per request")
    max_attempts: int = Field(
        default=4, ge=1, description="attempts per request, counting the first; 429 and 5xx are retried"
    )
    retry_wait_seconds: float = Field(default=3.0, gt=0, description="seconds between attempts")
    key_env: str = Field(
        default="APCA_API_KEY_ID", description="environment variable holding the API key id (never read from a file)"
    )
    secret_env: str = Field(default="APCA_API_SECRET_KEY", description="environment variable holding the secret key")

    @model_validator(mode="after")
    def _consistent(self) -> AlpacaConfig:
        parse_timeframe(self.timeframe)
        stock_only = [name for name in ("adjustment", "feed") if getattr(self, name) is not None]
        if self.asset_class == "crypto" and stock_only:
            raise ValueError(f"{', '.join(stock_only)} apply to stocks only; remove them for asset_class: crypto")
        return self

    def alpaca_timeframe(self) -> TimeFrame:
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        amount, unit = parse_timeframe(self.timeframe)
        return TimeFrame(amount, TimeFrameUnit(unit))


def read_credentials(settings: AlpacaConfig) -> tuple[str | None, str | None]:
    """(key, secret) from the environment. Stocks need both; crypto may go without (anonymous
    access, at a lower rate limit) but not with only one of the two."""
    values = {name: os.environ.get(name) or None for name in (settings.key_env, settings.secret_env)}
    missing = [name for name, value in values.items() if value is None]
    anonymous_ok = settings.asset_class == "crypto" and len(missing) == 2
    if missing and not anonymous_ok:
        need = "stock bars need" if settings.asset_class == "stocks" else "crypto bars with a key need"
        raise AlpacaCredentialsError(
            f"Alpaca {need} an API key and secret: set {' and '.join(missing)} in the environment "
            "(the variable names are data.alpaca.key_env and data.alpaca.secret_env; keys are never "
            "read from the config file)"
        )
    return values[settings.key_env], values[settings.secret_env]


def make_client(settings: AlpacaConfig) -> RESTClient:
    """alpaca-py's stock or crypto client in raw-data mode (plain JSON dicts, values untouched),
    with our page size and retry policy."""
    from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient

    key, secret = read_credentials(settings)
    kind = StockHistoricalDataClient if settings.asset_class == "stocks" else CryptoHistoricalDataClient
    client = kind(api_key=key, secret_key=secret, raw_data=True, url_override=settings.url_override)
    # Neither client passes retry settings or a page size to its base class, so they are set on the
    # instance: the attributes and the keyword below are alpaca-py's RESTClient internals (0.44).
    internals = ("_retry", "_retry_wait", "_retry_codes", "_get_marketdata")
    changed = [name for name in internals if not hasattr(client, name)]
    if changed:
        raise AlpacaError(f"alpaca-py's client no longer has {changed}; foxml_dagster.data.alpaca needs updating")
    client._retry = settings.max_attempts - 1  # alpaca-py counts retries after the first request
    client._retry_wait = settings.retry_wait_seconds
    client._retry_codes = list(RETRIED_STATUSES)
    client._get_marketdata = partial(client._get_marketdata, page_limit=settings.page_limit)
    return client


class AlpacaSource:
    """Bars of the configured universe from Alpaca, one symbol per request series, over the
    dates [start, end] taken in UTC (the window normalization applies)."""

    def __init__(self, settings: AlpacaConfig, universe: list[str], start: date | None, end: date | None):
        if start is not None and end is not None and start > end:
            raise ValueError(f"data.start {start} is after data.end {end}")
        self.settings = settings
        self.universe = universe
        self.start = start
        self.end = end
        self._client: RESTClient | None = None

    def symbols(self) -> list[str]:
        if not self.universe:
            raise ValueError(
                "data.symbols is empty: the Alpaca source does not list symbols, so name them in the "
                "experiment config (e.g. data.symbols: [AAPL, MSFT], or [BTC/USD] for crypto)"
            )
        return sorted(self.universe)

    def read_raw(self, symbol: str) -> pl.DataFrame:

        params = self._request_params(symbol)
        origin = self._origin(params)
        bars = self._fetch(symbol, params, origin)
        return to_raw_bars(_bars_as_text(bars), ColumnMap(), origin=origin, symbol=symbol)

    def _request_params(self, symbol: str) -> dict[str, Any]:
        if self.start is None:
            raise ValueError(
                "data.start is not set: Alpaca needs the first date to fetch (e.g. data.start: 2024-01-02 "
                "in the experiment config; data.end defaults to now)"
            )
        s = self.settings
        params: dict[str, Any] = {
            "symbol_or_symbols": symbol,
            "timeframe": s.alpaca_timeframe(),
            "start": datetime.combine(self.start, time(0, 0), UTC),
        }
        if self.end is not None:  # inclusive, like data.end: every bar opening on that UTC date
            params["end"] = datetime.combine(self.end, time(23, 59, 59), UTC)
        if s.asset_class == "stocks":
            params["adjustment"] = s.adjustment or "all"
            if s.feed is not None:
                params["feed"] = s.feed
        return params

    def _origin(self, params: dict[str, Any]) -> str:
        path = "stocks/bars" if self.settings.asset_class == "stocks" else "crypto/us/bars"
        query = {
            "symbols": params["symbol_or_symbols"],
            "timeframe": self.settings.timeframe,
            "start": self.start,
            "end": self.end,
            "adjustment": params.get("adjustment"),
            "feed": params.get("feed"),
        }
        return f"alpaca:{path}?" + "&".join(f"{k}={v}" for k, v in query.items() if v is not None)

    def _fetch(self, symbol: str, params: dict[str, Any], origin: str) -> list[dict[str, Any]]:
        from alpaca.common.exceptions import APIError
        from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest
        from requests import RequestException

        if self._client is None:
            self._client = make_client(self.settings)
        try:
            if self.settings.asset_class == "stocks":
                by_symbol = self._client.get_stock_bars(StockBarsRequest(**params))
            else:
                by_symbol = self._client.get_crypto_bars(CryptoBarsRequest(**params))
        except APIError as exc:
            raise self._explain(exc, origin) from exc
        except RequestException as exc:
            where = self.settings.url_override or "Alpaca's data API"
            raise AlpacaError(
                f"{origin}: cannot reach {where} ({exc}); check the network or data.alpaca.url_override"
            ) from exc
        return by_symbol.get(symbol, [])

    def _explain(self, exc: Any, origin: str) -> AlpacaError:
        s = self.settings
        status = exc.status_code
        said = f"HTTP {status}: {_alpaca_message(exc)}"
        if status in (401, 403):
            return AlpacaError(
                f"{origin}: Alpaca refused the API keys ({said}); check {s.key_env} and {s.secret_env}, "
                "and that the account's plan covers this feed and period",
                status=status,
            )
        if status in RETRIED_STATUSES:
            return AlpacaError(
                f"{origin}: Alpaca answered {said} on all {s.max_attempts} attempts "
                f"({s.retry_wait_seconds:g} s apart); try again later, or raise data.alpaca.max_attempts "
                "or data.alpaca.retry_wait_seconds",
                status=status,
                attempts=s.max_attempts,
            )
        return AlpacaError(
            f"{origin}: Alpaca rejected the request ({said}); check the symbol, timeframe, dates and "
            "data.alpaca settings",
            status=status,
        )


def _alpaca_message(exc: Any) -> str:
    """Alpaca's own explanation: the `message` of its JSON error body, else the body itself."""
    try:
        return str(exc.message)
    except (ValueError, KeyError, TypeError):
        return str(exc)[:300] or "(empty response)"


def _bars_as_text(bars: list[dict[str, Any]]) -> pl.DataFrame:
    """Alpaca's bar dicts as text columns. Numbers keep their JSON spelling (str of the parsed
    value round-trips); a trailing Z becomes +00:00, the offset form normalization parses."""

    columns = {name: [_text(bar.get(key)) for bar in bars] for name, key in _BAR_FIELDS.items()}
    frame = pl.DataFrame(columns, schema={name: pl.Utf8 for name in _BAR_FIELDS})
    return frame.with_columns(pl.col("ts").str.replace(r"Z$", "+00:00"))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
