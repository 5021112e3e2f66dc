"""Labels benchmark: the labels stage as the product runs it, on a panel of 1M bars.

The labels asset calls `make_labels(bars, cfg.labels)` with the shipped experiment's settings
(configs/experiment.yaml): per symbol, log returns and their `rolling_std` (the barrier widths'
volatility), then `trade_barrier` for the triple barrier, plus the forward returns, sample weights
and the long frame. This times, per bar of the panel:

1. the whole stage function, `make_labels`;
2. its triple-barrier target alone, `triple_barrier_labels` (volatility, barrier scan, weights,
   frame);
3. the two native calls of that target, `rolling_std` + `trade_barrier`, called as the stage calls
   them (through `labels.make.Panel` and `vertical_index`), against plain numpy doing the same
   per symbol; both must agree on every touch;
4. `cusum_filter`, which the stage runs with `labels.events.method: cusum`.

Every number in benchmarks/results_labels.md is written by this script.

    BENCH_ROWS=1000000 BENCH_SYMBOLS=50 python benchmarks/labels.py      (BENCH_ROWS=20000 to check it runs)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from foxml_dagster import native  # noqa: E402
from foxml_dagster.config import DEFAULT_CONFIG, load_experiment  # noqa: E402
from foxml_dagster.labels.make import Panel, make_labels, triple_barrier_labels, vertical_index  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", 1_000_000))
SYMBOLS = int(os.environ.get("BENCH_SYMBOLS", 50))
REPEATS = int(os.environ.get("BENCH_REPEATS", 5))
OUT = Path(__file__).with_name("results_labels.md")


def panel_bars(rows: int, symbols: int, seed: int = 0) -> pl.DataFrame:
    """A daily-bar panel of random walks, `rows // symbols` bars per symbol."""
    rng = np.random.default_rng(seed)
    per = rows // symbols
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (symbols, per)), axis=1)).ravel()
    open_ = close * np.exp(rng.normal(0, 0.003, len(close)))
    start = int(datetime(2000, 1, 3, tzinfo=UTC).timestamp() * 1_000_000)
    stamps = start + np.tile(np.arange(per, dtype=np.int64) * 86_400_000_000, symbols)
    return pl.DataFrame(
        {
            "symbol": np.repeat([f"S{i:04d}" for i in range(symbols)], per),
            "ts": pl.Series(stamps).cast(pl.Datetime("us", "UTC")),
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": rng.uniform(1e5, 1e6, len(close)),
        }
    )


def stage_kernels(bars: pl.DataFrame, tb):
    """The triple barrier's native calls, with the arguments `triple_barrier_labels` gives them."""
    panel = Panel(bars, tb.vol_window)  # log returns, then native.rolling_std per symbol
    scale = panel.vol * np.sqrt(tb.horizon)
    return native.trade_barrier(
        panel.close,
        tb.profit_taking * scale,
        tb.stop_loss * scale,
        vertical=vertical_index(panel, tb),
        offsets=panel.offsets,
    )


def numpy_reference(close: np.ndarray, offsets: np.ndarray, tb) -> np.ndarray:
    """Plain numpy per symbol, vectorised over bars (one pass per look-ahead step): touch rows."""
    touch = np.full(len(close), -1, dtype=np.int64)
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        log_close = np.log(close[a:b])
        n = b - a
        sigma = np.full(n, np.nan)
        if n > tb.vol_window:
            returns = np.diff(log_close)
            sigma[tb.vol_window :] = np.lib.stride_tricks.sliding_window_view(returns, tb.vol_window).std(
                axis=1, ddof=1
            )
        up_width = tb.profit_taking * sigma * np.sqrt(tb.horizon)
        down_width = tb.stop_loss * sigma * np.sqrt(tb.horizon)
        open_ = np.isfinite(up_width)
        rows = np.arange(n)
        for step in range(1, tb.horizon + 1):
            r = np.full(n, np.nan)
            r[: n - step] = log_close[step:] - log_close[: n - step]
            hit = open_ & ((r >= up_width) | (r <= -down_width))
            touch[a + rows[hit]] = a + rows[hit] + step
            open_ &= ~hit
        vertical = open_ & (rows + tb.horizon < n)
        touch[a + rows[vertical]] = a + rows[vertical] + tb.horizon
    return touch


def best_ns_per_row(fn: Callable[[], object], rows: int) -> tuple[float, float]:
    """(wall, thread CPU) ns per bar, best of REPEATS after a warm-up. The calling thread's CPU
    time too, because a shared machine inflates wall time: it counts the native kernels whole
    (they run on this thread) but not the work polars hands to its own threads."""
    fn()
    wall, cpu = [], []
    for _ in range(REPEATS):
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        fn()
        wall.append(time.perf_counter_ns() - start)
        cpu.append(time.thread_time_ns() - start_cpu)
    return min(wall) / rows, min(cpu) / rows


def main() -> int:
    labels = load_experiment(DEFAULT_CONFIG).labels
    tb = labels.triple_barrier
    if tb.horizon_time is not None or tb.touch != "close" or tb.side != "none":
        raise SystemExit("benchmarks/labels.py compares the close-touch, bar-horizon barrier; adjust the reference")
    load_start = os.getloadavg()[0]
    bars = panel_bars(ROWS, SYMBOLS)
    rows = bars.height
    panel = Panel(bars, tb.vol_window)
    threshold = labels.events.threshold * panel.vol
    scale = panel.vol * np.sqrt(tb.horizon)
    vertical = vertical_index(panel, tb)

    def barrier_alone():
        return native.trade_barrier(
            panel.close, tb.profit_taking * scale, tb.stop_loss * scale, vertical=vertical, offsets=panel.offsets
        )

    log_close = np.log(panel.close)

    ours = stage_kernels(bars, tb)
    reference = numpy_reference(panel.close, panel.offsets, tb)
    agree = float(np.mean(ours.touch_index == reference))
    labelled = int((ours.touch_index >= 0).sum())
    frame = make_labels(bars, labels)

    kernels = best_ns_per_row(lambda: stage_kernels(bars, tb), rows)
    measured = [
        (
            "make_labels (the labels stage: every target, weights, frame)",
            best_ns_per_row(lambda: make_labels(bars, labels), rows),
            None,
        ),
        (
            "triple_barrier_labels (volatility, scan, weights, frame)",
            best_ns_per_row(lambda: triple_barrier_labels(Panel(bars, tb.vol_window), labels), rows),
            None,
        ),
        (
            "rolling_std + trade_barrier (the target's native calls)",
            kernels,
            best_ns_per_row(lambda: numpy_reference(panel.close, panel.offsets, tb), rows),
        ),
        (
            "  of which Panel: sort, log returns, rolling_std",
            best_ns_per_row(lambda: Panel(bars, tb.vol_window), rows),
            None,
        ),
        ("  of which trade_barrier alone", best_ns_per_row(barrier_alone, rows), None),
        (
            "cusum_filter (labels.events.method: cusum)",
            best_ns_per_row(lambda: native.cusum_filter(log_close, threshold, offsets=panel.offsets), rows),
            None,
        ),
    ]
    targets = sorted(frame["target"].unique().to_list())
    lines = [
        "# Labels benchmark",
        "",
        f"Written by `benchmarks/labels.py`. {rows:,} bars ({SYMBOLS} symbols x {rows // SYMBOLS:,}), "
        f"best of {REPEATS}; {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"1-minute load average {load_start:.1f} at the start and {os.getloadavg()[0]:.1f} at the end.",
        "",
        f"Settings: the shipped experiment's `labels` section ({DEFAULT_CONFIG.relative_to(ROOT)}): triple barrier "
        f"horizon {tb.horizon} bars, volatility over {tb.vol_window} returns, profit-taking {tb.profit_taking} "
        f"and stop-loss {tb.stop_loss} x volatility x sqrt(horizon); forward returns "
        f"{labels.forward_returns.horizons}; weights {labels.weights.scheme}. "
        f"Targets: {', '.join(targets)}; {frame.height:,} label rows.",
        "",
        "| what | ns/bar (wall) | ns/bar (cpu) | numpy ns/bar (wall) | ours / numpy |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (wall, cpu), ref in measured:
        ref_txt, ratio = (f"{ref[0]:.2f}", f"{wall / ref[0]:.3f}") if ref else ("", "")
        lines.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {ref_txt} | {ratio} |")
    lines += [
        "",
        "cpu: the calling thread's CPU time; native kernels run on it, polars' own threads are not counted.",
        "",
        f"The native barrier and the numpy reference agree on the touch of {agree:.4%} of bars "
        f"({labelled:,} bars have a known outcome).",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if agree == 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
