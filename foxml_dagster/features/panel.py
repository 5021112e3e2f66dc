"""A bars panel as contiguous float64 arrays with explicit symbol boundaries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from foxml_dagster import native


@dataclass(frozen=True)
class Panel:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    offsets: np.ndarray  # symbol group starts, length n_symbols + 1

    @classmethod
    def from_bars(cls, bars: pl.DataFrame) -> Panel:
        """Bars must be sorted by (symbol, ts); the symbol runs become the group offsets."""
        columns = {
            name: bars[name].cast(pl.Float64).to_numpy(allow_copy=True)
            for name in ("open", "high", "low", "close", "volume")
        }
        return cls(**columns, offsets=native.group_offsets(bars["symbol"].to_numpy()))

    def __len__(self) -> int:
        return len(self.close)

    def lag(self, values: np.ndarray, periods: int) -> np.ndarray:
        """values shifted `periods` rows later within each symbol, NaN where it would cross."""
        out = np.full_like(values, np.nan)
        for start, end in zip(self.offsets[:-1], self.offsets[1:], strict=True):
            if end - start > periods:
                out[start + periods : end] = values[start : end - periods]
        return out
