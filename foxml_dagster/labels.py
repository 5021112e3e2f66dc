"""Labels: triple-barrier outcomes and fixed-horizon forward returns, with uniqueness weights.

Output is long: one row per (symbol, ts, target) with
`t1` (when the outcome is known), `ret` (realised log return from the close at ts to the close
at t1), `label` (Int8: the sign of `ret`, so a vertical-barrier exit is labelled by where the price
ended, as in López de Prado's getBins), `barrier` (1 upper, -1 lower, 0 vertical/horizon) and
`weight` (average uniqueness, scaled to mean 1 per target). Bars whose outcome is not yet known at
the end of the data get no label row at all: it would otherwise leak an incomplete future.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from foxml_dagster import native
from foxml_dagster.settings import Settings


class TripleBarrierConfig(Settings):
    horizon: int = Field(10, ge=1)
    vol_window: int = Field(20, ge=2)
    profit_taking: float = Field(1.5, gt=0)
    stop_loss: float = Field(1.5, gt=0)


class LabelsConfig(Settings):
    triple_barrier: TripleBarrierConfig = TripleBarrierConfig()
    forward_return_horizons: list[int] = Field(default_factory=lambda: [5])

    @model_validator(mode="after")
    def _horizons_positive(self) -> LabelsConfig:
        bad = [h for h in self.forward_return_horizons if h < 1]
        if bad:
            raise ValueError(f"forward_return_horizons must be >= 1, got {bad}")
        return self


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
    return f"tb_h{cfg.horizon}"


def forward_return_target(horizon: int) -> str:
    return f"fwd_ret_{horizon}"


def make_labels(bars: pl.DataFrame, cfg: LabelsConfig) -> pl.DataFrame:
    """All configured targets for a panel of bars."""
    bars = bars.sort("symbol", "ts")
    close = bars["close"].to_numpy(allow_copy=True)
    offsets = native.group_offsets(bars["symbol"].to_numpy())
    parts = [_triple_barrier(bars, close, offsets, cfg.triple_barrier)]
    parts += [_forward_return(bars, close, offsets, h) for h in cfg.forward_return_horizons]
    return pl.concat(parts).sort("target", "symbol", "ts")


def _triple_barrier(bars, close, offsets, cfg: TripleBarrierConfig) -> pl.DataFrame:
    # Barrier widths use volatility known at ts (returns up to and including ts): causal.
    log_ret = np.full_like(close, np.nan)
    log_ret[1:] = np.log(close[1:] / close[:-1])
    log_ret[offsets[:-1][offsets[:-1] < len(close)]] = np.nan  # no return across symbols
    vol = native.rolling_std(log_ret, window=cfg.vol_window, offsets=offsets)
    scale = vol * np.sqrt(cfg.horizon)
    touch, ret, barrier = native.triple_barrier(
        close, cfg.profit_taking * scale, cfg.stop_loss * scale, horizon=cfg.horizon, offsets=offsets
    )
    return _assemble(bars, triple_barrier_target(cfg), touch, ret, barrier)


def _forward_return(bars, close, offsets, horizon: int) -> pl.DataFrame:
    # A forward return is a triple barrier with both horizontal barriers disabled.
    never = np.full_like(close, np.inf)
    touch, ret, barrier = native.triple_barrier(close, never, never, horizon=horizon, offsets=offsets)
    return _assemble(bars, forward_return_target(horizon), touch, ret, barrier)


def _assemble(bars, target, touch, ret, barrier) -> pl.DataFrame:
    known = touch >= 0
    rows = np.flatnonzero(known)
    ends = touch[known]
    ts = bars["ts"]
    return pl.DataFrame(
        {
            "symbol": bars["symbol"].gather(rows),
            "ts": ts.gather(rows),
            "target": pl.Series([target] * len(rows), dtype=pl.Utf8),
            "t1": ts.gather(ends),
            "label": pl.Series(np.sign(ret[known]), dtype=pl.Int8),
            "ret": ret[known],
            "barrier": pl.Series(np.asarray(barrier)[known], dtype=pl.Int8),
            "weight": average_uniqueness(rows, ends, len(ts)),
        },
        schema=LABEL_SCHEMA,
    )


def average_uniqueness(starts: np.ndarray, ends: np.ndarray, n_bars: int) -> np.ndarray:
    """Each label's mean of 1/concurrency over the bars its return spans, scaled to mean 1.

    A label from bar s to bar e earns the returns of bars s+1..e. Concurrency at a bar is how many
    labels earn its return. Overlapping labels share information, so each gets less weight.
    """
    if len(starts) == 0:
        return np.zeros(0)
    spans = np.zeros(n_bars + 1)
    np.add.at(spans, starts + 1, 1.0)
    np.add.at(spans, ends + 1, -1.0)
    concurrency = np.cumsum(spans)[:n_bars]
    inverse = np.where(concurrency > 0, 1.0 / np.maximum(concurrency, 1.0), 0.0)
    cumulative = np.concatenate([[0.0], np.cumsum(inverse)])
    length = np.maximum(ends - starts, 1)
    uniqueness = (cumulative[ends + 1] - cumulative[starts + 1]) / length
    mean = uniqueness.mean()
    return uniqueness / mean if mean > 0 else np.ones_like(uniqueness)
