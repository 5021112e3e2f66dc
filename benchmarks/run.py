"""`make bench`: native kernels against TA-Lib and polars on the same arrays, in one run, and the
`standard` feature set on a large panel. Writes benchmarks/results.md.

Results are ratios against references measured in the same process on the same arrays, so they
compare fairly on any machine (absolute ns/row move with the machine's load).

Environment: BENCH_SIZES (default "1000000,50000000"), BENCH_PANEL ("500x20000": symbols x bars),
BENCH_BUDGET_MB (feature batches' working set, default 2048), BENCH_REPEATS (default 5).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from foxml_dagster import native

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000000,50000000").split(",")]
PANEL = os.environ.get("BENCH_PANEL", "500x20000")
BUDGET_MB = float(os.environ.get("BENCH_BUDGET_MB", 2048))
REPEATS = int(os.environ.get("BENCH_REPEATS", 5))
OUT = Path(__file__).with_name("results.md")
TARGET_KERNELS = {"SMA(20)", "EMA(20)", "RSI(14)", "ATR(14)", "STDDEV(20)"}


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm up (and fault in the output pages once)
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - start)
    return min(times) / 1e9


def polars_rsi(close: pl.Series, n: int) -> pl.Series:
    delta = close.diff()
    gain = delta.clip(lower_bound=0).ewm_mean(alpha=1 / n, adjust=False)
    loss = (-delta).clip(lower_bound=0).ewm_mean(alpha=1 / n, adjust=False)
    return 100 - 100 / (1 + gain / loss)


def polars_atr(high: pl.Series, low: pl.Series, close: pl.Series, n: int) -> pl.Series:
    prev = close.shift(1)
    frame = pl.DataFrame({"h": high, "l": low, "p": prev})
    tr = frame.select(pl.max_horizontal("h", "p") - pl.min_horizontal("l", "p")).to_series()
    return tr.ewm_mean(alpha=1 / n, adjust=False)


def kernel_rows(rows: int, repeats: int) -> list[tuple]:
    import talib

    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
    spread = np.abs(rng.normal(0, 0.004, rows))
    high, low = close * (1 + spread), close * (1 - spread)
    c, h, lo = pl.Series(close), pl.Series(high), pl.Series(low)
    # The same rows as 100 symbols of rows/100 bars: per-row cost must not grow with symbols.
    offsets = np.linspace(0, rows, 101).astype(np.int64)
    cases = [
        ("SMA(20)", lambda: native.sma(close, timeperiod=20), lambda: talib.SMA(close, 20), lambda: c.rolling_mean(20),
         lambda: native.sma(close, timeperiod=20, offsets=offsets)),
        ("EMA(20)", lambda: native.ema(close, timeperiod=20), lambda: talib.EMA(close, 20),
         lambda: c.ewm_mean(span=20, adjust=False), lambda: native.ema(close, timeperiod=20, offsets=offsets)),
        ("STDDEV(20)", lambda: native.stddev(close, timeperiod=20), lambda: talib.STDDEV(close, 20),
         lambda: c.rolling_std(20, ddof=0), lambda: native.stddev(close, timeperiod=20, offsets=offsets)),
        ("RSI(14)", lambda: native.rsi(close, timeperiod=14), lambda: talib.RSI(close, 14), lambda: polars_rsi(c, 14),
         lambda: native.rsi(close, timeperiod=14, offsets=offsets)),
        ("ATR(14)", lambda: native.atr(high, low, close, timeperiod=14), lambda: talib.ATR(high, low, close, 14),
         lambda: polars_atr(h, lo, c, 14), lambda: native.atr(high, low, close, timeperiod=14, offsets=offsets)),
        ("WMA(20)", lambda: native.wma(close, timeperiod=20), lambda: talib.WMA(close, 20), None, None),
        ("KAMA(30)", lambda: native.kama(close, timeperiod=30), lambda: talib.KAMA(close, 30), None, None),
        ("MACD", lambda: native.macd(close), lambda: talib.MACD(close), None, None),
        ("ADX(14)", lambda: native.adx(high, low, close), lambda: talib.ADX(high, low, close, 14), None, None),
        ("MAX(20)", lambda: native.rolling_max(close, timeperiod=20), lambda: talib.MAX(close, 20),
         lambda: c.rolling_max(20), None),
        ("CORREL(30)", lambda: native.correl(close, high, timeperiod=30), lambda: talib.CORREL(close, high, 30), None,
         None),
    ]  # fmt: skip
    out = []
    for name, ours, ta, pol, grouped in cases:
        row = {"ours": best_seconds(ours, repeats) / rows * 1e9}
        row["talib"] = best_seconds(ta, repeats) / rows * 1e9
        if pol:
            row["polars"] = best_seconds(pol, repeats) / rows * 1e9
        if grouped:
            row["ours_100_symbols"] = best_seconds(grouped, repeats) / rows * 1e9
        out.append((name, row))
        print(rows, name, {k: round(v, 2) for k, v in row.items()}, flush=True)
    return out


def panel_run(symbols: int, bars: int, budget_mb: float) -> dict:
    """The standard set over a synthetic panel, batch by batch (each batch dropped once made, as
    a writer would after writing it). Runs in a child process, so its peak RSS is its own."""
    from datetime import UTC, datetime, timedelta

    from foxml_dagster.features import feature_set
    from foxml_dagster.features.compute import feature_batches

    rng = np.random.default_rng(1)
    n = symbols * bars
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (symbols, bars)), axis=1)).ravel()
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    start = datetime(2000, 1, 1, tzinfo=UTC)
    ts = pl.datetime_range(start, start + timedelta(days=bars - 1), "1d", eager=True, time_zone="UTC")
    frame = pl.DataFrame(
        {
            "symbol": pl.Series([f"S{i:04d}" for i in range(symbols)]).repeat_by(bars).explode(),
            "ts": pl.concat([ts] * symbols),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.lognormal(12, 0.5, n),
        }
    )
    del open_, high, low, close
    specs = feature_set("standard")
    started = time.perf_counter()
    batches = cells = 0
    for batch in feature_batches(frame, specs, memory_budget_mb=budget_mb):
        batches += 1
        cells += batch.height * (batch.width - 2)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": n,
        "features": len(specs),
        "batches": batches,
        "cells": cells,
        "seconds": seconds,
        "peak_mb": peak_mb,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--panel":
        symbols, bars = (int(x) for x in sys.argv[2].split("x"))
        print(json.dumps(panel_run(symbols, bars, float(sys.argv[3]))))
        return
    kernels = {rows: kernel_rows(rows, REPEATS if rows <= 2_000_000 else max(2, REPEATS // 2)) for rows in SIZES}
    child = subprocess.run(
        [sys.executable, __file__, "--panel", PANEL, str(BUDGET_MB)], capture_output=True, text=True, check=True
    )
    panel = json.loads(child.stdout.strip().splitlines()[-1])
    write_results(kernels, panel)


def write_results(kernels: dict[int, list], panel: dict) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"`make bench` on {platform.processor() or platform.machine()}, {os.cpu_count()} cores; best of "
        f"{REPEATS} runs (fewer at 50M rows). Ratio = ours / reference: below 1 means we are faster. "
        "`100 symbols` is the same rows passed as 100 groups with offsets.",
        "",
    ]
    for rows, table in kernels.items():
        lines += [
            f"## Kernels, {rows:,} float64 rows",
            "",
            "| kernel | ours ns/row | TA-Lib ns/row | ours / TA-Lib | polars ns/row | polars / ours "
            "| ours, 100 symbols |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in table:
            pol = f"{r['polars']:.2f} | {r['polars'] / r['ours']:.1f}x" if "polars" in r else "– | –"
            grouped = f"{r['ours_100_symbols']:.2f}" if "ours_100_symbols" in r else "–"
            flag = " (target)" if name in TARGET_KERNELS else ""
            ratio = r["ours"] / r["talib"]
            lines.append(f"| {name}{flag} | {r['ours']:.2f} | {r['talib']:.2f} | {ratio:.2f} | {pol} | {grouped} |")
        lines.append("")
    lines += [
        f"## The standard feature set on a {PANEL.replace('x', ' symbols x ')} bars panel",
        "",
        f"{panel['rows']:,} rows x {panel['features']} features = {panel['cells']:,} values, in "
        f"{panel['batches']} symbol batches (memory budget {BUDGET_MB:.0f} MB): "
        f"**{panel['seconds']:.1f} s**, peak RSS **{panel['peak_mb'] / 1024:.2f} GB** "
        f"(target: under 60 s and 8 GB on 2 cores; includes building the synthetic panel).",
        "",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
