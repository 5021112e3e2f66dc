"""Trading sessions and the bar grid: which timestamps a market can have, and which are missing.

A calendar is any exchange_calendars code (XNYS, XLON, XTKS with its lunch break, 24/7 for crypto,
...) or `FX`: the 24/5 foreign-exchange week, sessions Monday to Friday each running from 17:00
New York the evening before to 17:00 New York (the market's roll time), so Sunday evening's bars
belong to Monday.

A session is made of one or more segments (two when an exchange breaks for lunch). Intraday bars
are aligned to a grid anchored at each segment's start (09:30, 09:31, ... for XNYS 1-minute
bars); a bar stamped inside a slot is moved to the slot's start. Daily bars are labelled by
session date at 00:00 UTC: a daily timestamp inside a session's hours belongs to that session,
any other to the session of its date in the zone the input was read in (data.timezone, else UTC),
so date-only input such as `2021-01-04` keeps its date whatever the exchange.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

import polars as pl
from pydantic import Field, model_validator

from foxml_dagster.settings import Settings

FX_CALENDAR = "FX"
DAILY_MINUTES = 24 * 60
_UTC_US = pl.Datetime("us", "UTC")
SEGMENT_SCHEMA = {"session": pl.Date, "start": _UTC_US, "end": _UTC_US}


class SessionsConfig(Settings):
    """data.sessions: the market's calendar, the bar grid, and what to do about missing bars."""

    calendar: str | None = Field(
        None,
        description="trading sessions: an exchange_calendars code (XNYS...), 24/7 or FX; bars outside them are "
        "quarantined; null: timestamps kept as given",
    )
    interval: str | None = Field(
        None, description="the bar grid bars are aligned to: <n>min, <n>h or 1d; null: no alignment, no gap count"
    )
    missing_bars: Literal["leave", "ffill", "drop_session"] = Field(
        "leave",
        description="what a gap in the grid becomes: leave it, ffill (a flat bar at the previous close, volume "
        "0), or drop_session (quarantine the whole session)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SessionsConfig:
        if self.calendar is not None:
            check_calendar_name(self.calendar)
        if self.interval is not None:
            if self.calendar is None:
                raise ValueError("interval needs a calendar (an exchange code such as XNYS, 24/7 or FX)")
            interval_minutes(self.interval)
        if self.missing_bars != "leave" and self.interval is None:
            raise ValueError(f"missing_bars: {self.missing_bars} needs an interval (the grid that defines a gap)")
        return self


def interval_minutes(interval: str) -> int:
    """Bar length in minutes: '<n>min', '<n>h' (up to one day) or '1d' (one bar per session)."""
    text = interval.strip().lower()
    for unit, scale in (("min", 1), ("h", 60), ("d", DAILY_MINUTES)):
        number = text.removesuffix(unit)
        if number != text and number.isdigit() and int(number) > 0:
            minutes = int(number) * scale
            if (unit == "d" and minutes != DAILY_MINUTES) or minutes > DAILY_MINUTES:
                break
            return minutes
    raise ValueError(f"interval {interval!r}: use <n>min, <n>h (at most 24h) or 1d, e.g. 1min, 5min, 1h, 1d")


#: Calendar codes exchange_calendars has always had (tests/unit/test_sessions.py checks them against
#: it). Config is validated in every step process, and naming one of these costs no import;
#: exchange_calendars (and pandas with it) takes seconds to import, and only steps that build
#: sessions need it.
COMMON_CALENDARS = frozenset(
    {"XNYS", "XNAS", "NYSE", "NASDAQ", "XLON", "XTKS", "24/7", "24/5", "CMES", "XHKG", "XTSE", "XETR", "XPAR", "XASX"}
)


def check_calendar_name(name: str) -> None:
    if name == FX_CALENDAR or name in COMMON_CALENDARS:
        return
    import exchange_calendars as xcals

    if name not in xcals.get_calendar_names(include_aliases=True):
        raise ValueError(
            f"calendar {name!r} is unknown: use FX or an exchange_calendars code "
            "(python -c 'import exchange_calendars as x; print(x.get_calendar_names())')"
        )


def segments(calendar: str, first: date, last: date) -> pl.DataFrame:
    """Trading segments (session, start, end) of the sessions in [first, last], UTC, end exclusive."""
    table = _fx_segments(first, last) if calendar == FX_CALENDAR else _exchange_segments(calendar, first, last)
    return table.cast(SEGMENT_SCHEMA)  # type: ignore[arg-type]


def _fx_segments(first: date, last: date) -> pl.DataFrame:
    new_york = ZoneInfo("America/New_York")
    roll = time(17, 0)
    rows = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            start = datetime.combine(day - timedelta(days=1), roll, new_york).astimezone(UTC)
            end = datetime.combine(day, roll, new_york).astimezone(UTC)
            rows.append((day, start, end))
        day += timedelta(days=1)
    return pl.DataFrame(rows, schema=list(SEGMENT_SCHEMA), orient="row")


@cache
def _exchange_schedule(calendar: str, first_year: int) -> pl.DataFrame:
    """The whole schedule from `first_year` on; cached per process (building one costs ~0.1 s)."""
    import exchange_calendars as xcals

    schedule = xcals.get_calendar(calendar, start=f"{first_year}-01-01").schedule
    frame = pl.from_pandas(schedule.reset_index(names="session"))
    return frame.with_columns(
        pl.col("session").cast(pl.Date),
        *(pl.col(c).cast(_UTC_US) for c in ("open", "break_start", "break_end", "close")),
    )


def calendar_end(calendar: str, first: date) -> date | None:
    """The last session a calendar knows (exchange_calendars looks about a year ahead); None for FX."""
    if calendar == FX_CALENDAR:
        return None
    return _exchange_schedule(calendar, first.year)["session"].max()  # type: ignore[return-value]


def _exchange_segments(calendar: str, first: date, last: date) -> pl.DataFrame:
    schedule = _exchange_schedule(calendar, first.year)
    end_of_calendar = schedule["session"].max()
    if last > end_of_calendar:  # type: ignore[operator]
        raise ValueError(
            f"calendar {calendar} ends at {end_of_calendar}; bars run to {last}. Upgrade exchange_calendars "
            "or set data.end"
        )
    window = schedule.filter(pl.col("session").is_between(first, last))
    has_break = pl.col("break_start").is_not_null()
    morning = window.select("session", pl.col("open").alias("start"), pl.coalesce("break_start", "close").alias("end"))
    afternoon = window.filter(has_break).select(
        "session", pl.col("break_end").alias("start"), pl.col("close").alias("end")
    )
    return pl.concat([morning, afternoon]).sort("start")


def assign_sessions(ts: pl.Series, calendar: str, minutes: int, *, date_zone: str = "UTC") -> pl.DataFrame:
    """For each timestamp: its session (null when the market is closed then) and its grid slot.

    A daily timestamp outside trading hours takes the session of its date in `date_zone`, the
    zone its text was written in: `2024-07-10` read as London midnight is 07-10, not 07-09 UTC.

    Returns columns `session` and `slot` (the aligned bar-open time), row for row with `ts`.
    """
    frame = pl.DataFrame({"ts": ts}).with_row_index("_row")
    valid = frame.drop_nulls("ts")
    if valid.is_empty():
        return frame.with_columns(session=pl.lit(None, pl.Date), slot=pl.lit(None, _UTC_US)).select("session", "slot")
    first = valid["ts"].min().date() - timedelta(days=1)  # type: ignore[union-attr]
    last = valid["ts"].max().date() + timedelta(days=1)  # type: ignore[union-attr]
    table = segments(calendar, first, last)
    inside = (
        valid.sort("ts")
        .join_asof(table, left_on="ts", right_on="start", strategy="backward")
        .with_columns(
            pl.when(pl.col("ts") < pl.col("end")).then(pl.col("session")).alias("session"),
            pl.when(pl.col("ts") < pl.col("end")).then(pl.col("start")).alias("start"),
        )
    )
    if minutes == DAILY_MINUTES:
        sessions = table["session"].unique()
        by_date = pl.col("ts").dt.convert_time_zone(date_zone).dt.date()
        session = pl.coalesce("session", pl.when(by_date.is_in(sessions.implode())).then(by_date))
        assigned = inside.with_columns(session.alias("session")).with_columns(
            pl.col("session").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("slot")
        )
    else:
        step = pl.duration(minutes=minutes)
        offset = (pl.col("ts") - pl.col("start")).dt.total_microseconds() // (minutes * 60_000_000)
        assigned = inside.with_columns((pl.col("start") + offset * step).alias("slot"))
    return frame.join(assigned.select("_row", "session", "slot"), on="_row", how="left").select("session", "slot")


def expected_slots(calendar: str, minutes: int, first: datetime, last: datetime) -> pl.DataFrame:
    """Every grid slot `ts` from `first` to `last` (bar-open times on the grid) with its `session`."""
    table = segments(calendar, first.date() - timedelta(days=1), last.date() + timedelta(days=1))
    if minutes == DAILY_MINUTES:
        slots = (
            table.select("session")
            .unique()
            .with_columns(pl.col("session").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts"))
        )
    else:
        grid = pl.datetime_ranges(
            "start", pl.col("end") - pl.duration(microseconds=1), interval=f"{minutes}m", time_unit="us"
        )
        slots = table.select("session", grid.alias("ts")).explode("ts")
    return (
        slots.with_columns(pl.col("ts").cast(_UTC_US))
        .filter(pl.col("ts").is_between(first, last))
        .select("ts", "session")
        .sort("ts")
    )
