"""Side-by-side comparison of strategies of the grid: the sizing policies on the traded source, and
the families and ensembles under the traded policy.

Every row is summarised from its own series in `strategy_returns` (one return per bar, net of
costs) by the same `summarize_backtest` as the traded backtest, beside the benchmark over the
same bars (its total return and Sharpe on that row, and the strategy's beta, alpha and excess
return against it), with the deflated Sharpe of the strategy's trial: the one statistic that
accounts for every strategy compared here having been tried.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from foxml_dagster.backtest.summary import summarize_backtest

__all__ = ["COMPARISON_COLUMNS", "compare_strategies", "equity_curves"]

COMPARISON_COLUMNS = [
    "strategy",
    "family",
    "variant",
    "total_return",
    "sharpe",
    "max_drawdown",
    "avg_turnover",
    "total_cost",
    "benchmark_total_return",
    "benchmark_sharpe",
    "excess_return",
    "beta",
    "alpha",
    "dsr",
    "traded",
]


def _series(strategy_returns: pl.DataFrame, name: str) -> pl.DataFrame:
    return (
        strategy_returns.filter(pl.col("strategy") == name)
        .sort("ts")
        .with_columns((pl.col("gross_return") - pl.col("net_return")).alias("cost"))
    )


def compare_strategies(
    strategy_returns: pl.DataFrame,
    trials: pl.DataFrame,
    names: Sequence[str],
    *,
    traded: str,
    periods_per_year: int,
) -> pl.DataFrame:
    """One row per strategy name (`<family>:<target>:<variant>`), in the order given; names
    absent from the grid are skipped."""
    dsr = dict(
        trials.filter(pl.col("in_last_run") & (pl.col("kind") == "strategy")).select("config", "dsr").iter_rows()
    )
    rows = []
    for name in names:
        series = _series(strategy_returns, name)
        if series.is_empty():
            continue
        s = summarize_backtest(series, periods_per_year=periods_per_year)
        family, _, variant = name.split(":")
        rows.append(
            {
                "strategy": name,
                "family": family,
                "variant": variant,
                **{k: s.get(k) for k in COMPARISON_COLUMNS[3:-2]},
                "dsr": dsr.get(name),
                "traded": name == traded,
            }
        )
    schema = {c: pl.Float64 for c in COMPARISON_COLUMNS}
    schema.update(strategy=pl.String, family=pl.String, variant=pl.String, traded=pl.Boolean)
    return pl.DataFrame(rows, schema=schema)


def equity_curves(strategy_returns: pl.DataFrame, names: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (ts, equity net of costs) of each strategy, and "benchmark" over the first one's bars."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in names:
        series = _series(strategy_returns, name)
        if series.is_empty():
            continue
        ts = series.get_column("ts").to_numpy()
        out[name] = (ts, np.cumprod(1 + series.get_column("net_return").fill_null(0.0).to_numpy()))
        if "benchmark" not in out and "benchmark_return" in series.columns:
            out["benchmark"] = (ts, np.cumprod(1 + series.get_column("benchmark_return").fill_null(0.0).to_numpy()))
    return out
