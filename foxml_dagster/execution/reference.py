"""The risk engine's checks in plain Python: the yardstick the Rust engine is measured against.

`benchmarks/risk.py` times this beside the native engine on the same orders, and the property
tests (tests/unit/test_risk_properties.py) feed both the same random sequences and require the
same decision, reason code and state after every step. It follows native_ext/src/risk/engine.rs
rule for rule; it is not used to trade.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass

from foxml_dagster.native.risk import REASONS, STATES, AccountLimits, InstrumentLimits

__all__ = ["PyRiskEngine"]

_GRID_EPS = 1e-9
_DAY_NS = 86_400 * 10**9
CODE = {name: code for code, name in enumerate(REASONS)}


def _valid(price: float) -> bool:
    return math.isfinite(price) and price > 0


def on_grid(value: float, step: float) -> bool:
    if step <= 0:
        return True
    units = value / step
    return abs(units - round(units)) <= _GRID_EPS * max(abs(units), 1.0)


@dataclass
class _Order:
    instrument: int
    side: int
    remaining: float
    limit: float
    price: float
    reduce_only: bool


class _Book:
    __slots__ = ("position", "open_buy", "open_sell", "n_open", "reference", "reference_ts", "exposure", "value")

    def __init__(self) -> None:
        self.position = self.open_buy = self.open_sell = 0.0
        self.n_open = 0
        self.reference = math.nan
        self.reference_ts = -(2**63)
        self.exposure = self.value = 0.0

    def worst(self) -> float:
        return max(abs(self.position + self.open_buy), abs(self.position - self.open_sell))

    def priced(self) -> float:
        return self.reference if _valid(self.reference) else 0.0


class PyRiskEngine:
    """Same constructor and decisions as `foxml_dagster.native.risk.RiskEngine` (reason codes
    as integers, states as names)."""

    def __init__(self, instruments: list[InstrumentLimits], limits: AccountLimits | None = None, *, cash: float):
        self.limits = limits or AccountLimits()
        self.instruments = list(instruments)
        self.book = [_Book() for _ in instruments]
        self.orders: dict[int, _Order] = {}
        self.next_id = 1
        self.cash = float(cash)
        self.gross = self.net_value = 0.0
        self.open_buy_notional = self.open_sell_notional = 0.0
        self.submits: deque[int] = deque()
        self.modifies: deque[int] = deque()
        self.state, self.cause = "active", "none"
        self.day: int | None = None
        self.day_start_equity = self.peak_equity = self.last_equity = math.nan

    # --- state ---------------------------------------------------------------------------

    @property
    def equity(self) -> float:
        return self.cash + self.net_value

    @property
    def open_order_notional(self) -> float:
        return self.open_buy_notional + self.open_sell_notional

    def position(self, i: int) -> float:
        return self.book[i].position

    def working(self, i: int) -> tuple[float, float]:
        return self.book[i].open_buy, self.book[i].open_sell

    def set_reference(self, i: int, price: float, ts: int) -> bool:
        if not 0 <= i < len(self.book) or not _valid(price):
            return False
        b = self.book[i]
        b.reference, b.reference_ts = price, ts
        self._refresh(i)
        return True

    def set_state(self, state: str, cause: str = "manual") -> None:
        self.state = state
        self.cause = "none" if state == "active" else cause

    def kill(self) -> list[int]:
        self.state, self.cause = "halted", "kill_switch"
        ids = sorted(self.orders)
        for order_id in ids:
            self.cancel(order_id)
        return ids

    # --- orders --------------------------------------------------------------------------

    def submit(
        self, instrument: int, side: int, qty: float, price: float, reduce_only: bool, ts: int
    ) -> tuple[int, int]:
        code = self.check(instrument, side, qty, price, reduce_only, ts, count_submits=True)
        if code:
            return code, 0
        order_id = self.next_id
        self.next_id += 1
        b = self.book[instrument]
        self._book_order(
            order_id, _Order(instrument, side, qty, price, price if not math.isnan(price) else b.reference, reduce_only)
        )
        self._record(self.submits, ts, self.limits.max_submits, self.limits.submit_window_ns)
        return 0, order_id

    def modify(self, order_id: int, qty: float, price: float, ts: int) -> int:
        if self.state == "halted":
            return CODE["halted"]
        old = self.orders.pop(order_id, None)
        if old is None:
            return CODE["unknown_order"]
        lim = self.limits
        if lim.max_modifies > 0 and self._in_window(self.modifies, ts, lim.modify_window_ns) >= lim.max_modifies:
            self.orders[order_id] = old
            return CODE["modify_rate"]
        self._unbook(old, old.remaining)
        code = self.check(old.instrument, old.side, qty, price, old.reduce_only, ts, count_submits=False)
        if code == 0:
            b = self.book[old.instrument]
            self._book_order(
                order_id,
                _Order(
                    old.instrument,
                    old.side,
                    qty,
                    price,
                    price if not math.isnan(price) else b.reference,
                    old.reduce_only,
                ),
            )
            self._record(self.modifies, ts, lim.max_modifies, lim.modify_window_ns)
        else:
            self._book_order(order_id, old)
        return code

    def cancel(self, order_id: int) -> bool:
        old = self.orders.pop(order_id, None)
        if old is None:
            return False
        self._unbook(old, old.remaining)
        return True

    def fill(self, order_id: int, qty: float, price: float, fee: float = 0.0) -> None:
        order = self.orders.get(order_id)
        if order is None:
            raise ValueError(f"fill of order {order_id}: no such working order")
        if not (math.isfinite(qty) and qty > 0) or not _valid(price) or not math.isfinite(fee):
            raise ValueError(f"fill of order {order_id}: bad quantity, price or fee")
        tolerance = _GRID_EPS * max(order.remaining, 1.0)
        if qty > order.remaining + tolerance:
            raise ValueError(f"fill of order {order_id}: {qty} is more than the {order.remaining} still working")
        done = qty >= order.remaining - tolerance
        booked = order.remaining if done else qty
        b = self.book[order.instrument]
        b.position += order.side * qty
        self.cash -= order.side * qty * price + fee
        if done:
            del self.orders[order_id]
            self._unbook(order, booked)
        else:
            self._reduce_working(order, booked)
            order.remaining -= booked
            self._refresh(order.instrument)

    def check(
        self,
        instrument: int,
        side: int,
        qty: float,
        price: float,
        reduce_only: bool,
        ts: int,
        *,
        count_submits: bool = True,
    ) -> int:
        if self.state == "halted":
            return CODE["halted"]
        if not 0 <= instrument < len(self.instruments):
            return CODE["unknown_instrument"]
        lim = self.instruments[instrument]
        if not lim.tradable:
            return CODE["restricted"]
        if side not in (1, -1):
            return CODE["invalid_side"]
        if not (math.isfinite(qty) and qty > 0):
            return CODE["invalid_quantity"]
        is_limit = not math.isnan(price)
        if is_limit and not _valid(price):
            return CODE["invalid_price"]
        if not on_grid(qty, lim.lot_size):
            return CODE["lot_size"]
        if is_limit and not on_grid(price, lim.tick_size):
            return CODE["tick_size"]
        b = self.book[instrument]
        if not _valid(b.reference):
            return CODE["reference_missing"]
        acct = self.limits
        if ts - b.reference_ts > acct.reference_max_age_ns:
            return CODE["reference_stale"]
        reference = b.reference
        if is_limit and abs(price / reference - 1.0) > acct.collar:
            return CODE["price_collar"]
        notional = qty * (price if is_limit else reference)
        if qty > lim.max_order_qty:
            return CODE["max_order_qty"]
        if notional > lim.max_order_notional:
            return CODE["max_order_notional"]
        if notional > acct.max_order_notional:
            return CODE["max_order_notional_global"]
        if side > 0:
            hi, lo = b.position + b.open_buy + qty, b.position - b.open_sell
        else:
            hi, lo = b.position + b.open_buy, b.position - b.open_sell - qty
        reduces = hi <= 0 if side > 0 else lo >= 0
        if reduce_only and not reduces:
            return CODE["reduce_only"]
        if self.state == "reducing" and not reduces:
            return CODE["reducing"]
        before, after = b.worst(), max(abs(hi), abs(lo))
        grows = after > before
        if grows and after > lim.max_position_qty:
            return CODE["max_position_qty"]
        if grows and after * reference > lim.max_position_notional:
            return CODE["max_position_notional"]
        weight_capped = grows and math.isfinite(acct.max_position_weight)
        if weight_capped and (self.equity <= 0 or after * reference > acct.max_position_weight * self.equity):
            return CODE["max_position_weight"]
        gross_after = self.gross - b.exposure + after * reference
        if grows and gross_after > acct.max_gross_notional:
            return CODE["gross_exposure"]
        if side > 0:
            breached = self.net_value + self.open_buy_notional + notional > acct.max_net_notional
        else:
            breached = self.net_value - self.open_sell_notional - notional < -acct.max_net_notional
        if breached:
            return CODE["net_exposure"]
        if self.open_order_notional + notional > acct.max_open_order_notional:
            return CODE["open_order_notional"]
        levered = grows and math.isfinite(acct.max_leverage)
        if levered and (self.equity <= 0 or gross_after > self.equity * acct.max_leverage):
            return CODE["buying_power"]
        if (
            count_submits
            and acct.max_submits > 0
            and self._in_window(self.submits, ts, acct.submit_window_ns) >= acct.max_submits
        ):
            return CODE["submit_rate"]
        return 0

    # --- loss limits ---------------------------------------------------------------------

    def mark(self, ts: int) -> tuple[float, str, str, str | None]:
        """(equity, state, cause, tripped cause or None), as the native engine's mark."""
        self._resync()
        equity = self.equity
        day = ts // _DAY_NS
        if self.day is None or day > self.day:
            self.day_start_equity = self.last_equity if math.isfinite(self.last_equity) else equity
            self.day = day
            if self.cause == "daily_loss":
                self.state, self.cause = "active", "none"
        if math.isnan(self.peak_equity) or equity > self.peak_equity:
            self.peak_equity = equity
        tripped = None
        start, peak, acct = self.day_start_equity, self.peak_equity, self.limits
        if start > 0 and start - equity > acct.max_daily_loss * start:
            tripped = self._trip(acct.daily_loss_action, "daily_loss") or tripped
        if peak > 0 and peak - equity > acct.max_drawdown * peak:
            tripped = self._trip(acct.drawdown_action, "drawdown") or tripped
        self.last_equity = equity
        return equity, self.state, self.cause, tripped

    def _trip(self, action: str, cause: str) -> str | None:
        level, current = STATES.index(action), STATES.index(self.state)
        takes_over = level == current and self.cause == "daily_loss" and cause != "daily_loss"
        if level > current or takes_over:
            self.state, self.cause = action, cause
            return cause
        return None

    # --- bookkeeping -----------------------------------------------------------------------

    def _book_order(self, order_id: int, order: _Order) -> None:
        b = self.book[order.instrument]
        b.n_open += 1
        if order.side > 0:
            b.open_buy += order.remaining
            self.open_buy_notional += order.remaining * order.price
        else:
            b.open_sell += order.remaining
            self.open_sell_notional += order.remaining * order.price
        self.orders[order_id] = order
        self._refresh(order.instrument)

    def _reduce_working(self, order: _Order, qty: float) -> None:
        b = self.book[order.instrument]
        if order.side > 0:
            b.open_buy -= qty
            self.open_buy_notional -= qty * order.price
        else:
            b.open_sell -= qty
            self.open_sell_notional -= qty * order.price

    def _unbook(self, order: _Order, qty: float) -> None:
        self._reduce_working(order, qty)
        b = self.book[order.instrument]
        b.n_open -= 1
        if b.n_open == 0:
            b.open_buy = b.open_sell = 0.0
        if not self.orders:
            self.open_buy_notional = self.open_sell_notional = 0.0
        self._refresh(order.instrument)

    def _refresh(self, i: int) -> None:
        b = self.book[i]
        r = b.priced()
        exposure, value = b.worst() * r, b.position * r
        self.gross += exposure - b.exposure
        self.net_value += value - b.value
        b.exposure, b.value = exposure, value

    def _resync(self) -> None:
        self.gross = self.net_value = 0.0
        for b in self.book:
            r = b.priced()
            b.exposure, b.value = b.worst() * r, b.position * r
            self.gross += b.exposure
            self.net_value += b.value
        self.open_buy_notional = self.open_sell_notional = 0.0
        for order_id in sorted(self.orders):
            order = self.orders[order_id]
            if order.side > 0:
                self.open_buy_notional += order.remaining * order.price
            else:
                self.open_sell_notional += order.remaining * order.price

    @staticmethod
    def _in_window(times: deque[int], ts: int, window: int) -> int:
        return len(times) - bisect_right(times, ts - window)

    @staticmethod
    def _record(times: deque[int], ts: int, max_count: int, window: int) -> None:
        if max_count <= 0 or window <= 0:
            return
        while times and times[0] <= ts - window:
            times.popleft()
        times.append(ts)
