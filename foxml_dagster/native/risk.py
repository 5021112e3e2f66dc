"""The pre-trade risk engine (Rust, ``native_ext/src/risk``) behind a typed facade.

One engine checks every order of every path: the backtest (:meth:`RiskEngine.route_target_weights`,
one call per backtest), the paper broker and live brokers (:meth:`RiskEngine.submit` and
:meth:`RiskEngine.submit_batch`, through ``foxml_dagster.execution``).

Conventions
-----------
**Instruments** are integer ids ``0 .. n - 1``, the positions of the :class:`InstrumentLimits`
the engine was built with; an id outside that range is denied as ``unknown_instrument``.
**Sides** are ``+1`` (buy) and ``-1`` (sell). **Prices**: a limit order carries its limit
price; a market order carries NaN and is priced at the reference for every notional check.
**Times** are int64 nanoseconds in the caller's clock (the wall clock when trading, the bar
time in a backtest), so throttles, staleness and loss days are deterministic in a backtest.
**Limits** that are off are ``math.inf`` (throttles: ``max_submits = 0``).

Every decision is a reason code (``REASONS[code]`` is its name, ``accepted`` is 0). Bad input
(NaN, negative or zero quantities, unknown instruments, bad sides) is a denial with a code,
never an exception; exceptions are for misuse (arrays of different lengths, a fill of an order
the engine does not hold, invalid limits), and their messages name the argument.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from foxml_dagster import _native
from foxml_dagster.native._convert import FloatArray, Int64Array

__all__ = [
    "ACCEPTED",
    "CAUSES",
    "REASONS",
    "STATES",
    "AccountLimits",
    "Decision",
    "InstrumentLimits",
    "Legs",
    "Mark",
    "OpenOrders",
    "RiskEngine",
    "Routed",
    "plan_legs",
]

REASONS: tuple[str, ...] = tuple(_native.risk_reason_names())
"""Reason names indexed by code: ``REASONS[0] == "accepted"``."""
STATES: tuple[str, ...] = tuple(_native.risk_state_names())
"""Trading states indexed by code: active, reducing, halted."""
CAUSES: tuple[str, ...] = tuple(_native.risk_cause_names())
"""What put the engine in its state, indexed by code: none, manual, kill_switch, daily_loss,
drawdown, reconciliation."""
ACCEPTED = 0

State = Literal["active", "reducing", "halted"]
_NO_AGE_LIMIT = np.iinfo(np.int64).max


@dataclass(frozen=True)
class InstrumentLimits:
    """One instrument's reference data and limits (``math.inf``: no limit; 0 lot or tick: no grid)."""

    tradable: bool = True
    lot_size: float = 0.0
    tick_size: float = 0.0
    max_order_qty: float = math.inf
    max_order_notional: float = math.inf
    max_position_qty: float = math.inf
    """|position| in the worst case where every working order in one direction fills."""
    max_position_notional: float = math.inf


@dataclass(frozen=True)
class AccountLimits:
    """Account-wide limits, throttles and loss trips (``math.inf``: no limit)."""

    max_order_notional: float = math.inf
    """Firm-wide cap on one order's notional, whatever the instrument."""
    max_gross_notional: float = math.inf
    max_net_notional: float = math.inf
    max_open_order_notional: float = math.inf
    max_position_weight: float = math.inf
    """Any one position's worst case may not exceed this fraction of equity."""
    max_leverage: float = math.inf
    """Buying power: gross exposure after an order <= equity x max_leverage."""
    collar: float = math.inf
    """A limit price may be at most this fraction away from the reference."""
    reference_max_age_ns: int = _NO_AGE_LIMIT
    max_submits: int = 0
    submit_window_ns: int = 0
    max_modifies: int = 0
    modify_window_ns: int = 0
    max_daily_loss: float = math.inf
    """Fraction of the day's starting equity."""
    daily_loss_action: State = "reducing"
    max_drawdown: float = math.inf
    """Fraction of the peak equity."""
    drawdown_action: State = "halted"


class Decision(NamedTuple):
    """One order's decision; ``order_id`` is 0 when denied."""

    code: int
    order_id: int

    @property
    def reason(self) -> str:
        return REASONS[self.code]

    @property
    def accepted(self) -> bool:
        return self.code == ACCEPTED


class Mark(NamedTuple):
    """The book marked at its reference prices (see :meth:`RiskEngine.mark`)."""

    equity: float
    day_start_equity: float
    peak_equity: float
    state: str
    cause: str
    tripped: str | None
    """The loss limit that tripped at this mark (daily_loss or drawdown), or None."""
    cleared: bool
    """A daily-loss trip expired at this mark (a new day began)."""


class OpenOrders(NamedTuple):
    """Working orders, one entry per order, sorted by id."""

    order_id: Int64Array
    instrument: Int64Array
    side: npt.NDArray[np.int8]
    remaining: FloatArray
    limit: FloatArray
    """Limit price; NaN for a market order."""
    price: FloatArray
    """The price its notional is booked at (the limit, or the reference when accepted)."""
    reduce_only: npt.NDArray[np.bool_]


class Routed(NamedTuple):
    """Per row of :meth:`RiskEngine.route_target_weights`."""

    weight: FloatArray
    """The weight held after the bar's orders."""
    reason: npt.NDArray[np.uint8]
    """First denial of the row's orders (0: none)."""
    state: npt.NDArray[np.uint8]
    """Trading state when the bar's orders were checked."""


def _state_code(state: str, name: str) -> int:
    try:
        return STATES.index(state)
    except ValueError:
        raise ValueError(f"{name} must be one of {list(STATES)}, got {state!r}") from None


def _column(instruments: Sequence[InstrumentLimits], name: str) -> FloatArray:
    return np.ascontiguousarray([float(getattr(i, name)) for i in instruments], dtype=np.float64)


def _array(values: npt.ArrayLike, dtype: type, n: int | None) -> np.ndarray:
    """A contiguous 1-D array of ``dtype``; a scalar is repeated ``n`` times when ``n`` is given."""
    array = np.asarray(values, dtype=dtype)
    if array.ndim == 0 and n is not None:
        return np.full(n, array, dtype=dtype)
    return np.ascontiguousarray(array)


def _f64(values: npt.ArrayLike, n: int | None = None) -> FloatArray:
    return _array(values, np.float64, n)


def _i64(values: npt.ArrayLike, n: int | None = None) -> Int64Array:
    return _array(values, np.int64, n)


class RiskEngine:
    """The stateful engine: positions, working orders, reference prices, throttles, trading state.

    Args:
        instruments: limits per instrument; instrument id ``k`` is ``instruments[k]``.
        limits: the account-wide limits.
        cash: starting cash (equity is cash plus positions at their reference prices).

    Raises:
        ValueError: a limit is negative, NaN or zero, a throttle has no window, or a loss action
            is ``active``; the message names the field.
    """

    def __init__(self, instruments: Sequence[InstrumentLimits], limits: AccountLimits | None = None, *, cash: float):
        limits = limits if limits is not None else AccountLimits()
        account = {f.name: getattr(limits, f.name) for f in fields(AccountLimits)}
        account["max_order_notional_global"] = account.pop("max_order_notional")
        account["daily_loss_action"] = _state_code(limits.daily_loss_action, "daily_loss_action")
        account["drawdown_action"] = _state_code(limits.drawdown_action, "drawdown_action")
        self._engine = _native.RiskEngine(
            cash=float(cash),
            tradable=np.ascontiguousarray([bool(i.tradable) for i in instruments], dtype=np.bool_),
            **{
                name: _column(instruments, name)
                for name in (f.name for f in fields(InstrumentLimits))
                if name != "tradable"
            },
            **account,
        )

    # --- state ---------------------------------------------------------------------------

    @property
    def n_instruments(self) -> int:
        return self._engine.n_instruments

    @property
    def state(self) -> str:
        return STATES[self._engine.state]

    @property
    def cause(self) -> str:
        return CAUSES[self._engine.cause]

    @property
    def cash(self) -> float:
        return self._engine.cash

    @property
    def equity(self) -> float:
        """Cash plus positions at their reference prices."""
        return self._engine.equity

    @property
    def gross(self) -> float:
        """Sum over instruments of worst-case |position| x reference."""
        return self._engine.gross

    @property
    def net(self) -> float:
        """Sum of position x reference (working orders not included)."""
        return self._engine.net

    @property
    def open_order_notional(self) -> float:
        return self._engine.open_order_notional

    def positions(self) -> FloatArray:
        """Signed position per instrument."""
        return self._engine.positions()

    def working(self) -> tuple[FloatArray, FloatArray]:
        """(working buy quantity, working sell quantity) per instrument."""
        return self._engine.working()

    def references(self) -> tuple[FloatArray, Int64Array]:
        """(reference price, its time in ns) per instrument; NaN and int64 min where none."""
        return self._engine.references()

    def open_orders(self) -> OpenOrders:
        return OpenOrders(*self._engine.open_orders())

    def submits_in_window(self, ts: int) -> int:
        """Accepted submits the throttle counts in its window ending at ``ts``."""
        return self._engine.submits_in_window(int(ts))

    # --- inputs --------------------------------------------------------------------------

    def set_reference(self, instrument: int, price: float, ts: int) -> bool:
        """Sets a reference price; a NaN, infinite or non-positive price is refused (False)
        and the old reference stands, growing stale."""
        return self._engine.set_reference(int(instrument), float(price), int(ts))

    def set_references(self, instrument: npt.ArrayLike, price: npt.ArrayLike, ts: npt.ArrayLike | int) -> int:
        """Sets many references at once (``ts`` may be one time); returns how many were taken."""
        inst = _i64(instrument)
        return self._engine.set_references(inst, _f64(price), _i64(ts, len(inst)))

    def set_position(self, instrument: int, qty: float) -> None:
        """Overwrites a position (restoring state, or adopting the broker's at reconciliation)."""
        self._engine.set_position(int(instrument), float(qty))

    def set_cash(self, cash: float) -> None:
        self._engine.set_cash(float(cash))

    def set_loss_baseline(self, day: int, day_start_equity: float, peak_equity: float, last_equity: float) -> None:
        """Restores the loss trips' memory: the UTC day number (ns // 86400e9) the figures
        belong to, that day's starting equity, the peak, and the equity at the last mark."""
        self._engine.set_loss_baseline(int(day), float(day_start_equity), float(peak_equity), float(last_equity))

    def set_state(self, state: str, cause: str = "manual") -> None:
        """Sets the trading state by hand; working orders stay (use :meth:`kill` to cancel them)."""
        if cause not in CAUSES:
            raise ValueError(f"cause must be one of {list(CAUSES)}, got {cause!r}")
        self._engine.set_state(_state_code(state, "state"), CAUSES.index(cause))

    # --- orders --------------------------------------------------------------------------

    def check(
        self, instrument: int, side: int, qty: float, *, price: float = math.nan, reduce_only: bool = False, ts: int
    ) -> str:
        """The decision an order would get, without booking it."""
        return REASONS[
            self._engine.check(int(instrument), int(side), float(qty), float(price), bool(reduce_only), int(ts))
        ]

    def submit(
        self, instrument: int, side: int, qty: float, *, price: float = math.nan, reduce_only: bool = False, ts: int
    ) -> Decision:
        """Checks one order; when accepted it is booked as working under the returned id."""
        code, order_id = self._engine.submit(
            int(instrument), int(side), float(qty), float(price), bool(reduce_only), int(ts)
        )
        return Decision(code, order_id)

    def submit_batch(
        self,
        instrument: npt.ArrayLike,
        side: npt.ArrayLike,
        qty: npt.ArrayLike,
        *,
        price: npt.ArrayLike | float = math.nan,
        reduce_only: npt.ArrayLike | bool = False,
        ts: npt.ArrayLike | int,
    ) -> tuple[npt.NDArray[np.uint8], Int64Array]:
        """Checks and books orders in turn, in one call (each sees the ones before it).

        Returns (reason codes, order ids; 0 where denied). Scalars broadcast.
        """
        inst = _i64(instrument)
        n = len(inst)
        return self._engine.submit_batch(
            inst,
            _array(side, np.int8, n),
            _f64(qty, n),
            _f64(price, n),
            _array(reduce_only, np.bool_, n),
            _i64(ts, n),
        )

    def adopt(
        self, instrument: int, side: int, qty: float, *, price: float = math.nan, reduce_only: bool = False
    ) -> int | None:
        """Books a working order without checking it (restoring the orders a broker still holds
        after a restart: they were checked when sent). Returns its id, or None for an order the
        engine cannot hold (unknown instrument, bad side, quantity or price)."""
        return self._engine.adopt(int(instrument), int(side), float(qty), float(price), bool(reduce_only))

    def modify(self, order_id: int, qty: float, *, price: float = math.nan, ts: int) -> str:
        """Replaces a working order's quantity and limit price; denied, the old order stands."""
        return REASONS[self._engine.modify(int(order_id), float(qty), float(price), int(ts))]

    def cancel(self, order_id: int) -> bool:
        """Cancels a working order (always allowed, HALTED included); False if not working."""
        return self._engine.cancel(int(order_id))

    def cancel_all(self) -> list[int]:
        return self._engine.cancel_all()

    def kill(self) -> list[int]:
        """The kill switch: HALTED (cause kill_switch) and every working order cancelled; returns
        the cancelled ids."""
        return self._engine.kill()

    def fill(self, order_id: int, qty: float, price: float, fee: float = 0.0) -> None:
        """Books a fill of a working order; raises ValueError for a fill it cannot book (unknown
        order, more than remains, NaN or non-positive quantity or price)."""
        self._engine.fill(int(order_id), float(qty), float(price), float(fee))

    def fill_batch(
        self, order_id: npt.ArrayLike, qty: npt.ArrayLike, price: npt.ArrayLike, fee: npt.ArrayLike | float = 0.0
    ) -> None:
        ids = _i64(order_id)
        self._engine.fill_batch(ids, _f64(qty), _f64(price), _f64(fee, len(ids)))

    def mark(self, ts: int) -> Mark:
        """Marks the book at its references at time ``ts``: a new UTC day resets the day's
        starting equity (and clears a daily-loss trip), the peak follows equity up, and the
        daily-loss and drawdown limits trip their actions. Trips only escalate the state."""
        equity, start, peak, state, cause, tripped, cleared = self._engine.mark(int(ts))
        return Mark(
            equity, start, peak, STATES[state], CAUSES[cause], CAUSES[tripped] if tripped >= 0 else None, cleared
        )

    def route_target_weights(
        self,
        ts: npt.ArrayLike,
        instrument: npt.ArrayLike,
        target: npt.ArrayLike,
        price: npt.ArrayLike,
        *,
        cost_rate: float = 0.0,
        min_trade_notional: float = 0.0,
        min_trade_weight: float = 0.0,
    ) -> Routed:
        """The backtest's path through this engine, in one call.

        Rows are (ts in ns, instrument, target weight, price), sorted by ts, one row per
        instrument and ts. Per ts: the references are set to the rows' prices, the book is
        marked (loss trips), each target weight becomes a target quantity at the current
        equity, the orders between held and target (whole lots, none under the no-trade
        threshold ``max(min_trade_notional, min_trade_weight x equity)``, a flip split into
        close then open) are checked with every closing order first, and each accepted order
        fills at the row's price paying ``cost_rate`` x notional. A row whose orders were all
        accepted and reach the target exactly keeps its target weight bit for bit; otherwise
        its weight is position x price / equity.

        Raises:
            ValueError: arrays of different lengths, rows not sorted by ts, two rows of one
                instrument at one ts, or a negative or non-finite cost or threshold.
        """
        return Routed(
            *self._engine.route_target_weights(
                _i64(ts),
                _i64(instrument),
                _f64(target),
                _f64(price),
                cost_rate=float(cost_rate),
                min_trade_notional=float(min_trade_notional),
                min_trade_weight=float(min_trade_weight),
            )
        )


class Legs(NamedTuple):
    """Orders planned by :func:`plan_legs`: one entry per leg, plus ``exact`` per input row."""

    row: Int64Array
    """The input row each leg belongs to (a flip has two legs: close, then open)."""
    side: npt.NDArray[np.int8]
    qty: FloatArray
    closing: npt.NDArray[np.bool_]
    """True when the leg only shrinks the current position."""
    exact: npt.NDArray[np.bool_]
    """Per input row: filling its legs reaches the target exactly (no lot rounding, no skip)."""


def plan_legs(
    current: npt.ArrayLike,
    target: npt.ArrayLike,
    lot_size: npt.ArrayLike | float,
    price: npt.ArrayLike,
    *,
    min_notional: npt.ArrayLike | float = 0.0,
) -> Legs:
    """The orders that move each ``current`` position toward its ``target`` (signed quantities).

    The same planner the backtest route uses: the traded quantity is ``|target - current|``
    rounded down to whole lots (so a plan never overshoots), nothing is traded when that is
    worth less than ``min_notional`` at ``price``, and a trade that crosses zero is split into a
    closing leg and an opening leg (a REDUCING engine can then let the closing leg through).
    A non-finite target or price, or a non-positive price, plans nothing for that row.
    """
    cur = _f64(current)
    n = len(cur)
    return Legs(
        *_native.plan_legs(cur, _f64(target, n), _f64(lot_size, n), _f64(price, n), min_notional=_f64(min_notional, n))
    )
