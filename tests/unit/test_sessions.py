"""Sessions and the bar grid: which instants a market is open, where a bar lands, and what a gap costs."""

from datetime import UTC, date, datetime

import polars as pl
import pytest
from pydantic import ValidationError

from foxml_dagster.config import ColumnMap
from foxml_dagster.data.normalize import normalize_bars
from foxml_dagster.data.raw import to_raw_bars
from foxml_dagster.data.schema import contract_failures
from foxml_dagster.data.sessions import SessionsConfig, assign_sessions, expected_slots, segments

NEW_YORK = "America/New_York"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def sessions_of(calendar: str, *instants: datetime, minutes: int = 1) -> list[date | None]:
    return assign_sessions(pl.Series("ts", list(instants)), calendar, minutes)["session"].to_list()


def slots_of(calendar: str, *instants: datetime, minutes: int) -> list[datetime | None]:
    return assign_sessions(pl.Series("ts", list(instants)), calendar, minutes)["slot"].to_list()


def bar(ts: str, close: float = 10.0, symbol: str = "XYZ", volume: float = 100.0) -> dict[str, str]:
    return {
        "symbol": symbol,
        "ts": ts,
        "open": str(close),
        "high": str(close + 1),
        "low": str(close - 1),
        "close": str(close),
        "volume": str(volume),
    }


def normalized(rows: list[dict], timezone: str = NEW_YORK, **sessions):
    raw = to_raw_bars(pl.DataFrame(rows), ColumnMap(), origin="bars.csv")
    return normalize_bars(raw, timezone=timezone, sessions=SessionsConfig(**sessions))


# --- calendars ---------------------------------------------------------------------------------


def test_xnys_opens_at_14_30_utc_in_winter_and_13_30_utc_in_summer():
    table = segments("XNYS", date(2024, 1, 2), date(2024, 1, 2))
    assert table.rows() == [(date(2024, 1, 2), utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 21, 0))]
    table = segments("XNYS", date(2024, 7, 1), date(2024, 7, 1))
    assert table.rows() == [(date(2024, 7, 1), utc(2024, 7, 1, 13, 30), utc(2024, 7, 1, 20, 0))]


def test_xnys_minute_before_the_open_and_the_closing_instant_are_outside_the_session():
    winter = sessions_of(
        "XNYS", utc(2024, 1, 2, 14, 29), utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 20, 59), utc(2024, 1, 2, 21)
    )
    assert winter == [None, date(2024, 1, 2), date(2024, 1, 2), None]
    summer = sessions_of(
        "XNYS", utc(2024, 7, 1, 13, 29), utc(2024, 7, 1, 13, 30), utc(2024, 7, 1, 19, 59), utc(2024, 7, 1, 20)
    )
    assert summer == [None, date(2024, 7, 1), date(2024, 7, 1), None]


def test_xnys_holidays_have_no_session():
    july = segments("XNYS", date(2024, 7, 1), date(2024, 7, 5))["session"].to_list()
    assert july == [date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3), date(2024, 7, 5)]
    christmas = segments("XNYS", date(2024, 12, 23), date(2024, 12, 27))["session"].to_list()
    assert christmas == [date(2024, 12, 23), date(2024, 12, 24), date(2024, 12, 26), date(2024, 12, 27)]
    assert sessions_of("XNYS", utc(2024, 7, 4, 15), utc(2024, 12, 25, 15)) == [None, None]


def test_xnys_early_close_has_no_slots_after_13_00_new_york():
    slots = expected_slots("XNYS", 1, utc(2024, 11, 29), utc(2024, 11, 30))
    assert slots.height == 210  # 09:30 to 13:00
    assert slots["ts"][0] == utc(2024, 11, 29, 14, 30)
    assert slots["ts"][-1] == utc(2024, 11, 29, 17, 59)
    assert sessions_of("XNYS", utc(2024, 11, 29, 17, 59), utc(2024, 11, 29, 18, 0)) == [date(2024, 11, 29), None]


def test_early_close_bars_after_13_00_are_quarantined_outside_session():
    result = normalized([bar("2024-11-29 12:59"), bar("2024-11-29 13:00"), bar("2024-11-29 15:30")], calendar="XNYS")
    assert result.bars["ts"].to_list() == [utc(2024, 11, 29, 17, 59)]
    assert result.quarantine["rule"].to_list() == ["outside_session", "outside_session"]
    assert result.quarantine["source_row"].to_list() == [2, 3]


def test_xtks_has_no_session_during_the_lunch_break():
    table = segments("XTKS", date(2024, 1, 10), date(2024, 1, 10))
    assert table.rows() == [
        (date(2024, 1, 10), utc(2024, 1, 10, 0, 0), utc(2024, 1, 10, 2, 30)),  # 09:00-11:30 Tokyo
        (date(2024, 1, 10), utc(2024, 1, 10, 3, 30), utc(2024, 1, 10, 6, 0)),  # 12:30-15:00 Tokyo
    ]
    lunch = sessions_of(
        "XTKS", utc(2024, 1, 10, 2, 29), utc(2024, 1, 10, 2, 30), utc(2024, 1, 10, 3, 29), utc(2024, 1, 10, 3, 30)
    )
    assert lunch == [date(2024, 1, 10), None, None, date(2024, 1, 10)]
    slots = expected_slots("XTKS", 1, utc(2024, 1, 10), utc(2024, 1, 10, 23, 59))
    assert slots.height == 300
    assert slots.filter(pl.col("ts").is_between(utc(2024, 1, 10, 2, 30), utc(2024, 1, 10, 3, 29))).is_empty()


def test_xtks_lunch_break_bars_are_quarantined_in_normalize():
    rows = [bar("2024-01-10 11:29"), bar("2024-01-10 11:45"), bar("2024-01-10 12:30")]
    result = normalized(rows, timezone="Asia/Tokyo", calendar="XTKS", interval="1min")
    assert result.bars["ts"].to_list() == [utc(2024, 1, 10, 2, 29), utc(2024, 1, 10, 3, 30)]
    assert result.quarantine_counts() == {"outside_session": 1}


def test_24_7_trades_every_day_around_the_clock():
    table = segments("24/7", date(2024, 1, 5), date(2024, 1, 7))
    assert table.rows() == [
        (date(2024, 1, 5), utc(2024, 1, 5), utc(2024, 1, 6)),
        (date(2024, 1, 6), utc(2024, 1, 6), utc(2024, 1, 7)),
        (date(2024, 1, 7), utc(2024, 1, 7), utc(2024, 1, 8)),
    ]
    assert expected_slots("24/7", 60, utc(2024, 1, 6), utc(2024, 1, 6, 23)).height == 24
    assert sessions_of("24/7", utc(2024, 12, 25, 3), utc(2024, 1, 6, 23, 59)) == [date(2024, 12, 25), date(2024, 1, 6)]


def test_fx_sunday_evening_belongs_to_monday_and_the_week_closes_friday_17_00_new_york():
    instants = [
        utc(2024, 1, 7, 21, 59),  # Sunday 16:59 New York: closed
        utc(2024, 1, 7, 22, 0),  # Sunday 17:00 New York: Monday's session opens
        utc(2024, 1, 8, 21, 59),  # Monday 16:59 New York
        utc(2024, 1, 8, 22, 0),  # Monday 17:00 New York: Tuesday's session
        utc(2024, 1, 12, 21, 59),  # Friday 16:59 New York
        utc(2024, 1, 12, 22, 0),  # Friday 17:00 New York: closed for the weekend
        utc(2024, 1, 13, 12, 0),  # Saturday
    ]
    assert sessions_of("FX", *instants) == [
        None,
        date(2024, 1, 8),
        date(2024, 1, 8),
        date(2024, 1, 9),
        date(2024, 1, 12),
        None,
        None,
    ]


def test_fx_roll_follows_new_york_daylight_saving_time():
    # In July 17:00 New York is 21:00 UTC.
    assert sessions_of("FX", utc(2024, 7, 7, 20, 59), utc(2024, 7, 7, 21, 0), utc(2024, 7, 12, 21, 0)) == [
        None,
        date(2024, 7, 8),
        None,
    ]
    assert segments("FX", date(2024, 7, 8), date(2024, 7, 8)).rows() == [
        (date(2024, 7, 8), utc(2024, 7, 7, 21), utc(2024, 7, 8, 21))
    ]


def test_fx_normalize_keeps_sunday_evening_bars_and_quarantines_saturday():
    rows = [bar("2024-01-07 17:00"), bar("2024-01-06 12:00"), bar("2024-01-05 17:00")]
    result = normalized(rows, calendar="FX", interval="1h")
    assert result.bars["ts"].to_list() == [utc(2024, 1, 7, 22)]
    assert result.quarantine["rule"].to_list() == ["outside_session", "outside_session"]
    assert all("UTC, when FX has no session" in d for d in result.quarantine["detail"])


@pytest.mark.parametrize("count", [0, 3])
def test_assign_sessions_returns_one_row_per_timestamp_even_when_none_is_valid(count):
    ts = pl.Series("ts", [None] * count, dtype=pl.Datetime("us", "UTC"))
    assigned = assign_sessions(ts, "XNYS", 1)
    assert assigned.height == count
    assert assigned["session"].null_count() == count


def test_rows_whose_timestamps_all_fail_to_parse_are_quarantined_with_a_calendar_set():
    result = normalized([bar("yesterday"), bar("2024-13-45 09:30")], calendar="XNYS", interval="1min")
    assert result.bars.is_empty()
    assert result.quarantine["rule"].to_list() == ["unparseable_timestamp", "unparseable_timestamp"]


# --- alignment onto the grid -------------------------------------------------------------------


def test_a_minute_bar_stamped_inside_its_slot_moves_to_the_slot_start_and_is_counted():
    result = normalized([bar("2024-01-02 09:30:17"), bar("2024-01-02 09:31:00")], calendar="XNYS", interval="1min")
    assert result.bars["ts"].to_list() == [utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 14, 31)]
    assert result.realigned == 1
    assert result.quarantine.is_empty()


def test_the_grid_is_anchored_at_the_session_open_not_the_clock():
    # 5-minute slots from 09:30; 1-hour slots at 09:30, 10:30, ... (not 10:00).
    five = slots_of("XNYS", utc(2024, 1, 2, 14, 34, 59), utc(2024, 1, 2, 14, 35), utc(2024, 1, 2, 14, 37), minutes=5)
    assert five == [utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 14, 35), utc(2024, 1, 2, 14, 35)]
    hourly = slots_of("XNYS", utc(2024, 1, 2, 15, 0), utc(2024, 1, 2, 15, 45), utc(2024, 1, 2, 20, 59), minutes=60)
    assert hourly == [utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 15, 30), utc(2024, 1, 2, 20, 30)]
    # After the Tokyo lunch break the grid restarts at 12:30.
    assert slots_of("XTKS", utc(2024, 1, 10, 3, 34), minutes=5) == [utc(2024, 1, 10, 3, 30)]


def test_five_minute_grid_in_normalize_aligns_and_counts_moved_bars():
    rows = [bar("2024-01-02 09:30"), bar("2024-01-02 09:36:30"), bar("2024-01-02 09:44:59")]
    result = normalized(rows, calendar="XNYS", interval="5min")
    assert result.bars["ts"].to_list() == [utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 14, 35), utc(2024, 1, 2, 14, 40)]
    assert result.realigned == 2


def test_two_bars_aligning_to_one_slot_keep_the_last_in_source_order_and_quarantine_the_other():
    rows = [bar("2024-01-02 09:30:50", close=11.0), bar("2024-01-02 09:30:10", close=12.0), bar("2024-01-02 09:31")]
    result = normalized(rows, calendar="XNYS", interval="1min")
    assert result.bars["ts"].to_list() == [utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 14, 31)]
    assert result.bars["close"].to_list() == [12.0, 10.0]
    (row,) = result.quarantine.iter_rows(named=True)
    assert (row["rule"], row["source_row"], row["detail"]) == ("duplicate_bar", 1, "superseded by source row 2")
    assert result.realigned == 2


def test_date_only_daily_bars_are_labelled_at_midnight_utc_of_the_session_date():
    rows = [bar("2024-01-02"), bar("2024-01-03")]
    result = normalized(rows, timezone="UTC", calendar="XNYS", interval="1d")
    assert result.bars["ts"].to_list() == [utc(2024, 1, 2), utc(2024, 1, 3)]
    assert result.realigned == 0


def test_daily_bars_stamped_at_the_16_00_close_are_labelled_by_session_date():
    rows = [bar("2024-01-02 16:00:00"), bar("2024-07-01 16:00:00"), bar("2024-07-02 09:30:00")]
    result = normalized(rows, calendar="XNYS", interval="1d")
    assert result.bars["ts"].to_list() == [utc(2024, 1, 2), utc(2024, 7, 1), utc(2024, 7, 2)]
    assert result.realigned == 3
    assert result.quarantine.is_empty()


@pytest.mark.parametrize(
    ("calendar", "timezone", "days"),
    [("XLON", "Europe/London", (10, 11, 15)), ("XTKS", "Asia/Tokyo", (10, 11, 16))],  # 07-15: a Tokyo holiday
)
def test_date_only_daily_bars_read_in_the_exchange_zone_keep_their_date(calendar, timezone, days):
    result = normalized([bar(f"2024-07-{d:02d}") for d in days], timezone=timezone, calendar=calendar, interval="1d")
    assert result.quarantine.is_empty()
    assert result.bars["ts"].to_list() == [utc(2024, 7, d) for d in days]


def test_calendar_without_interval_checks_sessions_but_keeps_timestamps_as_given():
    result = normalized([bar("2024-01-02 09:30:17")], calendar="XNYS")
    assert result.bars["ts"].to_list() == [datetime(2024, 1, 2, 14, 30, 17, tzinfo=UTC)]
    assert result.realigned == 0


# --- outside_session ---------------------------------------------------------------------------


def test_weekend_and_holiday_daily_bars_are_quarantined_outside_session_and_nothing_else_is_lost():
    rows = [bar("2024-07-03"), bar("2024-07-04"), bar("2024-07-05"), bar("2024-07-06"), bar("2024-07-08")]
    result = normalized(rows, timezone="UTC", calendar="XNYS", interval="1d")
    assert result.bars["ts"].to_list() == [utc(2024, 7, 3), utc(2024, 7, 5), utc(2024, 7, 8)]
    assert result.quarantine["rule"].to_list() == ["outside_session", "outside_session"]
    assert result.quarantine["source_row"].to_list() == [2, 4]
    assert result.quarantine["detail"].to_list() == [
        "column 'ts': '2024-07-04' is 2024-07-04 00:00 UTC, when XNYS has no session",
        "column 'ts': '2024-07-06' is 2024-07-06 00:00 UTC, when XNYS has no session",
    ]


def test_a_pre_market_minute_bar_is_quarantined_outside_session():
    rows = [bar("2024-01-02 09:29"), bar("2024-01-02 09:30"), bar("2024-01-02 09:31")]
    result = normalized(rows, calendar="XNYS", interval="1min")
    assert result.bars.height == 2
    (row,) = result.quarantine.iter_rows(named=True)
    assert (row["rule"], row["source_row"]) == ("outside_session", 1)
    assert row["detail"] == "column 'ts': '2024-01-02 09:29' is 2024-01-02 14:29 UTC, when XNYS has no session"


def test_a_bar_broken_in_another_way_keeps_its_own_rule_even_when_outside_the_session():
    result = normalized([bar("2024-01-06 12:00", close=-1.0), bar("2024-01-05 12:00")], calendar="XNYS")
    assert result.quarantine["rule"].to_list() == ["non_positive_price"]


# --- missing bars ------------------------------------------------------------------------------
# XNYS hourly: slots 09:30, 10:30, ..., 15:30 New York, 7 per full session.

HOURS = ("09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30")


def two_sessions(symbol: str = "XYZ", skip: tuple[str, ...] = ("2024-01-02 11:30",)) -> list[dict]:
    stamps = [f"{d} {h}" for d in ("2024-01-02", "2024-01-03") for h in HOURS]
    return [bar(ts, close=10.0 + i, symbol=symbol) for i, ts in enumerate(stamps) if ts not in skip]


def hourly(rows: list[dict], policy: str):
    return normalized(rows, calendar="XNYS", interval="1h", missing_bars=policy)


def test_leave_counts_the_gap_in_coverage_and_adds_no_bars():
    result = hourly(two_sessions(), "leave")
    assert result.bars.height == 13
    assert result.quarantine.is_empty()
    assert result.coverage.to_dicts() == [
        {
            "symbol": "XYZ",
            "calendar": "XNYS",
            "interval": "1h",
            "policy": "leave",
            "first_ts": utc(2024, 1, 2, 14, 30),
            "last_ts": utc(2024, 1, 3, 20, 30),
            "expected_bars": 14,
            "present_bars": 13,
            "missing_bars": 1,
            "filled_bars": 0,
            "dropped_bars": 0,
            "incomplete_sessions": 1,
        }
    ]


def test_ffill_adds_a_flat_zero_volume_bar_at_the_previous_close_exactly_at_the_gap():
    result = hourly(two_sessions(skip=("2024-01-02 10:30", "2024-01-02 11:30")), "ffill")
    bars = result.bars
    assert bars.height == 14
    assert bars.filter(pl.col("volume") == 0)["ts"].to_list() == [utc(2024, 1, 2, 15, 30), utc(2024, 1, 2, 16, 30)]
    filled = bars.filter(pl.col("volume") == 0).select("open", "high", "low", "close").rows()
    assert filled == [(10.0, 10.0, 10.0, 10.0), (10.0, 10.0, 10.0, 10.0)]  # the 09:30 close
    assert contract_failures(bars) == []
    assert result.quarantine.is_empty()
    (coverage,) = result.coverage.to_dicts()
    assert (coverage["missing_bars"], coverage["filled_bars"], coverage["dropped_bars"]) == (2, 2, 0)


def test_ffill_bars_take_the_split_factor_of_the_bar_before_them():
    rows = [
        {**bar("2024-01-02 09:30", close=100.0), "split": None},
        {**bar("2024-01-02 11:30", close=100.0), "split": None},
        {**bar("2024-01-03 09:30", close=50.0), "split": "2"},
        {**bar("2024-01-03 11:30", close=50.0), "split": None},
    ]
    raw = to_raw_bars(pl.DataFrame(rows), ColumnMap(split_ratio="split"), origin="bars.csv")
    sessions = SessionsConfig(calendar="XNYS", interval="1h", missing_bars="ffill")
    bars = normalize_bars(raw, timezone=NEW_YORK, sessions=sessions).bars
    filled = bars.filter(pl.col("volume") == 0)
    assert filled["ts"].to_list()[:2] == [utc(2024, 1, 2, 15, 30), utc(2024, 1, 2, 17, 30)]
    assert filled["close"].to_list()[:2] == [50.0, 50.0]  # 100 as traded, halved like the bar before
    assert filled.filter(pl.col("ts") == utc(2024, 1, 3, 15, 30))["close"].to_list() == [50.0]
    assert contract_failures(bars) == []


def test_ffill_bars_take_the_adjusted_close_factor_of_the_bar_before_them():
    rows = [
        {**bar("2024-01-02 09:30", close=100.0), "adj": "50"},
        {**bar("2024-01-02 11:30", close=100.0), "adj": "50"},
        {**bar("2024-01-03 09:30", close=50.0), "adj": "50"},
    ]
    raw = to_raw_bars(pl.DataFrame(rows), ColumnMap(adj_close="adj"), origin="bars.csv")
    sessions = SessionsConfig(calendar="XNYS", interval="1h", missing_bars="ffill")
    bars = normalize_bars(raw, timezone=NEW_YORK, sessions=sessions).bars
    assert bars.height == 8
    assert bars.filter(pl.col("ts") == utc(2024, 1, 2, 15, 30)).select("close", "volume").row(0) == (50.0, 0.0)
    assert contract_failures(bars) == []


def test_drop_session_quarantines_every_bar_of_the_gappy_session_and_leaves_the_others():
    result = hourly(two_sessions(), "drop_session")
    assert result.bars["ts"].dt.date().unique().to_list() == [date(2024, 1, 3)]
    assert result.bars.height == 7
    assert result.quarantine.height == 6
    assert set(result.quarantine["rule"]) == {"incomplete_session"}
    assert set(result.quarantine["detail"]) == {"session 2024-01-02 has 1 missing bar(s)"}
    assert result.quarantine["source_row"].to_list() == [1, 2, 3, 4, 5, 6]
    (coverage,) = result.coverage.to_dicts()
    assert (coverage["missing_bars"], coverage["dropped_bars"], coverage["incomplete_sessions"]) == (1, 6, 1)


def test_a_symbol_that_starts_mid_way_is_not_owed_bars_before_its_first_bar():
    late = [row for row in two_sessions(symbol="NEW", skip=()) if row["ts"] >= "2024-01-02 12:30"]
    result = hourly([*two_sessions(symbol="OLD", skip=()), *late], "ffill")
    coverage = {row["symbol"]: row for row in result.coverage.to_dicts()}
    assert coverage["NEW"]["first_ts"] == utc(2024, 1, 2, 17, 30)
    assert (coverage["NEW"]["expected_bars"], coverage["NEW"]["missing_bars"], coverage["NEW"]["filled_bars"]) == (
        11,
        0,
        0,
    )
    assert (coverage["OLD"]["expected_bars"], coverage["OLD"]["missing_bars"]) == (14, 0)
    assert result.bars.group_by("symbol").len().sort("symbol").rows() == [("NEW", 11), ("OLD", 14)]


def test_coverage_counts_each_symbol_and_each_incomplete_session():
    gappy = two_sessions(symbol="GAP", skip=("2024-01-02 10:30", "2024-01-03 10:30", "2024-01-03 14:30"))
    result = hourly([*gappy, *two_sessions(symbol="FULL", skip=())], "drop_session")
    coverage = result.coverage.sort("symbol").select(
        "symbol", "expected_bars", "present_bars", "missing_bars", "dropped_bars", "incomplete_sessions"
    )
    assert coverage.rows() == [("FULL", 14, 14, 0, 0, 0), ("GAP", 14, 11, 3, 11, 2)]
    assert result.bars.group_by("symbol").len().rows() == [("FULL", 14)]
    assert set(result.quarantine["detail"]) == {
        "session 2024-01-02 has 1 missing bar(s)",
        "session 2024-01-03 has 2 missing bar(s)",
    }


def test_an_early_close_is_not_a_gap():
    rows = [bar(f"2024-11-29 {h}") for h in ("09:30", "10:30", "11:30", "12:30")]
    result = hourly(rows, "drop_session")
    assert result.bars.height == 4
    assert result.coverage.select("expected_bars", "missing_bars").row(0) == (4, 0)


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"calendar": "NYSEX"}, "calendar 'NYSEX' is unknown: use FX or an exchange_calendars code"),
        ({"interval": "1min"}, "interval needs a calendar"),
        ({"calendar": "XNYS", "missing_bars": "ffill"}, "missing_bars: ffill needs an interval"),
        ({"calendar": "XNYS", "missing_bars": "drop_session"}, "missing_bars: drop_session needs an interval"),
        ({"calendar": "XNYS", "interval": "5m"}, "interval '5m': use <n>min, <n>h (at most 24h) or 1d"),
        ({"calendar": "XNYS", "interval": "0min"}, "interval '0min'"),
        ({"calendar": "XNYS", "interval": "2d"}, "interval '2d'"),
        ({"calendar": "XNYS", "interval": "25h"}, "interval '25h'"),
        ({"calendar": "XNYS", "interval": "1.5h"}, "interval '1.5h'"),
        ({"calendar": "XNYS", "interval": "minute"}, "interval 'minute'"),
    ],
)
def test_inconsistent_sessions_settings_are_refused_with_a_clear_message(settings, message):
    with pytest.raises(ValidationError) as info:
        SessionsConfig(**settings)
    assert message in str(info.value)


def test_valid_sessions_settings_are_accepted():
    assert SessionsConfig(calendar="FX", interval="1h", missing_bars="ffill").interval == "1h"
    assert SessionsConfig(calendar="24/7", interval=" 5MIN ").calendar == "24/7"
    assert SessionsConfig(calendar="XTKS", interval="1d", missing_bars="drop_session").missing_bars == "drop_session"
    with pytest.raises(ValidationError, match="missing_bars"):
        SessionsConfig(calendar="XNYS", interval="1d", missing_bars="interpolate")


# --- daylight saving in naive local timestamps -------------------------------------------------


def test_the_repeated_hour_at_fall_back_is_told_apart_by_order_in_the_file():
    stamps = ["00:30", "01:00", "01:30", "01:00", "01:30", "02:00"]  # 01:xx twice: EDT, then EST
    rows = [bar(f"2024-11-03 {hm}", close=10 + i) for i, hm in enumerate(stamps)]
    result = normalized(rows)
    assert result.quarantine.is_empty()
    assert result.bars.select("ts", "close").rows() == [
        (utc(2024, 11, 3, 4, 30), 10.0),
        (utc(2024, 11, 3, 5, 0), 11.0),
        (utc(2024, 11, 3, 5, 30), 12.0),
        (utc(2024, 11, 3, 6, 0), 13.0),  # the second 01:00 is an hour after the first, not its duplicate
        (utc(2024, 11, 3, 6, 30), 14.0),
        (utc(2024, 11, 3, 7, 0), 15.0),
    ]


def test_a_repeated_local_time_seen_once_or_thrice_is_quarantined_not_guessed():
    once = [bar("2024-11-03 00:30"), bar("2024-11-03 01:30"), bar("2024-11-03 02:00")]
    result = normalized(once)
    assert result.quarantine.select("rule", "source_row").rows() == [("ambiguous_local_time", 2)]
    assert result.quarantine["detail"][0].startswith(
        "column 'ts': '2024-11-03 01:30' is shown twice by America/New_York clocks (daylight saving ends); "
        "it appears 1 time(s) in this file"
    )
    thrice = normalized([bar("2024-11-03 01:15", close=c) for c in (10, 11, 12)])
    assert thrice.quarantine_counts() == {"ambiguous_local_time": 3} and thrice.bars.is_empty()


def test_a_local_time_skipped_at_spring_forward_is_quarantined_with_its_reason():
    result = normalized([bar("2024-03-10 01:30"), bar("2024-03-10 02:30"), bar("2024-03-10 03:00")])
    assert result.bars["ts"].to_list() == [utc(2024, 3, 10, 6, 30), utc(2024, 3, 10, 7)]
    (row,) = result.quarantine.iter_rows(named=True)
    assert (row["rule"], row["source_row"]) == ("nonexistent_local_time", 2)
    assert row["detail"] == (
        "column 'ts': '2024-03-10 02:30' never happened in America/New_York (clocks skip it when daylight "
        "saving starts); write timestamps with their UTC offset or check data.timezone"
    )


def test_a_date_whose_midnight_is_skipped_is_still_that_date():
    # Santiago springs forward at midnight: 2024-09-08 00:00 never happened there.
    result = normalized([bar("2024-09-07"), bar("2024-09-08"), bar("2024-09-09")], timezone="America/Santiago")
    assert result.quarantine.is_empty()
    dates = result.bars["ts"].dt.convert_time_zone("America/Santiago").dt.date().to_list()
    assert dates == [date(2024, 9, 7), date(2024, 9, 8), date(2024, 9, 9)]


def test_fall_back_hours_are_disambiguated_per_file_and_symbol():
    rows = [bar("2024-11-03 01:30", symbol="AAA"), bar("2024-11-03 01:30", symbol="BBB")]
    rows += [bar("2024-11-03 01:30", symbol="AAA", close=11.0)]
    result = normalized(rows)
    assert result.quarantine.select("symbol", "rule").rows() == [("BBB", "ambiguous_local_time")]
    assert result.bars.select("symbol", "ts", "close").rows() == [
        ("AAA", utc(2024, 11, 3, 5, 30), 10.0),
        ("AAA", utc(2024, 11, 3, 6, 30), 11.0),
    ]


def test_the_calendars_accepted_without_importing_exchange_calendars_are_its_own_codes():
    import exchange_calendars as xcals

    from foxml_dagster.data.sessions import COMMON_CALENDARS

    assert set(xcals.get_calendar_names(include_aliases=True)) >= COMMON_CALENDARS
    with pytest.raises(ValidationError, match="unknown"):
        SessionsConfig(calendar="XNYZ")
