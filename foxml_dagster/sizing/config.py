"""The parameters of each position-sizing policy, as typed config blocks with their names.

A policy turns one source's predicted probabilities (a family's or an ensemble's) into target
weights. `linear` is the signals section's own map (`signals.gain`, `signals.risk.dead_zone`);
every other policy has a block here, set under `signals.<policy>` in the experiment, and a short
`name` that identifies one parameter set in the strategy grid (`<source>:<target>:<name>`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from foxml_dagster.settings import Settings

__all__ = [
    "BOOK_POLICIES",
    "POLICIES",
    "BetSizeParams",
    "MetaLabelParams",
    "NoTradeBandParams",
    "PolicyParams",
    "TopkDropoutParams",
    "VolTargetParams",
]

#: Every policy, `linear` first (the signals section's gain and dead zone).
POLICIES = ("linear", "bet_size", "topk_dropout", "vol_target", "no_trade_band", "meta_label")
#: Policies that reshape the linear book after its risk limits rather than size bets themselves.
BOOK_POLICIES = ("vol_target", "no_trade_band")

_POLICY = "the policy these parameters belong to: fixed under signals.<policy>; picks it in evaluation.policy_variants"


class BetSizeParams(Settings):
    """Bet sizing from the predicted probability (Lopez de Prado, AFML ch. 10)."""

    policy: Literal["bet_size"] = Field("bet_size", description=_POLICY)
    step: float = Field(
        0.1, gt=0, le=1, description="discretisation step of the averaged size (0.1: sizes move in tenths)"
    )
    holding_bars: int | None = Field(
        None,
        ge=1,
        description="bars each bet stays active; null: the target's label horizon in bars (1 for a time horizon)",
    )

    @property
    def name(self) -> str:
        hold = f"_hold{self.holding_bars}" if self.holding_bars is not None else ""
        return f"betsize_step{self.step:g}{hold}"


class TopkDropoutParams(Settings):
    """Cross-sectional top-k with dropout (as Qlib's TopkDropoutStrategy): hold the k best-scored
    symbols (and short the k worst), replacing at most n_drop of them per bar."""

    policy: Literal["topk_dropout"] = Field("topk_dropout", description=_POLICY)
    k: int = Field(2, ge=1, description="symbols held long (and short, with long_short)")
    n_drop: int = Field(1, ge=0, description="most symbols of each book replaced at one bar")
    long_short: bool = Field(True, description="also short the k worst-scored symbols")

    @property
    def name(self) -> str:
        return f"topk{self.k}_drop{self.n_drop}_{'ls' if self.long_short else 'long'}"


class VolTargetParams(Settings):
    """Volatility targeting of the whole (linear) book with a causal volatility estimate."""

    policy: Literal["vol_target"] = Field("vol_target", description=_POLICY)
    annual_vol: float = Field(0.10, gt=0, description="target annualised volatility of the book")
    halflife: int = Field(20, ge=1, description="bars of the exponentially weighted volatility's half-life")
    min_periods: int = Field(20, ge=2, description="book returns needed before the book is scaled (until then: x1)")
    max_leverage: float = Field(1.0, gt=0, description="largest scale applied to the book")

    @property
    def name(self) -> str:
        return f"voltarget{self.annual_vol:g}_hl{self.halflife}"


class NoTradeBandParams(Settings):
    """A no-trade band around the linear book: a rebalance whose expected gain is below its cost
    is skipped (the weight held stays)."""

    policy: Literal["no_trade_band"] = Field("no_trade_band", description=_POLICY)
    scale: float = Field(1.0, ge=0, description="multiplies the band width (0: always rebalance)")
    vol_window: int = Field(20, ge=2, description="bars of the causal volatility that sets each symbol's band")

    @property
    def name(self) -> str:
        return f"band{self.scale:g}"


class MetaLabelParams(Settings):
    """Meta-labeling: a primary model picks the side, the secondary (the source's probability)
    decides whether to take it and how much."""

    policy: Literal["meta_label"] = Field("meta_label", description=_POLICY)
    step: float = Field(0.1, gt=0, le=1, description="discretisation step of the size")
    lookback: int | None = Field(
        None,
        ge=1,
        description="bars of the primary's momentum side; null: labels.triple_barrier.side_lookback, so a "
        "meta-label target is sized with the side it was labelled for",
    )

    @property
    def name(self) -> str:
        look = f"_look{self.lookback}" if self.lookback is not None else ""
        return f"meta_step{self.step:g}{look}"


PolicyParams = Annotated[
    BetSizeParams | TopkDropoutParams | VolTargetParams | NoTradeBandParams | MetaLabelParams,
    Field(discriminator="policy"),
]
