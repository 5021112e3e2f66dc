"""Risk benchmark: the Rust pre-trade engine beside the same checks in plain Python.

Times, on one thread:

1. Steady state, as when trading: orders in batches of 1,000, each batch through
   `RiskEngine.submit_batch` (every check: restricted list, side, quantity, price, lot, tick,
   reference and its age, collar, per-order quantity and notional per symbol and firm-wide,
   reduce-only, position quantity, notional and weight, gross, net, working notional, buying
   power, submit throttle; accepted orders booked as working, the state update), then every
   accepted order filled with `fill_batch`. The same orders go through
   `foxml_dagster.execution.reference.PyRiskEngine`, the rule-for-rule Python implementation,
   on a prefix of the stream, submitted and filled the same way.
2. The stress case: all orders in one `submit_batch`, every accepted one left working (two
   million working orders), then one `fill_batch`; the Python reference decides the prefix too,
   and both must give the same decision to every order of it.
3. A whole rebalance in one call: `plan_legs` and `submit_batch` for every symbol of a universe.
4. The backtest's route: `route_weights` on a panel of target weights (one call per backtest),
   and `run_backtest` with and without it on the shipped sample's size of panel.

Every number in benchmarks/results_risk.md is written by this script.

    python benchmarks/risk.py          (BENCH_ORDERS=20000 BENCH_PY_ORDERS=2000 to check it runs)
"""

from __future__ import annotations

import math
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

from foxml_dagster.backtest import BacktestConfig, run_backtest  # noqa: E402
from foxml_dagster.execution import ExecutionConfig, RiskConfig  # noqa: E402
from foxml_dagster.execution.backtest import route_weights  # noqa: E402
from foxml_dagster.execution.config import OrderSettings  # noqa: E402
from foxml_dagster.execution.reference import PyRiskEngine  # noqa: E402
from foxml_dagster.native.risk import REASONS, AccountLimits, InstrumentLimits, RiskEngine, plan_legs  # noqa: E402

ORDERS = int(os.environ.get("BENCH_ORDERS", 2_000_000))
PY_ORDERS = int(os.environ.get("BENCH_PY_ORDERS", 100_000))
INSTRUMENTS = int(os.environ.get("BENCH_INSTRUMENTS", 500))
REPEATS = int(os.environ.get("BENCH_REPEATS", 5))
PANEL_DAYS = int(os.environ.get("BENCH_PANEL_DAYS", 2520))
OUT = Path(__file__).with_name("results_risk.md")
TARGET_NS = 500.0  # the bar: at least 2M checks a second, state updates included
START = int(datetime(2024, 1, 2, 14, 30, tzinfo=UTC).timestamp()) * 10**9

# Every check on, none so tight that the stream is mostly denied: the engine walks the whole
# rule list for an accepted order, which is the expensive path.
INSTRUMENT = InstrumentLimits(
    lot_size=1,
    tick_size=0.01,
    max_order_qty=5_000,
    max_order_notional=400_000,
    max_position_qty=1e7,
    max_position_notional=5e8,
)
LIMITS = AccountLimits(
    max_order_notional=500_000,
    max_gross_notional=1e12,
    max_net_notional=1e12,
    max_open_order_notional=1e13,
    max_position_weight=1e3,
    max_leverage=1e3,
    collar=0.05,
    reference_max_age_ns=3600 * 10**9,
    max_submits=4_000_000_000,
    submit_window_ns=10**9,
    max_daily_loss=0.5,
    max_drawdown=0.9,
)


def order_stream(n: int, instruments: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random orders: buys and sells, 80% market, 20% limit near the reference, 2% reduce-only."""
    rng = np.random.default_rng(seed)
    prices = np.round(rng.uniform(10, 500, instruments), 2)
    inst = rng.integers(0, instruments, n)
    limit = rng.random(n) < 0.2
    raw = prices[inst] * (1 + rng.normal(0, 0.01, n))
    return {
        "prices": prices,
        "instrument": inst.astype(np.int64),
        "side": np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8),
        "qty": rng.integers(1, 200, n).astype(np.float64),
        "price": np.where(limit, np.round(raw, 2), np.nan),
        "reduce_only": rng.random(n) < 0.02,
        "ts": START + np.arange(n, dtype=np.int64) * 1_000,  # one order a microsecond
    }


def fresh_native(prices: np.ndarray) -> RiskEngine:
    engine = RiskEngine([INSTRUMENT] * len(prices), LIMITS, cash=1e9)
    engine.set_references(np.arange(len(prices)), prices, START)
    return engine


def fresh_python(prices: np.ndarray) -> PyRiskEngine:
    engine = PyRiskEngine([INSTRUMENT] * len(prices), LIMITS, cash=1e9)
    for i, p in enumerate(prices.tolist()):
        engine.set_reference(i, p, START)
    return engine


def best(
    fn: Callable[[], object], repeats: int, setup: Callable[[], object] | None = None
) -> tuple[float, float, object]:
    """(best wall seconds, its thread CPU seconds, last result) over `repeats` runs."""
    best_wall, best_cpu, out = math.inf, math.inf, None
    for _ in range(repeats):
        if setup is not None:
            setup()
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        out = fn()
        wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
        if wall < best_wall:
            best_wall, best_cpu = wall, cpu
    return best_wall, best_cpu, out


def bench_orders(stream: dict[str, np.ndarray]) -> dict:
    prices = stream["prices"]
    holder: dict[str, RiskEngine] = {}

    def setup() -> None:
        holder["e"] = fresh_native(prices)

    def submit() -> tuple[np.ndarray, np.ndarray]:
        s = stream
        return holder["e"].submit_batch(
            s["instrument"], s["side"], s["qty"], price=s["price"], reduce_only=s["reduce_only"], ts=s["ts"]
        )

    wall, cpu, (codes, ids) = best(submit, REPEATS, setup)
    accepted = codes == 0
    filled_ids = ids[accepted]
    fill_px = prices[stream["instrument"][accepted]]

    def fill() -> None:
        holder["e"].fill_batch(filled_ids, stream["qty"][accepted], fill_px)

    def setup_fill() -> None:
        setup()
        submit()

    fill_wall, fill_cpu, _ = best(fill, REPEATS, setup_fill)

    n_py = min(PY_ORDERS, len(codes))
    py_engine = fresh_python(prices)
    columns = [stream[k][:n_py].tolist() for k in ("instrument", "side", "qty", "price", "reduce_only", "ts")]
    rows = list(zip(*columns, strict=True))
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    py_codes = [py_engine.submit(*row)[0] for row in rows]
    py_wall, py_cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    agree = int((np.array(py_codes) == codes[:n_py]).sum())
    reasons = {REASONS[c]: int(n) for c, n in zip(*np.unique(codes, return_counts=True), strict=True)}
    return {
        "n": len(codes),
        "wall": wall,
        "cpu": cpu,
        "fill_n": int(accepted.sum()),
        "fill_wall": fill_wall,
        "fill_cpu": fill_cpu,
        "py_n": n_py,
        "py_wall": py_wall,
        "py_cpu": py_cpu,
        "agree": agree,
        "reasons": reasons,
    }


def bench_steady(stream: dict[str, np.ndarray], chunk: int) -> dict:
    """Orders in batches of `chunk`, each batch checked and booked, then every accepted order
    filled: the book of working orders stays small, as it does when trading."""
    prices = stream["prices"]
    holder: dict[str, RiskEngine] = {}
    n = len(stream["qty"])
    starts = range(0, n, chunk)
    cols = ("instrument", "side", "qty", "price", "reduce_only", "ts")
    batches = [tuple(stream[k][a : a + chunk] for k in cols) for a in starts]
    fill_px = [prices[b[0]] for b in batches]

    def setup() -> None:
        holder["e"] = fresh_native(prices)

    def run() -> int:
        e, accepted = holder["e"], 0
        for (inst, side, qty, price, reduce_only, ts), px in zip(batches, fill_px, strict=True):
            codes, ids = e.submit_batch(inst, side, qty, price=price, reduce_only=reduce_only, ts=ts)
            ok = codes == 0
            e.fill_batch(ids[ok], qty[ok], px[ok])
            accepted += int(ok.sum())
        return accepted

    wall, cpu, accepted = best(run, REPEATS, setup)

    n_py = min(PY_ORDERS, n)
    py_engine = fresh_python(prices)
    rows = list(zip(*(stream[k][:n_py].tolist() for k in cols), strict=True))
    price_of = prices.tolist()
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    for a in range(0, n_py, chunk):
        done = [(py_engine.submit(*row), row) for row in rows[a : a + chunk]]
        for (code, order_id), row in done:
            if code == 0:
                py_engine.fill(order_id, row[2], price_of[row[0]])
    py_wall, py_cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    return {
        "n": n,
        "chunk": chunk,
        "accepted": accepted,
        "wall": wall,
        "cpu": cpu,
        "py_n": n_py,
        "py_wall": py_wall,
        "py_cpu": py_cpu,
    }


def bench_rebalance(instruments: int) -> dict:
    """One rebalance of the whole universe: plan (lots, threshold, flips) and check in one call."""
    rng = np.random.default_rng(1)
    prices = np.round(rng.uniform(10, 500, instruments), 2)
    held = np.round(rng.normal(0, 300, instruments))
    target = np.round(rng.normal(0, 300, instruments) + 0.4, 1)
    holder: dict[str, RiskEngine] = {}

    def setup() -> None:
        e = fresh_native(prices)
        for i, q in enumerate(held.tolist()):
            e.set_position(i, q)
        holder["e"] = e

    def rebalance():
        legs = plan_legs(held, target, 1.0, prices, min_notional=100.0)
        order = np.argsort(~legs.closing, kind="stable")
        return holder["e"].submit_batch(legs.row[order], legs.side[order], legs.qty[order], ts=START)

    wall, cpu, (codes, _) = best(rebalance, max(REPEATS, 20), setup)
    return {"instruments": instruments, "legs": len(codes), "wall": wall, "cpu": cpu}


def synthetic_panel(symbols: int, days: int, seed: int = 2) -> pl.DataFrame:
    """Random-walk closes and weekly-rebalanced random weights with a gross exposure near 1."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, (symbols, days)), axis=1)).ravel()
    start = int(datetime(2000, 1, 3, tzinfo=UTC).timestamp() * 1_000_000)
    stamps = start + np.tile(np.arange(days, dtype=np.int64) * 86_400_000_000, symbols)
    weekly = rng.normal(0, 1.25 / symbols, (symbols, -(-days // 5)))
    weights = np.clip(np.repeat(weekly, 5, axis=1)[:, :days], -0.25, 0.25).ravel()
    return pl.DataFrame(
        {
            "symbol": np.repeat([f"S{i:04d}" for i in range(symbols)], days),
            "ts": pl.Series(stamps).cast(pl.Datetime("us", "UTC")),
            "close": close,
            "w": weights,
        }
    )


def bench_backtest() -> list[dict]:
    execution = ExecutionConfig(
        risk=RiskConfig(max_position_weight=0.2, max_leverage=1.5, max_daily_loss=0.05, max_drawdown=0.3),
        orders=OrderSettings(min_trade_notional=100),
    )
    rows = []
    for symbols in (5, INSTRUMENTS):
        panel = synthetic_panel(symbols, PANEL_DAYS)
        wall, cpu, routed = best(lambda p=panel: route_weights(p, execution, cost_bps=5), REPEATS)
        signals = panel.select("symbol", "ts", pl.col("w").alias("target_weight"))
        bars = panel.select("symbol", "ts", "close")
        config = BacktestConfig(cost_bps=5)
        plain_wall, _, _ = best(lambda s=signals, b=bars, c=config: run_backtest(s, b, c), REPEATS)
        routed_wall, _, _ = best(
            lambda s=signals, b=bars, c=config: run_backtest(s, b, c, execution=execution), REPEATS
        )
        rows.append(
            {
                "symbols": symbols,
                "rows": panel.height,
                "route_wall": wall,
                "route_cpu": cpu,
                "denied": int(routed["risk_denied"].sum()),
                "plain_wall": plain_wall,
                "routed_wall": routed_wall,
            }
        )
    return rows


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main() -> None:
    load_start = load_average()
    stream = order_stream(ORDERS, INSTRUMENTS)
    orders = bench_orders(stream)
    steady = bench_steady(stream, chunk=1_000)
    rebalance = bench_rebalance(INSTRUMENTS)
    backtests = bench_backtest()
    load_end = load_average()

    ns = orders["wall"] / orders["n"] * 1e9
    ns_cpu = orders["cpu"] / orders["n"] * 1e9
    fill_ns = orders["fill_wall"] / max(orders["fill_n"], 1) * 1e9
    fill_cpu_ns = orders["fill_cpu"] / max(orders["fill_n"], 1) * 1e9
    py_cpu_ns = orders["py_cpu"] / orders["py_n"] * 1e9
    steady_ns = steady["wall"] / steady["n"] * 1e9
    steady_cpu = steady["cpu"] / steady["n"] * 1e9
    steady_py = steady["py_cpu"] / steady["py_n"] * 1e9
    accepted = orders["reasons"].get("accepted", 0) / orders["n"]
    lines = [
        "# Risk engine benchmark",
        "",
        f"Written by `benchmarks/risk.py`. Best of {REPEATS}; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; 1-minute load average {load_start:.1f} at the start and "
        f"{load_end:.1f} at the end. One thread: the native calls run on the calling thread.",
        "",
        f"Orders: {orders['n']:,} random orders over {INSTRUMENTS} instruments (buys and sells, 20% limit "
        f"orders near the reference, 2% reduce-only, one a microsecond), every check on, "
        f"{accepted:.1%} accepted and booked as working. The Python reference "
        "(`foxml_dagster.execution.reference.PyRiskEngine`, the same rules) ran the first "
        f"{orders['py_n']:,} of them and gave the same decision to {orders['agree']:,} of {orders['py_n']:,}.",
        "",
        "| what | orders | ns/order (wall) | ns/order (cpu) | orders/s (cpu) | Python ns/order (cpu) "
        "| Python / Rust (cpu) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| steady state: batches of {steady['chunk']:,} checked and booked, accepted ones filled | {steady['n']:,} | "
        f"{steady_ns:.1f} | {steady_cpu:.1f} | {1e9 / steady_cpu:,.0f} | {steady_py:,.1f} | "
        f"{steady_py / steady_cpu:,.1f} |",
        f"| submit_batch of all {orders['n']:,} at once, every accepted order left working | {orders['n']:,} | "
        f"{ns:.1f} | {ns_cpu:.1f} | {1e9 / ns_cpu:,.0f} | {py_cpu_ns:,.1f} | {py_cpu_ns / ns_cpu:,.1f} |",
        f"| then fill_batch: every accepted order filled | {orders['fill_n']:,} | {fill_ns:.1f} | "
        f"{fill_cpu_ns:.1f} | {1e9 / fill_cpu_ns:,.0f} |  |  |",
        "",
        f"Target: at least 2,000,000 checks a second on one core with state updates ({TARGET_NS:.0f} ns each), "
        f"steady state: **{'met' if steady_cpu <= TARGET_NS else 'NOT met'}** ({steady_cpu:.1f} ns of CPU per "
        f"order checked, booked and, if accepted, filled; {steady_ns:.1f} ns wall). Judged on the thread's CPU "
        "time because the machine is shared (see the load average): wall time also counts the time the "
        "scheduler gave other processes. The second row leaves every accepted order working "
        f"({orders['fill_n']:,} at the end), a book far larger than any cache.",
        "",
        "Decisions of the Rust run: " + ", ".join(f"{k} {v:,}" for k, v in sorted(orders["reasons"].items())) + ".",
        "",
        "## A whole rebalance in one call",
        "",
        f"`plan_legs` (difference from held, whole lots, no-trade threshold, flips split) then one "
        f"`submit_batch` of its {rebalance['legs']} legs for {rebalance['instruments']} symbols, closing legs "
        f"first: {rebalance['wall'] * 1e6:,.1f} µs wall, {rebalance['cpu'] * 1e6:,.1f} µs cpu "
        f"({rebalance['wall'] / rebalance['legs'] * 1e9:.0f} ns per leg, Python glue included).",
        "",
        "## The backtest's route",
        "",
        f"`route_weights` (what `run_backtest(..., execution=...)` calls once per backtest) on a daily panel "
        f"of {PANEL_DAYS} bars per symbol (random walks; random weights, gross near 1, changed weekly), with "
        "position-weight, leverage, daily-loss and drawdown limits and a 100 no-trade threshold; and "
        "`run_backtest` without and with it.",
        "",
        "| symbols | rows | route_weights ms (wall) | ns/row | orders denied | run_backtest ms | routed ms | added |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in backtests:
        lines.append(
            f"| {b['symbols']} | {b['rows']:,} | {b['route_wall'] * 1e3:,.1f} | "
            f"{b['route_wall'] / b['rows'] * 1e9:.0f} "
            f"| {b['denied']:,} | {b['plain_wall'] * 1e3:,.1f} | {b['routed_wall'] * 1e3:,.1f} | "
            f"{(b['routed_wall'] / b['plain_wall'] - 1):+.0%} |"
        )
    lines.append("")
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
