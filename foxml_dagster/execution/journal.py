"""The execution journal: four append-only tables (orders, fills, positions, risk_events).

Rows are only ever appended, in the order things happened, so the last row of an order is its
state, the sum of an account's fills is its position, and the last risk event carries the
trading state. A restart rebuilds everything from these tables (`Journal.restore`) and
reconciles with the broker before it sends anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from foxml_dagster.execution.orders import (
    FILLS_SCHEMA,
    ORDERS_SCHEMA,
    POSITIONS_SCHEMA,
    RISK_EVENTS_SCHEMA,
    WORKING,
    OrderStatus,
)

__all__ = ["Journal", "JournalState", "average_cost"]

TABLES = {
    "orders": ORDERS_SCHEMA,
    "fills": FILLS_SCHEMA,
    "positions": POSITIONS_SCHEMA,
    "risk_events": RISK_EVENTS_SCHEMA,
}

# Columns added after a table's first release: a stored table lacking only these is read with
# nulls in them, rather than started afresh.
ADDED: dict[str, set[str]] = {"orders": {"stop_price"}}


def _empty(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema=TABLES[name])


@dataclass(frozen=True)
class JournalState:
    """What the journal says the account looks like."""

    positions: dict[str, float]
    working: pl.DataFrame  # the last row of every working order
    fill_ids: frozenset[str]
    state: str
    cause: str
    last_mark: dict | None


@dataclass(frozen=True)
class Journal:
    orders: pl.DataFrame = field(default_factory=lambda: _empty("orders"))
    fills: pl.DataFrame = field(default_factory=lambda: _empty("fills"))
    positions: pl.DataFrame = field(default_factory=lambda: _empty("positions"))
    risk_events: pl.DataFrame = field(default_factory=lambda: _empty("risk_events"))

    @classmethod
    def load(cls, **tables: pl.DataFrame | None) -> tuple[Journal, list[str]]:
        """A journal from stored tables (None: not written yet). Columns added since a table was
        written are filled with nulls (an older row has no stop price); a table whose columns
        differ otherwise starts afresh; the messages say which."""
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise ValueError(f"unknown journal tables {sorted(unknown)}; expected {sorted(TABLES)}")
        loaded, notes = {}, []
        for name, schema in TABLES.items():
            frame = tables.get(name)
            if frame is None:
                loaded[name] = _empty(name)
            elif set(frame.columns) < set(schema) and set(schema) - set(frame.columns) <= ADDED.get(name, set()):
                added = [c for c in schema if c not in frame.columns]
                notes.append(f"{name}: columns {added} are new since the table was written; older rows have nulls")
                frame = frame.with_columns(pl.lit(None, dtype=schema[c]).alias(c) for c in added)
                loaded[name] = frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]
            elif set(frame.columns) != set(schema):
                notes.append(
                    f"{name}: the stored table has other columns (an older version's); the journal starts afresh"
                )
                loaded[name] = _empty(name)
            else:
                loaded[name] = frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]
        return cls(**loaded), notes

    def append(self, **new: pl.DataFrame) -> Journal:
        """A journal with `new` rows after the existing ones."""
        merged = {}
        for name, schema in TABLES.items():
            old = getattr(self, name)
            rows = new.get(name)
            merged[name] = old if rows is None or rows.is_empty() else pl.concat([old, rows.cast(schema)])  # type: ignore[arg-type]
        return Journal(**merged)

    # --- what the journal says ------------------------------------------------------------

    def latest_orders(self) -> pl.DataFrame:
        """The last row of every order (its current state)."""
        if self.orders.is_empty():
            return self.orders
        return self.orders.group_by("client_order_id", maintain_order=True).last()

    def status_of(self, client_order_id: str) -> OrderStatus | None:
        rows = self.orders.filter(pl.col("client_order_id") == client_order_id)
        return OrderStatus(rows["status"][-1]) if rows.height else None

    def was_sent(self, client_order_id: str) -> bool:
        """True once an order reached (or may have reached) the broker."""
        rows = self.orders.filter(
            (pl.col("client_order_id") == client_order_id) & (pl.col("status") == OrderStatus.SUBMITTED)
        )
        return rows.height > 0

    def restore(self) -> JournalState:
        latest = self.latest_orders()
        working = latest.filter(pl.col("status").is_in([str(s) for s in WORKING]))
        marks = self.risk_events.filter(pl.col("kind") == "mark")
        last = self.risk_events.row(-1, named=True) if self.risk_events.height else None
        return JournalState(
            positions=self.positions_from_fills(),
            working=working,
            fill_ids=frozenset(self.fills["fill_id"].to_list()),
            state=last["state"] if last else "active",
            cause=last["cause"] if last else "none",
            last_mark=marks.row(-1, named=True) if marks.height else None,
        )

    def positions_from_fills(self) -> dict[str, float]:
        if self.fills.is_empty():
            return {}
        signed = pl.when(pl.col("side") == "buy").then(pl.col("qty")).otherwise(-pl.col("qty"))
        sums = self.fills.group_by("symbol").agg(signed.sum().alias("qty"))
        return dict(sums.iter_rows())


def average_cost(fills: pl.DataFrame) -> dict[str, tuple[float, float, float]]:
    """Per symbol (qty, average price of the open position, realized P&L) by the average-cost
    method: adding to a position averages its price, reducing it realizes (price - average) x qty,
    and crossing zero opens the rest at the fill price. Fees count against realized P&L."""
    book: dict[str, tuple[float, float, float]] = {}
    for symbol, side, qty, price, fee in fills.select("symbol", "side", "qty", "price", "fee").iter_rows():
        pos, avg, realized = book.get(symbol, (0.0, 0.0, 0.0))
        signed = qty if side == "buy" else -qty
        realized -= fee or 0.0
        if pos == 0 or (pos > 0) == (signed > 0):
            total = pos + signed
            avg = (avg * abs(pos) + price * abs(signed)) / abs(total)
            pos = total
        else:
            closed = min(abs(signed), abs(pos))
            realized += closed * (price - avg) * (1 if pos > 0 else -1)
            pos += signed
            if pos == 0:
                avg = 0.0
            elif (pos > 0) == (signed > 0):  # crossed zero: the remainder opened at this price
                avg = price
        book[symbol] = (pos, avg, realized)
    return book
