"""From the `execution.risk` configuration to the native engine, for a universe of symbols."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from foxml_dagster.execution.config import RiskConfig
from foxml_dagster.native.risk import AccountLimits, InstrumentLimits, RiskEngine

__all__ = ["account_limits", "build_engine", "instrument_limits", "to_ns"]


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else float(value)


def instrument_limits(risk: RiskConfig, symbol: str) -> InstrumentLimits:
    """The section's instrument limits with `symbols.<symbol>` overrides applied."""
    own = risk.symbols.get(symbol)

    def pick(name: str):
        value = getattr(own, name) if own is not None else None
        return value if value is not None else getattr(risk, name, None)

    tradable = symbol not in risk.restricted
    if own is not None and own.tradable is not None:
        tradable = own.tradable
    return InstrumentLimits(
        tradable=tradable,
        lot_size=float(pick("lot_size")),
        tick_size=float(pick("tick_size")),
        max_order_qty=_or_inf(pick("max_order_qty")),
        # Per symbol only through `symbols`: the section's max_order_notional is the firm-wide cap.
        max_order_notional=_or_inf(own.max_order_notional if own is not None else None),
        max_position_qty=_or_inf(pick("max_position_qty")),
        max_position_notional=_or_inf(pick("max_position_notional")),
    )


def account_limits(risk: RiskConfig, *, throttles: bool = True) -> AccountLimits:
    """Account-wide limits; `throttles=False` turns the rate limits off (the backtest: a
    rebalance there is one decision, which a live order manager would pace to the throttle)."""
    age = risk.reference_max_age
    return AccountLimits(
        max_order_notional=_or_inf(risk.max_order_notional),
        max_gross_notional=_or_inf(risk.max_gross_notional),
        max_net_notional=_or_inf(risk.max_net_notional),
        max_open_order_notional=_or_inf(risk.max_open_order_notional),
        max_position_weight=_or_inf(risk.max_position_weight),
        max_leverage=_or_inf(risk.max_leverage),
        collar=_or_inf(risk.price_collar),
        reference_max_age_ns=_ns(age) if age is not None else AccountLimits().reference_max_age_ns,
        max_submits=risk.submit_throttle.max if throttles else 0,
        submit_window_ns=round(risk.submit_throttle.per_seconds * 1e9),
        max_modifies=risk.modify_throttle.max if throttles else 0,
        modify_window_ns=round(risk.modify_throttle.per_seconds * 1e9),
        max_daily_loss=_or_inf(risk.max_daily_loss),
        daily_loss_action=risk.daily_loss_action,
        max_drawdown=_or_inf(risk.max_drawdown),
        drawdown_action=risk.drawdown_action,
    )


def build_engine(risk: RiskConfig, symbols: Sequence[str], *, cash: float, throttles: bool = True) -> RiskEngine:
    """An engine whose instrument `k` is `symbols[k]`, with `cash` and no positions."""
    return RiskEngine(
        [instrument_limits(risk, s) for s in symbols], account_limits(risk, throttles=throttles), cash=cash
    )


def to_ns(ts: datetime) -> int:
    """A timezone-aware datetime as integer nanoseconds since the epoch (the engine's clock)."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts} has no time zone; the engine's clock is UTC nanoseconds")
    return _ns(ts - _EPOCH)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _ns(span: timedelta) -> int:
    """A timedelta in whole nanoseconds (Python's datetimes stop at microseconds)."""
    return span // _MICROSECOND * 1000
