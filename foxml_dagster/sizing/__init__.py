"""Position sizing: policies that turn predicted probabilities into target weights.

Each policy is a small pure function with a worked example in its module docstring:

- `linear` (foxml_dagster.signals): weight = clip(gain * 2 * (p - 1/2)) with a dead zone;
- `bet_size`: AFML ch. 10 bet sizing, averaged over the active bets and discretised;
- `topk_dropout`: cross-sectional top-k long (and short) with at most n_drop changes a bar;
- `vol_target`: the linear book scaled to a target volatility with a causal estimate;
- `no_trade_band`: the linear book, skipping rebalances whose expected gain is below their cost;
- `meta_label`: a momentum primary picks the side, the model's probability sizes it.

`apply` runs them over a source's predictions with what they read from the market
(`SizingContext`); `config` holds their parameters and names. Every policy is backtested through
the same engine in the strategy grid (foxml_dagster.strategies).
"""

from foxml_dagster.sizing.apply import SizingContext, adjust_book, size_bets, sizing_context, target_horizon
from foxml_dagster.sizing.config import (
    BOOK_POLICIES,
    POLICIES,
    BetSizeParams,
    MetaLabelParams,
    NoTradeBandParams,
    PolicyParams,
    TopkDropoutParams,
    VolTargetParams,
)

__all__ = [
    "BOOK_POLICIES",
    "POLICIES",
    "BetSizeParams",
    "MetaLabelParams",
    "NoTradeBandParams",
    "PolicyParams",
    "SizingContext",
    "TopkDropoutParams",
    "VolTargetParams",
    "adjust_book",
    "size_bets",
    "sizing_context",
    "target_horizon",
]
