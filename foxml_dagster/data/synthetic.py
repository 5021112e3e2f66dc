"""Deterministic synthetic OHLCV bars with the structure real markets have.

Pure functions, no I/O. Each symbol's path is drawn from its own random stream (seed, symbol
index) and the market factor from (seed, 0), so any subset of symbols, generated in any batch,
gives the same rows: a source can serve one symbol at a time and a benchmark can generate a huge
universe in memory-sized batches.

Structure, per bar (all vectorised over the time axis):

- a market factor and per-symbol idiosyncratic returns, each with stochastic volatility (a
  log-variance AR(1), the smooth cousin of GARCH(1,1): squared returns are autocorrelated);
  symbol return = beta * market + idiosyncratic, betas drawn per symbol;
- jumps (rare, large, Gaussian in log price);
- intraday seasonality: volatility and volume are U-shaped over the session;
- overnight gaps: the first bar of a session opens away from the previous close (within a session
  a bar opens at the previous close);
- randomly missing bars, and trading halts (runs of missing bars); the latent price moves on
  through them, so the next bar shows the move;
- symbols that start mid-way through the calendar.

Sessions: with a market calendar (data.sessions.calendar: an exchange_calendars code, 24/7 or FX)
the bars follow it, holidays, early closes, lunch breaks and daylight saving included, on the grid
normalization aligns to (anchored at each session or segment start), so no generated bar is
outside a session or off the grid. Without one: weekdays, and intraday bars cover US regular hours
taken as 14:30-21:00 UTC all year. Daily bars are stamped at 00:00 UTC of their session date, like
the sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import polars as pl

from foxml_dagster.data.normalize import BARS_SCHEMA
from foxml_dagster.data.sessions import DAILY_MINUTES, calendar_end, interval_minutes, segments

SESSION_MINUTES = 390
SESSION_OPEN_UTC_MINUTES = 14 * 60 + 30


@dataclass(frozen=True)
class Structure:
    """How the synthetic market behaves. Volatilities are per session (one trading day)."""

    market_vol: float = 0.01
    idio_vol: float = 0.015
    vol_persistence: float = 0.97  # per-session AR(1) coefficient of log variance
    vol_of_vol: float = 0.6  # stationary std of log variance
    jump_rate: float = 0.02  # expected jumps per symbol per session
    jump_size: float = 0.04  # std of a jump in log price
    gap_vol: float = 0.006  # std of the overnight (close -> next open) log move
    intraday_u: float = 2.0  # bars at the session's ends have (1 + u) times the mid-session variance
    missing_rate: float = 0.01  # fraction of bars dropped at random
    halt_rate: float = 0.005  # expected halts per symbol per session
    max_halt_bars: int = 12  # a halt lasts 2..max_halt_bars bars
    late_start_fraction: float = 0.2  # share of symbols whose first bar is in the calendar's first half
    beta_range: tuple[float, float] = (0.5, 1.5)


def parse_interval(interval: str) -> int:
    """Bar length in minutes: '1min'..'390min', '1h'..'6h', or '1d' (a whole session)."""
    minutes = interval_minutes(interval)
    if minutes != DAILY_MINUTES and minutes > SESSION_MINUTES:
        raise ValueError(f"interval {interval!r}: intraday bars must be 1 to {SESSION_MINUTES} minutes")
    return minutes


@dataclass(frozen=True)
class Calendar:
    """The bar grid every symbol lives on: `ts[k]` is slot k's bar open (UTC, microseconds)."""

    ts: np.ndarray  # datetime64[us]
    position: np.ndarray  # bar index within its session
    bars_per_session: int
    session_fraction: float  # share of a session one bar covers

    @property
    def session_start(self) -> np.ndarray:
        return self.position == 0


def calendar(n_bars: int, interval: str, start: date, market: str | None = None) -> Calendar:
    """`n_bars` consecutive bar slots from `start`: the sessions of the `market` calendar (an
    exchange_calendars code, 24/7 or FX), or without one weekdays (rolled forward to a weekday)."""
    minutes = parse_interval(interval)
    if market is not None:
        return _market_calendar(n_bars, minutes, start, market)
    daily = minutes == DAILY_MINUTES
    per_session = 1 if daily else math.ceil(SESSION_MINUTES / minutes)
    slot = np.arange(n_bars)
    session, position = np.divmod(slot, per_session)
    days = np.busday_offset(np.datetime64(start, "D"), session, roll="forward").astype("datetime64[us]")
    offset = 0 if daily else SESSION_OPEN_UTC_MINUTES + position * minutes
    ts = days + (np.asarray(offset) * 60_000_000).astype("timedelta64[us]")
    fraction = 1.0 if daily else minutes / SESSION_MINUTES
    return Calendar(ts=ts, position=position, bars_per_session=per_session, session_fraction=fraction)


@lru_cache(maxsize=8)  # a source generates one symbol at a time on the same calendar
def _market_calendar(n_bars: int, minutes: int, start: date, market: str) -> Calendar:
    """The first `n_bars` grid slots of `market`'s sessions from `start`, as normalization's grid
    has them: session dates at 00:00 UTC for daily bars, else slots anchored at each segment start."""
    end = calendar_end(market, start)
    span = timedelta(days=max(14, 2 * n_bars * minutes // DAILY_MINUTES))
    while True:
        last = start + span if end is None else min(start + span, end)
        table = segments(market, start, last)
        if minutes == DAILY_MINUTES:
            slots = table.select("session").unique(maintain_order=True).with_columns(pl.col("session").alias("ts"))
        else:
            grid = pl.datetime_ranges(
                "start", pl.col("end") - pl.duration(microseconds=1), interval=f"{minutes}m", time_unit="us"
            )
            slots = table.select("session", grid.alias("ts")).explode("ts")
        if slots.height >= n_bars:
            break
        if last == end:
            raise ValueError(
                f"data.synthetic: {n_bars} bars of {minutes} minutes from {start} run past the last session the "
                f"{market} calendar knows ({end}); lower n_bars or start earlier"
            )
        span *= 2
    slots = slots.head(n_bars).with_columns(
        pl.col("ts").cast(pl.Datetime("us")), pl.int_range(pl.len()).over("session").alias("position")
    )
    per_session = int(slots["position"].max()) + 1  # type: ignore[arg-type]
    return Calendar(
        ts=slots["ts"].to_numpy(),
        position=slots["position"].to_numpy(),
        bars_per_session=per_session,
        session_fraction=1.0 / per_session,
    )


def symbol_names(n_symbols: int) -> list[str]:
    """SYN000, SYN001, ...: zero-padded so lexical order is index order."""
    width = max(3, len(str(n_symbols - 1)))
    return [f"SYN{i:0{width}d}" for i in range(n_symbols)]


def _seasonality(cal: Calendar, u: float) -> tuple[np.ndarray, np.ndarray]:
    """(volatility, volume) multipliers per slot: U-shaped over the session, mean square / mean 1."""
    if cal.bars_per_session == 1:
        ones = np.ones(cal.ts.shape[0])
        return ones, ones
    x = (np.arange(cal.bars_per_session) + 0.5) / cal.bars_per_session
    shape = 1.0 + u * (2 * x - 1) ** 2
    variance = shape / shape.mean()
    return np.sqrt(variance)[cal.position], variance[cal.position]


def _stochastic_vol(rng: np.random.Generator, n: int, cal: Calendar, s: Structure) -> np.ndarray:
    """Volatility multiplier with mean-one variance whose log follows an AR(1) (clustering)."""
    from scipy.signal import lfilter  # imported here: the code location loads without scipy

    phi = s.vol_persistence**cal.session_fraction  # same clustering time scale at any interval
    shocks = rng.standard_normal(n) * s.vol_of_vol * math.sqrt(1 - phi**2)
    first = rng.standard_normal() * s.vol_of_vol  # start in the stationary distribution
    log_var, _ = lfilter([1.0], [1.0, -phi], shocks, zi=[phi * first])
    return np.exp((log_var - s.vol_of_vol**2 / 2) / 2)


@dataclass(frozen=True)
class _Market:
    returns: np.ndarray
    gaps: np.ndarray


def _market(seed: int, cal: Calendar, s: Structure) -> _Market:
    rng = np.random.default_rng([seed, 0])
    n = cal.ts.shape[0]
    vol, _ = _seasonality(cal, s.intraday_u)
    sigma = s.market_vol * math.sqrt(cal.session_fraction) * vol * _stochastic_vol(rng, n, cal, s)
    gaps = np.where(cal.session_start, rng.standard_normal(n) * s.gap_vol / 2, 0.0)
    return _Market(returns=sigma * rng.standard_normal(n), gaps=gaps)


def _halted(rng: np.random.Generator, n: int, cal: Calendar, s: Structure) -> np.ndarray:
    """Slots inside a halt: runs of 2..max_halt_bars bars starting at random slots."""
    starts = np.flatnonzero(rng.random(n) < s.halt_rate * cal.session_fraction)
    lengths = rng.integers(2, max(2, s.max_halt_bars) + 1, size=starts.size)
    depth = np.zeros(n + 1, dtype=np.int64)  # +1 at a halt's start, -1 after its end
    np.add.at(depth, starts, 1)
    np.add.at(depth, np.minimum(starts + lengths, n), -1)
    return np.cumsum(depth[:n]) > 0


def _symbol_columns(seed: int, index: int, cal: Calendar, market: _Market, s: Structure) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, index + 1])
    n = cal.ts.shape[0]
    vol_season, volume_season = _seasonality(cal, s.intraday_u)
    beta = rng.uniform(*s.beta_range)
    sigma = s.idio_vol * math.sqrt(cal.session_fraction) * vol_season * _stochastic_vol(rng, n, cal, s)
    jumps = (rng.random(n) < s.jump_rate * cal.session_fraction) * rng.normal(0.0, s.jump_size, n)
    bar_move = beta * market.returns + sigma * rng.standard_normal(n) + jumps
    gap = np.where(cal.session_start, beta * market.gaps + rng.normal(0.0, s.gap_vol, n), 0.0)

    log_close = math.log(rng.uniform(20, 200)) + np.cumsum(gap + bar_move)
    close = np.exp(log_close)
    open_ = np.exp(log_close - bar_move)  # = previous close * exp(gap): opens where it left off
    bar_sigma = np.hypot(beta * s.market_vol, s.idio_vol) * math.sqrt(cal.session_fraction) * vol_season
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.5, n)) * bar_sigma)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.5, n)) * bar_sigma)
    # Volume: the symbol's size, the session shape, more trading on big moves, lognormal noise.
    daily_volume = math.exp(rng.normal(math.log(1e6), 1.0))
    activity = 1.0 + np.abs(bar_move) / bar_sigma
    volume = daily_volume * cal.session_fraction * volume_season * activity * np.exp(rng.normal(-0.125, 0.5, n))
    volume = np.maximum(np.round(volume), 1.0)

    first = int(rng.integers(1, max(2, n // 2))) if rng.random() < s.late_start_fraction else 0
    observed = (np.arange(n) >= first) & (rng.random(n) >= s.missing_rate) & ~_halted(rng, n, cal, s)
    return {"ts": cal.ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume, "keep": observed}


def synthetic_bars(
    n_symbols: int,
    n_bars: int,
    interval: str = "1d",
    seed: int = 0,
    start: date = date(2020, 1, 2),
    structure: Structure | None = None,
    symbols: Sequence[str] | None = None,
    market: str | None = None,
) -> pl.DataFrame:
    """Bars in the canonical `bars` schema, sorted by (symbol, ts).

    The calendar has `n_bars` slots (on `market`'s sessions when given); a symbol has fewer rows
    where bars are missing, halted or before its start. `symbols` restricts the output to some of
    `symbol_names(n_symbols)` (each symbol's rows do not depend on which others are generated).
    """
    s = structure or Structure()
    names = symbol_names(n_symbols)
    wanted = names if symbols is None else list(symbols)
    index = {name: i for i, name in enumerate(names)}
    unknown = [name for name in wanted if name not in index]
    if unknown:
        raise ValueError(f"symbols {unknown} are not in the synthetic universe of {n_symbols}")
    cal = calendar(n_bars, interval, start, market)
    factor = _market(seed, cal, s)
    frames = []
    for name in sorted(wanted):
        columns = _symbol_columns(seed, index[name], cal, factor, s)
        keep = columns.pop("keep")
        frame = pl.DataFrame({key: values[keep] for key, values in columns.items()})
        frames.append(frame.with_columns(pl.lit(name).alias("symbol")))
    if not frames:
        return pl.DataFrame(schema=BARS_SCHEMA)
    bars = pl.concat(frames).select(*BARS_SCHEMA)
    return bars.with_columns(pl.col("ts").dt.replace_time_zone("UTC")).cast(BARS_SCHEMA)  # type: ignore[arg-type]
