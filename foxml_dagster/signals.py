"""Target weights from predicted probabilities, through a sizing policy and the pre-trade risk
checks, with reason codes.

The default policy, `linear`, per row (symbol, ts), in this order:

1. raw_weight = clip(gain * 2 * (y_score - 0.5), -1, 1): a probability edge mapped to a weight.
2. Dead zone: |y_score - 0.5| < dead_zone -> weight 0, risk_action "dead_zone". Tiny edges are
   mostly noise and would only pay costs.
3. Symbol limit: |weight| > max_symbol_weight -> sign * max_symbol_weight,
   risk_action "clipped_symbol_limit".
4. Gross limit, per ts: if sum |weight| over symbols > max_gross, every weight at that ts is
   scaled by max_gross / sum |weight|; the non-zero rows get risk_action "scaled_gross_limit".

The other policies (foxml_dagster.sizing) replace step 1-2 (bet_size, topk_dropout, meta_label:
raw_weight is the policy's size, risk_action "no_bet" where it is 0), or take the linear book
after step 4 and reshape it (vol_target: "vol_scaled" where the scale moved a weight;
no_trade_band: "held_in_band" where the held weight was kept), after which steps 3-4 apply
again, so every policy's book is within the same limits.

risk_action names the *last* check that changed the row's weight, so a row clipped at the symbol
limit and then scaled reads "scaled_gross_limit"; "pass" means the weight is the raw weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from foxml_dagster.sizing import (
    BOOK_POLICIES,
    POLICIES,
    BetSizeParams,
    MetaLabelParams,
    NoTradeBandParams,
    PolicyParams,
    SizingContext,
    TopkDropoutParams,
    VolTargetParams,
    adjust_book,
    size_bets,
)

__all__ = [
    "RISK_ACTIONS",
    "SIGNALS_SCHEMA",
    "RiskLimits",
    "SignalConfig",
    "SignalLag",
    "signal_lag",
    "signals_from_predictions",
    "sized_signals",
    "source_rows",
]

RISK_ACTIONS = (
    "pass",
    "clipped_symbol_limit",
    "scaled_gross_limit",
    "dead_zone",
    "no_bet",
    "vol_scaled",
    "held_in_band",
    "not_promoted",
)

SIGNALS_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "target_weight": pl.Float64(),
    "target": pl.String(),
    "source": pl.String(),
    "raw_weight": pl.Float64(),
    "risk_action": pl.String(),
}


class RiskLimits(BaseModel):
    """Pre-trade limits on target weights (fractions of equity)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_symbol_weight: float = Field(0.25, gt=0, le=1, description="max |weight| of one symbol")
    max_gross: float = Field(1.0, gt=0, description="max sum of |weight| across symbols at one ts")
    dead_zone: float = Field(0.02, ge=0, lt=0.5, description="|y_score - 0.5| below this gives weight 0")


class SignalConfig(BaseModel):
    """How predictions become signals: which predictions are traded, the sizing policy and its
    parameters, and the risk limits every policy's book is held to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gain: float = Field(4.0, gt=0, description="linear policy: weight = clip(gain * 2 * (y_score - 0.5), -1, 1)")
    risk: RiskLimits = Field(default_factory=RiskLimits)
    policy: Literal["linear", "bet_size", "topk_dropout", "vol_target", "no_trade_band", "meta_label"] = Field(
        "linear",
        description="the sizing policy the signals trade: linear | bet_size | topk_dropout | vol_target | "
        "no_trade_band | meta_label (parameters in the block of the same name; docs/research.md)",
    )
    source: str = Field(
        "ensemble",
        description="whose predictions are traded: ensemble (equal weight), ensemble_weighted, ensemble_rank, "
        "ensemble_stacked, or a family of training.families",
    )
    bet_size: BetSizeParams = Field(default_factory=BetSizeParams)
    topk_dropout: TopkDropoutParams = Field(default_factory=TopkDropoutParams)
    vol_target: VolTargetParams = Field(default_factory=VolTargetParams)
    no_trade_band: NoTradeBandParams = Field(default_factory=NoTradeBandParams)
    meta_label: MetaLabelParams = Field(default_factory=MetaLabelParams)

    def policy_params(self, name: str | None = None) -> PolicyParams | None:
        """The parameters of policy `name` (default: the traded one); None for linear."""
        name = name or self.policy
        if name not in POLICIES:
            raise ValueError(f"policy {name!r} is not one of {', '.join(POLICIES)}")
        return None if name == "linear" else getattr(self, name)


def signals_from_predictions(
    predictions: pl.DataFrame,
    *,
    target: str,
    limits: RiskLimits | None = None,
    gain: float = 4.0,
    family: str | None = None,
    policy: PolicyParams | None = None,
    context: SizingContext | None = None,
) -> pl.DataFrame:
    """Signals (symbol, ts, target_weight, target, source, raw_weight, risk_action) for `target`.

    Args:
        predictions: predictions-contract frame, typically the ensemble's.
        target: the target whose predictions drive the signal.
        limits: the risk limits (default `RiskLimits()`).
        gain: the linear policy's gain (also the base of vol_target and no_trade_band); > 0.
        family: which family to use when `predictions` holds several (default: the only one).
        policy: a non-linear policy's parameters (foxml_dagster.sizing); None: linear.
        context: what the policy reads from the market (`sizing.sizing_context`); needed by
            every policy but linear.

    `source` is the family the signal came from. Sorted by (symbol, ts). See the module
    docstring for the order of the checks and the meaning of each risk_action.
    """
    rows, source = source_rows(predictions, target, family)
    return sized_signals(rows, source, target=target, limits=limits, gain=gain, policy=policy, context=context)


def sized_signals(
    rows: pl.DataFrame,
    source: str,
    *,
    target: str,
    limits: RiskLimits | None = None,
    gain: float = 4.0,
    policy: PolicyParams | None = None,
    context: SizingContext | None = None,
) -> pl.DataFrame:
    """`signals_from_predictions` on rows already checked and sorted by `source_rows`: what the
    strategy grid calls for each variant of one (family, target), checking its rows once."""
    config = SignalConfig(gain=gain, risk=limits if limits is not None else RiskLimits())
    lim = config.risk
    if policy is not None and context is None:
        raise ValueError(f"policy {policy.policy!r} needs a SizingContext (sizing.sizing_context) for its market data")

    if policy is None or policy.policy in BOOK_POLICIES:
        staged = _limited(_linear(rows, config.gain, lim.dead_zone), lim)
        if policy is not None:
            staged = _reshape(staged, policy, context, config.gain, lim)
    else:
        raw = rows.select("symbol", "ts", pl.Series("raw_weight", size_bets(rows, policy, context)))
        staged = _limited(
            raw.with_columns(
                pl.col("raw_weight").alias("_w"),
                pl.when(pl.col("raw_weight") == 0).then(pl.lit("no_bet")).otherwise(pl.lit("pass")).alias("_action"),
            ),
            lim,
        )
    return (
        staged.with_columns(pl.lit(target).alias("target"), pl.lit(source).alias("source"))
        .select(list(SIGNALS_SCHEMA))
        .cast(SIGNALS_SCHEMA)  # type: ignore[arg-type]
        .sort("symbol", "ts")
    )


def source_rows(predictions: pl.DataFrame, target: str, family: str | None = None) -> tuple[pl.DataFrame, str]:
    """(symbol, ts, y_score of one (family, target), checked and sorted by (symbol, ts); the family)."""
    needed = ["family", "target", "symbol", "ts", "y_score"]
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions: required column(s) {missing} missing")
    rows = predictions.filter(pl.col("target") == target)
    if family is not None:
        rows = rows.filter(pl.col("family") == family)
    present = sorted(set(rows.get_column("family").unique().to_list()))
    if not present:
        raise ValueError(
            f"no predictions for target {target!r}" + (f" and family {family!r}" if family is not None else "")
        )
    if len(present) > 1:
        raise ValueError(
            f"predictions for target {target!r} come from several families {present}; pass family=... (e.g. 'ensemble')"
        )
    n_dup = rows.height - rows.select("symbol", "ts").n_unique()
    if n_dup:
        raise ValueError(f"{n_dup} duplicate (symbol, ts) predictions for target {target!r}")
    if rows.get_column("y_score").is_null().any() or not rows.get_column("y_score").is_between(0, 1).all():
        raise ValueError("y_score must be a probability in [0, 1] with no nulls")
    rows = rows.select(pl.col("symbol").cast(pl.String), "ts", pl.col("y_score").cast(pl.Float64)).sort("symbol", "ts")
    return rows, present[0]


def _linear(rows: pl.DataFrame, gain: float, dead_zone: float) -> pl.DataFrame:
    edge = pl.col("y_score") - 0.5
    raw = (gain * 2 * edge).clip(-1.0, 1.0)
    in_dead_zone = edge.abs() < dead_zone
    return rows.select(
        "symbol",
        "ts",
        raw.alias("raw_weight"),
        pl.when(in_dead_zone).then(0.0).otherwise(raw).alias("_w"),
        pl.when(in_dead_zone).then(pl.lit("dead_zone")).otherwise(pl.lit("pass")).alias("_action"),
    )


def _limited(staged: pl.DataFrame, lim: RiskLimits) -> pl.DataFrame:
    """Steps 3-4: the symbol limit, then the gross limit per ts; `_w`/`_action` in, target_weight
    and risk_action out."""
    over_symbol = pl.col("_w").abs() > lim.max_symbol_weight
    clipped = staged.with_columns(
        pl.when(over_symbol).then(pl.col("_w").sign() * lim.max_symbol_weight).otherwise(pl.col("_w")).alias("_w"),
        pl.when(over_symbol).then(pl.lit("clipped_symbol_limit")).otherwise(pl.col("_action")).alias("_action"),
    )
    gross = pl.col("_w").abs().sum().over("ts")
    scale = pl.when(gross > lim.max_gross).then(lim.max_gross / gross).otherwise(1.0)
    return clipped.with_columns(
        (pl.col("_w") * scale).alias("target_weight"),
        pl.when((gross > lim.max_gross) & (pl.col("_w") != 0))
        .then(pl.lit("scaled_gross_limit"))
        .otherwise(pl.col("_action"))
        .alias("risk_action"),
    ).drop("_w", "_action")


def _reshape(
    book: pl.DataFrame, policy: PolicyParams, context: SizingContext | None, gain: float, lim: RiskLimits
) -> pl.DataFrame:
    """A book policy over the limited linear book, then the limits again."""
    assert context is not None
    adjusted = adjust_book(book, policy, context, gain=gain)
    action = "vol_scaled" if policy.policy == "vol_target" else "held_in_band"
    restaged = (
        book.with_columns(pl.Series("_w", adjusted))
        .with_columns(
            pl.when(pl.col("_w") != pl.col("target_weight"))
            .then(pl.lit(action))
            .otherwise(pl.col("risk_action"))
            .alias("_action")
        )
        .drop("target_weight", "risk_action")
    )
    return _limited(restaged, lim)


@dataclass(frozen=True)
class SignalLag:
    """How far the newest signal is behind the newest bar, in bars of the grid."""

    newest_signal: datetime | None
    newest_bar: datetime | None
    bars_behind: int  # bar timestamps after the newest signal

    @property
    def current(self) -> bool:
        return self.newest_signal is not None and self.bars_behind == 0

    def describe(self) -> str:
        if self.newest_signal is None:
            return "no signal at all: run production_models, live_predictions and signals"
        if self.current:
            return f"the newest signal ({self.newest_signal}) is for the newest bar"
        return (
            f"the newest signal ({self.newest_signal}) is {self.bars_behind} bar(s) behind the newest bar "
            f"({self.newest_bar}); materialize live_predictions and signals (the live_refresh job) after bars land"
        )


def signal_lag(signals: pl.DataFrame, bars: pl.DataFrame) -> SignalLag:
    """The newest signal's ts against the newest bar's: a signal decides at its bar's close and
    stands until the next bar exists, so it is stale once any bar is newer than it."""
    newest_signal = signals.get_column("ts").max() if signals.height else None
    stamps = bars.get_column("ts")
    newest_bar = stamps.max() if stamps.len() else None
    behind = 0 if newest_signal is None else int(stamps.filter(stamps > newest_signal).n_unique())
    return SignalLag(newest_signal, newest_bar, behind)
