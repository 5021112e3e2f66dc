"""Market-data sources: the bundled real sample, a landing folder of files, synthetic bars, Alpaca
and Interactive Brokers (their clients live in foxml_dagster/data/alpaca.py and ibkr.py).

A source lists the symbols it has and returns one symbol's rows as raw bars (text values, see
foxml_dagster.data.raw). Adding a source: implement `symbols()` and `read_raw(symbol)` and
register it in `make_source()`. A source that fetches by date also takes the dates to read from
`make_source(..., window=...)`, which is what `data.windows` (assets/windows.py) uses.
"""

from __future__ import annotations

import gzip
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources as package_files
from pathlib import Path
from typing import Protocol

import dagster as dg
import polars as pl

from foxml_dagster.config import WINDOWED_SOURCES, ColumnMap, DataConfig, SyntheticConfig
from foxml_dagster.data.alpaca import AlpacaSource
from foxml_dagster.data.ibkr import IbkrSource
from foxml_dagster.data.landing import (
    LANDING_REPORT_SCHEMA,
    SNIFFED_DELIMITERS,
    count_data_rows,
    first_ragged_line,
    header_line,
    non_utf8_position,
    sniff_delimiter,
    split_landing_name,
)
from foxml_dagster.data.raw import SourceFormatError, empty_raw_bars, symbol_problem, to_raw_bars
from foxml_dagster.data.synthetic import calendar, symbol_names, synthetic_bars
from resources.home import Experiment, FoxmlHome

SAMPLE_ORIGIN = "bokeh_sampledata/_data/stocks.csv.gz"


class BarSource(Protocol):
    def symbols(self) -> list[str]: ...

    def read_raw(self, symbol: str) -> pl.DataFrame: ...


@cache
def _sample_table() -> pl.DataFrame:
    path = package_files.files("bokeh_sampledata") / "_data" / "stocks.csv.gz"
    return pl.read_csv(path.read_bytes(), infer_schema=False)


class SampleSource:
    """Daily bars of AAPL, FB, GOOG, IBM, MSFT (2000-2013) shipped in bokeh-sampledata."""

    def __init__(self, columns: ColumnMap, universe: list[str]):
        self.columns = columns
        self.universe = universe

    def symbols(self) -> list[str]:
        available = set(_sample_table()[self.columns.symbol or "Ticker"].unique().to_list())
        unknown = sorted(set(self.universe) - available)
        if unknown:
            raise ValueError(f"data.symbols: {unknown} are not in the sample (it has {sorted(available)})")
        return sorted(self.universe or available)

    def read_raw(self, symbol: str) -> pl.DataFrame:
        table = _sample_table()
        rows = table.filter(pl.col(self.columns.symbol or "Ticker") == symbol)
        return to_raw_bars(rows, self.columns, origin=SAMPLE_ORIGIN)


@dataclass
class LandingFile:
    """What became of one landing file: the rows it holds, the rows served to symbol partitions,
    its symbols, and every reason rows (or the whole file) were not read."""

    path: Path
    rows: int | None = None  # data rows; None when the file cannot even be counted
    rows_read: int = 0
    symbols: frozenset[str] = frozenset()
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.problems:
            return "read"
        return "partly_read" if self.rows_read else "not_read"


class LandingFolderSource:
    """Delimited text (CSV, TSV, TXT, optionally gzipped) or Parquet files in a folder; a file
    without a symbol column is named after its symbol (AAPL.csv, BRK.A.csv). Files may hold many
    symbols when they have a symbol column.

    A file that cannot be read (empty, not UTF-8, a line with more fields than the header, a
    missing column, an unknown type) stops nothing: it is recorded with its reason in `report()`,
    and so are rows whose symbol is missing or cannot be a partition key. Hidden files (`.name`,
    such as partial uploads) are ignored.

    Each file is parsed once to learn its symbols; a symbol's read then opens only the files that
    hold it, from a cache of parsed files bounded by `cache_mb` (a file with many symbols is not
    parsed again for each of them while it fits)."""

    def __init__(self, folder: Path, columns: ColumnMap, cache_mb: int = 256, delimiter: str | None = None):
        self.folder = folder
        self.columns = columns
        self.cache_bytes = cache_mb * 2**20
        self.delimiter = delimiter  # None: sniffed from each text file's header
        self._inventory: dict[Path, LandingFile] | None = None
        self._parsed: OrderedDict[Path, pl.DataFrame] = OrderedDict()  # least recently used first

    def files(self) -> list[Path]:
        """Every entry of the folder but hidden ones, whether or not it is a file we can read."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if not p.name.startswith("."))

    def read_file(self, path: Path) -> pl.DataFrame:
        """The file's rows as raw bars; SourceFormatError saying why when it cannot be read."""
        return self._read(path)[0]

    def _read(self, path: Path) -> tuple[pl.DataFrame, bool]:
        """(raw bars, whether the symbol came from the file name)."""
        if path.is_dir():
            raise SourceFormatError(f"{path}: a folder; landing files must sit directly in {path.parent}")
        kind = split_landing_name(path.name)
        if kind is None:
            raise SourceFormatError(
                f"{path}: not a file type the landing folder reads; save it as .csv, .tsv or .txt "
                "(delimited text, optionally .gz) or .parquet"
            )
        name_symbol, form = kind
        frame = self._parse_parquet(path) if form == "parquet" else self._parse_text(path)
        from_name = not self._has_symbol_column(frame)
        try:
            raw = to_raw_bars(frame, self.columns, origin=str(path), symbol=name_symbol if from_name else None)
        except SourceFormatError as exc:
            if len(frame.columns) == 1 and self.delimiter is None:
                delimiters = " ".join(map(repr, SNIFFED_DELIMITERS))
                raise SourceFormatError(
                    f"{exc}; the header is one column, so the file may use a delimiter other than "
                    f"{delimiters}: set data.delimiter"
                ) from None
            raise
        return raw, from_name

    def _parse_parquet(self, path: Path) -> pl.DataFrame:
        try:
            return pl.read_parquet(path)
        except Exception as exc:  # polars raises several types for a broken file
            raise SourceFormatError(f"{path}: cannot be read as Parquet: {exc}") from exc

    def _parse_text(self, path: Path) -> pl.DataFrame:
        text = _file_text(path)
        if text is None:
            raise SourceFormatError(f"{path}: named .gz but not a whole gzip file")
        if not text.strip():
            raise SourceFormatError(f"{path}: the file is empty (no header, no rows)")
        bad_byte = non_utf8_position(text)
        if bad_byte is not None:
            raise SourceFormatError(
                f"{path}: not UTF-8 text ({bad_byte}); save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
            )
        delimiter = self.delimiter or sniff_delimiter(header_line(text))
        try:
            return pl.read_csv(text, separator=delimiter, infer_schema=False)
        except Exception as exc:  # polars raises several types for a broken file
            ragged = first_ragged_line(text.decode("utf-8"), delimiter)
            if ragged is None:
                raise SourceFormatError(f"{path}: cannot be read as delimited text: {exc}") from exc
            hint = "" if self.delimiter else " (or set data.delimiter)"
            raise SourceFormatError(
                f"{path}: {ragged}; quote values that contain the delimiter {delimiter!r}{hint}"
            ) from exc

    def _has_symbol_column(self, frame: pl.DataFrame) -> bool:
        return self.columns.symbol is not None and self.columns.symbol in frame.columns

    def inspect(self, path: Path) -> tuple[LandingFile, pl.DataFrame | None]:
        """The file's record and its raw bars (None when it cannot be read). Rows without a symbol
        or whose symbol cannot be a partition key are recorded, not served."""
        record = LandingFile(path)
        try:
            raw, from_name = self._read(path)
        except SourceFormatError as exc:
            record.rows = _countable_rows(path)
            record.problems.append(str(exc).removeprefix(f"{path}: "))
            return record, None
        record.rows = raw.height
        where = "the file name" if from_name else f"column {self.columns.symbol!r}"
        by_symbol = raw.group_by("symbol").agg(pl.len(), pl.col("source_row").head(5)).sort("symbol", nulls_last=True)
        usable = set()
        for symbol, n, rows in by_symbol.iter_rows():
            problem = "no symbol" if symbol is None else symbol_problem(symbol)
            if problem is None:
                usable.add(symbol)
                continue
            more = ", ..." if n > len(rows) else ""
            record.problems.append(f"{n} row(s) with {problem} (data rows {rows}{more}); fix the symbol in {where}")
        record.symbols = frozenset(usable)
        record.rows_read = raw.filter(pl.col("symbol").is_in(list(usable))).height
        return record, raw

    def _remember(self, path: Path, raw: pl.DataFrame) -> None:
        self._parsed[path] = raw
        while sum(f.estimated_size() for f in self._parsed.values()) > self.cache_bytes and len(self._parsed) > 1:
            self._parsed.popitem(last=False)

    def _cached_read(self, path: Path) -> pl.DataFrame | None:
        if path in self._parsed:
            self._parsed.move_to_end(path)
            return self._parsed[path]
        record, raw = self.inspect(path)
        if raw is None:  # it broke after its symbols were learned: recorded, not served
            self._files()[path] = record
            return None
        self._remember(path, raw)
        return raw

    def _files(self) -> dict[Path, LandingFile]:
        """Each file's record, learned once per source (one run), in file order."""
        if self._inventory is None:
            self._inventory = {}
            for path in self.files():
                record, raw = self.inspect(path)
                self._inventory[path] = record
                if raw is not None:
                    self._remember(path, raw)
        return self._inventory

    def symbols(self) -> list[str]:
        return sorted(set().union(*(record.symbols for record in self._files().values())))

    def read_raw(self, symbol: str) -> pl.DataFrame:
        parts = []
        for path, record in list(self._files().items()):
            if symbol not in record.symbols:
                continue
            raw = self._cached_read(path)
            if raw is not None:
                parts.append(raw.filter(pl.col("symbol") == symbol))
        return pl.concat([empty_raw_bars(), *parts])

    def problems(self) -> dict[Path, list[str]]:
        """The files with rows (or all their rows) not read, and why."""
        return {path: record.problems for path, record in self._files().items() if record.problems}

    def report(self) -> pl.DataFrame:
        """One row per landing file: status, rows, rows read, symbols and why rows were not read."""
        rows = [
            {
                "file": path.name,
                "status": record.status,
                "rows": record.rows,
                "rows_read": record.rows_read,
                "symbols": ", ".join(sorted(record.symbols)),
                "reason": "; ".join(record.problems) or None,
            }
            for path, record in self._files().items()
        ]
        return pl.DataFrame(rows, schema=LANDING_REPORT_SCHEMA)


def _file_text(path: Path) -> bytes | None:
    """A text file's bytes, gunzipped when it is named .gz; None when that gzip is broken."""
    text = path.read_bytes()
    if not path.name.lower().endswith(".gz"):
        return text
    try:
        return gzip.decompress(text)
    except (OSError, EOFError):
        return None


def _countable_rows(path: Path) -> int | None:
    """The data rows of a file that cannot be read, when its lines can still be counted."""
    kind = split_landing_name(path.name)
    if path.is_dir() or kind is None or kind[1] == "parquet":
        return None
    text = _file_text(path)
    return None if text is None else count_data_rows(text)


class SyntheticSource:
    """Deterministic synthetic bars (foxml_dagster/data/synthetic.py), generated one symbol at a
    time: a symbol's bars do not depend on the others, so nothing is held for the whole universe.
    `between` keeps the bars whose UTC date falls in [first, last], as a dated source would serve.
    `market` (data.sessions.calendar) puts the bars on that calendar's sessions and grid."""

    def __init__(
        self,
        settings: SyntheticConfig,
        universe: list[str],
        between: tuple[date, date] | None = None,
        market: str | None = None,
    ):
        self.settings = settings
        self.universe = universe
        self.between = between
        self.market = market

    def symbols(self) -> list[str]:
        available = symbol_names(self.settings.n_symbols)
        unknown = sorted(set(self.universe) - set(available))
        if unknown:
            raise ValueError(
                f"data.symbols: {unknown} are not in the synthetic universe "
                f"({available[0]}..{available[-1]}, data.synthetic.n_symbols={self.settings.n_symbols})"
            )
        return sorted(self.universe or available)

    def dates(self) -> tuple[date, date]:
        """The UTC dates of the first and last bar slot of the synthetic calendar."""
        s = self.settings
        slots = calendar(s.n_bars, s.interval, s.start, self.market).ts
        first, last = slots[[0, -1]].astype("datetime64[D]").astype(date)
        return first, last

    def read_raw(self, symbol: str) -> pl.DataFrame:
        s = self.settings
        bars = synthetic_bars(
            s.n_symbols, s.n_bars, s.interval, seed=s.seed, start=s.start, symbols=[symbol], market=self.market
        )
        origin = f"synthetic:seed={s.seed},interval={s.interval}" + (f",calendar={self.market}" if self.market else "")
        if self.between is not None:
            first, last = self.between
            bars = bars.filter(pl.col("ts").dt.date().is_between(first, last))
            origin += f",dates={first}..{last}"
        # As text, like every source: normalization parses and validates it the same way. The
        # timestamps carry their offset, so no data.timezone is needed.
        return to_raw_bars(bars, ColumnMap(), origin=origin)


def make_source(data: DataConfig, home_root: Path, window: tuple[date, date] | None = None) -> BarSource:
    """The configured source; `window` (first and last UTC date) narrows a dated source to it."""
    start, end = window or (data.start, data.end)
    if window is not None and data.source not in WINDOWED_SOURCES:
        raise ValueError(f"data.source {data.source!r} is read whole; only {WINDOWED_SOURCES} read by date")
    if data.source == "sample":
        return SampleSource(data.columns, data.symbols)
    if data.source == "synthetic":
        return SyntheticSource(data.synthetic, data.symbols, between=window, market=data.sessions.calendar)
    if data.source == "alpaca":
        return AlpacaSource(data.alpaca, data.symbols, start, end)
    if data.source == "ibkr":
        return IbkrSource(data.ibkr, data.symbols, start, end)
    folder = Path(data.landing_dir)
    root = folder if folder.is_absolute() else home_root / folder
    return LandingFolderSource(root, data.columns, cache_mb=data.memory_budget_mb // 4, delimiter=data.delimiter)


class MarketData(dg.ConfigurableResource):
    """The configured bar source (data.source in the experiment file)."""

    experiment: Experiment
    home: FoxmlHome

    def source(self, window: tuple[date, date] | None = None) -> BarSource:
        return make_source(self.experiment.config.data, self.home.layout.root, window)
