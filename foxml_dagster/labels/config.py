"""Label settings: the triple barrier, forward returns, event sampling and sample weights."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from foxml_dagster.settings import Settings


class TripleBarrierConfig(Settings):
    horizon: int = Field(10, ge=1)  # vertical barrier in bars (also scales the widths by sqrt)
    # Vertical barrier in time instead, e.g. "P14D"; the widths then scale by the sqrt of the
    # bars that span held just before each row (labels.make.horizon_bars), not by `horizon`.
    horizon_time: timedelta | None = None
    vol_window: int = Field(20, ge=2)
    profit_taking: float = Field(1.5, gt=0)  # width = profit_taking * sigma * sqrt(horizon in bars)
    stop_loss: float = Field(1.5, gt=0)
    touch: Literal["close", "high_low"] = "close"  # high_low: intrabar touches, stop wins ties
    side: Literal["none", "momentum"] = "none"  # momentum: meta-labels for a trend-following side
    side_lookback: int = Field(20, ge=1)


class ForwardReturnsConfig(Settings):
    horizons: list[int] = Field(default_factory=lambda: [5])
    kind: Literal["log", "simple"] = "log"
    excess: Literal["none", "universe", "benchmark"] = "none"
    benchmark: str | None = None  # a symbol of the run, when excess: benchmark
    classes: Literal["sign", "quantile"] = "sign"
    n_quantiles: int = Field(3, ge=2)  # quantile: top bucket 1, bottom -1, others 0, per ts

    @model_validator(mode="after")
    def _valid(self) -> ForwardReturnsConfig:
        bad = [h for h in self.horizons if h < 1]
        if bad:
            raise ValueError(f"horizons must be >= 1, got {bad}")
        if self.excess == "benchmark" and not self.benchmark:
            raise ValueError("excess: benchmark needs benchmark: <symbol>")
        return self


class EventsConfig(Settings):
    method: Literal["all", "cusum"] = "all"  # cusum: barrier labels only at CUSUM events
    threshold: float = Field(1.0, gt=0)  # in units of the causal volatility of log prices


class WeightsConfig(Settings):
    scheme: Literal["uniqueness", "return_attribution"] = "uniqueness"
    time_decay: float = Field(1.0, gt=-1, le=1)  # 1: none; the oldest sample gets this weight


class LabelsConfig(Settings):
    triple_barrier: TripleBarrierConfig = TripleBarrierConfig()
    forward_returns: ForwardReturnsConfig = ForwardReturnsConfig()
    events: EventsConfig = EventsConfig()
    weights: WeightsConfig = WeightsConfig()
