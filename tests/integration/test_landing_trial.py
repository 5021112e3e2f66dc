"""A landing folder as a new user fills it, through the real ingest and normalize assets: good files
in every accepted shape beside broken ones. Every good file is ingested, and every file and every
row is accounted for (read rows = bars + quarantine; each other file reported with its reason)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.partitions import range_tags, symbol_partitions
from foxml_dagster.config import load_experiment
from foxml_dagster.storage import query_catalog
from resources.sources import make_source

FILES_EXPERIMENT = """\
data:
  source: files
  landing_dir: landing
  timezone: America/New_York
  columns: {symbol: Ticker, ts: Date, open: Open, high: High, low: Low, close: Close,
            volume: Volume, adj_close: Adj Close}
"""
HEADER = "Date,Open,High,Low,Close,Volume"


def rows(*dates: str, close: str = "10.5", volume: str = "1000") -> list[str]:
    return [f"{d},10,11,9,{close},{volume}" for d in dates]


def text(*lines: str, sep: str = ",") -> bytes:
    return ("\n".join(lines).replace(",", sep) + "\n").encode()


DAYS = ("2024-01-02", "2024-01-03", "2024-01-04")
GOOD = {
    "AAPL.csv": text(f"{HEADER},Adj Close", *(f"{r},5.25" for r in rows(*DAYS))),
    "MSFT.CSV": text(HEADER, *rows(*DAYS)),  # no adjusted close, beside a file that has one
    "IBM.tsv": text(HEADER, *rows(*DAYS), sep="\t"),
    "GOOG.txt": text(HEADER, *rows(*DAYS), sep=";"),
    "BRK.A.csv": text(HEADER, *(f"{d},599000,601000,598000,600000,10" for d in DAYS)),
    "BRK.B.csv": text(HEADER, *rows(*DAYS)),
    "panel.csv": text(
        f"Ticker,{HEADER}",
        *(f" PAD ,{r}" for r in rows(*DAYS)),
        *(f"ABC ,{r}" for r in rows(*DAYS[:2])),
        f".,{rows(DAYS[0])[0]}",
        f"A|B,{rows(DAYS[0])[0]}",
    ),
    # New York falls back at 02:00 on 3 Nov 2024: 01:00 happens twice, an hour apart.
    "DST.csv": text(HEADER, *rows("2024-11-03 00:00", "2024-11-03 01:00", "2024-11-03 01:00", "2024-11-03 02:00")),
    "CHEAP.csv": text(
        HEADER, *rows(DAYS[0]), "2024-01-03,1e-320,1e-320,1e-320,1e-320,1000", *rows(DAYS[2], volume="1e30")
    ),
}
BAD = {
    "EMPTY.csv": b"",
    "SPACE.csv": text(HEADER, *rows(*DAYS), sep=" "),
    "LATIN.csv": text(HEADER, *rows(DAYS[0])) + "2024-01-03,10,11,9,10.5,1000,Société\n".encode("latin-1"),
    "RAGGED.csv": text(HEADER, *rows(DAYS[0]), "2024-01-03,10,11,9,10.5,1,000"),
    "NOVOL.csv": text("Date,Open,High,Low,Close", "2024-01-02,10,11,9,10.5"),
    "prices.xlsx": b"PK\x03\x04 a spreadsheet",
}
SYMBOLS = ["AAPL", "ABC", "BRK.A", "BRK.B", "CHEAP", "DST", "GOOG", "IBM", "MSFT", "PAD"]


@pytest.fixture
def landing(home: Path, monkeypatch):
    config = home / "files-experiment.yaml"
    config.write_text(FILES_EXPERIMENT)
    monkeypatch.setenv("FOXML_CONFIG", str(config))
    folder = home / "landing"
    folder.mkdir()
    return folder


def materialize(home: Path, symbols: list[str]):
    from foxml_dagster.definitions import build_definitions

    defs = build_definitions()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions.name, symbols)
    return dg.materialize(
        list(defs.assets),  # type: ignore[arg-type]
        selection=["landing_report", "raw_bars", "bars", "bars_quarantine", "bars_coverage"],
        resources=defs.resources,
        instance=instance,
        tags=range_tags(symbols),
        raise_on_error=False,
    )


def checks_of(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}


def test_a_mixed_landing_folder_ingests_every_good_file_and_accounts_for_every_file_and_row(landing, home):
    for name, content in {**GOOD, **BAD}.items():
        (landing / name).write_bytes(content)
    symbols = make_source(load_experiment().data, home).symbols()
    assert symbols == SYMBOLS

    result = materialize(home, symbols)
    assert result.success
    checks = checks_of(result)
    assert checks["raw_contract"].passed and checks["bars_contract"].passed
    assert not checks["every_file_read"].passed  # a warning: the run goes on
    raw_meta = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.path == ["raw_bars"]
    )
    assert (raw_meta["files_read"].value, raw_meta["files_not_fully_read"].value) == (len(GOOD) - 1, len(BAD) + 1)
    assert raw_meta["rows_not_read"].value == 3 + 2 + 2 + 1 + 2  # SPACE LATIN RAGGED NOVOL, panel's . and A|B

    catalog = home / "catalog.duckdb"
    report = query_catalog(catalog, "SELECT * FROM landing_report ORDER BY file")
    assert set(report["file"]) == {*GOOD, *BAD}  # every file, read or not
    unread = report.filter(pl.col("status") != "read")
    assert set(unread["file"]) == {*BAD, "panel.csv"} and unread["reason"].null_count() == 0
    assert report.filter(pl.col("file") == "panel.csv").select("status", "rows", "rows_read").row(0) == (
        "partly_read",
        7,
        5,
    )

    raw_rows = query_catalog(catalog, "SELECT count(*) AS n FROM raw_bars")["n"][0]
    bars = query_catalog(catalog, "SELECT * FROM bars ORDER BY symbol, ts")
    quarantine = query_catalog(catalog, "SELECT * FROM bars_quarantine")
    assert raw_rows == report["rows_read"].sum() == bars.height + quarantine.height
    assert sorted(bars["symbol"].unique()) == SYMBOLS
    assert dict(quarantine.group_by("rule").len().iter_rows()) == {"implausible_value": 2}
    assert set(quarantine["origin"].map_elements(lambda o: Path(o).name, return_dtype=pl.Utf8)) == {"CHEAP.csv"}

    dst = bars.filter(pl.col("symbol") == "DST")["ts"].dt.hour().to_list()
    assert dst == [4, 5, 6, 7]  # 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST
    assert bars.filter(pl.col("symbol") == "AAPL")["close"].to_list() == [5.25] * 3  # adjusted
    assert bars.filter(pl.col("symbol") == "MSFT")["close"].to_list() == [10.5] * 3  # as traded


def test_a_run_with_nothing_clean_stops_at_the_bars_check_naming_the_top_reasons(landing, home):
    (landing / "SPX.csv").write_bytes(text(HEADER, *rows("1/4/1999", "1/5/1999", "1/6/1999")))
    result = materialize(home, ["SPX"])
    assert not result.success
    check = checks_of(result)["bars_contract"]
    assert not check.passed
    assert check.description.startswith(
        "no clean bars left: all 3 rows were quarantined or outside the window. Top reasons: "
        "unparseable_timestamp: 3 (e.g. column 'Date' (ts): '1/4/1999' matches no accepted format"
    )
    assert "set data.timestamp_format, e.g. '%m/%d/%Y'" in check.description
    assert "FROM bars_quarantine" in check.description
