"""Missing bars: count them per symbol against the session grid and apply the configured policy.

A symbol's expected bars are the grid slots from its first bar to its last (a symbol that lists
mid-way is not owed bars from before it existed). Policies:

- leave: keep the gaps; only count them.
- ffill: add each missing bar as open = high = low = close = the previous close, volume 0 (a bar
  in which nothing traded), so time-based windows see a regular grid.
- drop_session: remove every bar of a session that has a gap; the removed rows go to quarantine
  under `incomplete_session`, so nothing is lost.

Used by normalize on bars already aligned to the grid and de-duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from foxml_dagster.data.sessions import SessionsConfig, expected_slots, interval_minutes

COVERAGE_SCHEMA = {
    "symbol": pl.Utf8,
    "calendar": pl.Utf8,
    "interval": pl.Utf8,
    "policy": pl.Utf8,
    "first_ts": pl.Datetime("us", "UTC"),
    "last_ts": pl.Datetime("us", "UTC"),
    "expected_bars": pl.Int64,
    "present_bars": pl.Int64,
    "missing_bars": pl.Int64,
    "filled_bars": pl.Int64,
    "dropped_bars": pl.Int64,
    "incomplete_sessions": pl.Int64,
}

FILLED_SCHEMA = {
    "symbol": pl.Utf8,
    "_ts": pl.Datetime("us", "UTC"),
    **{f"_{c}": pl.Float64 for c in ("open", "high", "low", "close", "volume")},
}


@dataclass(frozen=True)
class GapResult:
    kept: pl.DataFrame  # the input rows that stay
    dropped: pl.DataFrame  # input rows removed by drop_session, with a `detail`
    filled: pl.DataFrame  # new bars (symbol, _ts, _open, _high, _low, _close, _volume)
    coverage: pl.DataFrame  # one row per symbol, COVERAGE_SCHEMA


def apply_missing_bar_policy(bars: pl.DataFrame, sessions: SessionsConfig) -> GapResult:
    """`bars` has one row per (symbol, _ts) on the grid, with `_session` and `_close` columns."""
    assert sessions.calendar is not None and sessions.interval is not None
    minutes = interval_minutes(sessions.interval)
    kept, dropped, filled, coverage = [], [], [], []
    for (symbol,), own in bars.sort("_ts").group_by("symbol", maintain_order=True):
        grid = expected_slots(sessions.calendar, minutes, own["_ts"][0], own["_ts"][-1])
        missing = grid.join(own.select("_ts"), left_on="ts", right_on="_ts", how="anti")
        incomplete = missing["session"].unique()
        lost = own.filter(pl.col("_session").is_in(incomplete.implode()))
        new = _forward_filled(own, missing) if sessions.missing_bars == "ffill" else None
        if sessions.missing_bars == "drop_session" and lost.height:
            per_session = missing.group_by("session").len()
            lost = lost.join(per_session, left_on="_session", right_on="session").with_columns(
                pl.format("session {} has {} missing bar(s)", "_session", "len").alias("detail")
            )
            dropped.append(lost.drop("len"))
            own = own.filter(~pl.col("_session").is_in(incomplete.implode()))
        kept.append(own)
        if new is not None:
            filled.append(new)
        coverage.append(
            {
                "symbol": symbol,
                "calendar": sessions.calendar,
                "interval": sessions.interval,
                "policy": sessions.missing_bars,
                "first_ts": grid["ts"][0],
                "last_ts": grid["ts"][-1],
                "expected_bars": grid.height,
                "present_bars": grid.height - missing.height,
                "missing_bars": missing.height,
                "filled_bars": 0 if new is None else new.height,
                "dropped_bars": lost.height if sessions.missing_bars == "drop_session" else 0,
                "incomplete_sessions": incomplete.len(),
            }
        )
    return GapResult(
        kept=pl.concat(kept) if kept else bars,
        dropped=pl.concat(dropped) if dropped else bars.clear().with_columns(pl.lit("").alias("detail")),
        filled=pl.concat(filled) if filled else pl.DataFrame(schema=FILLED_SCHEMA),
        coverage=pl.DataFrame(coverage, schema=COVERAGE_SCHEMA),
    )


def _forward_filled(own: pl.DataFrame, missing: pl.DataFrame) -> pl.DataFrame:
    """A flat, zero-volume bar at each missing slot, priced at the last close before it."""
    previous = own.select("symbol", "_ts", "_close").sort("_ts")
    slots = missing.select(pl.col("ts").alias("_ts"))
    joined = slots.join_asof(previous, on="_ts", strategy="backward")
    price = pl.col("_close")
    return joined.select(
        "symbol", "_ts", *(price.alias(f"_{c}") for c in ("open", "high", "low", "close")), _volume=pl.lit(0.0)
    )
