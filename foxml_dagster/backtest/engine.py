"""Vectorised close-to-close backtest of target weights, beside a benchmark held over the same bars.

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

Each row also carries the benchmark's return over the same interval (`benchmark.py`: by default
an equal-weight buy-and-hold of every symbol of the universe, signalled or not) and the book's
net, long and short exposure, so what the strategy earned can be told apart from what the
market paid for simply being in it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from foxml_dagster.backtest.benchmark import align_to, hold_equity
from foxml_dagster.execution.backtest import route_weights
from foxml_dagster.execution.config import ExecutionConfig

__all__ = [
    "SERIES_COLUMNS",
    "BacktestConfig",
    "BenchmarkConfig",
    "benchmark_prices",
    "run_backtest",
    "run_backtests",
]

SERIES_COLUMNS = [
    "ts",
    "gross_return",
    "cost",
    "net_return",
    "turnover",
    "gross_exposure",
    "net_exposure",
    "long_exposure",
    "short_exposure",
    "n_positions",
    "equity",
    "benchmark_return",
    "benchmark_equity",
]


class BenchmarkConfig(BaseModel):
    """What the strategy is measured against.

    equal_weight: equal-weight buy-and-hold of every symbol in the bars (the universe); symbol:
    buy-and-hold of one symbol of the bars; file: a price series (columns ts and close, CSV or
    Parquet) at `path`, relative to FOXML_HOME unless absolute.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["equal_weight", "symbol", "file"] = Field(
        "equal_weight",
        description="equal_weight (the universe held), symbol (one symbol held) or file (a price series)",
    )
    symbol: str | None = Field(None, description="kind symbol: the symbol bought and held, one of the run's bars")
    path: str | None = Field(
        None, description="kind file: CSV or Parquet with columns ts and close, relative to FOXML_HOME unless absolute"
    )

    @model_validator(mode="after")
    def _named(self) -> BenchmarkConfig:
        if self.kind == "symbol" and not self.symbol:
            raise ValueError("benchmark kind: symbol needs benchmark.symbol (e.g. SPY)")
        if self.kind == "file" and not self.path:
            raise ValueError("benchmark kind: file needs benchmark.path (a CSV or Parquet with ts and close)")
        return self


class BacktestConfig(BaseModel):
    """Costs, the benchmark, annualisation and when a sample is too short to annualise."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cost_bps: float = Field(5.0, ge=0, description="cost per unit of traded weight, in basis points")
    periods_per_year: int | None = Field(
        None, gt=0, description="bars per year, for annualisation; null: inferred from the bar timestamps"
    )
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    min_years: float = Field(
        1.0, gt=0, description="a backtest shorter than this is flagged: its annualised figures extrapolate"
    )
    log_scale: bool = Field(False, description="tearsheet: plot equity on a log scale (long histories)")
    route_through_risk: bool = Field(
        False,
        description="route the backtest, the strategy grid and the target ranking through the pre-trade risk "
        "engine under execution.risk (docs/execution.md): off by default, since a multi-year backtest has no "
        "operator to resume a halt and today's currency limits bind as its equity grows",
    )

    def execution_or_none(self, execution: ExecutionConfig) -> ExecutionConfig | None:
        """The execution settings a routed backtest uses; None when it is not routed."""
        return execution if self.route_through_risk else None


def run_backtest(
    signals: pl.DataFrame,
    bars: pl.DataFrame,
    config: BacktestConfig | None = None,
    *,
    benchmark_equity: pl.DataFrame | None = None,
    execution: ExecutionConfig | None = None,
) -> pl.DataFrame:
    """Portfolio series (one row per bar ts) of holding `signals`' target weights on `bars`.

    Args:
        signals: symbol, ts, target_weight (one row per symbol and ts).
        bars: symbol, ts, close (other OHLCV columns ignored), unique on (symbol, ts).
        config: costs and the benchmark (default `BacktestConfig()`).
        benchmark_equity: ts, equity of the benchmark (`benchmark.hold_equity`); default: the
            buy-and-hold of `config.benchmark` over `bars` (kind file needs this argument).
        execution: when given, the target weights are routed through the pre-trade risk engine
            (`foxml_dagster.execution.backtest.route_weights`: the account starts at
            `execution.capital` under `execution.risk`'s limits, lot sizes and no-trade
            threshold), the weights held are what it allows, and the series gains a
            `risk_denied` column (rows whose order was denied, per ts).

    Returns `SERIES_COLUMNS`; see the module docstring for the timing convention. Every signal
    must sit on a bar of its symbol (a signal with no bar cannot be traded and raises ValueError).
    """
    config = config if config is not None else BacktestConfig()
    sig, px = _checked_inputs(signals, bars, ["symbol"])

    panel = (
        px.join(sig.drop("_row"), on=["symbol", "ts"], how="left")
        .with_columns(pl.col("target_weight").fill_null(0.0).alias("w"))
        .pipe(route_weights, execution, cost_bps=config.cost_bps)  # one engine for every path
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
    series = (
        panel.group_by("ts")
        .agg(
            pl.col("pnl").sum().alias("gross_return"),
            pl.col("trade").sum().alias("turnover"),
            pl.col("w").abs().sum().alias("gross_exposure"),
            pl.col("w").sum().alias("net_exposure"),
            pl.col("w").clip(lower_bound=0).sum().alias("long_exposure"),
            pl.col("w").clip(upper_bound=0).sum().alias("short_exposure"),
            (pl.col("w") != 0).sum().cast(pl.Int64).alias("n_positions"),
            *([pl.col("risk_denied").sum().alias("risk_denied")] if execution is not None else []),
        )
        .sort("ts")
        .with_columns((pl.col("turnover") * cost_rate).alias("cost"))
        .with_columns((pl.col("gross_return") - pl.col("cost")).alias("net_return"))
        .with_columns((1 + pl.col("net_return")).cum_prod().alias("equity"))
    )
    if benchmark_equity is None:
        benchmark_equity = hold_equity(benchmark_prices(bars, config.benchmark))
    bench = align_to(benchmark_equity, series.get_column("ts"))
    columns = SERIES_COLUMNS + (["risk_denied"] if execution is not None else [])
    return series.join(bench, on="ts", how="left").select(columns)


def benchmark_prices(bars: pl.DataFrame, benchmark: BenchmarkConfig) -> pl.DataFrame:
    """The prices the configured benchmark holds, taken from the run's bars."""
    prices = bars.select(pl.col("symbol").cast(pl.String), "ts", pl.col("close").cast(pl.Float64))
    if benchmark.kind == "equal_weight":
        return prices
    if benchmark.kind == "symbol":
        held = prices.filter(pl.col("symbol") == benchmark.symbol)
        if held.is_empty():
            raise ValueError(
                f"backtest.benchmark.symbol {benchmark.symbol!r} has no bars; add it to data.symbols, "
                "or use benchmark kind: file with its price series"
            )
        return held
    raise ValueError("backtest.benchmark kind: file: read the file and pass its hold_equity as benchmark_equity")


def run_backtests(
    signals: pl.DataFrame,
    bars: pl.DataFrame,
    config: BacktestConfig | None = None,
    *,
    benchmark_equity: pl.DataFrame | None = None,
    by: str = "strategy",
) -> pl.DataFrame:
    """`run_backtest` for many strategies at once, without the risk engine.

    `signals` holds symbol, ts, target_weight and a `by` column naming the strategy; the result
    is `by` followed by SERIES_COLUMNS, sorted by (`by`, ts), and each strategy's rows are those
    `run_backtest` gives its signals alone (same timing, costs, span and benchmark alignment;
    tests/unit/test_signals_backtest.py compares them). The bars are laid out once as arrays (a
    row per bar, sorted by symbol and time) and each strategy is a few array passes over them,
    so a grid of hundreds of strategies costs hundreds of passes over the bars, in memory of
    one strategy's arrays.
    """
    config = config if config is not None else BacktestConfig()
    sig, px = _checked_inputs(signals, bars, [by, "symbol"])
    if benchmark_equity is None:
        benchmark_equity = hold_equity(benchmark_prices(bars, config.benchmark))
    book = _BarArrays(px, benchmark_equity)
    parts = []
    by_strategy = sig.partition_by(by, as_dict=True)
    for key in sorted(by_strategy):
        part = by_strategy[key]
        series = book.series(part.get_column("_row").to_numpy(), part.get_column("target_weight").to_numpy(), config)
        parts.append(series.select(pl.lit(key[0], dtype=sig.schema[by]).alias(by), pl.all()))
    return pl.concat(parts)


class _BarArrays:
    """The bars of the signalled symbols as arrays (sorted by symbol, ts), and the benchmark's
    level at each of their timestamps: what every strategy of a grid is computed on."""

    def __init__(self, px: pl.DataFrame, benchmark_equity: pl.DataFrame):
        symbol = px.get_column("symbol")
        self.first_of_symbol = (symbol != symbol.shift(1)).fill_null(True).to_numpy()
        self.symbol_code = np.cumsum(self.first_of_symbol) - 1
        close = px.get_column("close").to_numpy()
        last_of_symbol = np.r_[self.first_of_symbol[1:], True]
        # The return from this bar's close to the symbol's next bar's; nothing after its last bar.
        self.fwd_ret = np.where(last_of_symbol, 0.0, np.r_[close[1:], 1.0] / close - 1)
        self.stamps = px.get_column("ts").unique().sort()
        self.ts_code = np.searchsorted(
            self.stamps.to_physical().to_numpy(), px.get_column("ts").to_physical().to_numpy()
        )
        # The benchmark as `align_to` values it: its level at (or before) each ts, null before it starts.
        levels = pl.DataFrame({"ts": self.stamps}).join_asof(
            benchmark_equity.select("ts", "equity").sort("ts"), on="ts", strategy="backward"
        )
        self.benchmark_level = levels.get_column("equity").fill_null(np.nan).to_numpy()

    def series(self, rows: np.ndarray, weights: np.ndarray, config: BacktestConfig) -> pl.DataFrame:
        """SERIES_COLUMNS of the strategy holding `weights` at bar rows `rows` (0 elsewhere)."""
        w = np.zeros(len(self.fwd_ret))
        w[rows] = weights
        w_prev = np.r_[0.0, w[:-1]]
        w_prev[self.first_of_symbol] = 0.0
        # Its symbols' bars from its first signal to the first bar after its last (closing the book).
        held = np.zeros(self.symbol_code[-1] + 1, dtype=bool)
        held[self.symbol_code[rows]] = True
        in_book = held[self.symbol_code]
        first, last = self.ts_code[rows].min(), self.ts_code[rows].max()
        after = self.ts_code[in_book & (self.ts_code > last)]
        end = after.min() if after.size else last
        keep = in_book & (self.ts_code >= first) & (self.ts_code <= end)
        t, wk = self.ts_code[keep], w[keep]
        n_ts = len(self.stamps)

        def per_ts(values: np.ndarray) -> np.ndarray:
            return np.bincount(t, weights=values, minlength=n_ts)[present]

        present = np.bincount(t, minlength=n_ts) > 0
        gross = per_ts(wk * self.fwd_ret[keep])
        turnover = per_ts(np.abs(wk - w_prev[keep]))
        cost = turnover * (config.cost_bps / 1e4)
        net = gross - cost
        level = self.benchmark_level[present]
        with np.errstate(invalid="ignore", divide="ignore"):
            step = np.r_[level[1:] / level[:-1] - 1, 0.0]
        step = np.where(np.isfinite(step), step, 0.0)
        return pl.DataFrame(
            {
                "ts": self.stamps.filter(pl.Series(present)),
                "gross_return": gross,
                "cost": cost,
                "net_return": net,
                "turnover": turnover,
                "gross_exposure": per_ts(np.abs(wk)),
                "net_exposure": per_ts(wk),
                "long_exposure": per_ts(np.clip(wk, 0, None)),
                "short_exposure": per_ts(np.clip(wk, None, 0)),
                "n_positions": per_ts((wk != 0).astype(np.float64)).astype(np.int64),
                "equity": np.cumprod(1 + net),
                "benchmark_return": step,
                "benchmark_equity": np.cumprod(1 + step),
            }
        )


def _checked_inputs(signals: pl.DataFrame, bars: pl.DataFrame, keys: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Signals (keys, ts, target_weight) and the bars of their symbols (symbol, ts, close), each
    checked: one row per key and ts, no null weight, positive closes, every signal on a bar."""
    for name, df, cols in (
        ("signals", signals, (*keys, "ts", "target_weight")),
        ("bars", bars, ("symbol", "ts", "close")),
    ):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{name}: required column(s) {missing} missing")
    sig = signals.select(
        *[pl.col(k).cast(pl.String) if k == "symbol" else pl.col(k) for k in keys],
        "ts",
        pl.col("target_weight").cast(pl.Float64),
    )
    if sig.height == 0:
        raise ValueError("signals is empty; nothing to backtest")
    if sig.get_column("target_weight").is_null().any():
        raise ValueError("signals: target_weight has nulls")
    px = (
        bars.select(pl.col("symbol").cast(pl.String), "ts", pl.col("close").cast(pl.Float64))
        .filter(pl.col("symbol").is_in(sig.get_column("symbol").unique().implode()))
        .sort("symbol", "ts")
    )
    if px.height - px.select("symbol", "ts").n_unique():
        raise ValueError("bars: duplicate (symbol, ts) rows")
    if not (px.get_column("close") > 0).all():
        raise ValueError("bars: close must be > 0 and not null")
    # Each signal's bar row: a signal with none cannot be traded, and two signals of one
    # strategy on one bar row are duplicates (counted on integer ids, not the strings).
    sig = sig.join(
        px.select("symbol", "ts").with_row_index("_row"), on=["symbol", "ts"], how="left", maintain_order="left"
    )
    unmatched = sig.filter(pl.col("_row").is_null())
    if unmatched.height:
        first = unmatched.sort("ts").row(0, named=True)
        raise ValueError(
            f"{unmatched.height} signals have no bar of their symbol at their ts "
            f"(first: {first['symbol']} at {first['ts']}); signals and bars must share timestamps"
        )
    strategies = [k for k in keys if k != "symbol"]
    if strategies:
        n_dup = sig.height - sig.group_by(strategies).agg(pl.col("_row").n_unique())["_row"].sum()
    else:
        n_dup = sig.height - sig.get_column("_row").n_unique()
    if n_dup:
        strategy = "" if keys == ["symbol"] else f" per {keys[0]}"
        raise ValueError(
            f"signals: {n_dup} duplicate ({', '.join(keys)}, ts) rows; pass one target's signals{strategy}"
        )
    return sig, px
