"""The benchmark a strategy is measured against: a buy-and-hold of the symbols it is given.

With one symbol this is that symbol's price return. With many it is an equal-weight buy-and-hold
of the universe: equal value in every symbol at the start, then no trading, so winners grow into
larger weights, as an investor who simply bought the universe would see. Prices are valued at
their last close between a symbol's first and last bar (a missing bar moves nothing). Membership
changes are the only rebalancing:

- a symbol that starts trading later joins with an equal share (1 / members) of the book's
  value at that bar, the incumbents giving it up in proportion to their value;
- a symbol whose bars end is sold at its last close and its value spread over the rest in
  proportion to their value.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["align_to", "hold_equity"]


def hold_equity(prices: pl.DataFrame) -> pl.DataFrame:
    """ts, equity (1.0 at the first bar) of the buy-and-hold of `prices` (symbol, ts, close)."""
    if prices.is_empty():
        raise ValueError("benchmark: no prices to hold")
    wide = (
        prices.select(pl.col("symbol").cast(pl.String), "ts", pl.col("close").cast(pl.Float64))
        .unique(["symbol", "ts"], keep="first")
        .pivot(on="symbol", index="ts", values="close")
        .sort("ts")
    )
    stamps = wide.get_column("ts")
    raw = wide.drop("ts").to_numpy().astype(np.float64)
    seen = np.isfinite(raw)
    first = np.where(seen.any(axis=0), seen.argmax(axis=0), raw.shape[0])
    last = raw.shape[0] - 1 - seen[::-1].argmax(axis=0)
    closes = wide.drop("ts").fill_null(strategy="forward").to_numpy().astype(np.float64)
    rows = np.arange(raw.shape[0])[:, None]
    # Held over step k -> k+1: trading at k, and still trading at k+1.
    held = (rows >= first[None, :]) & (rows + 1 <= last[None, :])
    equity = np.empty(raw.shape[0])
    equity[0] = 1.0
    value = np.zeros(raw.shape[1])
    for k in range(raw.shape[0] - 1):
        total = equity[k]
        value = _rebalance(value, held[k], total)
        if not held[k].any():
            equity[k + 1] = total
            continue
        value = np.where(held[k], value * closes[k + 1] / closes[k], 0.0)
        equity[k + 1] = value.sum()
    return pl.DataFrame({"ts": stamps, "equity": equity})


def _rebalance(value: np.ndarray, members: np.ndarray, total: float) -> np.ndarray:
    """Values after membership changes at one bar: entrants get total / members, leavers are sold."""
    value = np.where(members, value, 0.0)
    count = int(members.sum())
    if count == 0:
        return value
    entrants = members & (value <= 0)
    incumbents_value = value.sum()
    if entrants.any():
        share = total / count
        remaining = total - share * int(entrants.sum())
        if incumbents_value > 0:
            value = value * (remaining / incumbents_value)
        value[entrants] = share
    elif incumbents_value > 0:
        value = value * (total / incumbents_value)
    return value


def align_to(equity: pl.DataFrame, stamps: pl.Series) -> pl.DataFrame:
    """ts, benchmark_return, benchmark_equity for the rows of a backtest series at `stamps`.

    The row at ts_i earns what the benchmark earned from ts_i to the next row's ts (each valued
    at the benchmark's last close at or before it), as the strategy's row does; the last row
    earns nothing. benchmark_equity compounds those returns, like the series' equity.
    """
    grid = pl.DataFrame({"ts": stamps}).sort("ts")
    valued = grid.join_asof(equity.sort("ts"), on="ts", strategy="backward")
    level = valued.get_column("equity").to_numpy().astype(np.float64)
    returns = np.zeros(len(level))
    if len(level) > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            step = level[1:] / level[:-1] - 1
        returns[:-1] = np.where(np.isfinite(step), step, 0.0)
    return pl.DataFrame(
        {"ts": grid.get_column("ts"), "benchmark_return": returns, "benchmark_equity": np.cumprod(1 + returns)}
    )
