"""The strategy grid: every (family, target, signal variant) traded through the real backtest.

A strategy is what a researcher could have picked and traded: one family's out-of-fold
predictions (or an ensemble's) for one target, turned into weights by one signal variant (a
sizing policy and its parameters: the linear map's gain and dead zone, or one of the policies
of `foxml_dagster.sizing`, always within the experiment's position limits), and traded bar to
bar with costs by `run_backtest`. Its return series therefore has one return per
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

from foxml_dagster.backtest import BacktestConfig, run_backtest, run_backtests
from foxml_dagster.execution.config import ExecutionConfig
from foxml_dagster.labels.config import LabelsConfig
from foxml_dagster.settings import Settings
from foxml_dagster.signals import SignalConfig, sized_signals, source_rows
from foxml_dagster.sizing import BOOK_POLICIES, PolicyParams, sizing_context

__all__ = [
    "EvaluationConfig",
    "SignalVariant",
    "strategy_matrix",
    "strategy_name",
    "strategy_returns",
    "variant_signals",
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
    """The signal variants every (family or ensemble, target) is backtested with, the PBO's
    blocks, and how model_ranking measures uncertainty.

    The grid is the linear map's gains x dead zones, plus one variant per policy in `policies`
    (with the parameters of its block under `signals`), plus `policy_variants` (more parameter
    sets), plus the experiment's own `signals` setting when it is not already in it: that one is
    what the `signals` assets trade.
    """

    signal_gains: list[float] = Field(
        default_factory=lambda: [1.0, 4.0, 16.0], min_length=1, description="gains of the linear map in the grid (> 0)"
    )
    signal_dead_zones: list[float] = Field(
        default_factory=lambda: [0.0, 0.02, 0.05],
        min_length=1,
        description="dead zones of the linear map in the grid, crossed with the gains (|y_score - 0.5| below: weight "
        "0), in [0, 0.5)",
    )
    policies: list[Literal["bet_size", "topk_dropout", "vol_target", "no_trade_band", "meta_label"]] = Field(
        default_factory=lambda: ["bet_size", "topk_dropout", "vol_target", "no_trade_band", "meta_label"],
        description="sizing policies added to the grid, each with its parameters under signals.<policy>",
    )
    policy_variants: list[PolicyParams] = Field(
        default_factory=list,
        description="more parameter sets of any policy, e.g. [{policy: topk_dropout, k: 1}]; each is one more "
        "variant of every (source, target)",
    )
    pbo_blocks: int = Field(
        16, ge=2, le=20, description="CSCV blocks S (even) of the probability of backtest overfitting: C(S, S/2) splits"
    )
    dsr_variance: Literal["null", "trials"] = Field(
        "null",
        description="variance of Sharpe in the deflated Sharpe: null (luck alone, 1 / (T - 1)) or trials (across "
        "this run's strategies; foxml_dagster.trials)",
    )
    bootstrap_samples: int = Field(
        200, ge=20, description="model_ranking: block-bootstrap replicates behind each interval and the IC t-stat"
    )
    bootstrap_block: int | None = Field(
        None, ge=1, description="model_ranking: timestamps per bootstrap block; null: the target's median label span"
    )
    confidence: float = Field(0.9, gt=0, lt=1, description="model_ranking: coverage of the bootstrap intervals")
    rank_by: Literal["auc", "ic"] = Field(
        "ic", description="model_ranking: rank by the lower bound of this metric's interval (what can be trusted)"
    )

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
    """One way to turn probabilities into weights: the linear map (gain, dead_zone) when `sizing`
    is None, else the sizing policy `sizing` (book policies reshape the linear map of gain and
    dead_zone; the others ignore them)."""

    gain: float
    dead_zone: float
    sizing: PolicyParams | None = None

    @property
    def policy(self) -> str:
        return "linear" if self.sizing is None else self.sizing.policy

    @property
    def name(self) -> str:
        if self.sizing is None:
            return f"gain{self.gain:g}_dz{self.dead_zone:g}"
        return self.sizing.name

    def config(self, base: SignalConfig) -> SignalConfig:
        risk = base.risk.model_copy(update={"dead_zone": self.dead_zone})
        return SignalConfig(gain=self.gain, risk=risk)

    def identity(self) -> dict:
        """What defines the variant, for its trial id: the linear map's (gain, dead_zone) exactly
        as before policies existed, so earlier trials keep their ids."""
        if self.sizing is None:
            return {"gain": self.gain, "dead_zone": self.dead_zone}
        out: dict = {"policy": self.sizing.model_dump(mode="json")}
        if self.sizing.policy in BOOK_POLICIES:
            out.update(gain=self.gain, dead_zone=self.dead_zone)
        return out


def variants(evaluation: EvaluationConfig, signals: SignalConfig) -> tuple[list[SignalVariant], SignalVariant]:
    """(the grid, the configured variant): gains x dead zones, the policies, the extra policy
    variants, with the configured one included; each variant once, in that order."""
    base = (signals.gain, signals.risk.dead_zone)
    grid = [SignalVariant(g, d) for g in evaluation.signal_gains for d in evaluation.signal_dead_zones]
    grid += [SignalVariant(*base, signals.policy_params(name)) for name in evaluation.policies]
    grid += [SignalVariant(*base, params) for params in evaluation.policy_variants]
    traded = SignalVariant(*base, signals.policy_params())
    grid.append(traded)
    return list(dict.fromkeys(grid)), traded


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
    labels: LabelsConfig | None = None,
    periods_per_year: int = 252,
) -> pl.DataFrame:
    """Long frame (`STRATEGY_COLUMNS`): the backtest series of every (family, target, variant).

    `predictions` holds one prediction per (family, target, symbol, ts) (CPCV paths already
    averaged, `ensemble.path_mean`), e.g. the families' out-of-fold predictions and the ensembles'.
    With `execution`, each strategy is routed through the pre-trade risk engine as the traded
    backtest is (`run_backtest`), so every trial sees the same limits. `labels` and
    `periods_per_year` tell the sizing policies each target's horizon and the bar frequency.
    """
    if benchmark_equity is None:
        from foxml_dagster.backtest import benchmark_prices, hold_equity

        benchmark_equity = hold_equity(benchmark_prices(bars, backtest.benchmark))
    series, described = [], []
    # Each (family, target) once, rather than filtering the whole frame for every variant; its
    # variants' signals are backtested and dropped before the next pair's are built, so the grid
    # holds one pair's signals at a time, not (pairs x variants) copies of the panel.
    by_pair = predictions.partition_by("family", "target", as_dict=True)
    contexts: dict = {}
    for family, target in sorted(by_pair):
        if target not in contexts:
            contexts[target] = sizing_context(
                target, bars, labels or LabelsConfig(), cost_bps=backtest.cost_bps, periods_per_year=periods_per_year
            )
        weights = []
        rows = source_rows(by_pair[(family, target)], target, family)  # checked once for every variant
        for variant in grid:
            name = strategy_name(family, target, variant)
            sized = _sized(rows, target, variant, signals, contexts[target])
            weights.append(sized.select(pl.lit(name).alias("strategy"), "symbol", "ts", "target_weight"))
            described.append((name, family, target, variant.name))
        series.extend(_backtested(weights, bars, backtest, benchmark_equity, execution))
    if not series:
        raise ValueError("no predictions to build strategies from")
    series = pl.concat(series)
    labels_of = pl.DataFrame(described, schema=["strategy", "family", "target", "variant"], orient="row")
    return series.join(labels_of, on="strategy", how="left", maintain_order="left").select(STRATEGY_COLUMNS)


def _backtested(
    weights: list[pl.DataFrame],
    bars: pl.DataFrame,
    backtest: BacktestConfig,
    benchmark_equity: pl.DataFrame,
    execution: ExecutionConfig | None,
) -> list[pl.DataFrame]:
    """The backtest series of strategies given as (strategy, symbol, ts, target_weight) frames."""
    if not weights:
        return []
    if execution is None:
        # Every strategy in a few vectorised passes: the same series run_backtest gives each.
        return [run_backtests(pl.concat(weights), bars, backtest, benchmark_equity=benchmark_equity)]
    # The risk engine keeps an account per strategy: routed ones go one at a time.
    return [
        run_backtest(w.drop("strategy"), bars, backtest, benchmark_equity=benchmark_equity, execution=execution).select(
            pl.lit(w["strategy"][0]).alias("strategy"), pl.all()
        )
        for w in weights
    ]


def variant_signals(
    predictions: pl.DataFrame,
    target: str,
    family: str,
    variant: SignalVariant,
    signals: SignalConfig,
    context,
) -> pl.DataFrame:
    """The signals of one (family, target) under one variant: what the grid backtests, and what
    the `research_signals` asset trades for the configured variant."""
    return _sized(source_rows(predictions, target, family), target, variant, signals, context)


def _sized(
    rows: tuple[pl.DataFrame, str], target: str, variant: SignalVariant, signals: SignalConfig, context
) -> pl.DataFrame:
    cfg = variant.config(signals)
    return sized_signals(
        *rows,
        target=target,
        limits=cfg.risk,
        gain=cfg.gain,
        policy=variant.sizing,
        context=context if variant.sizing is not None else None,
    )


def strategy_matrix(returns: pl.DataFrame, column: str = "net_return") -> tuple[list[str], np.ndarray]:
    """(strategy names, T x N matrix) over the union of timestamps; 0 where a strategy is not trading."""
    wide = returns.pivot(on="strategy", index="ts", values=column).sort("ts").fill_null(0.0)
    names = sorted(c for c in wide.columns if c != "ts")
    return names, wide.select(names).to_numpy().astype(np.float64)
