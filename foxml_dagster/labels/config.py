"""Label settings: the triple barrier, forward returns, event sampling and sample weights."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from foxml_dagster.settings import Settings


class TripleBarrierConfig(Settings):
    """Triple-barrier (or meta-) labels: volatility-scaled profit-taking and stop-loss barriers, and a time limit."""

    horizon: int = Field(10, ge=1, description="vertical barrier in bars (the widths also scale by its square root)")
    # The widths then scale by the sqrt of the bars that span held just before each row
    # (labels.make.horizon_bars), not by `horizon`.
    horizon_time: timedelta | None = Field(
        None, description="vertical barrier as a duration instead (ISO 8601, e.g. P14D); null: `horizon` in bars"
    )
    vol_window: int = Field(
        20, ge=2, description="bars of the rolling standard deviation of log returns (sigma) that scales the widths"
    )
    profit_taking: float = Field(
        1.5, gt=0, description="profit-taking width = profit_taking * sigma * sqrt(horizon in bars)"
    )
    stop_loss: float = Field(1.5, gt=0, description="stop-loss width = stop_loss * sigma * sqrt(horizon in bars)")
    touch: Literal["close", "high_low"] = Field(
        "close", description="what touches a barrier: the close, or high_low (intrabar touches; stop wins ties)"
    )
    side: Literal["none", "momentum"] = Field(
        "none",
        description="none: the label is the outcome's sign; momentum: meta-labels (did a trend-following "
        "side's trade make money)",
    )
    side_lookback: int = Field(20, ge=1, description="momentum side: bars of the past return whose sign is the side")


class ForwardReturnsConfig(Settings):
    """Forward-return targets: the return over each horizon, labelled by its sign or cross-sectional quantile."""

    horizons: list[int] = Field(
        default_factory=lambda: [5], description="horizons in bars, one forward-return target each"
    )
    kind: Literal["log", "simple"] = Field("log", description="log or simple returns")
    excess: Literal["none", "universe", "benchmark"] = Field(
        "none",
        description="the return as is, less the mean over symbols at each ts (universe), or less the "
        "benchmark symbol's",
    )
    benchmark: str | None = Field(None, description="a symbol of the run, when excess: benchmark")
    classes: Literal["sign", "quantile"] = Field(
        "sign", description="the label: the return's sign, or its quantile bucket across symbols at each ts"
    )
    n_quantiles: int = Field(3, ge=2, description="quantile: buckets per ts; top bucket 1, bottom -1, others 0")

    @model_validator(mode="after")
    def _valid(self) -> ForwardReturnsConfig:
        bad = [h for h in self.horizons if h < 1]
        if bad:
            raise ValueError(f"horizons must be >= 1, got {bad}")
        if self.excess == "benchmark" and not self.benchmark:
            raise ValueError("excess: benchmark needs benchmark: <symbol>")
        return self


class EventsConfig(Settings):
    """Event sampling: which bars get a triple-barrier label."""

    method: Literal["all", "cusum"] = Field(
        "all", description="all: every bar; cusum: barrier labels only at CUSUM events"
    )
    threshold: float = Field(1.0, gt=0, description="cusum: threshold in units of the causal volatility of log prices")


class WeightsConfig(Settings):
    """Sample weights of every label, from how much its span overlaps others (AFML ch. 4)."""

    scheme: Literal["uniqueness", "return_attribution"] = Field(
        "uniqueness",
        description="uniqueness: mean 1/concurrency over the label's span; return_attribution: |sum of "
        "return/concurrency| over it (both scaled to mean 1)",
    )
    time_decay: float = Field(
        1.0,
        gt=-1,
        le=1,
        description="the oldest sample's weight relative to the newest, linear in cumulative uniqueness (1: no "
        "decay; c < 0: the oldest |c| share gets 0)",
    )


class LabelsConfig(Settings):
    triple_barrier: TripleBarrierConfig = TripleBarrierConfig()
    forward_returns: ForwardReturnsConfig = ForwardReturnsConfig()
    events: EventsConfig = EventsConfig()
    weights: WeightsConfig = WeightsConfig()
