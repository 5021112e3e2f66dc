"""The `execution` section of the experiment: account, orders, the paper broker and risk limits.

Every limit is explained, with the rule that enforces it, in docs/execution.md. Limits that are
`null` are off. Currency amounts are in the account's currency; fractions are of equity
(`max_position_weight`, `max_daily_loss`, `max_drawdown`) or of the reference price
(`price_collar`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from foxml_dagster.settings import Settings

__all__ = [
    "ExecutionConfig",
    "OrderSettings",
    "PaperSettings",
    "RiskConfig",
    "SymbolRisk",
    "Throttle",
]


def _positive(description: str | None = None):
    """An optional limit: None (off) or a positive number."""
    return Field(default=None, gt=0, description=description)


class Throttle(Settings):
    """At most `max` accepted messages in any `per_seconds` window; `max: 0` turns it off."""

    max: int = Field(0, ge=0)
    per_seconds: float = Field(1.0, gt=0)


class SymbolRisk(Settings):
    """Per-symbol overrides of the instrument limits (unset fields take the section's value)."""

    tradable: bool | None = None
    lot_size: float | None = Field(default=None, ge=0)
    tick_size: float | None = Field(default=None, ge=0)
    max_order_qty: float | None = _positive()
    max_order_notional: float | None = _positive()
    max_position_qty: float | None = _positive()
    max_position_notional: float | None = _positive()


class RiskConfig(Settings):
    """Pre-trade limits the Rust engine enforces on every order of every path."""

    restricted: list[str] = Field(default_factory=list, description="symbols no order may trade")
    lot_size: float = Field(1.0, ge=0, description="quantities in whole multiples of this; 0: fractional")
    tick_size: float = Field(0.01, ge=0, description="limit prices on this grid; 0: any price")
    max_order_qty: float | None = _positive()
    max_order_notional: float | None = Field(default=None, gt=0, description="firm-wide cap on one order")
    max_position_qty: float | None = _positive()
    max_position_notional: float | None = _positive()
    max_position_weight: float | None = Field(default=None, gt=0, description="fraction of equity per symbol")
    max_gross_notional: float | None = _positive()
    max_net_notional: float | None = _positive()
    max_open_order_notional: float | None = _positive()
    max_leverage: float | None = Field(default=None, gt=0, description="buying power: gross <= equity x this")
    price_collar: float | None = Field(
        default=None, gt=0, description="limit price within this fraction of the reference"
    )
    reference_max_age: timedelta | None = Field(
        default=timedelta(days=4), description="an older reference price rejects the order"
    )
    submit_throttle: Throttle = Field(default_factory=Throttle)
    modify_throttle: Throttle = Field(default_factory=Throttle)
    max_daily_loss: float | None = Field(default=None, gt=0, lt=1, description="fraction of the day's start equity")
    daily_loss_action: Literal["reducing", "halted"] = "reducing"
    max_drawdown: float | None = Field(default=None, gt=0, lt=1, description="fraction of the peak equity")
    drawdown_action: Literal["reducing", "halted"] = "halted"
    symbols: dict[str, SymbolRisk] = Field(default_factory=dict)

    @field_validator("reference_max_age")
    @classmethod
    def _age_is_positive(cls, age: timedelta | None) -> timedelta | None:
        if age is not None and age <= timedelta(0):
            raise ValueError(f"must be positive (e.g. P4D for four days, PT5M for five minutes), got {age}")
        return age

    @model_validator(mode="after")
    def _restricted_is_not_overridden(self) -> RiskConfig:
        clash = [s for s in self.restricted if self.symbols.get(s) and self.symbols[s].tradable]
        if clash:
            raise ValueError(f"{clash} are in `restricted` and set tradable: true under `symbols`; pick one")
        return self


class OrderSettings(Settings):
    """How target positions become orders."""

    order_type: Literal["market", "limit"] = "market"
    limit_offset_bps: float = Field(10.0, ge=0, description="limit orders: reference +/- this, on the tick grid")
    time_in_force: Literal["day", "gtc"] = "day"
    min_trade_notional: float = Field(100.0, ge=0, description="no-trade threshold in currency")
    min_trade_weight: float = Field(0.0, ge=0, lt=1, description="no-trade threshold as a fraction of equity")


class PaperSettings(Settings):
    """The built-in paper broker's market and account model."""

    fill_price: Literal["open", "close", "vwap"] = "open"  # of the first bar after the order
    slippage_bps: float = Field(2.0, ge=0)
    impact_bps: float = Field(20.0, ge=0, description="extra cost at 100% of the bar's volume")
    impact_exponent: float = Field(0.5, gt=0, le=2)
    max_participation: float = Field(0.1, gt=0, le=1, description="fill at most this share of a bar's volume")
    fee_bps: float = Field(0.0, ge=0)
    fee_per_share: float = Field(0.0, ge=0)
    allow_short: bool = True
    leverage: float = Field(2.0, gt=0, description="the simulated account's margin: gross <= equity x this")


class ExecutionConfig(Settings):
    """Account, broker, orders and risk for the execution stage (and for a routed backtest)."""

    capital: float = Field(100_000.0, gt=0)
    account: str = Field("paper", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    broker: Literal["paper"] = "paper"
    live: bool = Field(False, description="real money: also needs FOXML_LIVE_TRADING=1 and a live broker")
    reconcile: Literal["halt", "adopt"] = "halt"
    orders: OrderSettings = Field(default_factory=OrderSettings)
    paper: PaperSettings = Field(default_factory=PaperSettings)
    risk: RiskConfig = Field(default_factory=RiskConfig)

    @model_validator(mode="after")
    def _live_needs_a_live_broker(self) -> ExecutionConfig:
        if self.live and self.broker == "paper":
            raise ValueError(
                "live: true with broker: paper; the paper broker never trades real money. Live brokers "
                "(alpaca, ibkr) come with their adapters; until then keep live: false"
            )
        return self
