"""The backtest's route through the pre-trade risk engine.

`run_backtest(..., execution=...)` hands its panel of target weights here before it computes
returns: one native call walks the bars in time order through a fresh engine holding the
account (`execution.capital`), so the backtest holds what the same limits, lot sizes and
no-trade threshold would have let a live account hold, and counts what they denied.
"""

from __future__ import annotations

import polars as pl

from foxml_dagster.execution.config import ExecutionConfig
from foxml_dagster.execution.risk import build_engine
from foxml_dagster.native.risk import REASONS

__all__ = ["route_weights"]


def route_weights(panel: pl.DataFrame, execution: ExecutionConfig | None, *, cost_bps: float) -> pl.DataFrame:
    """`panel` with its target weights `w` replaced by the weights the engine lets the book hold.

    Args:
        panel: symbol, ts, close, w (one row per symbol and bar; any order).
        execution: the limits, the starting capital, lot sizes and no-trade threshold; None
            returns `panel` as it is (a backtest that is not routed).
        cost_bps: charged on every fill, so the account's equity follows the backtest's.

    Returns the same rows in the same order, `w` replaced, plus `risk_denied` (1 where an order
    of the row was denied) and `risk_reason` (the first denial's reason code, null otherwise).
    Rate throttles are off here: a bar's rebalance is one decision, which a live order manager
    paces to the throttle (docs/execution.md).
    """
    if execution is None:
        return panel
    symbols = sorted(panel.get_column("symbol").unique().to_list())
    engine = build_engine(execution.risk, symbols, cash=execution.capital, throttles=False)
    ordered = (
        panel.with_row_index("_row")
        .with_columns(
            pl.col("symbol").cast(pl.Enum(symbols)).to_physical().cast(pl.Int64).alias("_instrument"),
            pl.col("ts").dt.epoch("ns").alias("_ns"),
        )
        .sort("_ns", "_instrument")
    )
    routed = engine.route_target_weights(
        ordered.get_column("_ns").to_numpy(),
        ordered.get_column("_instrument").to_numpy(),
        ordered.get_column("w").cast(pl.Float64).to_numpy(),
        ordered.get_column("close").cast(pl.Float64).to_numpy(),
        cost_rate=cost_bps / 1e4,
        min_trade_notional=execution.orders.min_trade_notional,
        min_trade_weight=execution.orders.min_trade_weight,
    )
    code = pl.Series("_code", routed.reason, dtype=pl.UInt8)
    return (
        ordered.with_columns(pl.Series("w", routed.weight), code)
        .with_columns(
            (pl.col("_code") > 0).cast(pl.Int64).alias("risk_denied"),
            pl.when(pl.col("_code") > 0)
            .then(pl.col("_code").replace_strict(dict(enumerate(REASONS)), return_dtype=pl.String))
            .alias("risk_reason"),
        )
        .sort("_row")
        .drop("_row", "_instrument", "_ns", "_code")
    )
