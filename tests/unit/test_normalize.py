"""Normalization: every malformed input is quarantined with its rule or refused with a clear error."""

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
