"""`make bench`: native kernels against TA-Lib and polars on the same arrays, in one run.

Results are ratios against references measured in the same process, so they compare fairly on
any machine. Writes benchmarks/results.md.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from foxml_dagster import native

ROWS = int(os.environ.get("BENCH_ROWS", 1_000_000))
REPEATS = 5
OUT = Path(__file__).with_name("results.md")


def best_ns_per_row(fn: Callable[[], object]) -> float:
    fn()  # warm up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - start)
    return min(times) / ROWS


def polars_rsi(close: pl.Series, n: int) -> pl.Series:
    delta = close.diff()
    gain = delta.clip(lower_bound=0).ewm_mean(alpha=1 / n, adjust=False)
    loss = (-delta).clip(lower_bound=0).ewm_mean(alpha=1 / n, adjust=False)
    return 100 - 100 / (1 + gain / loss)


def numpy_triple_barrier(close, width, horizon):
    n = len(close)
    touch = np.full(n, -1)
    for i in range(n - 1):
        path = np.log(close[i + 1 : i + 1 + horizon] / close[i])
        hits = np.flatnonzero(np.abs(path) >= width[i])
        if hits.size:
            touch[i] = i + 1 + hits[0]
        elif i + horizon < n:
            touch[i] = i + horizon
    return touch


def main() -> None:
    import talib

    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, ROWS)))
    series = pl.Series(close)
    rows = []

    def add(name, ours, talib_fn=None, polars_fn=None, numpy_fn=None, rows_scale=1.0):
        ns = best_ns_per_row(ours)
        ref = {
            k: best_ns_per_row(f) / rows_scale
            for k, f in (("talib", talib_fn), ("polars", polars_fn), ("numpy", numpy_fn))
            if f
        }
        rows.append((name, ns, ref))

    add(
        "SMA(20)",
        lambda: native.sma(close, timeperiod=20),
        lambda: talib.SMA(close, 20),
        lambda: series.rolling_mean(20),
    )
    add(
        "EMA(20)",
        lambda: native.ema(close, timeperiod=20),
        lambda: talib.EMA(close, 20),
        lambda: series.ewm_mean(span=20, adjust=False),
    )
    add(
        "STDDEV(20)",
        lambda: native.stddev(close, timeperiod=20),
        lambda: talib.STDDEV(close, 20),
        lambda: series.rolling_std(20, ddof=0),
    )
    add(
        "RSI(14)",
        lambda: native.rsi(close, timeperiod=14),
        lambda: talib.RSI(close, 14),
        lambda: polars_rsi(series, 14),
    )
    width = np.full(ROWS, 0.02)
    sub = 20_000  # the numpy loop is slow; time it on a slice and scale per row
    add(
        "triple_barrier(h=20)",
        lambda: native.triple_barrier(close, width, width, horizon=20),
        numpy_fn=lambda: numpy_triple_barrier(close[:sub], width[:sub], 20),
        rows_scale=sub / ROWS,
    )

    lines = [
        "# Benchmark results",
        "",
        f"{ROWS:,} float64 rows, best of {REPEATS}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores. Ratio = ours / reference (below 1 means we are faster).",
        "",
        "| kernel | ours ns/row | reference | ref ns/row | ratio |",
        "|---|---:|---|---:|---:|",
    ]
    for name, ns, refs in rows:
        for ref_name, ref_ns in refs.items():
            lines.append(f"| {name} | {ns:.2f} | {ref_name} | {ref_ns:.2f} | {ns / ref_ns:.2f} |")
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
