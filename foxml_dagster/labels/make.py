"""Building the long label frame: triple-barrier (or meta-) labels and forward returns.

Output: one row per (symbol, ts, target) with `t1` (when the outcome is known), `ret` (the
realised log return of the position, side-adjusted for meta-labels; for forward returns the
configured, possibly excess, return), `label` (Int8), `barrier` (+1 profit-taking, -1 stop-loss,
0 vertical/horizon) and `weight`. Bars whose outcome is not known at the end of the data get no
row: it would otherwise leak an incomplete future.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from foxml_dagster import native
from foxml_dagster.labels import weights as w
from foxml_dagster.labels.config import ForwardReturnsConfig, LabelsConfig, TripleBarrierConfig, WeightsConfig

LABEL_SCHEMA = {
    "symbol": pl.Utf8,
    "ts": pl.Datetime("us", "UTC"),
    "target": pl.Utf8,
    "t1": pl.Datetime("us", "UTC"),
    "label": pl.Int8,
    "ret": pl.Float64,
    "barrier": pl.Int8,
    "weight": pl.Float64,
}


def triple_barrier_target(cfg: TripleBarrierConfig) -> str:
    prefix = "meta" if cfg.side != "none" else "tb"
    if cfg.horizon_time is not None:
        return f"{prefix}_t{int(cfg.horizon_time.total_seconds() // 3600)}h"
    return f"{prefix}_h{cfg.horizon}"


def forward_return_target(horizon: int, cfg: ForwardReturnsConfig | None = None) -> str:
    cfg = cfg or ForwardReturnsConfig()
    name = "fwd_ret" if cfg.kind == "log" else "fwd_simple"
    name += {"none": "", "universe": "_xs", "benchmark": "_xb"}[cfg.excess]
    name += f"_q{cfg.n_quantiles}" if cfg.classes == "quantile" else ""
    return f"{name}_{horizon}"


class Panel:
    """The bars of a run, sorted by (symbol, ts), with what every target needs."""

    def __init__(self, bars: pl.DataFrame, vol_window: int):
        self.bars = bars.sort("symbol", "ts")
        self.close = self.bars["close"].to_numpy(allow_copy=True).astype(np.float64)
        self.offsets = native.group_offsets(self.bars["symbol"].to_numpy())
        self.log_ret = np.full_like(self.close, np.nan)
        self.log_ret[1:] = np.log(self.close[1:] / self.close[:-1])
        starts = self.offsets[:-1]
        self.log_ret[starts[starts < len(self.close)]] = np.nan  # no return across symbols
        # Volatility known at ts (returns up to and including ts): barrier widths stay causal.
        self.vol = native.rolling_std(self.log_ret, window=vol_window, offsets=self.offsets)

    def column(self, name: str) -> np.ndarray:
        return self.bars[name].to_numpy(allow_copy=True).astype(np.float64)


def make_labels(bars: pl.DataFrame, cfg: LabelsConfig, *, side: np.ndarray | None = None) -> pl.DataFrame:
    """All configured targets for a panel of bars.

    `side` (optional, aligned with the bars sorted by symbol, ts) overrides the configured side
    for meta-labeling: +1 long, -1 short, 0/NaN no trade.
    """
    panel = Panel(bars, cfg.triple_barrier.vol_window)
    parts = [triple_barrier_labels(panel, cfg, side=side)]
    parts += [forward_return_labels(panel, h, cfg.forward_returns, cfg.weights) for h in cfg.forward_returns.horizons]
    return pl.concat(parts).sort("target", "symbol", "ts")


def momentum_side(panel: Panel, lookback: int) -> np.ndarray:
    """Sign of the past `lookback`-bar return, known at ts (a simple primary model)."""
    past = np.full_like(panel.close, np.nan)
    for a, b in zip(panel.offsets[:-1], panel.offsets[1:], strict=True):
        if b - a > lookback:
            past[a + lookback : b] = np.log(panel.close[a + lookback : b] / panel.close[a : b - lookback])
    return np.sign(past)


def vertical_index(panel: Panel, cfg: TripleBarrierConfig) -> np.ndarray:
    """Absolute row of each bar's vertical barrier; past its group's end when not over yet."""
    n = len(panel.close)
    if cfg.horizon_time is None:
        return np.arange(n, dtype=np.int64) + cfg.horizon
    ts = panel.bars["ts"].dt.epoch("us").to_numpy()
    reach = ts + int(cfg.horizon_time.total_seconds() * 1_000_000)
    out = np.empty(n, dtype=np.int64)
    for a, b in zip(panel.offsets[:-1], panel.offsets[1:], strict=True):
        if b == a:
            continue
        idx = np.searchsorted(ts[a:b], reach[a:b], side="right") - 1 + a
        out[a:b] = np.where(reach[a:b] > ts[b - 1], b, idx)  # b (past the group): not over yet
    return out


def horizon_bars(panel: Panel, cfg: TripleBarrierConfig) -> np.ndarray:
    """Bars the vertical barrier spans, per row: the sqrt-of-time scale of the barrier widths.

    With `horizon` it is that many bars. With `horizon_time` it is the number of bars the same
    length of time held just before the row, (ts - horizon_time, ts]: causal, and it follows the
    calendar (10 bars for 14 days of weekday bars, 78 for a day of 5-minute session bars), where
    `horizon` (10 by default) would say nothing about the window. Rows with less than one full
    horizon of history get NaN, so no label, like the volatility's warm-up.
    """
    n = len(panel.close)
    if cfg.horizon_time is None:
        return np.full(n, float(cfg.horizon))
    ts = panel.bars["ts"].dt.epoch("us").to_numpy()
    span = int(cfg.horizon_time.total_seconds() * 1_000_000)
    out = np.full(n, np.nan)
    for a, b in zip(panel.offsets[:-1], panel.offsets[1:], strict=True):
        if b == a:
            continue
        stamps = ts[a:b]
        first_inside = np.searchsorted(stamps, stamps - span, side="right")
        count = np.arange(b - a) - first_inside + 1
        out[a:b] = np.where(stamps - span >= stamps[0], count, np.nan)
    return out


def triple_barrier_labels(panel: Panel, cfg: LabelsConfig, *, side: np.ndarray | None = None) -> pl.DataFrame:
    tb = cfg.triple_barrier
    scale = panel.vol * np.sqrt(horizon_bars(panel, tb))
    if side is None and tb.side == "momentum":
        side = momentum_side(panel, tb.side_lookback)
    intrabar = {}
    if tb.touch == "high_low":
        intrabar = {"high": panel.column("high"), "low": panel.column("low"), "open": panel.column("open")}
    touch, ret, barrier = native.trade_barrier(
        panel.close,
        tb.profit_taking * scale,
        tb.stop_loss * scale,
        vertical=vertical_index(panel, tb),
        side=side,
        offsets=panel.offsets,
        **intrabar,
    )
    rows = np.flatnonzero(touch >= 0)
    if cfg.events.method == "cusum":
        events = native.cusum_filter(np.log(panel.close), cfg.events.threshold * panel.vol, offsets=panel.offsets)
        rows = np.intersect1d(rows, events.index)
    # A meta-label asks whether the side's trade made money; otherwise the label is the sign.
    label = np.sign(ret[rows]) if side is None else (ret[rows] > 0).astype(np.int8)
    return _assemble(panel, triple_barrier_target(tb), rows, touch[rows], ret[rows], label, barrier[rows], cfg.weights)


def forward_return_labels(
    panel: Panel, horizon: int, cfg: ForwardReturnsConfig, weights: WeightsConfig
) -> pl.DataFrame:
    # A forward return is a triple barrier with both horizontal barriers disabled.
    touch, ret, _ = native.triple_barrier(panel.close, np.inf, np.inf, horizon=horizon, offsets=panel.offsets)
    rows = np.flatnonzero(touch >= 0)
    value = ret[rows] if cfg.kind == "log" else np.expm1(ret[rows])
    frame = pl.DataFrame(
        {"symbol": panel.bars["symbol"].gather(rows), "ts": panel.bars["ts"].gather(rows), "row": rows, "v": value}
    )
    if cfg.excess == "universe":
        frame = frame.with_columns((pl.col("v") - pl.col("v").mean().over("ts")).alias("v"))
    elif cfg.excess == "benchmark":
        bench = frame.filter(pl.col("symbol") == cfg.benchmark).select("ts", pl.col("v").alias("b"))
        if bench.is_empty():
            raise ValueError(
                f"labels.forward_returns.benchmark: symbol {cfg.benchmark!r} has no bars in this run; "
                "add it to data.symbols"
            )
        frame = frame.join(bench, on="ts", how="inner").with_columns((pl.col("v") - pl.col("b")).alias("v"))
    frame = frame.sort("row")
    if cfg.classes == "quantile":
        q = cfg.n_quantiles
        bucket = ((pl.col("v").rank("ordinal").over("ts") - 1) * q // pl.len().over("ts")).cast(pl.Int64)
        frame = frame.with_columns(
            pl.when(pl.len().over("ts") < 2)
            .then(0)
            .when(bucket == q - 1)
            .then(1)
            .when(bucket == 0)
            .then(-1)
            .otherwise(0)
            .alias("cls")
        )
    else:
        frame = frame.with_columns(pl.col("v").sign().alias("cls"))
    rows = frame["row"].to_numpy()
    label = frame["cls"].to_numpy()
    return _assemble(
        panel,
        forward_return_target(horizon, cfg),
        rows,
        touch[rows],
        frame["v"].to_numpy(),
        label,
        np.zeros(len(rows), dtype=np.int8),
        weights,
    )


def _assemble(panel: Panel, target, rows, ends, ret, label, barrier, cfg: WeightsConfig) -> pl.DataFrame:
    ts = panel.bars["ts"]
    return pl.DataFrame(
        {
            "symbol": panel.bars["symbol"].gather(rows),
            "ts": ts.gather(rows),
            "target": pl.Series([target] * len(rows), dtype=pl.Utf8),
            "t1": ts.gather(ends),
            "label": pl.Series(np.asarray(label), dtype=pl.Float64).cast(pl.Int8),
            "ret": np.asarray(ret, dtype=np.float64),
            "barrier": pl.Series(np.asarray(barrier), dtype=pl.Int8),
            "weight": sample_weights(panel, rows, ends, ts.gather(rows).to_numpy(), cfg),
        },
        schema=LABEL_SCHEMA,
    )


def sample_weights(panel: Panel, starts, ends, stamps, cfg: WeightsConfig) -> np.ndarray:
    n = len(panel.close)
    if cfg.scheme == "return_attribution":
        base = w.return_attribution(starts, ends, panel.log_ret)
    else:
        base = w.average_uniqueness(starts, ends, n)
    if cfg.time_decay < 1 and len(starts):
        decay = w.time_decay(w.raw_uniqueness(starts, ends, n), np.argsort(stamps, kind="stable"), cfg.time_decay)
        base = w._to_mean_one(base * decay)
    return base
