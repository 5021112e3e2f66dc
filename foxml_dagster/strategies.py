"""The strategy grid: every (family, target, signal variant) traded through the real backtest.

A strategy is what a researcher could have picked and traded: one family's out-of-fold
predictions (or the ensemble's) for one target, turned into weights by one signal variant (the
gain and dead zone of `foxml_dagster.signals`, with the experiment's position limits), and
traded bar to bar with costs by `run_backtest`. Its return series therefore has one return per
bar of the panel, earned by positions decided before it: overlapping label horizons do not
inflate its length, and no return is counted twice across symbols.

The grid is what the deflated Sharpe and the probability of backtest overfitting judge: every
strategy in it is a trial, whichever one ends up traded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from foxml_dagster.backtest import BacktestConfig, run_backtest
from foxml_dagster.execution.config import ExecutionConfig
from foxml_dagster.settings import Settings
from foxml_dagster.signals import SignalConfig, signals_from_predictions

__all__ = [
    "EvaluationConfig",
    "SignalVariant",
    "strategy_matrix",
    "strategy_name",
    "strategy_returns",
    "variants",
]

STRATEGY_COLUMNS = [
    "strategy",
    "family",
    "target",
    "variant",
    "ts",
    "net_return",
    "gross_return",
    "turnover",
    "gross_exposure",
    "net_exposure",
    "benchmark_return",
]


class EvaluationConfig(Settings):
    """The signal variants every (family, target) is backtested with, and the PBO's blocks.

    The grid is gains x dead zones, plus the experiment's own `signals` setting when it is not
    already in it: that one is what the `signals` asset trades.
    """

    signal_gains: list[float] = Field(default_factory=lambda: [1.0, 4.0, 16.0], min_length=1)
    signal_dead_zones: list[float] = Field(default_factory=lambda: [0.0, 0.02, 0.05], min_length=1)
    pbo_blocks: int = Field(16, ge=2, le=20)  # CSCV blocks S (even): C(S, S/2) splits
    dsr_variance: Literal["null", "trials"] = "null"  # variance of Sharpe in the DSR (foxml_dagster.trials)

    @model_validator(mode="after")
    def _valid_grid(self) -> EvaluationConfig:
        if any(g <= 0 for g in self.signal_gains):
            raise ValueError(f"signal_gains must all be > 0, got {self.signal_gains}")
        if any(not 0 <= d < 0.5 for d in self.signal_dead_zones):
            raise ValueError(f"signal_dead_zones must lie in [0, 0.5), got {self.signal_dead_zones}")
        if self.pbo_blocks % 2:
            raise ValueError(f"pbo_blocks must be even, got {self.pbo_blocks}")
        return self


@dataclass(frozen=True)
class SignalVariant:
    gain: float
    dead_zone: float

    @property
    def name(self) -> str:
        return f"gain{self.gain:g}_dz{self.dead_zone:g}"

    def config(self, base: SignalConfig) -> SignalConfig:
        risk = base.risk.model_copy(update={"dead_zone": self.dead_zone})
        return SignalConfig(gain=self.gain, risk=risk)


def variants(evaluation: EvaluationConfig, signals: SignalConfig) -> tuple[list[SignalVariant], SignalVariant]:
    """(the grid, the configured variant): gains x dead zones, with the configured one included."""
    grid = [SignalVariant(g, d) for g in evaluation.signal_gains for d in evaluation.signal_dead_zones]
    traded = SignalVariant(signals.gain, signals.risk.dead_zone)
    if traded not in grid:
        grid.append(traded)
    return grid, traded


def strategy_name(family: str, target: str, variant: SignalVariant) -> str:
    return f"{family}:{target}:{variant.name}"


def strategy_returns(
    predictions: pl.DataFrame,
    bars: pl.DataFrame,
    *,
    grid: Sequence[SignalVariant],
    signals: SignalConfig,
    backtest: BacktestConfig,
    benchmark_equity: pl.DataFrame | None = None,
    execution: ExecutionConfig | None = None,
) -> pl.DataFrame:
    """Long frame (`STRATEGY_COLUMNS`): the backtest series of every (family, target, variant).

    `predictions` holds one prediction per (family, target, symbol, ts) (CPCV paths already
    averaged, `ensemble.path_mean`), e.g. the families' out-of-fold predictions and the ensemble's.
    With `execution`, each strategy is routed through the pre-trade risk engine as the traded
    backtest is (`run_backtest`), so every trial sees the same limits.
    """
    parts = []
    pairs = predictions.select("family", "target").unique().sort("family", "target").iter_rows()
    for family, target in pairs:
        for variant in grid:
            cfg = variant.config(signals)
            weights = signals_from_predictions(
                predictions, target=target, family=family, limits=cfg.risk, gain=cfg.gain
            )
            series = run_backtest(weights, bars, backtest, benchmark_equity=benchmark_equity, execution=execution)
            parts.append(
                series.select(
                    pl.lit(strategy_name(family, target, variant)).alias("strategy"),
                    pl.lit(family).alias("family"),
                    pl.lit(target).alias("target"),
                    pl.lit(variant.name).alias("variant"),
                    *STRATEGY_COLUMNS[4:],
                )
            )
    if not parts:
        raise ValueError("no predictions to build strategies from")
    return pl.concat(parts)


def strategy_matrix(returns: pl.DataFrame, column: str = "net_return") -> tuple[list[str], np.ndarray]:
    """(strategy names, T x N matrix) over the union of timestamps; 0 where a strategy is not trading."""
    wide = returns.pivot(on="strategy", index="ts", values=column).sort("ts").fill_null(0.0)
    names = sorted(c for c in wide.columns if c != "ts")
    return names, wide.select(names).to_numpy().astype(np.float64)
