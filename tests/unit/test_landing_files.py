"""The landing folder as a new user fills it: file names, suffixes, delimiters, broken files and odd
symbols. Every file is either read or reported with its reason, and a bad file stops no other."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from foxml_dagster.config import ColumnMap, DataConfig
from foxml_dagster.data.landing import sniff_delimiter, split_landing_name
from foxml_dagster.data.raw import symbol_problem
from foxml_dagster.storage import partition_file
from resources.sources import LandingFolderSource

HEADER = "ts,open,high,low,close,volume"
ROW = "2024-01-02,10,11,9,10.5,1000"


def source(folder: Path, **options) -> LandingFolderSource:
    return LandingFolderSource(folder, options.pop("columns", ColumnMap()), **options)


def report(folder: Path, **options) -> dict[str, dict]:
    return {row["file"]: row for row in source(folder, **options).report().iter_rows(named=True)}


# --- item 1: the symbol is the file name minus a known suffix -----------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BRK.A.csv", ("BRK.A", "text")),
        ("BRK.B.CSV", ("BRK.B", "text")),
        ("AAPL.csv.gz", ("AAPL", "text")),
        ("aapl.Csv.GZ", ("aapl", "text")),
        ("MSFT.tsv", ("MSFT", "text")),
        ("IBM.txt", ("IBM", "text")),
        ("^GSPC.parquet", ("^GSPC", "parquet")),
        ("X.Y.Z.PQ", ("X.Y.Z", "parquet")),
        ("report.xlsx", None),
        ("notes.md", None),
        (".csv", None),
    ],
)
def test_a_landing_name_is_split_at_its_known_suffix_whatever_the_case(name, expected):
    assert split_landing_name(name) == expected


def test_dotted_file_names_stay_distinct_symbols(tmp_path):
    (tmp_path / "BRK.A.csv").write_text(f"{HEADER}\n2024-01-02,600000,601000,599000,600500,10\n")
    (tmp_path / "BRK.B.csv").write_text(f"{HEADER}\n2024-01-02,400,401,399,400.5,1000\n")
    landing = source(tmp_path)
    assert landing.symbols() == ["BRK.A", "BRK.B"]
    assert landing.read_raw("BRK.A")["close"].to_list() == ["600500"]
    assert landing.read_raw("BRK.B")["close"].to_list() == ["400.5"]


# --- item 4: every readable file is read; every other file is reported -------------------------


def test_upper_case_tsv_txt_and_gzip_files_are_read(tmp_path):
    (tmp_path / "UP.CSV").write_text(f"{HEADER}\n{ROW}\n")
    (tmp_path / "TAB.tsv").write_text(f"{HEADER}\n{ROW}\n".replace(",", "\t"))
    (tmp_path / "SEMI.txt").write_text(f"{HEADER}\n{ROW}\n".replace(",", ";"))
    (tmp_path / "PIPE.Txt").write_text(f"{HEADER}\n{ROW}\n".replace(",", "|"))
    (tmp_path / "ZIP.csv.gz").write_bytes(gzip.compress(f"{HEADER}\n{ROW}\n".encode()))
    landing = source(tmp_path)
    assert landing.symbols() == ["PIPE", "SEMI", "TAB", "UP", "ZIP"]
    for symbol in landing.symbols():
        assert landing.read_raw(symbol).select("open", "close", "volume").rows() == [("10", "10.5", "1000")]
    assert set(landing.report()["status"]) == {"read"}


def test_data_delimiter_overrides_the_sniffing(tmp_path):
    # A header with more commas than semicolons, but the file is semicolon-separated.
    header = "ts;open;high;low;close;volume;a note, with, more, commas, than, semicolons, in it"
    (tmp_path / "EU.csv").write_text(f"{header}\n2024-01-02;10;11;9;10,5;1000;x\n")
    assert sniff_delimiter(header) == ","
    landing = source(tmp_path, delimiter=";")
    assert landing.read_raw("EU").select("open", "close").rows() == [
        ("10", "10,5")
    ]  # a decimal comma: quarantined later


def test_files_that_are_not_bar_files_are_reported_not_skipped_silently(tmp_path):
    (tmp_path / "AAPL.csv").write_text(f"{HEADER}\n{ROW}\n")
    (tmp_path / "prices.xlsx").write_bytes(b"PK\x03\x04 a spreadsheet")
    (tmp_path / "archive").mkdir()
    (tmp_path / ".AAPL.csv.partial").write_text("an upload in progress")  # hidden: ignored
    files = report(tmp_path)
    assert set(files) == {"AAPL.csv", "prices.xlsx", "archive"}
    assert files["prices.xlsx"]["status"] == "not_read"
    assert "not a file type the landing folder reads; save it as .csv, .tsv or .txt" in files["prices.xlsx"]["reason"]
    assert files["archive"]["reason"].startswith("a folder; landing files must sit directly in")
    assert source(tmp_path).symbols() == ["AAPL"]


# --- item 7: a bad file is reported with its rows and reason; the others are read ---------------


BAD_FILES = {
    "EMPTY.csv": (b"", 0, "the file is empty (no header, no rows)"),
    "SPACE.csv": (
        f"{HEADER}\n{ROW}\n{ROW}\n".replace(",", " ").encode(),
        2,
        "the header is one column, so the file may use a delimiter other than ',' '\\t' ';' '|': set data.delimiter",
    ),
    "LATIN.csv": (f"{HEADER}\n{ROW}\n".encode() + "2024-01-03,10,11,9,10.5,1000,Société\n".encode("latin-1"), 2, None),
    "RAGGED.csv": (f"{HEADER}\n{ROW}\n2024-01-03,10,11,9,10.5,1,000\n".encode(), 2, None),
    "NOCLOSE.csv": (b"ts,open,high,low,volume\n2024-01-02,10,11,9,1000\n", 1, None),
}


def write_bad_files(folder: Path) -> None:
    for name, (content, _, _) in BAD_FILES.items():
        (folder / name).write_bytes(content)


def test_each_bad_file_is_reported_with_its_rows_and_reason_and_the_others_are_read(tmp_path):
    (tmp_path / "GOOD.csv").write_text(f"{HEADER}\n{ROW}\n")
    write_bad_files(tmp_path)
    landing = source(tmp_path)
    assert landing.symbols() == ["GOOD"]  # no exception: the bad files stop nothing
    assert landing.read_raw("GOOD").height == 1
    files = report(tmp_path)
    assert files["GOOD.csv"] == {
        "file": "GOOD.csv",
        "status": "read",
        "rows": 1,
        "rows_read": 1,
        "symbols": "GOOD",
        "reason": None,
    }
    for name, (_, rows, reason) in BAD_FILES.items():
        assert (files[name]["status"], files[name]["rows"], files[name]["rows_read"]) == ("not_read", rows, 0), name
        if reason:
            assert reason in files[name]["reason"], name
    assert files["LATIN.csv"]["reason"].startswith("not UTF-8 text (byte 0xe9 on line 3); save it as UTF-8")
    assert files["RAGGED.csv"]["reason"].startswith("line 3 has 7 fields, the header 6; quote values that contain")
    assert files["NOCLOSE.csv"]["reason"].startswith(
        "column 'close' (for close) missing (found ['ts', 'open', 'high', 'low', 'volume']); set data.columns.close"
    )


def test_a_missing_column_of_a_one_symbol_file_does_not_show_internal_names(tmp_path):
    (tmp_path / "AAPL.csv").write_text("Date,Open,High,Low,Close\n2024-01-02,10,11,9,10.5\n")
    columns = ColumnMap(symbol="Ticker", ts="Date", open="Open", high="High", low="Low", close="Close", volume="Volume")
    reason = report(tmp_path, columns=columns)["AAPL.csv"]["reason"]
    assert reason == (
        "column 'Volume' (for volume) missing (found ['Date', 'Open', 'High', 'Low', 'Close']); "
        "set data.columns.volume in the experiment config to the file's name for it"
    )


# --- item 8: symbols are stripped once, and ones that cannot be partitions are refused ---------


def test_padded_symbols_are_one_stripped_symbol_from_discovery_to_read(tmp_path):
    rows = ["symbol,ts,open,high,low,close,volume", " PAD ,2024-01-02,10,11,9,10.5,1", "ABC ,2024-01-02,10,11,9,10.5,1"]
    rows += ["PAD,2024-01-03,10,11,9,10.5,1"]
    (tmp_path / "panel.csv").write_text("\n".join(rows) + "\n")
    landing = source(tmp_path)
    assert landing.symbols() == ["ABC", "PAD"]
    assert landing.read_raw("PAD").select("symbol", "source_row").rows() == [("PAD", 1), ("PAD", 3)]
    assert landing.read_raw("ABC")["symbol"].to_list() == ["ABC"]


def test_symbols_that_cannot_be_partitions_are_refused_with_a_reason_and_stop_no_other(tmp_path):
    rows = ["symbol,ts,open,high,low,close,volume"]
    rows += [f"{s},2024-01-02,10,11,9,10.5,1" for s in (".", "..", "A|B", "OK", "X...Y")]
    (tmp_path / "panel.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "C|D.csv").write_text(f"{HEADER}\n{ROW}\n")
    landing = source(tmp_path)
    assert landing.symbols() == ["OK"]
    files = report(tmp_path)
    assert (files["panel.csv"]["status"], files["panel.csv"]["rows"], files["panel.csv"]["rows_read"]) == (
        "partly_read",
        5,
        1,
    )
    reasons = files["panel.csv"]["reason"]
    assert "1 row(s) with symbol '.' cannot name a partition file (data rows [1]); fix the symbol in column" in reasons
    assert "symbol 'A|B' contains '|', which a partition key cannot hold" in reasons
    assert "symbol 'X...Y' contains '...'" in reasons
    assert files["C|D.csv"]["status"] == "not_read"
    assert "fix the symbol in the file name" in files["C|D.csv"]["reason"]


@pytest.mark.parametrize("symbol", ["BRK.A", "BTC/USD", "^GSPC", "ES=F", "RDS A", "100%", "ÆØÅ"])
def test_accepted_symbols_are_each_one_file_in_one_folder(tmp_path, symbol):
    assert symbol_problem(symbol) is None
    path = partition_file(tmp_path, symbol)
    assert path.parent == tmp_path and path.name.endswith(".parquet")


def test_configured_symbols_are_stripped_and_checked_at_load():
    assert DataConfig(symbols=[" AAPL ", "BRK.B", "AAPL"]).symbols == ["AAPL", "BRK.B"]
    with pytest.raises(ValueError, match=r"symbol 'A\|B' contains '\|', which a partition key cannot hold"):
        DataConfig(symbols=["A|B"])
    with pytest.raises(ValueError, match=r"symbol '\.\.' cannot name a partition file"):
        DataConfig(symbols=[".."])


def test_the_report_accounts_for_every_row_of_every_file(tmp_path):
    (tmp_path / "GOOD.csv").write_text(f"{HEADER}\n{ROW}\n{ROW}\n")
    (tmp_path / "panel.csv").write_text("symbol,ts,open,high,low,close,volume\nA,x,1,1,1,1,1\n,x,1,1,1,1,1\n")
    write_bad_files(tmp_path)
    landing = source(tmp_path)
    served = sum(landing.read_raw(symbol).height for symbol in landing.symbols())
    table = landing.report()
    assert served == table["rows_read"].sum() == 3
    assert table["rows"].sum() == 3 + 1 + sum(rows for _, rows, _ in BAD_FILES.values())
    assert table.filter(pl.col("status") != "read")["reason"].null_count() == 0
