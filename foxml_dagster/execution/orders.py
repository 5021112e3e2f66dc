"""Orders: the state machine, deterministic client order ids, and the journal's schemas.

An order moves planned -> submitted -> accepted -> partially_filled -> filled, or ends
cancelled, rejected (by the risk engine or the broker) or expired. Every transition is one row
appended to the `orders` journal; nothing is updated in place, so an order's history is its rows
in `seq` order and its state is its last row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import polars as pl

__all__ = [
    "FILLS_SCHEMA",
    "ORDERS_SCHEMA",
    "POSITIONS_SCHEMA",
    "RISK_EVENTS_SCHEMA",
    "TERMINAL",
    "InvalidTransition",
    "OrderStatus",
    "PlannedOrder",
    "check_transition",
    "client_order_id",
]


class OrderStatus(StrEnum):
    PLANNED = "planned"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


S = OrderStatus
TERMINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})
WORKING = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED})
# A broker may report a fill before its acknowledgement reaches us, so a submitted order may
# jump straight to any later state.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PLANNED: frozenset({S.SUBMITTED, S.REJECTED}),
    S.SUBMITTED: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    **{s: frozenset() for s in TERMINAL},
}


class InvalidTransition(ValueError):
    """An order state change the state machine does not allow."""


def check_transition(old: OrderStatus | None, new: OrderStatus, client_order_id: str) -> None:
    """Raises InvalidTransition unless `old -> new` is allowed (`None -> planned` starts an order)."""
    if old is None:
        if new != S.PLANNED:
            raise InvalidTransition(f"order {client_order_id}: its first state must be planned, got {new}")
        return
    if new not in TRANSITIONS[old]:
        allowed = sorted(TRANSITIONS[old]) or "nothing (it is final)"
        raise InvalidTransition(
            f"order {client_order_id}: {old} -> {new} is not a valid transition; from {old} it can go to {allowed}"
        )


def client_order_id(account: str, signal_ts: datetime, symbol: str, side: str, qty: float, leg: str) -> str:
    """A deterministic id: a hash of what the order is for, so re-running the same plan gives
    the same ids and the order manager (and any broker that deduplicates) never sends it twice.
    `leg` tells the closing and opening halves of a flip apart."""
    key = f"{account}|{signal_ts.isoformat()}|{symbol}|{side}|{qty:.10g}|{leg}"
    return f"fx-{hashlib.sha256(key.encode()).hexdigest()[:24]}"


@dataclass(frozen=True)
class PlannedOrder:
    """One order of a rebalance, before the risk check."""

    client_order_id: str
    symbol: str
    side: str  # buy | sell
    qty: float
    order_type: str  # market | limit | stop
    limit_price: float | None
    time_in_force: str  # day | gtc
    closing: bool
    ref_price: float
    target_weight: float
    target_qty: float
    signal_ts: datetime
    stop_price: float | None = None

    @property
    def sign(self) -> int:
        return 1 if self.side == "buy" else -1

    @property
    def price(self) -> float | None:
        """The price the order names (limit, or stop), None for a market order."""
        return self.limit_price if self.limit_price is not None else self.stop_price

    @property
    def notional(self) -> float:
        return self.qty * (self.price if self.price is not None else self.ref_price)


_TS = pl.Datetime("us", "UTC")

ORDERS_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),  # client_order_id:seq
    "seq": pl.Int64(),  # the transition's number within its order, from 0 (planned)
    "cycle_id": pl.String(),
    "event_ts": _TS,  # market time of the transition
    "recorded_at": _TS,  # wall clock when it was journaled
    "account": pl.String(),
    "client_order_id": pl.String(),
    "broker_order_id": pl.String(),
    "symbol": pl.String(),
    "side": pl.String(),
    "qty": pl.Float64(),
    "order_type": pl.String(),
    "limit_price": pl.Float64(),
    "stop_price": pl.Float64(),
    "time_in_force": pl.String(),
    "ref_price": pl.Float64(),
    "notional": pl.Float64(),
    "target_weight": pl.Float64(),
    "target_qty": pl.Float64(),
    "signal_ts": _TS,
    "status": pl.String(),
    "filled_qty": pl.Float64(),  # cumulative
    "avg_fill_price": pl.Float64(),
    "risk_decision": pl.String(),  # accept | deny (on the planned row)
    "risk_reason": pl.String(),  # the engine's reason code name
    "reason": pl.String(),  # why the state changed (broker message, kill switch, expiry)
}

FILLS_SCHEMA: dict[str, pl.DataType] = {
    "fill_id": pl.String(),
    "cycle_id": pl.String(),
    "ts": _TS,  # when it filled (the bar it filled on, for the paper broker)
    "recorded_at": _TS,
    "account": pl.String(),
    "client_order_id": pl.String(),
    "broker_order_id": pl.String(),
    "symbol": pl.String(),
    "side": pl.String(),
    "qty": pl.Float64(),
    "price": pl.Float64(),
    "fee": pl.Float64(),
    "slippage_bps": pl.Float64(),
    "participation": pl.Float64(),
}

POSITIONS_SCHEMA: dict[str, pl.DataType] = {
    "cycle_id": pl.String(),
    "as_of": _TS,  # market time of the snapshot
    "recorded_at": _TS,
    "account": pl.String(),
    "symbol": pl.String(),
    "qty": pl.Float64(),  # from the journal's fills
    "broker_qty": pl.Float64(),  # what the broker holds
    "reconciled": pl.Boolean(),
    "avg_price": pl.Float64(),
    "mark_price": pl.Float64(),
    "market_value": pl.Float64(),
    "weight": pl.Float64(),  # of equity
    "realized_pnl": pl.Float64(),
    "unrealized_pnl": pl.Float64(),
}

RISK_EVENTS_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),  # cycle_id:seq
    "cycle_id": pl.String(),
    "seq": pl.Int64(),
    "event_ts": _TS,
    "recorded_at": _TS,
    "account": pl.String(),
    "kind": pl.String(),  # check | mark | trip | state | kill_switch | reconcile
    "client_order_id": pl.String(),
    "symbol": pl.String(),
    "side": pl.String(),
    "qty": pl.Float64(),
    "decision": pl.String(),  # accept | deny (checks)
    "reason": pl.String(),  # reason code name (checks), cause (states and trips)
    "code": pl.Int16(),
    "state": pl.String(),  # the trading state after the event
    "cause": pl.String(),
    "equity": pl.Float64(),
    "day_start_equity": pl.Float64(),
    "peak_equity": pl.Float64(),
    "gross": pl.Float64(),
    "net": pl.Float64(),
    "detail": pl.String(),
}
