"""From raw text bars to clean `bars`, with every rejected row quarantined with its reason.

Rules, checked in this order (a row is quarantined under the first it breaks):

- missing_symbol: no symbol.
- unparseable_timestamp: the timestamp matches none of the accepted formats.
- non_numeric_value: a price or volume is not a finite number (text, empty, NaN, inf), or the
  adjusted close is when adjustment is on.
- non_positive_price: open, high, low or close <= 0 (or the adjusted close, when used).
- negative_volume: volume < 0.
- ohlc_inconsistent: high below max(open, close, low), or low above min(open, close).
- bad_corporate_action: a split ratio that is not a positive number, or a dividend that is not a
  non-negative number (when adjustment is on and the source gives them).
- outside_session: with a calendar (data.sessions), a bar stamped when the market is closed.
- duplicate_bar: more than one row for (symbol, ts) after alignment to the bar grid. The last row
  in source order wins, as a vendor's later row is its correction; the earlier rows are
  quarantined.
- incomplete_session: with missing_bars: drop_session, the bars of a session that has a gap.

Rows outside the configured [start, end] window are not errors: they are left out and counted.

Adjustment is backward, as vendors' adjusted closes are: the latest prices are as traded and
earlier ones are scaled by the splits and dividends after them, so returns across an ex-date are
true returns. Either the source's adjusted close (factor = adj_close / close) or its split and
dividend columns (factor = product over later ex-dates of (1 - dividend / previous close) /
split ratio) scale OHLC; volume is scaled by splits only, the inverse of their price factor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from foxml_dagster.data.gaps import COVERAGE_SCHEMA, apply_missing_bar_policy
from foxml_dagster.data.raw import BAR_VALUE_COLUMNS, RAW_SCHEMA
from foxml_dagster.data.sessions import SessionsConfig, assign_sessions, interval_minutes

BARS_SCHEMA = {
    "symbol": pl.Utf8,
    "ts": pl.Datetime("us", "UTC"),
    **{name: pl.Float64 for name in BAR_VALUE_COLUMNS},
}
QUARANTINE_SCHEMA = RAW_SCHEMA | {"rule": pl.Utf8, "detail": pl.Utf8}

_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z")
_NAIVE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")


class TimezoneMissingError(ValueError):
    """Naive timestamps and no configured zone: we refuse to guess."""


@dataclass(frozen=True)
class NormalizedBars:
    bars: pl.DataFrame
    quarantine: pl.DataFrame
    outside_window: int
    realigned: int = 0  # bars moved onto the grid (stamped inside their slot, not at its start)
    coverage: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=COVERAGE_SCHEMA)
    )  # per symbol, with a calendar + interval

    def quarantine_counts(self) -> dict[str, int]:
        counts = self.quarantine.group_by("rule").len().sort("rule")
        return dict(zip(counts["rule"].to_list(), counts["len"].to_list(), strict=True))


def parse_timestamps(ts: pl.Expr, timezone: str | None) -> tuple[pl.Expr, pl.Expr]:
    """(aware UTC timestamp or null, whether the text was naive) for a text column."""
    ts = ts.str.replace(r"Z$", "+00:00")  # ISO 8601's "Z" is UTC; the %z directive wants an offset
    aware = pl.coalesce([ts.str.to_datetime(fmt, time_unit="us", strict=False) for fmt in _AWARE_FORMATS])
    naive = pl.coalesce([ts.str.to_datetime(fmt, time_unit="us", strict=False) for fmt in _NAIVE_FORMATS])
    zone = timezone or "UTC"
    localized = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    parsed = pl.coalesce(aware.dt.convert_time_zone("UTC"), localized.dt.convert_time_zone("UTC"))
    return parsed, aware.is_null() & naive.is_not_null()


def normalize_bars(
    raw: pl.DataFrame,
    *,
    timezone: str | None,
    adjust_prices: bool = True,
    start: date | None = None,
    end: date | None = None,
    sessions: SessionsConfig | None = None,
) -> NormalizedBars:
    """Parse, check and clean raw bars. Nothing is dropped silently: see the module docstring."""
    raw = raw.cast(RAW_SCHEMA)  # type: ignore[arg-type]
    sessions = sessions or SessionsConfig()
    ts, naive = parse_timestamps(pl.col("ts").str.strip_chars(), timezone)
    use_adj = adjust_prices and raw["adj_close"].drop_nulls().len() > 0
    has_actions = raw["split_ratio"].drop_nulls().len() + raw["dividend"].drop_nulls().len() > 0
    use_actions = adjust_prices and not use_adj and has_actions
    values = [*BAR_VALUE_COLUMNS, *(["adj_close"] if use_adj else [])]
    actions = ["split_ratio", "dividend"] if use_actions else []
    parsed = raw.with_columns(
        pl.col("symbol").str.strip_chars(),  # "XYZ " and "XYZ" are one symbol, for de-duplication too
        ts.alias("_ts"),
        naive.alias("_naive"),
        *(pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).alias(f"_{c}") for c in [*values, *actions]),
    )
    if timezone is None and parsed["_naive"].any():
        example = parsed.filter(pl.col("_naive"))["ts"][0]
        raise TimezoneMissingError(
            f"bars from {parsed['origin'][0]}: timestamps like {example!r} carry no time zone; "
            "set data.timezone (e.g. America/New_York) in the experiment config"
        )

    rule = _first_broken_rule(values, actions, use_adj=use_adj)
    detail = (
        pl.when(pl.col("_ts").is_null())
        .then(pl.format("ts={}", pl.col("ts")))
        .otherwise(pl.format("o={} h={} l={} c={} v={}", *BAR_VALUE_COLUMNS))
    )
    checked = parsed.with_columns(rule.alias("rule"), detail.alias("detail"))

    in_window = pl.lit(True)
    if start is not None:
        in_window &= pl.col("_ts").dt.date() >= start
    if end is not None:
        in_window &= pl.col("_ts").dt.date() <= end
    outside = checked.filter(pl.col("_ts").is_not_null() & ~in_window).height
    checked = checked.filter(pl.col("_ts").is_null() | in_window)
    checked, realigned = _align_to_sessions(checked, sessions, date_zone=timezone or "UTC")

    winners, superseded = _deduplicated(checked.filter(pl.col("rule").is_null()))
    rejected = [checked.filter(pl.col("rule").is_not_null()), superseded]

    filled = None
    coverage = pl.DataFrame(schema=COVERAGE_SCHEMA)
    if sessions.interval is not None:
        gaps = apply_missing_bar_policy(winners, sessions)
        winners, filled, coverage = gaps.kept, gaps.filled, gaps.coverage
        rejected.append(gaps.dropped.with_columns(pl.lit("incomplete_session").alias("rule")))

    quarantine = pl.concat([frame.select(*QUARANTINE_SCHEMA) for frame in rejected]).sort(
        "symbol", "source_row", nulls_last=True
    )
    bars = _adjusted(winners, filled, use_adj=use_adj, use_actions=use_actions)
    return NormalizedBars(
        bars=bars.cast(BARS_SCHEMA),  # type: ignore[arg-type]
        quarantine=quarantine,
        outside_window=outside,
        realigned=realigned,
        coverage=coverage,
    )


def _first_broken_rule(values: list[str], actions: list[str], *, use_adj: bool) -> pl.Expr:
    """The name of the first validation rule a row breaks (module docstring), or null."""
    prices = ["_open", "_high", "_low", "_close", *(["_adj_close"] if use_adj else [])]
    numbers = [f"_{v}" for v in values]
    return (
        pl.when(pl.col("symbol").is_null() | (pl.col("symbol") == ""))
        .then(pl.lit("missing_symbol"))
        .when(pl.col("_ts").is_null())
        .then(pl.lit("unparseable_timestamp"))
        .when(pl.any_horizontal(pl.col(c).is_null() | ~pl.col(c).is_finite() for c in numbers))
        .then(pl.lit("non_numeric_value"))
        .when(pl.any_horizontal(pl.col(c) <= 0 for c in prices))
        .then(pl.lit("non_positive_price"))
        .when(pl.col("_volume") < 0)
        .then(pl.lit("negative_volume"))
        .when(
            (pl.col("_high") < pl.max_horizontal("_open", "_close", "_low"))
            | (pl.col("_low") > pl.min_horizontal("_open", "_close"))
        )
        .then(pl.lit("ohlc_inconsistent"))
        .when(_bad_corporate_action(actions))
        .then(pl.lit("bad_corporate_action"))
    )


def _deduplicated(good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(one row per (symbol, ts): the last in source order, the earlier rows as duplicate_bar)."""
    good = good.with_row_index("_order")
    last_of_key = pl.col("_order") == pl.col("_order").max().over("symbol", "_ts")
    winners = good.filter(last_of_key)
    superseded = (
        good.filter(~last_of_key)
        .join(winners.select("symbol", "_ts", pl.col("source_row").alias("_kept")), on=["symbol", "_ts"])
        .with_columns(
            pl.lit("duplicate_bar").alias("rule"),
            pl.format("superseded by source row {}", "_kept").alias("detail"),
        )
    )
    return winners, superseded


def _bad_corporate_action(actions: list[str]) -> pl.Expr:
    if not actions:
        return pl.lit(False)
    split, dividend = pl.col("_split_ratio"), pl.col("_dividend")
    bad_split = pl.col("split_ratio").is_not_null() & (split.is_null() | ~split.is_finite() | (split <= 0))
    bad_dividend = pl.col("dividend").is_not_null() & (dividend.is_null() | ~dividend.is_finite() | (dividend < 0))
    return bad_split | bad_dividend


def _align_to_sessions(checked: pl.DataFrame, sessions: SessionsConfig, date_zone: str) -> tuple[pl.DataFrame, int]:
    """Quarantine bars outside the calendar's sessions; move the others onto the bar grid."""
    if sessions.calendar is None:
        return checked, 0
    minutes = interval_minutes(sessions.interval) if sessions.interval else None
    assigned = assign_sessions(checked["_ts"], sessions.calendar, minutes or 1, date_zone=date_zone)
    checked = checked.with_columns(assigned["session"].alias("_session"), assigned["slot"].alias("_slot"))
    outside = pl.col("rule").is_null() & pl.col("_ts").is_not_null() & pl.col("_session").is_null()
    checked = checked.with_columns(
        pl.when(outside).then(pl.lit("outside_session")).otherwise("rule").alias("rule"),
        pl.when(outside)
        .then(pl.format("no {} session at {}", pl.lit(sessions.calendar), pl.col("_ts")))
        .otherwise("detail")
        .alias("detail"),
    )
    if minutes is None:
        return checked.drop("_slot"), 0
    moved = pl.col("rule").is_null() & (pl.col("_slot") != pl.col("_ts"))
    realigned = checked.select(moved.sum()).item()
    aligned = checked.with_columns(pl.when(pl.col("rule").is_null()).then("_slot").otherwise("_ts").alias("_ts"))
    return aligned.drop("_slot"), realigned


def _adjusted(winners: pl.DataFrame, filled: pl.DataFrame | None, *, use_adj: bool, use_actions: bool) -> pl.DataFrame:
    """The clean bars: prices scaled backward for splits and dividends, volume for splits."""
    columns = ["symbol", "_ts", "_open", "_high", "_low", "_close", "_volume"]
    frame = winners.select(*columns, _price_factor=pl.lit(1.0), _share_factor=pl.lit(1.0))
    if use_adj:
        factor = pl.col("_adj_close") / pl.col("_close")
        frame = winners.select(*columns, _price_factor=factor, _share_factor=factor)
    elif use_actions:
        frame = _action_factors(winners.select(*columns, "_split_ratio", "_dividend")).drop("_split_ratio", "_dividend")
    if filled is not None and filled.height:
        # A filled bar is priced at the previous close, so it takes the factor of the bar before it.
        fills = filled.with_columns(_price_factor=pl.lit(None, pl.Float64), _share_factor=pl.lit(None, pl.Float64))
        frame = pl.concat([frame, fills.select(frame.columns)]).sort("symbol", "_ts")
        frame = frame.with_columns(pl.col("_price_factor", "_share_factor").forward_fill().over("symbol"))
    price = pl.col("_price_factor")
    return frame.select(
        "symbol",
        pl.col("_ts").alias("ts"),
        *((pl.col(f"_{c}") * price).alias(c) for c in ("open", "high", "low", "close")),
        (pl.col("_volume") / pl.col("_share_factor")).alias("volume"),
    ).sort("symbol", "ts")


def _action_factors(frame: pl.DataFrame) -> pl.DataFrame:
    """Backward factors from ex-date events: a bar is scaled by every event after it."""
    split = pl.col("_split_ratio").fill_null(1.0)
    previous_close = pl.col("_close").shift(1).over("symbol")
    dividend_step = (1 - pl.col("_dividend").fill_null(0.0) / previous_close).fill_null(1.0)
    return frame.sort("symbol", "_ts").with_columns(
        _product_after(dividend_step / split).over("symbol").alias("_price_factor"),
        _product_after(1 / split).over("symbol").alias("_share_factor"),
    )


def _product_after(step: pl.Expr) -> pl.Expr:
    """At each row, the product of `step` over the rows after it (1 at the last)."""
    return step.reverse().cum_prod().reverse().shift(-1, fill_value=1.0)
