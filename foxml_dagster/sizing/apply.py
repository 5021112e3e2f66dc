"""Running a policy over one source's predictions: what each policy needs from the market.

`size_bets` runs the policies that size bets from probabilities (bet_size, topk_dropout,
meta_label); `adjust_book` runs the ones that reshape a book of weights already within the risk
limits (vol_target, no_trade_band). `foxml_dagster.signals` composes them with the limits.
A `SizingContext` carries what the policies read besides the probabilities: the bars (for
returns, volatility and the primary side), costs, the bar frequency and the target's horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from foxml_dagster import native
from foxml_dagster.labels.config import LabelsConfig
from foxml_dagster.labels.make import Panel, forward_return_target, momentum_side, triple_barrier_target
from foxml_dagster.sizing.band import band_width, no_trade_band
from foxml_dagster.sizing.bet_size import bet_size_weights
from foxml_dagster.sizing.config import (
    BetSizeParams,
    MetaLabelParams,
    NoTradeBandParams,
    PolicyParams,
    TopkDropoutParams,
    VolTargetParams,
)
from foxml_dagster.sizing.meta import meta_label_weights
from foxml_dagster.sizing.topk import topk_dropout
from foxml_dagster.sizing.vol_target import vol_target_scale

__all__ = ["SizingContext", "adjust_book", "sizing_context", "size_bets", "target_horizon"]


@dataclass(frozen=True)
class SizingContext:
    """What policies read besides the probabilities.

    bars: symbol, ts, close of every symbol traded (more bars than predictions is fine).
    cost_bps: the backtest's cost per unit of weight traded. periods_per_year: bars a year.
    horizon_bars: the target's label horizon in bars (None for a time horizon).
    side_lookback: the primary momentum side's lookback. is_meta: the target is a meta-label.
    """

    bars: pl.DataFrame
    cost_bps: float
    periods_per_year: int
    horizon_bars: int | None
    side_lookback: int
    is_meta: bool


def target_horizon(target: str, labels: LabelsConfig) -> int | None:
    """The label horizon of `target` in bars: the barrier's `horizon` or a forward return's h;
    None for a time horizon (`horizon_time`) or a target these settings do not make."""
    tb = labels.triple_barrier
    if target == triple_barrier_target(tb):
        return tb.horizon if tb.horizon_time is None else None
    for h in labels.forward_returns.horizons:
        if target == forward_return_target(h, labels.forward_returns):
            return h
    return None


def sizing_context(
    target: str, bars: pl.DataFrame, labels: LabelsConfig, *, cost_bps: float, periods_per_year: int
) -> SizingContext:
    return SizingContext(
        bars=bars.select(pl.col("symbol").cast(pl.String), "ts", pl.col("close").cast(pl.Float64)),
        cost_bps=cost_bps,
        periods_per_year=periods_per_year,
        horizon_bars=target_horizon(target, labels),
        side_lookback=labels.triple_barrier.side_lookback,
        is_meta=target.startswith("meta_"),
    )


def _offsets(symbols: pl.Series) -> np.ndarray:
    return native.group_offsets(symbols.cast(pl.String).to_numpy())


def _market(ctx: SizingContext, vol_window: int, lookback: int) -> pl.DataFrame:
    """Per bar: symbol, ts, the causal side of the momentum primary and log-return volatility."""
    panel = Panel(ctx.bars, vol_window)
    return panel.bars.select("symbol", "ts").with_columns(
        pl.Series("side", momentum_side(panel, lookback)),
        pl.Series("sigma", panel.vol),
    )


def _on_bars(rows: pl.DataFrame, market: pl.DataFrame, what: str) -> pl.DataFrame:
    stray = rows.join(market, on=["symbol", "ts"], how="anti")
    if stray.height:
        first = stray.row(0, named=True)
        raise ValueError(
            f"{what}: {stray.height} predictions have no bar at their (symbol, ts) (first: {first['symbol']} "
            f"{first['ts']}); pass the bars the predictions were made on"
        )
    return rows.join(market, on=["symbol", "ts"], how="left")


def size_bets(rows: pl.DataFrame, policy: PolicyParams, ctx: SizingContext) -> np.ndarray:
    """Raw weights of `rows` (symbol, ts, y_score, sorted by symbol then ts) under a policy that
    sizes bets: bet_size, topk_dropout or meta_label."""
    p = rows.get_column("y_score").to_numpy().astype(np.float64)
    if isinstance(policy, BetSizeParams):
        hold = policy.holding_bars or ctx.horizon_bars or 1
        return bet_size_weights(p, _offsets(rows.get_column("symbol")), holding_bars=hold, step=policy.step)
    if isinstance(policy, TopkDropoutParams):
        return topk_dropout(
            rows.get_column("ts").to_numpy(),
            rows.get_column("symbol").cast(pl.String).to_numpy(),
            p,
            k=policy.k,
            n_drop=policy.n_drop,
            long_short=policy.long_short,
        )
    if isinstance(policy, MetaLabelParams):
        lookback = policy.lookback or ctx.side_lookback
        joined = _on_bars(rows, _market(ctx, 2, lookback), "meta_label")
        side = joined.get_column("side").to_numpy().astype(np.float64)
        return meta_label_weights(p, side, is_meta=ctx.is_meta, step=policy.step)
    raise ValueError(f"{type(policy).__name__} does not size bets; it adjusts a book (adjust_book)")


def adjust_book(book: pl.DataFrame, policy: PolicyParams, ctx: SizingContext, *, gain: float) -> np.ndarray:
    """New weights for `book` (symbol, ts, target_weight: the linear policy within the risk
    limits, sorted by symbol then ts) under vol_target or no_trade_band. `gain` is the linear
    policy's, which the band's expected gain is derived from."""
    w = book.get_column("target_weight").to_numpy().astype(np.float64)
    if isinstance(policy, VolTargetParams):
        return w * _book_scale(book, policy, ctx)
    if isinstance(policy, NoTradeBandParams):
        joined = _on_bars(book, _market(ctx, policy.vol_window, 1), "no_trade_band")
        sigma = joined.get_column("sigma").to_numpy().astype(np.float64)
        horizon_vol = sigma * np.sqrt(ctx.horizon_bars or 1)
        width = band_width(horizon_vol, cost_rate=ctx.cost_bps / 1e4, gain=gain, scale=policy.scale)
        return no_trade_band(w, width, _offsets(book.get_column("symbol")))
    raise ValueError(f"{type(policy).__name__} sizes bets; it does not adjust a book (size_bets)")


def _book_scale(book: pl.DataFrame, policy: VolTargetParams, ctx: SizingContext) -> np.ndarray:
    """Per row of `book`, the vol-target scale of its ts (vol_target.vol_target_scale)."""
    # The base book's return over the bar ending at t: weights set at the previous bar of each
    # symbol times that symbol's return to t, summed over symbols; as the backtest books it.
    held = (
        ctx.bars.join(book.select("symbol", "ts", "target_weight"), on=["symbol", "ts"], how="left")
        .sort("symbol", "ts")
        .with_columns(pl.col("target_weight").fill_null(0.0))
        .with_columns(
            (pl.col("close") / pl.col("close").shift(1).over("symbol") - 1).fill_null(0.0).alias("ret"),
            pl.col("target_weight").shift(1).over("symbol").fill_null(0.0).alias("w_prev"),
        )
    )
    first, last = book.get_column("ts").min(), book.get_column("ts").max()
    per_bar = (
        held.filter(pl.col("ts").is_between(first, last))
        .group_by("ts")
        .agg(
            (pl.col("w_prev") * pl.col("ret")).sum().alias("r"),
            (pl.col("w_prev").abs().sum() > 0).alias("invested"),
        )
        .sort("ts")
    )
    scale = vol_target_scale(
        per_bar.get_column("r").to_numpy(),
        per_bar.get_column("invested").to_numpy(),
        annual_vol=policy.annual_vol,
        halflife=policy.halflife,
        periods_per_year=ctx.periods_per_year,
        max_leverage=policy.max_leverage,
        min_periods=policy.min_periods,
    )
    stamps = per_bar.select("ts", pl.Series("scale", scale))
    return book.select("ts").join(stamps, on="ts", how="left").get_column("scale").fill_null(1.0).to_numpy()
