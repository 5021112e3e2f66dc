"""The IBKR source through the real ib_async client against a fake TWS speaking IB's socket
protocol (tests/fakes/ibkr_server.py). Waits (pacing, reconnects) run on a fake clock."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from foxml_dagster.data.ibkr import (
    MAX_SPAN,
    BarRequest,
    IbkrConfig,
    IbkrConnectionError,
    IbkrError,
    IbkrSource,
    PacingLimiter,
    duration_text,
    plan_chunks,
)
from foxml_dagster.data.normalize import normalize_bars
from tests.fakes.ibkr_server import MAX_DURATION, FakeTws, expected_bars, parse_duration


class FakeClock:
    """Monotonic seconds that move only when someone sleeps."""

    def __init__(self) -> None:
        self.t = 1_000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


@pytest.fixture
def tws():
    with FakeTws() as server:
        yield server


def source(tws: FakeTws, universe, start, end, clock: FakeClock | None = None, **settings) -> IbkrSource:
    config = IbkrConfig(port=tws.port, timeout=5, **settings)
    return IbkrSource(config, list(universe), start, end, clock=clock or FakeClock())


def utc(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def expected_frame(symbol, sec_type, bar_size, start: date, end: date, **kw) -> pl.DataFrame:
    bars = expected_bars(symbol, sec_type, bar_size, utc(start), utc(end + timedelta(days=1)), **kw)
    return pl.DataFrame(
        {
            "ts": [b.ts for b in bars],
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "volume": [max(b.volume, 0.0) for b in bars],
        },
        schema={"ts": pl.Datetime("us", "UTC")} | {c: pl.Float64 for c in ("open", "high", "low", "close", "volume")},
    )


def clean(raw: pl.DataFrame) -> pl.DataFrame:
    normalized = normalize_bars(raw, timezone=None)
    assert normalized.quarantine.height == 0, normalized.quarantine_counts()
    return normalized.bars.select("ts", "open", "high", "low", "close", "volume")


# ---------------------------------------------------------------- fetching


def test_multi_chunk_intraday_fetch_is_the_whole_series_once_in_order(tws):
    start, end = date(2024, 1, 1), date(2024, 1, 14)
    raw = source(tws, ["AAPL"], start, end, bar_size="1 min").read_raw("AAPL")

    requests = tws.historical_requests()
    assert len(requests) == 14  # one "1 D" request per calendar day, newest first
    assert [r.end for r in requests[:2]] == ["20240115 00:00:00 UTC", "20240114 00:00:00 UTC"]
    assert {r.outcome for r in requests} == {"bars"}  # weekend requests get Friday again: overlaps
    assert sum(r.n_bars for r in requests) > raw.height  # ... which are removed
    assert raw["ts"].is_sorted() and raw["ts"].n_unique() == raw.height
    [origin] = raw["origin"].unique().to_list()
    assert origin == "ibkr:AAPL STK SMART USD 1 min TRADES RTH 2024-01-01T00:00Z..2024-01-15T00:00Z"
    assert raw["symbol"].unique().to_list() == ["AAPL"]
    assert clean(raw).equals(expected_frame("AAPL", "STK", "1 min", start, end))  # no gap, no duplicate


def test_daily_bars_are_the_session_date_at_midnight_utc(tws):
    start, end = date(2022, 3, 1), date(2024, 2, 29)
    raw = source(tws, ["MSFT"], start, end, bar_size="1 day").read_raw("MSFT")

    assert len(tws.historical_requests()) == 3  # 365 D each, walking back from 2024-03-01
    assert raw["ts"][0] == "2022-03-01T00:00:00+00:00" and raw["ts"][-1] == "2024-02-29T00:00:00+00:00"
    bars = clean(raw)
    assert bars["ts"].dt.weekday().max() <= 5  # trading days only, dated as IB dates them
    assert bars.equals(expected_frame("MSFT", "STK", "1 day", start, end))


def test_crypto_hourly_bars_around_the_clock(tws):
    start, end = date(2024, 2, 1), date(2024, 3, 15)
    raw = source(tws, ["BTC/USD"], start, end, sec_type="CRYPTO", bar_size="1 hour").read_raw("BTC/USD")

    request = tws.historical_requests()[0]
    assert (request.symbol, request.sec_type, request.exchange, request.currency) == ("BTC", "CRYPTO", "PAXOS", "USD")
    assert raw.height == 44 * 24
    assert clean(raw).equals(expected_frame("BTC", "CRYPTO", "1 hour", start, end))


def test_forex_midpoint_bars_have_no_volume_and_normalize_cleanly(tws):
    start, end = date(2024, 1, 8), date(2024, 1, 12)
    settings = dict(sec_type="CASH", what_to_show="MIDPOINT", bar_size="5 mins")
    raw = source(tws, ["EUR.USD"], start, end, **settings).read_raw("EUR.USD")

    request = tws.historical_requests()[0]
    assert (request.symbol, request.currency, request.exchange) == ("EUR", "USD", "IDEALPRO")
    assert raw["volume"].unique().to_list() == ["0.0"]  # IB's -1 ("no volume") is not a negative volume
    expected = expected_frame("EUR", "CASH", "5 mins", start, end, what_to_show="MIDPOINT")
    assert clean(raw).equals(expected)


def test_every_request_stays_within_ibs_duration_limit_for_its_bar_size(tws):
    for bar_size in ("30 secs", "1 min", "15 mins", "1 hour", "1 day"):
        assert parse_duration(duration_text(MAX_SPAN[bar_size])) <= MAX_DURATION[bar_size], bar_size
    source(tws, ["IBM"], date(2024, 1, 2), date(2024, 1, 2), bar_size="30 secs").read_raw("IBM")
    requests = tws.historical_requests()
    assert [r.duration for r in requests] == ["28800 S"] * 3 and {r.outcome for r in requests} <= {"bars", "no data"}


def test_chunk_plan_covers_the_window_backwards_without_gaps():
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    ends = plan_chunks(start, end, "1 hour")
    assert ends[0] == end
    assert all(a - b == MAX_SPAN["1 hour"] for a, b in zip(ends, ends[1:], strict=False))
    assert ends[-1] - MAX_SPAN["1 hour"] <= start < ends[-1]


def test_rows_outside_data_start_and_end_are_trimmed(tws):
    raw = source(tws, ["AAPL"], date(2024, 1, 10), date(2024, 1, 10), bar_size="1 day").read_raw("AAPL")
    assert raw["ts"].to_list() == ["2024-01-10T00:00:00+00:00"]  # the request covered a year


def test_without_data_end_bars_stop_at_the_last_completed_bar(tws):
    def last_complete_open(t: datetime) -> datetime:
        return t.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)

    before = datetime.now(UTC)
    start = (before - timedelta(days=3)).date()
    raw = source(tws, ["BTC"], start, None, sec_type="CRYPTO", bar_size="1 hour").read_raw("BTC")
    after = datetime.now(UTC)
    assert datetime.fromisoformat(raw["ts"][-1]) in {last_complete_open(before), last_complete_open(after)}


# ---------------------------------------------------------------- pacing and connection trouble


def test_pacing_violation_is_waited_out_and_the_same_request_sent_again(tws):
    clock = FakeClock()
    tws.pace_next(2)
    src = source(tws, ["AAPL"], date(2024, 1, 2), date(2024, 1, 3), clock, bar_size="1 min")
    raw = src.read_raw("AAPL")

    requests = tws.historical_requests()
    assert [r.outcome for r in requests] == ["pacing", "pacing", "bars", "bars"]
    assert requests[0].end == requests[1].end == requests[2].end == "20240104 00:00:00 UTC"
    assert sum(clock.slept) >= 2 * 60  # pacing_violation_wait_seconds, twice
    assert clean(raw).equals(expected_frame("AAPL", "STK", "1 min", date(2024, 1, 2), date(2024, 1, 3)))


def test_pacing_violations_beyond_the_retries_are_a_clear_error(tws):
    tws.pace_next(10)
    src = source(tws, ["AAPL"], date(2024, 1, 2), date(2024, 1, 3), pacing_violation_retries=2)
    with pytest.raises(IbkrError, match=r"pacing violations after 2 waits .*max_requests_per_10_minutes"):
        src.read_raw("AAPL")
    assert len(tws.historical_requests("pacing")) == 3


def test_dropped_connection_mid_fetch_reconnects_and_resumes_at_the_failed_chunk(tws):
    clock = FakeClock()
    tws.drop_after(3)
    start, end = date(2024, 1, 1), date(2024, 1, 10)
    raw = source(tws, ["MSFT"], start, end, clock, bar_size="1 min").read_raw("MSFT")

    requests = tws.historical_requests()
    assert [r.outcome for r in requests].count("dropped") == 1
    dropped = next(i for i, r in enumerate(requests) if r.outcome == "dropped")
    assert dropped == 3 and requests[dropped + 1].end == requests[dropped].end  # resumed, not restarted
    assert requests[dropped + 1].client_id == requests[0].client_id
    assert len(requests) == 10 + 1 and tws.connections == 2
    assert 5.0 in clock.slept  # reconnect_wait_seconds
    assert clean(raw).equals(expected_frame("MSFT", "STK", "1 min", start, end))


def test_unreachable_tws_is_a_clear_error_after_the_reconnect_attempts():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: connections are refused
        clock = FakeClock()
        config = IbkrConfig(port=port, client_id=42, reconnect_attempts=2, timeout=5)
        src = IbkrSource(config, ["AAPL"], date(2024, 1, 2), date(2024, 1, 2), clock=clock)
        with pytest.raises(IbkrConnectionError, match=rf"127.0.0.1:{port} .* 2 reconnect .*client id 42"):
            src.read_raw("AAPL")
    assert clock.slept == [5.0, 5.0]


def test_unknown_symbol_names_symbol_contract_and_ibs_message(tws):
    src = source(tws, ["ZZZZ"], date(2024, 1, 2), date(2024, 1, 3))
    with pytest.raises(IbkrError) as caught:
        src.read_raw("ZZZZ")
    message = str(caught.value)
    assert caught.value.code == 200
    assert "'ZZZZ'" in message and "STK ZZZZ USD on SMART" in message
    assert "No security definition has been found" in message and "data.ibkr.sec_type" in message


# ---------------------------------------------------------------- the limiter's rules


def request(n: int, contract: str = "AAPL") -> BarRequest:
    return BarRequest(contract, f"end {n}", "1 D", "1 min", "TRADES", True)


def limiter(clock: FakeClock, **rules) -> PacingLimiter:
    return PacingLimiter(clock=clock, **rules)


def test_limiter_allows_60_requests_per_ten_minutes_then_waits_for_the_oldest_to_expire():
    clock = FakeClock()
    pacing = limiter(clock, max_same_contract=1_000)
    for n in range(60):
        asyncio.run(pacing.acquire(request(n)))
        clock.t += 1
    assert clock.slept == []
    assert pacing.wait_needed(request(60)) == (pytest.approx(540.0), "60 requests per 600 s")
    asyncio.run(pacing.acquire(request(60)))
    assert clock.slept == [pytest.approx(540.0)]


def test_limiter_spaces_identical_requests_15_seconds_apart():
    clock = FakeClock()
    pacing = limiter(clock)
    asyncio.run(pacing.acquire(request(1)))
    clock.t += 4
    assert pacing.wait_needed(request(2))[0] == 0  # a different window is not identical
    assert pacing.wait_needed(request(1)) == (pytest.approx(11.0), "no identical request within 15 s")


def test_limiter_allows_five_requests_per_contract_in_two_seconds():
    clock = FakeClock()
    pacing = limiter(clock)
    for n in range(5):
        asyncio.run(pacing.acquire(request(n)))
        clock.t += 0.1
    assert pacing.wait_needed(request(5, "MSFT"))[0] == 0  # another contract is not held back
    wait, rule = pacing.wait_needed(request(5))
    assert wait == pytest.approx(1.5) and "per contract" in rule


def test_limiter_sends_nothing_while_a_pacing_violation_is_waited_out():
    clock = FakeClock()
    pacing = limiter(clock)
    pacing.back_off(60)
    clock.t += 20
    assert pacing.wait_needed(request(1, "IBM")) == (pytest.approx(40.0), "waiting out a pacing violation")


# ---------------------------------------------------------------- configuration


def test_config_rejects_what_ib_would_refuse():
    with pytest.raises(ValueError, match="not an IB bar size"):
        IbkrConfig(bar_size="1m")
    with pytest.raises(ValueError, match="no TRADES bars for forex"):
        IbkrConfig(sec_type="CASH")
    with pytest.raises(ValueError, match="extra"):
        IbkrConfig(hots="localhost")


def test_missing_start_and_empty_universe_say_which_setting_to_fill():
    with pytest.raises(ValueError, match="data.start is not set"):
        IbkrSource(IbkrConfig(), ["AAPL"], None, None).read_raw("AAPL")
    with pytest.raises(ValueError, match="data.symbols is empty"):
        IbkrSource(IbkrConfig(), [], date(2024, 1, 2), None).symbols()


def test_read_raw_inside_a_running_event_loop_points_to_the_async_method():
    async def inside_a_loop():
        IbkrSource(IbkrConfig(), ["AAPL"], date(2024, 1, 2), None).read_raw("AAPL")

    with pytest.raises(RuntimeError, match="read_raw_async"):
        asyncio.run(inside_a_loop())
