"""Vectorised close-to-close backtest of target weights, its summary and a markdown tearsheet.

Timing convention (no look-ahead by construction):

- A signal at bar `ts` is decided after that bar's close and traded at that close.
- It is then held over the *next* bar of the same symbol:
  pnl(symbol, t) = w(symbol, t) * (close(symbol, t+1) / close(symbol, t) - 1).
- The row of the portfolio series at `ts` therefore reports the return *earned by the position
  set at ts*, which is realised at the next bar's close. A symbol's last bar earns nothing.
- Costs: cost_bps / 1e4 * |w(t) - w(t-1)| per symbol, charged at t (the trade happens at t's
  close), where t-1 is the previous bar of that symbol; the book starts flat.
- A symbol with no signal at one of its bars has weight 0 there: the position is closed.

The series covers every bar timestamp of the signalled symbols from the first signal up to and
including the first bar after the last signal, so the cost of closing the final book is charged.
Portfolio return per ts is sum over symbols of pnl: weights are fractions of equity rebalanced
each bar, and returns are simple (not log) returns.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SERIES_COLUMNS",
    "BacktestConfig",
    "run_backtest",
    "summarize_backtest",
    "tearsheet_markdown",
]

SERIES_COLUMNS = [
    "ts",
    "gross_return",
    "cost",
    "net_return",
    "turnover",
    "gross_exposure",
    "n_positions",
    "equity",
]


class BacktestConfig(BaseModel):
    """Costs and annualisation of the backtest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cost_bps: float = Field(5.0, ge=0, description="cost per unit of traded weight, in basis points")
    periods_per_year: int = Field(252, gt=0, description="bars per year, for annualisation")


def run_backtest(signals: pl.DataFrame, bars: pl.DataFrame, config: BacktestConfig | None = None) -> pl.DataFrame:
    """Portfolio series (one row per bar ts) of holding `signals`' target weights on `bars`.

    Args:
        signals: symbol, ts, target_weight (one row per symbol and ts).
        bars: symbol, ts, close (other OHLCV columns ignored), unique on (symbol, ts).
        config: costs and annualisation (default `BacktestConfig()`).

    Returns columns ts, gross_return, cost, net_return, turnover, gross_exposure, n_positions,
    equity; see the module docstring for the timing convention. Every signal must sit on a bar of
    its symbol (a signal with no bar cannot be traded and raises ValueError).
    """
    config = config if config is not None else BacktestConfig()
    for name, df, cols in (
        ("signals", signals, ("symbol", "ts", "target_weight")),
        ("bars", bars, ("symbol", "ts", "close")),
    ):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{name}: required column(s) {missing} missing")
    sig = signals.select(pl.col("symbol").cast(pl.String), "ts", pl.col("target_weight").cast(pl.Float64))
    if sig.height == 0:
        raise ValueError("signals is empty; nothing to backtest")
    if sig.get_column("target_weight").is_null().any():
        raise ValueError("signals: target_weight has nulls")
    n_dup = sig.height - sig.select("symbol", "ts").n_unique()
    if n_dup:
        raise ValueError(f"signals: {n_dup} duplicate (symbol, ts) rows; pass one target's signals")

    symbols = sig.get_column("symbol").unique()
    px = (
        bars.select(pl.col("symbol").cast(pl.String), "ts", pl.col("close").cast(pl.Float64))
        .filter(pl.col("symbol").is_in(symbols.implode()))
        .sort("symbol", "ts")
    )
    if px.height - px.select("symbol", "ts").n_unique():
        raise ValueError("bars: duplicate (symbol, ts) rows")
    if not (px.get_column("close") > 0).all():
        raise ValueError("bars: close must be > 0 and not null")
    unmatched = sig.join(px, on=["symbol", "ts"], how="anti")
    if unmatched.height:
        first = unmatched.sort("ts").row(0, named=True)
        raise ValueError(
            f"{unmatched.height} signals have no bar of their symbol at their ts "
            f"(first: {first['symbol']} at {first['ts']}); signals and bars must share timestamps"
        )

    panel = (
        px.join(sig, on=["symbol", "ts"], how="left")
        .with_columns(pl.col("target_weight").fill_null(0.0).alias("w"))
        .with_columns(
            (pl.col("close").shift(-1).over("symbol") / pl.col("close") - 1).fill_null(0.0).alias("fwd_ret"),
            pl.col("w").shift(1).over("symbol").fill_null(0.0).alias("w_prev"),
        )
        .with_columns(
            (pl.col("w") * pl.col("fwd_ret")).alias("pnl"),
            (pl.col("w") - pl.col("w_prev")).abs().alias("trade"),
        )
    )
    first_ts = sig.get_column("ts").min()
    last_ts = sig.get_column("ts").max()
    after = panel.filter(pl.col("ts") > last_ts).get_column("ts")
    end_ts = after.min() if after.len() else last_ts
    panel = panel.filter(pl.col("ts").is_between(first_ts, end_ts))

    cost_rate = config.cost_bps / 1e4
    return (
        panel.group_by("ts")
        .agg(
            pl.col("pnl").sum().alias("gross_return"),
            pl.col("trade").sum().alias("turnover"),
            pl.col("w").abs().sum().alias("gross_exposure"),
            (pl.col("w") != 0).sum().cast(pl.Int64).alias("n_positions"),
        )
        .sort("ts")
        .with_columns((pl.col("turnover") * cost_rate).alias("cost"))
        .with_columns((pl.col("gross_return") - pl.col("cost")).alias("net_return"))
        .with_columns((1 + pl.col("net_return")).cum_prod().alias("equity"))
        .select(SERIES_COLUMNS)
    )


def summarize_backtest(series: pl.DataFrame, config: BacktestConfig | None = None) -> dict[str, Any]:
    """Headline statistics of a `run_backtest` series (net of costs, risk-free rate 0).

    - total_return: final equity - 1.
    - cagr: final equity ** (periods_per_year / n_periods) - 1 (-1.0 if equity hit <= 0).
    - ann_vol: std(net_return, ddof=1) * sqrt(periods_per_year).
    - sharpe: mean / std(ddof=1) of net_return * sqrt(periods_per_year); None if std = 0.
    - sortino: mean / downside deviation * sqrt(periods_per_year), downside deviation =
      sqrt(mean(min(net_return, 0) ** 2)) over all periods; None if no losing period.
    - max_drawdown: most negative equity / running peak - 1 (the peak includes the starting
      equity 1.0); 0.0 for a series that never dips, -0.2 for a 20 % drawdown.
    - hit_rate: share of periods with exposure (gross_exposure > 0) whose net_return > 0;
      None if never exposed.
    - avg_turnover, avg_gross_exposure: per-period means. total_cost: sum of costs.
    - n_periods, start, end: length and first/last ts of the series.
    """
    config = config if config is not None else BacktestConfig()
    if series.height == 0:
        raise ValueError("empty backtest series")
    ppy = config.periods_per_year
    net = series.get_column("net_return").to_numpy().astype(np.float64)
    equity = series.get_column("equity").to_numpy().astype(np.float64)
    n = len(net)
    final = float(equity[-1])
    cagr = final ** (ppy / n) - 1 if final > 0 else -1.0
    sd = float(np.std(net, ddof=1)) if n > 1 else 0.0
    mean = float(np.mean(net))
    downside = math.sqrt(float(np.mean(np.minimum(net, 0.0) ** 2)))
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))
    drawdown = np.concatenate([[1.0], equity]) / peak - 1
    exposed = series.get_column("gross_exposure").to_numpy() > 0
    return {
        "total_return": final - 1,
        "cagr": float(cagr),
        "ann_vol": sd * math.sqrt(ppy),
        "sharpe": mean / sd * math.sqrt(ppy) if sd > 0 else None,
        "sortino": mean / downside * math.sqrt(ppy) if downside > 0 else None,
        "max_drawdown": float(drawdown.min()),
        "hit_rate": float(np.mean(net[exposed] > 0)) if exposed.any() else None,
        "avg_turnover": float(series.get_column("turnover").mean()),
        "avg_gross_exposure": float(series.get_column("gross_exposure").mean()),
        "total_cost": float(series.get_column("cost").sum()),
        "n_periods": n,
        "start": series.get_column("ts").min(),
        "end": series.get_column("ts").max(),
    }


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def tearsheet_markdown(summary: dict[str, Any], series: pl.DataFrame, *, title: str = "Backtest") -> str:
    """A short markdown report: headline table, then net returns by month and year (compounded)."""

    def pct(x: Any) -> str:
        return "n/a" if x is None else f"{100 * x:.2f}%"

    def num(x: Any) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    lines = [
        f"# {title}",
        "",
        f"{summary['start']} to {summary['end']}, {summary['n_periods']} periods, net of costs.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| total return | {pct(summary['total_return'])} |",
        f"| CAGR | {pct(summary['cagr'])} |",
        f"| annual volatility | {pct(summary['ann_vol'])} |",
        f"| Sharpe | {num(summary['sharpe'])} |",
        f"| Sortino | {num(summary['sortino'])} |",
        f"| max drawdown | {pct(summary['max_drawdown'])} |",
        f"| hit rate | {pct(summary['hit_rate'])} |",
        f"| avg turnover / period | {pct(summary['avg_turnover'])} |",
        f"| avg gross exposure | {pct(summary.get('avg_gross_exposure'))} |",
        f"| total cost | {pct(summary.get('total_cost'))} |",
        "",
        "## Monthly net returns",
        "",
        "| year | " + " | ".join(_MONTHS) + " | year |",
        "|---|" + "---|" * 13,
    ]
    growth = (1 + pl.col("net_return")).product() - 1
    monthly = series.group_by(pl.col("ts").dt.year().alias("year"), pl.col("ts").dt.month().alias("month")).agg(
        growth.alias("r")
    )
    yearly = series.group_by(pl.col("ts").dt.year().alias("year")).agg(growth.alias("r")).sort("year")
    by_month = {(row["year"], row["month"]): row["r"] for row in monthly.iter_rows(named=True)}
    for row in yearly.iter_rows(named=True):
        year = row["year"]
        cells = [pct(by_month[(year, m)]) if (year, m) in by_month else "" for m in range(1, 13)]
        lines.append(f"| {year} | " + " | ".join(cells) + f" | {pct(row['r'])} |")
    return "\n".join(lines) + "\n"
