"""Landing files: which names are bar files, the symbol a file name gives, and how a file is split
into fields. Pure functions over names and text; reading the folder is the files source's job
(resources/sources.py).

A landing file is named `<symbol><suffix>`: the symbol is everything before a known suffix, so
`BRK.A.csv` is BRK.A and `BRK.B.csv` is BRK.B. Suffixes are matched case-insensitively.
"""

from __future__ import annotations

import csv
import io

import polars as pl

# Text files are read as delimited text whatever their suffix says; the delimiter is sniffed from
# the header unless data.delimiter sets it.
TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
SNIFFED_DELIMITERS = (",", "\t", ";", "|")

LANDING_REPORT_SCHEMA = {
    "file": pl.Utf8,
    "status": pl.Utf8,  # read | partly_read | not_read
    "rows": pl.Int64,  # data rows (lines after the header); null when the file cannot be counted
    "rows_read": pl.Int64,  # rows served to a symbol partition
    "symbols": pl.Utf8,
    "reason": pl.Utf8,  # why rows or the whole file were not read; null when all were
}


def split_landing_name(name: str) -> tuple[str, str] | None:
    """(symbol, "text" or "parquet") for a landing file name, or None for a type that is not read."""
    lower = name.lower()
    for suffix in sorted((*TEXT_SUFFIXES, *PARQUET_SUFFIXES), key=len, reverse=True):
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)].strip(), "parquet" if suffix in PARQUET_SUFFIXES else "text"
    return None


def sniff_delimiter(header: str) -> str:
    """The delimiter that splits the header line into the most fields (a comma when none does)."""
    counts = {d: header.count(d) for d in SNIFFED_DELIMITERS}
    best = max(SNIFFED_DELIMITERS, key=counts.__getitem__)  # a tie keeps the comma, listed first
    return best if counts[best] else ","


def header_line(text: bytes) -> str:
    """The first non-blank line (the header), decoded leniently: only used to pick a delimiter."""
    for line in text.splitlines():
        if line.strip():
            return line.decode("utf-8", errors="replace").lstrip("\ufeff")
    return ""


def count_data_rows(text: bytes) -> int:
    """Non-blank lines after the header: the rows an unreadable text file held, for its record."""
    return max(0, sum(1 for line in text.splitlines() if line.strip()) - 1)


def non_utf8_position(text: bytes) -> str | None:
    """Where the first byte that is not UTF-8 is ('byte 0xe9 on line 2'), or None when all are."""
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text[: exc.start].count(b"\n") + 1
        return f"byte 0x{text[exc.start]:02x} on line {line}"
    return None


def first_ragged_line(text: str, delimiter: str) -> str | None:
    """The first line with more fields than the header ('line 3 has 8 fields, the header 7')."""
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    width = None
    for row in rows:
        if width is None:
            if any(field.strip() for field in row):
                width = len(row)
            continue
        if len(row) > width:
            return f"line {rows.line_num} has {len(row)} fields, the header {width}"
    return None
