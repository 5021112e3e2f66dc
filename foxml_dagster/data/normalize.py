"""From raw text bars to clean `bars`, with every rejected row quarantined with its reason.

Rules, checked in this order (a row is quarantined under the first it breaks):

- missing_symbol: no symbol.
- unparseable_timestamp: the timestamp matches none of the accepted formats (DEFAULT_FORMATS_TEXT,
  or data.timestamp_format when set).
- ambiguous_local_time: a naive local time the clocks showed twice (a DST fall-back) that cannot
  be told apart: the first of two rows at that time in a file is the daylight-saving bar and the
  second the standard-time bar; a time seen once, or three times or more, is quarantined rather
  than guessed, since a guess could put a bar an hour away from when it traded.
- nonexistent_local_time: a naive local time the clocks skipped (a DST spring-forward). A date
  without a time is a day, not an instant, so a skipped midnight takes the day's first hour.
- non_numeric_value: a price or volume is not a finite number (text, empty, NaN, inf), or the
  adjusted close is when the symbol is adjusted by it.
- non_positive_price: open, high, low or close <= 0 (or the adjusted close, when used).
- negative_volume: volume < 0.
- implausible_value: a price or volume outside data.plausibility (denormal prices, volumes no
  market trades): a parse or unit error rather than a bar.
- ohlc_inconsistent: high below max(open, close, low), or low above min(open, close).
- bad_corporate_action: a split ratio that is not a positive number, or a dividend that is not a
  non-negative number (when the symbol is adjusted by them).
- outside_session: with a calendar (data.sessions), a bar stamped when the market is closed.
- duplicate_bar: more than one row for (symbol, ts) after alignment to the bar grid. The last row
  in source order wins, as a vendor's later row is its correction; the earlier rows are
  quarantined.
- incomplete_session: with missing_bars: drop_session, the bars of a session that has a gap.

Each quarantined row's detail names the source column (as data.columns maps it) and the value
found there. Rows outside the configured [start, end] window are not errors: they are left out
and counted.

Adjustment is decided per symbol, so it cannot depend on which symbols share a batch: a symbol
with an adjusted close on any row is adjusted by it (its rows without one are quarantined, since
they could not be put on the same scale); otherwise a symbol with split or dividend values is
adjusted by those; otherwise its prices are kept as traded. Adjustment is backward, as vendors'
adjusted closes are: the latest prices are as traded and earlier ones are scaled by the splits
and dividends after them, so returns across an ex-date are true returns. Either the adjusted
close (factor = adj_close / close) or the split and dividend columns (factor = product over later
ex-dates of (1 - dividend / previous close) / split ratio) scale OHLC; volume is scaled by splits
only, the inverse of their price factor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import polars as pl
from pydantic import Field, model_validator

from foxml_dagster.data.gaps import COVERAGE_SCHEMA, apply_missing_bar_policy
from foxml_dagster.data.raw import ADJUSTMENT_COLUMNS, BAR_VALUE_COLUMNS, RAW_SCHEMA, ColumnMap
from foxml_dagster.data.sessions import SessionsConfig, assign_sessions, interval_minutes
from foxml_dagster.settings import Settings

BARS_SCHEMA = {
    "symbol": pl.Utf8,
    "ts": pl.Datetime("us", "UTC"),
    **{name: pl.Float64 for name in BAR_VALUE_COLUMNS},
}
QUARANTINE_SCHEMA = RAW_SCHEMA | {"rule": pl.Utf8, "detail": pl.Utf8}

_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z")
_NAIVE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")
DEFAULT_FORMATS_TEXT = (
    "YYYY-MM-DD, YYYY-MM-DD HH:MM, YYYY-MM-DD HH:MM:SS[.ffffff] (T or space before the time), "
    "the last optionally ending in Z or a UTC offset (+05:00, -0500)"
)
# strftime directives that put a time of day in a format; without one a timestamp is a date.
_TIME_DIRECTIVES = ("%H", "%I", "%k", "%l", "%M", "%T", "%R", "%X", "%c", "%s", "%+")
PRICE_COLUMNS = ("open", "high", "low", "close")


class TimezoneMissingError(ValueError):
    """Naive timestamps and no configured zone: we refuse to guess."""


class PlausibilityConfig(Settings):
    """data.plausibility: values no market prints, quarantined as implausible_value (null: no bound).

    The defaults leave room for sub-cent tokens and five-figure share prices alike; a value past
    them is a parse or unit error (a denormal 1e-320, a volume of 1e30)."""

    min_price: float | None = Field(default=1e-8, gt=0, description="lowest plausible price; null: no bound")
    max_price: float | None = Field(default=1e8, gt=0, description="highest plausible price; null: no bound")
    max_volume: float | None = Field(default=1e15, gt=0, description="highest plausible volume; null: no bound")

    @model_validator(mode="after")
    def _ordered(self) -> PlausibilityConfig:
        if self.min_price is not None and self.max_price is not None and self.min_price >= self.max_price:
            raise ValueError(f"min_price {self.min_price} must be below max_price {self.max_price}")
        return self


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


def check_timestamp_format(fmt: str) -> None:
    """A strftime format must read back what it writes (data.timestamp_format)."""
    sample = datetime(2024, 1, 2, 14, 30, 5, tzinfo=UTC)  # aware, so %z writes an offset
    written = sample.strftime(fmt)
    back = pl.Series([written]).str.to_datetime(fmt, strict=False)
    if "%" not in fmt or back.null_count():
        raise ValueError(
            f"timestamp_format {fmt!r} cannot read its own output {written!r}; use strftime directives "
            "such as '%m/%d/%Y' or '%d.%m.%Y %H:%M'"
        )


def _text(column: str) -> pl.Expr:
    """A raw text value without surrounding spaces, null when nothing is left (an expression, not
    a stored column: normalize's memory budget is per raw row)."""
    return pl.col(column).str.strip_chars().replace("", None)


def _parse_timestamps(text: pl.Expr, fmt: str | None) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(aware UTC timestamp, naive local timestamp, whether the text is a date without a time)."""
    if fmt is not None:
        if "%z" in fmt or "%Z" in fmt:
            aware = text.str.to_datetime(fmt, time_unit="us", strict=False).dt.convert_time_zone("UTC")
            return aware, pl.lit(None, pl.Datetime("us")), pl.lit(False)
        naive = text.str.to_datetime(fmt, time_unit="us", strict=False)
        return pl.lit(None, pl.Datetime("us", "UTC")), naive, pl.lit(not any(d in fmt for d in _TIME_DIRECTIVES))
    text = text.str.replace(r"Z$", "+00:00")  # ISO 8601's "Z" is UTC; the %z directive wants an offset
    aware = pl.coalesce([text.str.to_datetime(f, time_unit="us", strict=False) for f in _AWARE_FORMATS])
    naive = pl.coalesce([text.str.to_datetime(f, time_unit="us", strict=False) for f in _NAIVE_FORMATS])
    return aware.dt.convert_time_zone("UTC"), naive, text.str.len_chars() == 10


def _with_timestamps(raw: pl.DataFrame, timezone: str | None, fmt: str | None) -> pl.DataFrame:
    """Adds `_ts` (UTC, null when it cannot be known), `_naive`, and `_ts_rule` for local times the
    clocks showed twice or never (module docstring)."""
    aware, naive, date_only = _parse_timestamps(_text("ts"), fmt)
    frame = raw.with_columns(aware.alias("_aware"), naive.alias("_local"), date_only.alias("_date_only"))
    zone = timezone or "UTC"
    local = pl.col("_local")
    earliest = local.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    latest = local.dt.replace_time_zone(zone, ambiguous="latest", non_existent="null")
    # A date's skipped midnight (zones that spring forward at 00:00): the day starts an hour later.
    day_start = (local + pl.duration(hours=1)).dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    same_time = ["symbol", "origin", "_local"]
    seen = pl.len().over(same_time)
    nth = pl.col("source_row").rank("ordinal").over(same_time)
    ambiguous = (earliest != latest).fill_null(False)
    skipped = local.is_not_null() & earliest.is_null() & ~(pl.col("_date_only") & day_start.is_not_null())
    localized = (
        pl.when(ambiguous & (seen == 2) & (nth == 1))
        .then(earliest)
        .when(ambiguous & (seen == 2) & (nth == 2))
        .then(latest)
        .when(~ambiguous)
        .then(pl.coalesce(earliest, pl.when(pl.col("_date_only")).then(day_start)))
    )
    return frame.with_columns(
        pl.coalesce("_aware", localized.dt.convert_time_zone("UTC")).alias("_ts"),
        (pl.col("_aware").is_null() & local.is_not_null()).alias("_naive"),
        pl.when(pl.col("_aware").is_null() & ambiguous & (seen != 2))
        .then(pl.lit("ambiguous_local_time"))
        .when(pl.col("_aware").is_null() & skipped)
        .then(pl.lit("nonexistent_local_time"))
        .alias("_ts_rule"),
        seen.alias("_seen"),
    ).drop("_aware", "_local", "_date_only")


def normalize_bars(
    raw: pl.DataFrame,
    *,
    timezone: str | None,
    adjust_prices: bool = True,
    start: date | None = None,
    end: date | None = None,
    sessions: SessionsConfig | None = None,
    timestamp_format: str | None = None,
    plausibility: PlausibilityConfig | None = None,
    columns: ColumnMap | None = None,
) -> NormalizedBars:
    """Parse, check and clean raw bars. Nothing is dropped silently: see the module docstring.

    `columns` (data.columns) only names the source's columns in quarantine details."""
    raw = raw.cast(RAW_SCHEMA)  # type: ignore[arg-type]
    sessions = sessions or SessionsConfig()
    plausibility = plausibility or PlausibilityConfig()
    numbers = [*BAR_VALUE_COLUMNS, *ADJUSTMENT_COLUMNS]
    parsed = raw.with_columns(pl.col("symbol").str.strip_chars())
    parsed = parsed.with_columns(
        *(_text(c).cast(pl.Float64, strict=False).alias(f"_{c}") for c in numbers),
        # Per symbol (module docstring): a batch of symbols cannot change how one is adjusted.
        (pl.lit(adjust_prices) & _text("adj_close").is_not_null().any().over("symbol")).alias("_use_adj"),
    )
    has_actions = (_text("split_ratio").is_not_null() | _text("dividend").is_not_null()).any()
    parsed = parsed.with_columns(
        (pl.lit(adjust_prices) & ~pl.col("_use_adj") & has_actions.over("symbol")).alias("_use_actions")
    )
    parsed = _with_timestamps(parsed, timezone, timestamp_format)
    if timezone is None and parsed["_naive"].any():
        example = parsed.filter(pl.col("_naive"))["ts"][0]
        raise TimezoneMissingError(
            f"bars from {parsed.filter(pl.col('_naive'))['origin'][0]}: timestamps like {example!r} carry no "
            "time zone; set data.timezone (e.g. America/New_York) in the experiment config"
        )

    names = _Names(columns or ColumnMap(), timezone or "UTC", timestamp_format, plausibility)
    rule, detail = _first_broken_rule(names)
    checked = parsed.with_columns(rule.alias("rule")).with_columns(detail.alias("detail"))

    in_window = pl.lit(True)
    if start is not None:
        in_window &= pl.col("_ts").dt.date() >= start
    if end is not None:
        in_window &= pl.col("_ts").dt.date() <= end
    outside = checked.filter(pl.col("_ts").is_not_null() & ~in_window).height
    checked = checked.filter(pl.col("_ts").is_null() | in_window)
    checked, realigned = _align_to_sessions(
        checked, sessions, date_zone=timezone or "UTC", ts_column=names.column("ts")
    )

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
    bars = _adjusted(winners, filled)
    return NormalizedBars(
        bars=bars.cast(BARS_SCHEMA),  # type: ignore[arg-type]
        quarantine=quarantine,
        outside_window=outside,
        realigned=realigned,
        coverage=coverage,
    )


@dataclass(frozen=True)
class _Names:
    """What a quarantine detail needs to speak the user's terms: their column names and settings."""

    columns: ColumnMap
    zone: str
    timestamp_format: str | None
    plausibility: PlausibilityConfig

    def column(self, canonical: str) -> str:
        """`column 'Close' (close)`, or `column 'close'` when the source uses the canonical name."""
        source = getattr(self.columns, canonical, None) or canonical
        return f"column {source!r}" + ("" if source == canonical else f" ({canonical})")

    def found(self, canonical: str, problem: str) -> pl.Expr:
        """`column 'Close' (close): 'abc' is not a finite number`, or `... is empty`."""
        value = pl.col(canonical)
        return (
            pl.when(_text(canonical).is_null())
            .then(pl.lit(f"{self.column(canonical)} is empty"))
            .otherwise(pl.format(f"{self.column(canonical)}: '{{}}' {problem}", value))
        )


def _chain(cases: list[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    """when(c1).then(v1).when(c2).then(v2)...: the value of the first case that holds, else null."""
    (condition, value), *rest = cases
    chained = pl.when(condition).then(value)
    for condition, value in rest:
        chained = chained.when(condition).then(value)
    return chained


def _first_broken_rule(names: _Names) -> tuple[pl.Expr, pl.Expr]:
    """(the first validation rule a row breaks, or null; the detail of that break)."""
    use_adj, use_actions = pl.col("_use_adj"), pl.col("_use_actions")
    used = {c: pl.lit(True) for c in BAR_VALUE_COLUMNS} | {"adj_close": use_adj}
    prices = {c: pl.lit(True) for c in PRICE_COLUMNS} | {"adj_close": use_adj}

    def bad_number(c: str) -> pl.Expr:
        return used[c] & (pl.col(f"_{c}").is_null() | ~pl.col(f"_{c}").is_finite())

    bounds = names.plausibility
    limits = [
        *((c, "min_price", bounds.min_price, "below") for c in prices),
        *((c, "max_price", bounds.max_price, "above") for c in prices),
        ("volume", "max_volume", bounds.max_volume, "above"),
    ]
    implausible = [
        (
            prices.get(c, pl.lit(True)) & (pl.col(f"_{c}") < bound if side == "below" else pl.col(f"_{c}") > bound),
            names.found(c, f"is {side} data.plausibility.{setting} ({bound:g})"),
        )
        for c, setting, bound, side in limits
        if bound is not None
    ]
    split, dividend = pl.col("_split_ratio"), pl.col("_dividend")
    bad_split = use_actions & _text("split_ratio").is_not_null() & (split.is_null() | ~split.is_finite() | (split <= 0))
    bad_dividend = (
        use_actions & _text("dividend").is_not_null() & (dividend.is_null() | ~dividend.is_finite() | (dividend < 0))
    )
    adj_missing = names.found("adj_close", "is not a finite number")
    adj_detail = (
        pl.when(_text("adj_close").is_null())
        .then(
            adj_missing
            + pl.lit(" while other rows of this symbol have one; fill it in or set data.adjust_prices: false")
        )
        .otherwise(adj_missing)
    )
    ohlc = pl.format(
        "open {}, high {}, low {}, close {}: the high is below the open, close or low, or the low above the open "
        "or close",
        *(_text(c) for c in PRICE_COLUMNS),
    )
    rules: list[tuple[str, list[tuple[pl.Expr, pl.Expr]]]] = [
        (
            "missing_symbol",
            [(pl.col("symbol").is_null() | (pl.col("symbol") == ""), pl.lit(f"{names.column('symbol')} is empty"))],
        ),
        (
            "unparseable_timestamp",
            [(pl.col("_ts").is_null() & pl.col("_ts_rule").is_null(), _unparseable_detail(names))],
        ),
        ("ambiguous_local_time", [(pl.col("_ts_rule") == "ambiguous_local_time", _ambiguous_detail(names))]),
        ("nonexistent_local_time", [(pl.col("_ts_rule") == "nonexistent_local_time", _skipped_detail(names))]),
        (
            "non_numeric_value",
            [
                (bad_number(c), adj_detail if c == "adj_close" else names.found(c, "is not a finite number"))
                for c in used
            ],
        ),
        (
            "non_positive_price",
            [(prices[c] & (pl.col(f"_{c}") <= 0), names.found(c, "is not above 0")) for c in prices],
        ),
        ("negative_volume", [(pl.col("_volume") < 0, names.found("volume", "is below 0"))]),
        ("implausible_value", implausible or [(pl.lit(False), pl.lit(None, pl.Utf8))]),
        (
            "ohlc_inconsistent",
            [
                (
                    (pl.col("_high") < pl.max_horizontal("_open", "_close", "_low"))
                    | (pl.col("_low") > pl.min_horizontal("_open", "_close")),
                    ohlc,
                )
            ],
        ),
        (
            "bad_corporate_action",
            [
                (bad_split, names.found("split_ratio", "is not a positive number")),
                (bad_dividend, names.found("dividend", "is not a non-negative number")),
            ],
        ),
    ]
    rule = _chain([(pl.any_horizontal(cond for cond, _ in cases), pl.lit(name)) for name, cases in rules])
    detail = _chain(
        [(pl.col("rule") == name, _chain(cases)) for name, cases in rules]  # the rule's first broken case
    )
    return rule, detail


def _unparseable_detail(names: _Names) -> pl.Expr:
    if names.timestamp_format is None:
        expected = f"matches no accepted format ({DEFAULT_FORMATS_TEXT}); set data.timestamp_format, e.g. '%m/%d/%Y'"
    else:
        expected = f"does not match data.timestamp_format {names.timestamp_format!r}"
    return names.found("ts", expected)


def _ambiguous_detail(names: _Names) -> pl.Expr:
    return pl.format(
        f"{names.column('ts')}: '{{}}' is shown twice by {names.zone} clocks (daylight saving ends); it appears "
        "{} time(s) in this file for this symbol, so which bar is which cannot be told (two rows: the first is "
        "taken as daylight time, the second as standard time)",
        pl.col("ts"),
        pl.col("_seen"),
    )


def _skipped_detail(names: _Names) -> pl.Expr:
    return pl.format(
        f"{names.column('ts')}: '{{}}' never happened in {names.zone} (clocks skip it when daylight saving "
        "starts); write timestamps with their UTC offset or check data.timezone",
        pl.col("ts"),
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


def _align_to_sessions(
    checked: pl.DataFrame, sessions: SessionsConfig, date_zone: str, ts_column: str = "column 'ts'"
) -> tuple[pl.DataFrame, int]:
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
        .then(
            pl.format(
                f"{ts_column}: '{{}}' is {{}} UTC, when {sessions.calendar} has no session",
                "ts",
                pl.col("_ts").dt.strftime("%Y-%m-%d %H:%M"),
            )
        )
        .otherwise("detail")
        .alias("detail"),
    )
    if minutes is None:
        return checked.drop("_slot"), 0
    moved = pl.col("rule").is_null() & (pl.col("_slot") != pl.col("_ts"))
    realigned = checked.select(moved.sum()).item()
    aligned = checked.with_columns(pl.when(pl.col("rule").is_null()).then("_slot").otherwise("_ts").alias("_ts"))
    return aligned.drop("_slot"), realigned


def _adjusted(winners: pl.DataFrame, filled: pl.DataFrame | None) -> pl.DataFrame:
    """The clean bars: prices scaled backward for splits and dividends, volume for splits, each
    symbol by the adjustment chosen for it (`_use_adj`, `_use_actions`)."""
    columns = ["symbol", "_ts", "_open", "_high", "_low", "_close", "_volume"]
    frame = _action_factors(
        winners.select(*columns, "_use_adj", "_use_actions", "_adj_close", "_split_ratio", "_dividend")
    )
    by_adj_close = pl.col("_adj_close") / pl.col("_close")
    frame = frame.select(
        *columns,
        pl.when("_use_adj").then(by_adj_close).otherwise("_action_price").alias("_price_factor"),
        pl.when("_use_adj").then(by_adj_close).otherwise("_action_share").alias("_share_factor"),
    )
    if filled is not None and filled.height:
        # A filled bar is priced at the previous close, so it takes the factor of the bar before it.
        fills = filled.with_columns(_price_factor=pl.lit(None, pl.Float64), _share_factor=pl.lit(None, pl.Float64))
        frame = pl.concat([frame, fills.select(frame.columns)]).sort("symbol", "_ts")
        frame = frame.with_columns(pl.col("_price_factor", "_share_factor").forward_fill().over("symbol"))
    price = pl.col("_price_factor")
    return frame.select(
        "symbol",
        pl.col("_ts").alias("ts"),
        *((pl.col(f"_{c}") * price).alias(c) for c in PRICE_COLUMNS),
        (pl.col("_volume") / pl.col("_share_factor")).alias("volume"),
    ).sort("symbol", "ts")


def _action_factors(frame: pl.DataFrame) -> pl.DataFrame:
    """Backward factors from ex-date events: a bar is scaled by every event after it (1 for the
    symbols not adjusted by split and dividend columns)."""
    acting = pl.col("_use_actions")
    split = pl.when(acting).then(pl.col("_split_ratio")).fill_null(1.0)
    previous_close = pl.col("_close").shift(1).over("symbol")
    dividend = pl.when(acting).then(pl.col("_dividend")).fill_null(0.0)
    dividend_step = (1 - dividend / previous_close).fill_null(1.0)
    return frame.sort("symbol", "_ts").with_columns(
        _product_after(dividend_step / split).over("symbol").alias("_action_price"),
        _product_after(1 / split).over("symbol").alias("_action_share"),
    )


def _product_after(step: pl.Expr) -> pl.Expr:
    """At each row, the product of `step` over the rows after it (1 at the last)."""
    return step.reverse().cum_prod().reverse().shift(-1, fill_value=1.0)
