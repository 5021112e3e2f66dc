"""Order tickets: from the latest target weights to deterministic, risk-checked orders.

This first version plans orders for a flat paper account at the last close; submitting them to
a broker (Alpaca, IBKR) and reconciling fills is the execution layer's job. The client order id
is a hash of what the order is for, so re-running the same plan yields the same ids and a broker
that deduplicates on them never sees a double order.
"""

from __future__ import annotations

import hashlib

import polars as pl
from pydantic import Field

from foxml_dagster.settings import Settings


class ExecutionConfig(Settings):
    capital: float = Field(100_000.0, gt=0)


ORDER_SCHEMA = {
    "client_order_id": pl.Utf8,
    "symbol": pl.Utf8,
    "signal_ts": pl.Datetime("us", "UTC"),
    "side": pl.Utf8,
    "qty": pl.Int64,
    "order_type": pl.Utf8,
    "ref_price": pl.Float64,
    "notional": pl.Float64,
    "target_weight": pl.Float64,
    "status": pl.Utf8,
    "risk_decision": pl.Utf8,
    "risk_reason": pl.Utf8,
}


def client_order_id(signal_ts, symbol: str, side: str, qty: int) -> str:
    digest = hashlib.sha256(f"{signal_ts.isoformat()}|{symbol}|{side}|{qty}".encode()).hexdigest()
    return f"fx-{digest[:24]}"


def plan_orders(signals: pl.DataFrame, bars: pl.DataFrame, *, capital: float, max_symbol_weight: float) -> pl.DataFrame:
    """Orders that move a flat account to the weights of each symbol's latest signal bar."""
    if signals.is_empty():
        return pl.DataFrame(schema=ORDER_SCHEMA)
    last_ts = signals["ts"].max()
    latest = signals.filter(pl.col("ts") == last_ts).join(
        bars.select("symbol", "ts", pl.col("close").alias("ref_price")), on=["symbol", "ts"], how="left"
    )
    rows = []
    for row in latest.sort("symbol").iter_rows(named=True):
        price, weight = row["ref_price"], row["target_weight"]
        qty = int(abs(weight) * capital // price) if price and price > 0 else 0
        side = "buy" if weight > 0 else "sell"
        notional = qty * price if price else 0.0
        if price is None or price <= 0:
            decision, reason = "reject", "no_reference_price"
        elif qty == 0:
            decision, reason = "skip", "below_one_share"
        elif notional > max_symbol_weight * capital * (1 + 1e-9):
            decision, reason = "reject", "notional_over_symbol_limit"
        else:
            decision, reason = "accept", "within_limits"
        rows.append(
            {
                "client_order_id": client_order_id(last_ts, row["symbol"], side, qty),
                "symbol": row["symbol"],
                "signal_ts": last_ts,
                "side": side,
                "qty": qty,
                "order_type": "market",
                "ref_price": price,
                "notional": notional,
                "target_weight": weight,
                "status": "planned" if decision == "accept" else "not_sent",
                "risk_decision": decision,
                "risk_reason": reason,
            }
        )
    return pl.DataFrame(rows, schema=ORDER_SCHEMA)
