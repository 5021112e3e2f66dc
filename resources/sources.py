"""Market-data sources: the bundled real sample, a landing folder of files, synthetic bars, Alpaca
and Interactive Brokers (their clients live in foxml_dagster/data/alpaca.py and ibkr.py).

A source lists the symbols it has and returns one symbol's rows as raw bars (text values, see
foxml_dagster.data.raw). Adding a source: implement `symbols()` and `read_raw(symbol)` and
register it in `make_source()`. A source that fetches by date also takes the dates to read from
`make_source(..., window=...)`, which is what `data.windows` (assets/windows.py) uses.
"""

from __future__ import annotations

from collections import OrderedDict
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
from foxml_dagster.data.raw import SourceFormatError, empty_raw_bars, to_raw_bars
from foxml_dagster.data.synthetic import calendar, symbol_names, synthetic_bars
from resources.home import Experiment, FoxmlHome

SAMPLE_ORIGIN = "bokeh_sampledata/_data/stocks.csv.gz"
_FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet")


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


class LandingFolderSource:
    """CSV or Parquet files in a folder; a file without a symbol column is named after its symbol
    (AAPL.csv). Files may hold many symbols when they have a symbol column.

    Each file is parsed once to learn its symbols; a symbol's read then opens only the files that
    hold it, from a cache of parsed files bounded by `cache_mb` (a file with many symbols is not
    parsed again for each of them while it fits)."""

    def __init__(self, folder: Path, columns: ColumnMap, cache_mb: int = 256):
        self.folder = folder
        self.columns = columns
        self.cache_bytes = cache_mb * 2**20
        self._symbols_of: dict[Path, frozenset[str]] | None = None
        self._parsed: OrderedDict[Path, pl.DataFrame] = OrderedDict()  # least recently used first

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(
            p for p in self.folder.iterdir() if p.name.endswith(_FILE_SUFFIXES) and not p.name.startswith(".")
        )

    def read_file(self, path: Path) -> pl.DataFrame:
        try:
            is_parquet = path.name.endswith(".parquet")
            frame = pl.read_parquet(path) if is_parquet else pl.read_csv(path, infer_schema=False)
        except Exception as exc:  # polars raises several types for a broken file
            raise SourceFormatError(f"{path}: cannot be read as {path.suffix.lstrip('.')}: {exc}") from exc
        file_symbol = None if self._has_symbol_column(frame) else path.name.split(".")[0]
        return to_raw_bars(frame, self.columns, origin=str(path), symbol=file_symbol)

    def _has_symbol_column(self, frame: pl.DataFrame) -> bool:
        return self.columns.symbol is not None and self.columns.symbol in frame.columns

    def _cached_read(self, path: Path) -> pl.DataFrame:
        if path in self._parsed:
            self._parsed.move_to_end(path)
            return self._parsed[path]
        raw = self.read_file(path)
        self._parsed[path] = raw
        while sum(f.estimated_size() for f in self._parsed.values()) > self.cache_bytes and len(self._parsed) > 1:
            self._parsed.popitem(last=False)
        return raw

    def _symbols_by_file(self) -> dict[Path, frozenset[str]]:
        """Which symbols each file holds; learned once per source (one run), in file order."""
        if self._symbols_of is None:
            self._symbols_of = {
                path: frozenset(self._cached_read(path)["symbol"].drop_nulls().str.strip_chars().unique().to_list())
                for path in self.files()
            }
        return self._symbols_of

    def symbols(self) -> list[str]:
        return sorted(set().union(*self._symbols_by_file().values()) - {""})

    def read_raw(self, symbol: str) -> pl.DataFrame:
        parts = []
        for path, held in self._symbols_by_file().items():
            if symbol not in held:
                continue
            raw = self._cached_read(path)
            _refuse_rows_without_symbol(raw)
            parts.append(raw.filter(pl.col("symbol").str.strip_chars() == symbol))
        return pl.concat([empty_raw_bars(), *parts])


def _refuse_rows_without_symbol(raw: pl.DataFrame) -> None:
    """Rows with no symbol belong to no partition; rather than lose them, stop with their rows."""
    orphans = raw.filter(pl.col("symbol").is_null() | (pl.col("symbol").str.strip_chars() == ""))
    if orphans.height:
        rows = orphans["source_row"].head(10).to_list()
        raise SourceFormatError(
            f"{orphans['origin'][0]}: {orphans.height} row(s) have no symbol (data rows {rows}"
            f"{', ...' if orphans.height > 10 else ''}); fill in the symbol or remove them, then re-run"
        )


class SyntheticSource:
    """Deterministic synthetic bars (foxml_dagster/data/synthetic.py), generated one symbol at a
    time: a symbol's bars do not depend on the others, so nothing is held for the whole universe.
    `between` keeps the bars whose UTC date falls in [first, last], as a dated source would serve."""

    def __init__(self, settings: SyntheticConfig, universe: list[str], between: tuple[date, date] | None = None):
        self.settings = settings
        self.universe = universe
        self.between = between

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
        slots = calendar(s.n_bars, s.interval, s.start).ts
        first, last = slots[[0, -1]].astype("datetime64[D]").astype(date)
        return first, last

    def read_raw(self, symbol: str) -> pl.DataFrame:
        s = self.settings
        bars = synthetic_bars(s.n_symbols, s.n_bars, s.interval, seed=s.seed, start=s.start, symbols=[symbol])
        origin = f"synthetic:seed={s.seed},interval={s.interval}"
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
        return SyntheticSource(data.synthetic, data.symbols, between=window)
    if data.source == "alpaca":
        return AlpacaSource(data.alpaca, data.symbols, start, end)
    if data.source == "ibkr":
        return IbkrSource(data.ibkr, data.symbols, start, end)
    folder = Path(data.landing_dir)
    root = folder if folder.is_absolute() else home_root / folder
    return LandingFolderSource(root, data.columns, cache_mb=data.memory_budget_mb // 4)


class MarketData(dg.ConfigurableResource):
    """The configured bar source (data.source in the experiment file)."""

    experiment: Experiment
    home: FoxmlHome

    def source(self, window: tuple[date, date] | None = None) -> BarSource:
        return make_source(self.experiment.config.data, self.home.layout.root, window)
