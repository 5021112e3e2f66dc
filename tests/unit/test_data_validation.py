"""Bad files and bad rows, end to end from the landing folder: each is refused with a clear error or
quarantined with its rule, and every input row is accounted for."""

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foxml_dagster.config import ColumnMap
from foxml_dagster.data.normalize import normalize_bars
from foxml_dagster.data.quality import volume_spikes
from foxml_dagster.data.raw import RAW_COLUMNS, SourceFormatError, to_raw_bars
from foxml_dagster.data.schema import RAW_CONTRACT, contract_failures
from foxml_dagster.data.sessions import SessionsConfig
from resources.sources import LandingFolderSource

HEADER = "symbol,ts,open,high,low,close,volume"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def line(ts: str, symbol: str = "XYZ", o="10", h="11", lo="9", c="10.5", v="1000") -> str:
    return ",".join((symbol, ts, o, h, lo, c, v))


def write(folder: Path, name: str, *lines: str, header: str = HEADER) -> Path:
    path = folder / name
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def read(folder: Path, name: str, columns: ColumnMap | None = None) -> pl.DataFrame:
    return LandingFolderSource(folder, columns or ColumnMap()).read_file(folder / name)


def normalized(raw: pl.DataFrame, **options):
    return normalize_bars(raw, timezone=options.pop("timezone", "UTC"), **options)


# --- file layout -------------------------------------------------------------------------------


def test_missing_column_error_names_the_file_the_column_and_the_config_field(tmp_path):
    write(tmp_path, "bars.csv", "XYZ,2024-01-02,10,11,9,100", header="symbol,ts,open,high,low,volume")
    with pytest.raises(SourceFormatError) as info:
        read(tmp_path, "bars.csv")
    message = str(info.value)
    assert f"{tmp_path / 'bars.csv'}: column 'close' (for close) missing" in message
    assert "set data.columns.close" in message


def test_missing_mapped_column_names_the_source_spelling(tmp_path):
    write(tmp_path, "AAPL.csv", "2024-01-02,10,11,9,10.5,100", header="Date,Open,High,Low,Close,Vol")
    columns = ColumnMap(symbol=None, ts="Date", open="Open", high="High", low="Low", close="Close", volume="Volume")
    with pytest.raises(SourceFormatError, match=r"AAPL.csv: column 'Volume' \(for volume\) missing"):
        read(tmp_path, "AAPL.csv", columns)


def test_extra_columns_are_ignored_not_errors(tmp_path):
    header = f"{HEADER},vwap,trade_count,notes"
    write(tmp_path, "bars.csv", line("2024-01-02") + ",10.2,55,hello", line("2024-01-03") + ",10.3,56,", header=header)
    raw = read(tmp_path, "bars.csv")
    assert tuple(raw.columns) == RAW_COLUMNS
    result = normalized(raw)
    assert result.bars.height == 2 and result.quarantine.is_empty()
    assert contract_failures(result.bars) == []


def test_a_file_without_symbol_column_is_named_after_its_file(tmp_path):
    write(tmp_path, "MSFT.csv", "2024-01-02,10,11,9,10.5,100", header="ts,open,high,low,close,volume")
    raw = read(tmp_path, "MSFT.csv")
    assert raw["symbol"].to_list() == ["MSFT"]
    assert raw["origin"].to_list() == [str(tmp_path / "MSFT.csv")]


def test_parquet_with_typed_columns_gives_the_same_bars_as_csv(tmp_path):
    frame = pl.DataFrame(
        {
            "symbol": ["XYZ", "XYZ"],
            "ts": [utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 14, 31)],
            "open": [10.0, 10.5],
            "high": [11.0, 11.0],
            "low": [9.0, 10.0],
            "close": [10.5, 10.75],
            "volume": [1000, 0],
        }
    )
    frame.write_parquet(tmp_path / "bars.parquet")
    write(tmp_path, "bars.csv", *(",".join(map(str, row)) for row in frame.rows()))
    from_parquet = normalized(read(tmp_path, "bars.parquet"), timezone=None).bars
    from_csv = normalized(read(tmp_path, "bars.csv"), timezone=None).bars
    assert from_parquet.equals(from_csv)
    assert from_parquet["ts"].to_list() == [utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 14, 31)]


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_line",
    [
        line("2024-01-03", o="10.5$"),
        line("2024-01-03", c="12 USD"),
        line("2024-01-03", v='"1,000"'),  # quoted: a thousands separator
        line("2024-01-03", v="1k"),
        line("2024-01-03", h="eleven"),
        line("2024-01-03", lo=""),
    ],
)
def test_numbers_written_as_text_with_units_are_non_numeric(tmp_path, bad_line):
    write(tmp_path, "bars.csv", line("2024-01-02"), bad_line, line("2024-01-04"))
    result = normalized(read(tmp_path, "bars.csv"))
    assert result.quarantine.select("rule", "source_row").rows() == [("non_numeric_value", 2)]
    assert result.bars.height == 2


def test_surrounding_whitespace_in_numbers_and_timestamps_is_tolerated(tmp_path):
    write(tmp_path, "bars.csv", line(" 2024-01-02 ", o=" 10", c="10.5 ", v=" 1000 "))
    bars = normalized(read(tmp_path, "bars.csv")).bars
    assert bars.select("ts", "open", "close", "volume").rows() == [(utc(2024, 1, 2), 10.0, 10.5, 1000.0)]


@pytest.mark.parametrize("stamp", ["01/02/2024", "2024-02-30", "yesterday", "2024-01-02T25:00:00", "20240102"])
def test_unparseable_timestamps_are_quarantined_with_the_text_in_detail(tmp_path, stamp):
    write(tmp_path, "bars.csv", line("2024-01-02"), line(stamp))
    result = normalized(read(tmp_path, "bars.csv"))
    assert result.quarantine.select("rule", "source_row").rows() == [("unparseable_timestamp", 2)]
    detail = result.quarantine["detail"][0]
    assert detail.startswith(f"column 'ts': '{stamp}' matches no accepted format (YYYY-MM-DD, ")
    assert detail.endswith("set data.timestamp_format, e.g. '%m/%d/%Y'")
    assert result.bars.height == 1


def test_out_of_order_rows_come_out_sorted_and_nothing_is_lost(tmp_path):
    days = [5, 2, 9, 3, 8, 4]
    write(tmp_path, "bars.csv", *(line(f"2024-01-{d:02d}", c=str(10 + d / 10)) for d in days))
    result = normalized(read(tmp_path, "bars.csv"))
    assert result.bars["ts"].to_list() == [utc(2024, 1, d) for d in sorted(days)]
    assert result.bars["close"].to_list() == [10 + d / 10 for d in sorted(days)]
    assert result.quarantine.is_empty()
    assert contract_failures(result.bars) == []


def test_mixed_utc_offsets_in_one_file_are_converted_to_the_same_utc_instants(tmp_path):
    write(
        tmp_path,
        "bars.csv",
        line("2024-01-02T14:30:00+00:00"),
        line("2024-01-02T09:31:00-05:00"),
        line("2024-01-02 15:32:00+01:00"),
        line("2024-01-02T14:33:00.000+0000"),
    )
    result = normalized(read(tmp_path, "bars.csv"), timezone=None)
    assert result.bars["ts"].to_list() == [utc(2024, 1, 2, 14, 30 + i) for i in range(4)]


def test_the_same_instant_in_two_offsets_is_one_bar_and_a_duplicate(tmp_path):
    write(
        tmp_path, "bars.csv", line("2024-01-02T14:30:00+00:00", c="10.1"), line("2024-01-02T09:30:00-05:00", c="10.2")
    )
    result = normalized(read(tmp_path, "bars.csv"), timezone=None)
    assert result.bars.select("ts", "close").rows() == [(utc(2024, 1, 2, 14, 30), 10.2)]
    assert result.quarantine.select("rule", "source_row", "detail").rows() == [
        ("duplicate_bar", 1, "superseded by source row 2")
    ]


def test_repeated_lines_keep_one_bar_and_quarantine_the_others(tmp_path):
    write(
        tmp_path, "bars.csv", line("2024-01-02"), line("2024-01-02"), line("2024-01-03"), line("2024-01-02", c="10.7")
    )
    result = normalized(read(tmp_path, "bars.csv"))
    assert result.bars.select("ts", "close").rows() == [(utc(2024, 1, 2), 10.7), (utc(2024, 1, 3), 10.5)]
    assert result.quarantine_counts() == {"duplicate_bar": 2}
    assert result.quarantine["source_row"].to_list() == [1, 2]
    assert set(result.quarantine["detail"]) == {"superseded by source row 4"}


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"c": "NaN"}, "non_numeric_value"),
        ({"o": "nan"}, "non_numeric_value"),
        ({"h": "inf"}, "non_numeric_value"),
        ({"lo": "-inf"}, "non_numeric_value"),
        ({"v": "NaN"}, "non_numeric_value"),
        ({"c": "1e400"}, "non_numeric_value"),  # overflows to inf
        ({"o": "-10", "lo": "-11"}, "non_positive_price"),
        ({"c": "0", "lo": "0"}, "non_positive_price"),
        ({"v": "-1"}, "negative_volume"),
        ({"h": "8", "lo": "12"}, "ohlc_inconsistent"),  # high < low
        ({"h": "10.2"}, "ohlc_inconsistent"),  # high below the close
    ],
)
def test_impossible_prices_and_volumes_are_quarantined_with_their_rule(tmp_path, fields, rule):
    write(tmp_path, "bars.csv", line("2024-01-02"), line("2024-01-03", **fields), line("2024-01-04"))
    result = normalized(read(tmp_path, "bars.csv"))
    assert result.quarantine.select("rule", "source_row").rows() == [(rule, 2)]
    assert result.bars["ts"].to_list() == [utc(2024, 1, 2), utc(2024, 1, 4)]


def test_zero_volume_is_a_valid_bar(tmp_path):
    write(tmp_path, "bars.csv", line("2024-01-02", v="0"))
    result = normalized(read(tmp_path, "bars.csv"))
    assert result.bars["volume"].to_list() == [0.0] and result.quarantine.is_empty()


# --- broken files ------------------------------------------------------------------------------


def test_header_only_file_gives_no_rows_and_no_error(tmp_path):
    write(tmp_path, "bars.csv")
    raw = read(tmp_path, "bars.csv")
    assert raw.height == 0 and tuple(raw.columns) == RAW_COLUMNS
    result = normalized(raw)
    assert result.bars.is_empty() and result.quarantine.is_empty() and result.outside_window == 0
    assert LandingFolderSource(tmp_path, ColumnMap()).symbols() == []


def test_header_only_file_gives_no_rows_and_no_error_with_a_calendar(tmp_path):
    write(tmp_path, "bars.csv")
    result = normalized(read(tmp_path, "bars.csv"), sessions=SessionsConfig(calendar="XNYS", interval="1d"))
    assert result.bars.is_empty() and result.quarantine.is_empty()


def test_zero_byte_file_is_a_clear_source_format_error(tmp_path):
    (tmp_path / "bars.csv").write_bytes(b"")
    with pytest.raises(SourceFormatError, match=r"bars.csv: the file is empty \(no header, no rows\)"):
        read(tmp_path, "bars.csv")


def test_truncated_last_line_is_quarantined_and_the_rows_before_it_are_kept(tmp_path):
    (tmp_path / "bars.csv").write_text(
        "\n".join([HEADER, line("2024-01-02"), line("2024-01-03"), "XYZ,2024-01-04,10,1"])
    )
    result = normalized(read(tmp_path, "bars.csv"))
    assert result.bars["ts"].to_list() == [utc(2024, 1, 2), utc(2024, 1, 3)]
    assert result.quarantine.select("rule", "source_row").rows() == [("non_numeric_value", 3)]


@pytest.mark.parametrize(
    "garbage",
    [
        bytes(range(256)) * 4,  # not UTF-8
        b"\x89PNG\r\n\x1a\n" + bytes(range(128)) * 4,
        b"PK\x03\x04" + b"\x00" * 200,  # a zip archive named .csv
    ],
)
def test_a_file_that_is_not_csv_at_all_is_a_source_format_error_naming_it(tmp_path, garbage):
    (tmp_path / "bars.csv").write_bytes(garbage)
    with pytest.raises(SourceFormatError, match=r"bars\.csv: (not UTF-8 text|column .* missing)"):
        read(tmp_path, "bars.csv")


def test_a_line_with_more_fields_than_the_header_makes_the_file_unreadable_with_a_clear_error(tmp_path):
    write(tmp_path, "bars.csv", line("2024-01-02"), line("2024-01-03", v="1,000"))  # unquoted separator
    with pytest.raises(SourceFormatError, match=r"bars.csv: line 3 has 8 fields, the header 7; quote values"):
        read(tmp_path, "bars.csv")


def test_a_corrupt_parquet_file_is_a_source_format_error(tmp_path):
    (tmp_path / "bars.parquet").write_bytes(b"PAR1" + b"\x00" * 64)
    with pytest.raises(SourceFormatError, match=r"bars.parquet: cannot be read as Parquet"):
        read(tmp_path, "bars.parquet")


# --- multi-symbol files ------------------------------------------------------------------------


def test_a_symbol_appearing_mid_way_in_a_multi_symbol_file_keeps_its_file_rows(tmp_path):
    rows = [line(f"2024-01-{d:02d}", symbol="AAA") for d in (2, 3, 4)]
    rows += [line("2024-01-05", symbol="AAA"), line("2024-01-05", symbol="BBB", c="20", h="21")]
    rows += [line("2024-01-08", symbol="BBB", c="20", h="21"), line("2024-01-08", symbol="AAA")]
    write(tmp_path, "universe.csv", *rows)
    source = LandingFolderSource(tmp_path, ColumnMap())
    assert source.symbols() == ["AAA", "BBB"]
    late = source.read_raw("BBB")
    assert late["source_row"].to_list() == [5, 6]
    result = normalized(late, sessions=SessionsConfig(calendar="XNYS", interval="1d", missing_bars="leave"))
    assert result.bars["ts"].to_list() == [utc(2024, 1, 5), utc(2024, 1, 8)]
    assert result.coverage.select("first_ts", "expected_bars", "missing_bars").row(0) == (utc(2024, 1, 5), 2, 0)


def test_symbols_spread_over_several_files_are_read_together(tmp_path):
    write(tmp_path, "a.csv", line("2024-01-02", symbol="AAA"), line("2024-01-02", symbol="BBB"))
    write(tmp_path, "b.csv", line("2024-01-03", symbol="AAA"))
    (tmp_path / ".hidden.csv").write_text("junk")
    (tmp_path / "notes.txt").write_text("junk")
    source = LandingFolderSource(tmp_path, ColumnMap())
    raw = source.read_raw("AAA")
    assert raw.select("ts", "source_row").rows() == [("2024-01-02", 1), ("2024-01-03", 1)]
    assert [Path(o).name for o in raw["origin"]] == ["a.csv", "b.csv"]


def test_a_symbols_read_opens_only_the_files_that_hold_it(tmp_path):
    write(tmp_path, "a.csv", line("2024-01-02", symbol="AAA"), line("2024-01-02", symbol="BBB"))
    write(tmp_path, "b.csv", line("2024-01-03", symbol="BBB"))
    write(tmp_path, "c.csv", line("2024-01-04", symbol="CCC"))
    source = LandingFolderSource(tmp_path, ColumnMap(), cache_mb=0)  # keeps only the last file parsed
    assert source.symbols() == ["AAA", "BBB", "CCC"]  # every file parsed once, here

    # Files are learned once per source: one that breaks afterwards is not opened for a symbol it
    # does not hold; for the symbols it holds, it is recorded as not read instead of served.
    (tmp_path / "b.csv").write_bytes(b"\x89PNG\r\n not bars any more")
    assert source.read_raw("AAA").select("symbol", "ts").rows() == [("AAA", "2024-01-02")]
    assert source.read_raw("CCC").select("symbol", "ts").rows() == [("CCC", "2024-01-04")]
    assert source.read_raw("BBB").select("symbol", "ts").rows() == [("BBB", "2024-01-02")]  # from a.csv
    report = source.report().filter(pl.col("file") == "b.csv")
    assert report.select("status", "rows").rows() == [("not_read", 1)]
    assert report["reason"][0].startswith("not UTF-8 text (byte 0x89 on line 1)")


def test_a_file_holding_many_symbols_is_parsed_once_while_it_fits_the_cache(tmp_path):
    rows = [line("2024-01-02", symbol=f"S{i:03d}") for i in range(50)]
    path = write(tmp_path, "universe.csv", *rows)
    source = LandingFolderSource(tmp_path, ColumnMap())
    symbols = source.symbols()
    path.unlink()  # every symbol below is served from the one parse
    assert [source.read_raw(s)["symbol"].to_list() for s in symbols] == [[s] for s in symbols]


# --- every row accounted for -------------------------------------------------------------------


def test_mixed_bad_file_accounts_for_every_row(tmp_path):
    lines = [
        line("2024-01-02"),
        line("2024-01-03", c="abc"),
        line("not a date"),
        line("2024-01-04", lo="-1"),
        line("2024-01-05", v="-3"),
        line("2024-01-08", h="1"),
        line("2024-01-09"),
        line("2024-01-09"),
        line("2024-01-06"),  # Saturday
        line("2023-12-29"),  # before the window
        line("2024-02-01"),  # after the window
        line("2024-01-10", symbol=""),
        line("2024-01-11"),
    ]
    write(tmp_path, "bars.csv", *lines)
    result = normalized(
        read(tmp_path, "bars.csv"),
        start=date(2024, 1, 1),
        end=date(2024, 1, 31),
        sessions=SessionsConfig(calendar="XNYS", interval="1d"),
    )
    assert result.quarantine_counts() == {
        "duplicate_bar": 1,
        "missing_symbol": 1,
        "negative_volume": 1,
        "non_numeric_value": 1,
        "non_positive_price": 1,
        "ohlc_inconsistent": 1,
        "outside_session": 1,
        "unparseable_timestamp": 1,
    }
    assert result.outside_window == 2
    assert result.bars["ts"].to_list() == [utc(2024, 1, 2), utc(2024, 1, 9), utc(2024, 1, 11)]
    assert result.bars.height + result.quarantine.height + result.outside_window == len(lines)


SYMBOLS = st.sampled_from(["AAA", "BBB", "", " "])
STAMPS = st.one_of(
    st.integers(1, 31).map(lambda d: f"2024-01-{d:02d}"),
    st.integers(0, 23).map(lambda h: f"2024-01-03T{h:02d}:00:00-05:00"),
    st.sampled_from(["", "bad", "2024-13-01", "2023-12-31", "2024-02-02"]),
)
PRICES = st.sampled_from(["10", "11", "9", "10.5", "0", "-1", "abc", "nan", "inf", ""])
VOLUMES = st.sampled_from(["100", "0", "-5", "1e3", "x", ""])
ROWS = st.lists(st.tuples(SYMBOLS, STAMPS, PRICES, PRICES, PRICES, PRICES, VOLUMES), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, calendar=st.booleans())
def test_clean_plus_quarantined_plus_outside_window_equals_input_rows(rows, calendar):
    frame = pl.DataFrame(rows, schema=["symbol", "ts", "open", "high", "low", "close", "volume"], orient="row")
    raw = to_raw_bars(frame, ColumnMap(), origin="generated.csv")
    sessions = SessionsConfig(calendar="XNYS", interval="1d", missing_bars="drop_session") if calendar else None
    result = normalize_bars(raw, timezone="UTC", start=date(2024, 1, 1), end=date(2024, 1, 31), sessions=sessions)
    assert result.bars.height + result.quarantine.height + result.outside_window == len(rows)
    assert sorted(result.quarantine["source_row"].to_list()) == sorted(set(result.quarantine["source_row"]))


# --- volume spikes -----------------------------------------------------------------------------


def bars_with_volumes(volumes: list[float], symbol: str = "XYZ") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": [symbol] * len(volumes),
            "ts": pl.datetime_range(utc(2024, 1, 1), utc(2024, 1, 1, 0, len(volumes) - 1), "1m", eager=True),
            "volume": volumes,
        }
    )


def test_a_100x_volume_bar_after_20_normal_bars_is_flagged():
    volumes = [100.0 + i % 3 for i in range(20)] + [10_100.0, 100.0]
    spikes = volume_spikes(bars_with_volumes(volumes), factor=10)
    assert spikes.select("ts", "volume", "reference_median", "reference", "ratio").rows() == [
        (utc(2024, 1, 1, 0, 20), 10_100.0, 101.0, "trailing", 100.0)
    ]


def test_a_spike_in_the_first_bars_is_judged_against_the_bars_after_it():
    volumes = [1e9, 100.0, 102.0] + [100.0 + i % 3 for i in range(25)]
    spikes = volume_spikes(bars_with_volumes(volumes), factor=10)
    assert spikes.select("ts", "reference", "reference_median").rows() == [(utc(2024, 1, 1), "leading", 101.0)]


def test_a_short_history_gives_no_yardstick_for_its_last_bar():
    volumes = [100.0] * 19 + [10_000.0]
    assert volume_spikes(bars_with_volumes(volumes), factor=10).is_empty()


def test_a_spike_does_not_hide_itself_and_a_second_one_is_also_flagged():
    volumes = [100.0] * 20 + [10_000.0, 20_000.0]
    spikes = volume_spikes(bars_with_volumes(volumes), factor=10)
    assert spikes.select("volume", "ratio").rows() == [(20_000.0, 200.0), (10_000.0, 100.0)]


def test_volume_spikes_are_judged_per_symbol():
    quiet = bars_with_volumes([100.0] * 21, symbol="AAA")
    loud = bars_with_volumes([1_000_000.0] * 21, symbol="BBB")
    assert volume_spikes(pl.concat([quiet, loud]), factor=10).is_empty()
    spiky = bars_with_volumes([100.0] * 20 + [5_000.0], symbol="CCC")
    assert volume_spikes(pl.concat([quiet, loud, spiky]), factor=10)["symbol"].to_list() == ["CCC"]


# --- splits and dividends ----------------------------------------------------------------------

ACTIONS = ColumnMap(adj_close="adj", split_ratio="split", dividend="div")
ACTION_HEADER = f"{HEADER},split,div"


def action_line(d: int, close: float, volume: float = 1000, split: str = "", div: str = "") -> str:
    return line(f"2024-01-{d:02d}", o=str(close), h=str(close + 1), lo=str(close - 1), c=str(close), v=str(volume)) + (
        f",{split},{div}"
    )


def adjusted(tmp_path: Path, *lines: str, header: str = ACTION_HEADER):
    write(tmp_path, "bars.csv", *lines, header=header)
    return normalized(read(tmp_path, "bars.csv", ACTIONS))


def test_a_two_for_one_split_halves_earlier_prices_and_doubles_earlier_volume(tmp_path):
    result = adjusted(
        tmp_path, action_line(2, 100), action_line(3, 102), action_line(4, 52, split="2"), action_line(5, 53)
    )
    bars = result.bars
    assert bars.select("open", "high", "low", "close").rows() == [
        (50.0, 50.5, 49.5, 50.0),
        (51.0, 51.5, 50.5, 51.0),
        (52.0, 53.0, 51.0, 52.0),
        (53.0, 54.0, 52.0, 53.0),
    ]
    assert bars["volume"].to_list() == [2000.0, 2000.0, 1000.0, 1000.0]
    returns = (bars["close"] / bars["close"].shift(1) - 1).to_list()[1:]
    assert returns == pytest.approx([0.02, 52 / 51 - 1, 53 / 52 - 1])  # across the ex-date: 102 -> 52 is +1.96%
    assert contract_failures(bars) == []


def test_a_cash_dividend_scales_earlier_prices_by_one_minus_dividend_over_previous_close(tmp_path):
    result = adjusted(
        tmp_path, action_line(2, 80), action_line(3, 100), action_line(4, 97, div="2"), action_line(5, 98)
    )
    factor = 1 - 2 / 100
    assert result.bars["close"].to_list() == pytest.approx([80 * factor, 100 * factor, 97.0, 98.0])
    assert result.bars["volume"].to_list() == [1000.0] * 4  # dividends do not change share counts


def test_splits_and_dividends_compound_backward(tmp_path):
    lines = [action_line(2, 200), action_line(3, 100, split="2"), action_line(4, 99, div="1"), action_line(5, 99)]
    result = adjusted(tmp_path, *lines)
    dividend = 1 - 1 / 100
    assert result.bars["close"].to_list() == pytest.approx([200 * dividend / 2, 100 * dividend, 99.0, 99.0])
    assert result.bars["volume"].to_list() == [2000.0, 1000.0, 1000.0, 1000.0]


def test_adjusted_close_takes_precedence_over_split_and_dividend_columns(tmp_path):
    header = f"{ACTION_HEADER},adj"
    lines = [action_line(2, 100) + ",25", action_line(3, 50, split="2", div="1") + ",50", action_line(4, 51) + ",51"]
    result = adjusted(tmp_path, *lines, header=header)
    assert result.bars["close"].to_list() == [25.0, 50.0, 51.0]
    assert result.quarantine.is_empty()


def test_adjust_prices_off_keeps_prices_as_traded(tmp_path):
    write(tmp_path, "bars.csv", action_line(2, 100), action_line(3, 50, split="2"), header=ACTION_HEADER)
    result = normalized(read(tmp_path, "bars.csv", ACTIONS), adjust_prices=False)
    assert result.bars["close"].to_list() == [100.0, 50.0]
    assert result.bars["volume"].to_list() == [1000.0, 1000.0]


@pytest.mark.parametrize(("split", "div"), [("0", ""), ("abc", ""), ("-2", ""), ("inf", ""), ("", "-1"), ("", "x")])
def test_a_bad_split_ratio_or_dividend_is_a_bad_corporate_action(tmp_path, split, div):
    result = adjusted(tmp_path, action_line(2, 100), action_line(3, 50, split=split, div=div), action_line(4, 51))
    assert result.quarantine.select("rule", "source_row").rows() == [("bad_corporate_action", 2)]
    assert result.bars["close"].to_list() == [100.0, 51.0]


# --- the raw-bar contract ----------------------------------------------------------------------


def raw_frame() -> pl.DataFrame:
    source = pl.DataFrame({"symbol": ["A", "B"], "ts": ["2024-01-02"] * 2} | {c: ["1"] * 2 for c in ("open", "high")})
    source = source.with_columns(low=pl.lit("1"), close=pl.lit("1"), volume=pl.lit("5"))
    return to_raw_bars(source, ColumnMap(), origin="f.csv")


def test_raw_bars_from_to_raw_bars_meet_the_raw_contract():
    assert contract_failures(raw_frame(), RAW_CONTRACT) == []


def test_raw_bars_read_from_a_landing_file_meet_the_raw_contract(tmp_path):
    write(tmp_path, "bars.csv", line("2024-01-02"), line("oops", v="x"))
    assert contract_failures(read(tmp_path, "bars.csv"), RAW_CONTRACT) == []


@pytest.mark.parametrize(
    ("broken", "failures"),
    [
        (raw_frame().drop("dividend"), ["column_in_dataframe on raw_bars: dividend"]),
        (raw_frame().with_columns(extra=pl.lit("x")), ["column_in_schema on raw_bars: extra"]),
        (raw_frame().with_columns(origin=pl.lit(None, pl.Utf8)), ["not_nullable on origin: None"] * 2),
        (
            raw_frame().with_columns(source_row=pl.lit(0, pl.Int64)),
            ["greater_than_or_equal_to(1) on source_row: 0"] * 2,
        ),
        (raw_frame().with_columns(open=pl.lit(1.0)), ["dtype('String') on open: Float64"]),
    ],
)
def test_raw_contract_violations_are_reported_one_readable_line_each(broken, failures):
    assert contract_failures(broken, RAW_CONTRACT) == failures


# --- formerly known gaps (fixed) --------------------------------------------------------------------------------


def test_symbols_differing_only_by_whitespace_are_one_symbol_and_deduplicated(tmp_path):
    write(tmp_path, "bars.csv", line("2024-01-02", c="10.1"), line("2024-01-02", symbol="XYZ ", c="10.2"))
    result = normalized(read(tmp_path, "bars.csv"))
    assert result.bars.select("symbol", "close").rows() == [("XYZ", 10.2)]
    assert result.quarantine_counts() == {"duplicate_bar": 1}
    assert contract_failures(result.bars) == []


def test_iso_timestamps_with_a_z_suffix_are_read_as_utc(tmp_path):
    write(tmp_path, "bars.csv", line("2024-01-02T14:30:00Z"), line("2024-01-02T14:31:00.5Z"))
    result = normalized(read(tmp_path, "bars.csv"), timezone=None)
    assert result.quarantine.is_empty()
    assert result.bars["ts"].to_list() == [utc(2024, 1, 2, 14, 30), datetime(2024, 1, 2, 14, 31, 0, 500000, UTC)]


def test_rows_without_a_symbol_in_a_multi_symbol_file_are_reported_instead_of_vanishing(tmp_path):
    write(tmp_path, "bars.csv", line("2024-01-02"), line("2024-01-03", symbol=""), line("2024-01-02", symbol="ABC"))
    write(tmp_path, "OTHER.csv", "2024-01-02,10,11,9,10.5,100", header="ts,open,high,low,close,volume")
    source = LandingFolderSource(tmp_path, ColumnMap())
    assert source.symbols() == ["ABC", "OTHER", "XYZ"]
    assert source.read_raw("XYZ")["source_row"].to_list() == [1]
    report = source.report().sort("file")
    assert report.select("file", "status", "rows", "rows_read").rows() == [
        ("OTHER.csv", "read", 1, 1),
        ("bars.csv", "partly_read", 3, 2),
    ]
    assert report["reason"][1] == "1 row(s) with no symbol (data rows [2]); fix the symbol in column 'symbol'"
