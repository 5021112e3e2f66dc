"""Normalization: every malformed input is quarantined with its rule or refused with a clear error."""

from datetime import UTC, date, datetime

import polars as pl
import pytest

from foxml_dagster.config import ColumnMap
from foxml_dagster.data.normalize import TimezoneMissingError, normalize_bars
from foxml_dagster.data.raw import SourceFormatError, to_raw_bars
from foxml_dagster.data.schema import contract_failures

GOOD = {"Date": "2021-01-04", "Open": "10", "High": "11", "Low": "9", "Close": "10.5", "Volume": "1000"}
COLUMNS = ColumnMap(symbol=None, ts="Date", open="Open", high="High", low="Low", close="Close", volume="Volume")


def raw_from(rows: list[dict], symbol: str = "XYZ") -> pl.DataFrame:
    return to_raw_bars(pl.DataFrame(rows), COLUMNS, origin="test.csv", symbol=symbol)


def day(i: int, **overrides) -> dict:
    return GOOD | {"Date": f"2021-01-{i:02d}"} | overrides


def test_clean_rows_become_typed_sorted_bars_that_meet_the_contract():
    result = normalize_bars(raw_from([day(6), day(4), day(5)]), timezone="UTC")
    assert result.bars["ts"].dtype == pl.Datetime("us", "UTC")
    assert result.bars["ts"].is_sorted()
    assert result.quarantine.is_empty()
    assert contract_failures(result.bars) == []


def test_missing_column_names_the_file_the_column_and_the_config_field():
    frame = pl.DataFrame([{k: v for k, v in GOOD.items() if k != "Close"}])
    with pytest.raises(SourceFormatError, match=r"test.csv: column 'Close' \(for close\) missing.*data.columns"):
        to_raw_bars(frame, COLUMNS, origin="test.csv", symbol="XYZ")


@pytest.mark.parametrize(
    ("bad_row", "rule"),
    [
        (day(5, Date="05/01/2021x"), "unparseable_timestamp"),
        (day(5, Date=""), "unparseable_timestamp"),
        (day(5, Close="abc"), "non_numeric_value"),
        (day(5, Open="nan"), "non_numeric_value"),
        (day(5, High="inf"), "non_numeric_value"),
        (day(5, Low="-1"), "non_positive_price"),
        (day(5, Close="0"), "non_positive_price"),
        (day(5, Volume="-5"), "negative_volume"),
        (day(5, High="8"), "ohlc_inconsistent"),
        (day(5, Low="10.8"), "ohlc_inconsistent"),
    ],
)
def test_each_malformed_row_is_quarantined_with_its_rule_and_nothing_else_is_lost(bad_row, rule):
    result = normalize_bars(raw_from([day(4), bad_row, day(6)]), timezone="UTC")
    assert result.bars.height == 2
    assert result.quarantine["rule"].to_list() == [rule]
    assert result.quarantine["source_row"].to_list() == [2]
    assert result.bars.height + result.quarantine.height == 3


def test_duplicate_bar_keeps_the_last_row_in_source_order_and_quarantines_the_first():
    result = normalize_bars(raw_from([day(4, Close="10.1"), day(5), day(4, Close="10.2")]), timezone="UTC")
    assert result.bars.filter(pl.col("ts").dt.day() == 4)["close"].to_list() == [10.2]
    (row,) = result.quarantine.iter_rows(named=True)
    assert row["rule"] == "duplicate_bar" and row["source_row"] == 1
    assert "source row 3" in row["detail"]


def test_naive_timestamps_without_a_configured_zone_are_refused_not_guessed():
    with pytest.raises(TimezoneMissingError, match="data.timezone"):
        normalize_bars(raw_from([day(4)]), timezone=None)


def test_naive_timestamps_are_read_in_the_configured_zone_and_stored_in_utc():
    raw = raw_from([day(4, Date="2021-01-04 09:30:00")])
    bars = normalize_bars(raw, timezone="America/New_York").bars
    assert bars["ts"][0].hour == 14 and bars["ts"][0].minute == 30


def test_offset_timestamps_are_converted_to_utc_whatever_the_zone_setting():
    raw = raw_from([day(4, Date="2021-01-04T10:00:00+01:00")])
    assert normalize_bars(raw, timezone=None).bars["ts"][0].hour == 9


def test_adjusted_close_rescales_prices_and_volume_by_the_same_factor():
    columns = COLUMNS.model_copy(update={"adj_close": "Adj"})
    raw = to_raw_bars(pl.DataFrame([day(4) | {"Adj": "5.25"}]), columns, origin="t", symbol="X")
    bars = normalize_bars(raw, timezone="UTC", adjust_prices=True).bars
    assert bars["close"][0] == pytest.approx(5.25)
    assert bars["open"][0] == pytest.approx(5.0)
    assert bars["volume"][0] == pytest.approx(2000.0)


def test_rows_outside_the_window_are_counted_not_quarantined():
    from datetime import date

    result = normalize_bars(raw_from([day(4), day(5), day(6)]), timezone="UTC", start=date(2021, 1, 5))
    assert result.bars.height == 2 and result.outside_window == 1 and result.quarantine.is_empty()


def test_contract_catches_unsorted_and_duplicate_timestamps_and_negative_volume():
    bars = normalize_bars(raw_from([day(4), day(5)]), timezone="UTC").bars
    assert contract_failures(bars.reverse())
    assert contract_failures(pl.concat([bars, bars.tail(1)]))
    assert contract_failures(bars.with_columns(volume=pl.lit(-1.0)))


def test_the_real_sample_normalizes_without_quarantine(sample_bars):
    assert set(sample_bars["symbol"].unique()) == {"AAPL", "FB", "GOOG", "IBM", "MSFT"}
    assert contract_failures(sample_bars) == []


# --- adjustment is decided per symbol ----------------------------------------------------------

ADJ_COLUMNS = COLUMNS.model_copy(update={"adj_close": "Adj Close"})


def with_adj(symbol: str, origin: str, rows: list[dict]) -> pl.DataFrame:
    return to_raw_bars(pl.DataFrame(rows), ADJ_COLUMNS, origin=origin, symbol=symbol)


def test_a_file_without_an_adjusted_close_is_not_quarantined_beside_one_with_it():
    adjusted = with_adj("AAA", "AAA.csv", [day(4) | {"Adj Close": "5.25"}, day(5) | {"Adj Close": "5.25"}])
    plain = raw_from([day(4), day(5)], symbol="BBB")  # its file has no Adj Close column at all
    together = normalize_bars(pl.concat([adjusted, plain]), timezone="UTC", columns=ADJ_COLUMNS)
    assert together.quarantine.is_empty()
    assert together.bars.filter(pl.col("symbol") == "BBB")["close"].to_list() == [10.5, 10.5]
    assert together.bars.filter(pl.col("symbol") == "AAA")["close"].to_list() == [5.25, 5.25]
    # The same bars whatever the batch: normalizing each symbol alone gives the same result.
    alone = [normalize_bars(frame, timezone="UTC").bars for frame in (adjusted, plain)]
    assert pl.concat(alone).equals(together.bars)


def test_rows_missing_the_adjusted_close_of_an_adjusted_symbol_are_quarantined_with_why():
    adjusted = with_adj("AAA", "AAA_2021.csv", [day(4) | {"Adj Close": "5.25"}])
    plain = raw_from([day(5)], symbol="AAA")
    result = normalize_bars(pl.concat([adjusted, plain]), timezone="UTC", columns=ADJ_COLUMNS)
    assert result.quarantine.select("rule", "origin").rows() == [("non_numeric_value", "test.csv")]
    assert result.quarantine["detail"][0] == (
        "column 'Adj Close' (adj_close) is empty while other rows of this symbol have one; fill it in or set "
        "data.adjust_prices: false"
    )


# --- plausibility bounds -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        (
            {"Open": "1e-320", "Low": "1e-320"},
            "column 'Open' (open): '1e-320' is below data.plausibility.min_price (1e-08)",
        ),
        ({"Volume": "1e30"}, "column 'Volume' (volume): '1e30' is above data.plausibility.max_volume (1e+15)"),
        (
            {"High": "2e9", "Close": "1.5e9"},
            "column 'High' (high): '2e9' is above data.plausibility.max_price (1e+08)",
        ),
    ],
)
def test_implausible_prices_and_volumes_are_quarantined_with_the_bound_they_break(overrides, detail):
    result = normalize_bars(raw_from([day(4), day(5, **overrides)]), timezone="UTC", columns=COLUMNS)
    assert result.quarantine.select("rule", "source_row", "detail").rows() == [("implausible_value", 2, detail)]


def test_plausibility_bounds_are_configurable_and_can_be_switched_off():
    from foxml_dagster.data.normalize import PlausibilityConfig

    raw = raw_from([day(4, Close="0.5", Low="0.5"), day(5, Volume="1e30")])
    off = PlausibilityConfig(min_price=None, max_price=None, max_volume=None)
    assert normalize_bars(raw, timezone="UTC", plausibility=off).quarantine.is_empty()
    strict = PlausibilityConfig(min_price=1.0)
    assert normalize_bars(raw, timezone="UTC", plausibility=strict).quarantine_counts() == {"implausible_value": 2}
    with pytest.raises(ValueError, match="min_price 5.0 must be below max_price 1.0"):
        PlausibilityConfig(min_price=5, max_price=1)


# --- timestamp formats ---------------------------------------------------------------------------


def test_a_configured_timestamp_format_reads_us_style_dates():
    raw = raw_from([day(4, Date="1/4/1999"), day(5, Date="12/31/1999"), day(6, Date="1999-01-06")])
    result = normalize_bars(raw, timezone="UTC", timestamp_format="%m/%d/%Y", columns=COLUMNS)
    assert result.bars["ts"].dt.date().to_list() == [date(1999, 1, 4), date(1999, 12, 31)]
    assert result.quarantine.select("rule", "detail").rows() == [
        ("unparseable_timestamp", "column 'Date' (ts): '1999-01-06' does not match data.timestamp_format '%m/%d/%Y'")
    ]


def test_without_a_format_the_detail_lists_what_is_accepted_and_how_to_set_one():
    result = normalize_bars(raw_from([day(4, Date="1/4/1999")]), timezone="UTC", columns=COLUMNS)
    assert result.quarantine["detail"][0] == (
        "column 'Date' (ts): '1/4/1999' matches no accepted format (YYYY-MM-DD, YYYY-MM-DD HH:MM, "
        "YYYY-MM-DD HH:MM:SS[.ffffff] (T or space before the time), the last optionally ending in Z or a UTC "
        "offset (+05:00, -0500)); set data.timestamp_format, e.g. '%m/%d/%Y'"
    )


def test_a_timestamp_format_with_an_offset_reads_aware_times():
    raw = raw_from([day(4, Date="04.01.2021 10:00 +0100")])
    bars = normalize_bars(raw, timezone=None, timestamp_format="%d.%m.%Y %H:%M %z").bars
    assert bars["ts"].to_list() == [datetime(2021, 1, 4, 9, tzinfo=UTC)]


# --- quarantine details say what was found, and where ------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"Low": ""}, "column 'Low' (low) is empty"),
        ({"Volume": None}, "column 'Volume' (volume) is empty"),
        ({"Close": "12 USD"}, "column 'Close' (close): '12 USD' is not a finite number"),
        ({"Date": ""}, "column 'Date' (ts) is empty"),
        ({"Open": "-1", "Low": "-2"}, "column 'Open' (open): '-1' is not above 0"),
        ({"Volume": "-5"}, "column 'Volume' (volume): '-5' is below 0"),
        (
            {"High": "8"},
            "open 10, high 8, low 9, close 10.5: the high is below the open, close or low, or the low above the "
            "open or close",
        ),
    ],
)
def test_each_quarantine_detail_names_the_users_column_and_the_value_found(overrides, detail):
    result = normalize_bars(raw_from([day(4), day(5, **overrides)]), timezone="UTC", columns=COLUMNS)
    assert result.quarantine["detail"].to_list() == [detail]


def test_the_lookahead_detail_is_plain_english(make_bars):
    # The probe names are verbs ("truncate", "perturb"); the detail once glued a "d" on them.
    import numpy as np

    from foxml_dagster import leakage
    from foxml_dagster.features import FeatureSpec

    peek = FeatureSpec("peek_close", lambda p: np.r_[p.close[1:], np.nan], ("close",), 0, "planted: next close")
    (row,) = leakage.feature_lookahead_rows(make_bars(n=150), [peek])
    assert row["detail"].endswith("changed when later bars were perturbed")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "EST5X", "'EST5X' is not an IANA time zone; use a name such as America/New_York"),
        ("timezone", "New York", "'New York' is not an IANA time zone"),
        ("timestamp_format", "%Q", "timestamp_format '%Q' cannot read its own output"),
        ("delimiter", ";;", "';;' is not one field-separating character"),
    ],
)
def test_data_settings_are_checked_at_load_naming_the_file_and_the_field(tmp_path, field, value, message):
    import yaml

    from foxml_dagster.config import ConfigError, load_experiment

    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump({"data": {field: value}}))
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert str(info.value).startswith(f"{path}: data.{field}: ") and message in str(info.value)
