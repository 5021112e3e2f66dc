"""Property tests of the risk engine (hypothesis; the Rust side has its own proptests).

For random sequences of submits, modifies, cancels, fills, state changes and kills:
- the Rust engine and the plain-Python reference make the same decision, give the same reason
  code and order id, and hold the same positions, working orders, cash and state;
- no position, exposure, working notional or submit rate passes its limit (prices fixed, so
  fills happen at the reference and only market or marketable limit orders fill);
- HALTED never accepts an order, and every denial carries a named, non-zero code;
- any input at all (NaN, infinities, negative, unknown instruments, bad sides) is a decision.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from foxml_dagster.execution.reference import PyRiskEngine
from foxml_dagster.native.risk import REASONS, AccountLimits, InstrumentLimits, RiskEngine

SEC = 10**9
START = 1_700_000_000 * SEC
PRICES = [100.0, 50.0, 20.0]
CASH = 20_000.0
# Each instrument has its own binding limit, and two account-wide sets take turns: in one the
# gross, net and working-notional limits bind, in the other buying power, position weight and
# the throttles do.
INSTRUMENTS = [
    InstrumentLimits(lot_size=1, tick_size=0.01, max_order_notional=9_000, max_position_notional=8_000),
    InstrumentLimits(lot_size=1, tick_size=0.01, max_order_qty=120, max_position_qty=150),
    InstrumentLimits(lot_size=1, tick_size=0.01),
]
COMMON = {"collar": 0.05, "reference_max_age_ns": 3600 * SEC}
LIMIT_SETS = {
    "exposure": AccountLimits(
        max_order_notional=7_000,
        max_gross_notional=16_000,
        max_net_notional=10_000,
        max_open_order_notional=14_000,
        max_submits=20,
        submit_window_ns=SEC,
        max_modifies=10,
        modify_window_ns=SEC,
        **COMMON,
    ),
    "account": AccountLimits(
        max_position_weight=0.2,
        max_leverage=0.5,
        max_submits=6,
        submit_window_ns=SEC,
        max_modifies=1,
        modify_window_ns=SEC,
        **COMMON,
    ),
}
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def op_of(draw):
    """One operation, mostly valid orders and fills so sequences reach the limits; now and then
    a bad order (the next test throws arbitrary input at the engine), a state change or a kill."""
    roll = draw(st.integers(0, 99))
    if roll < 55:
        bad = draw(st.integers(0, 99)) < 8
        instrument = draw(st.sampled_from([-1, 3])) if bad else draw(st.integers(0, 2))
        side = draw(st.sampled_from([1, -1] if draw(st.integers(0, 99)) >= 5 else [0, 2]))
        qty = draw(st.sampled_from([math.nan, math.inf, -5.0, 0.0, 2.5]) if bad else st.integers(1, 120).map(float))
        offset = draw(st.floats(-0.06, 0.06)) if draw(st.integers(0, 99)) < 25 else None  # else market
        return ("submit", instrument, side, qty, offset, draw(st.integers(0, 99)) < 5)
    if roll < 80:
        return ("fill", draw(st.integers(0, 1000)), draw(st.floats(0.05, 1.0)))
    if roll < 88:
        return ("modify", draw(st.integers(0, 1000)), draw(st.integers(1, 120).map(float)))
    if roll < 94:
        return ("cancel", draw(st.integers(0, 1000)))
    if roll < 98:
        return ("state", draw(st.sampled_from(["active", "active", "reducing", "halted"])))
    return ("kill",)


ops = st.lists(st.tuples(op_of(), st.integers(0, 400_000_000)), min_size=20, max_size=120)


def pair(limits: AccountLimits) -> tuple[RiskEngine, PyRiskEngine]:
    native = RiskEngine(INSTRUMENTS, limits, cash=CASH)
    python = PyRiskEngine(INSTRUMENTS, limits, cash=CASH)
    for i, p in enumerate(PRICES):
        assert native.set_reference(i, p, START) and python.set_reference(i, p, START)
    return native, python


def limit_price(instrument: int, offset: float | None) -> float:
    if offset is None or not 0 <= instrument < len(PRICES):
        return math.nan
    return round(PRICES[instrument] * (1 + offset), 2)


def assert_same_books(native: RiskEngine, python: PyRiskEngine) -> None:
    assert native.state == python.state and native.cause == python.cause
    assert native.positions().tolist() == [python.position(i) for i in range(3)]
    buys, sells = native.working()
    assert list(zip(buys.tolist(), sells.tolist(), strict=True)) == [python.working(i) for i in range(3)]
    assert native.cash == python.cash
    assert native.equity == pytest.approx(python.equity, rel=1e-12, abs=1e-9)
    assert native.open_orders().order_id.tolist() == sorted(python.orders)


def assert_within_limits(native: RiskEngine, limits: AccountLimits) -> None:
    positions = native.positions()
    buys, sells = native.working()
    worst = np.maximum(np.abs(positions + buys), np.abs(positions - sells))
    value = worst * np.array(PRICES)
    slack = 1 + 1e-9
    assert (worst <= np.array([i.max_position_qty for i in INSTRUMENTS]) * slack).all()
    assert (value <= np.array([i.max_position_notional for i in INSTRUMENTS]) * slack).all()
    # Fills happen at the reference without fees, so equity stays at the starting cash.
    assert (value <= limits.max_position_weight * CASH * slack).all()
    assert value.sum() <= min(limits.max_gross_notional, limits.max_leverage * CASH) * slack
    orders = native.open_orders()
    working = orders.remaining * orders.price
    net = float((positions * np.array(PRICES)).sum())
    assert net + working[orders.side > 0].sum() <= limits.max_net_notional * slack
    assert net - working[orders.side < 0].sum() >= -limits.max_net_notional * slack
    assert working.sum() <= limits.max_open_order_notional * slack


def most_in_window(times: list[int], window: int) -> int:
    return max((sum(1 for t in times[: j + 1] if t > times[j] - window) for j in range(len(times))), default=0)


@pytest.mark.parametrize("limit_set", sorted(LIMIT_SETS))
@settings(PROPERTY, max_examples=100)  # long sequences: 100 each keeps the file near 15 s
@given(sequence=ops)
def test_rust_and_python_agree_and_no_sequence_breaks_a_limit(limit_set, sequence):
    limits = LIMIT_SETS[limit_set]
    native, python = pair(limits)
    now = START
    accepted_at: list[int] = []
    for op, dt in sequence:
        now += dt
        halted = native.state == "halted"
        kind = op[0]
        if kind == "submit":
            _, inst, side, qty, offset, reduce_only = op
            price = limit_price(inst, offset)
            got = native.submit(inst, side, qty, price=price, reduce_only=reduce_only, ts=now)
            want = python.submit(inst, side, qty, price, reduce_only, now)
            assert (got.code, got.order_id) == want, f"{op}: native {got.reason}, python {REASONS[want[0]]}"
            assert 0 <= got.code < len(REASONS)
            event(got.reason)
            if got.accepted:
                assert not halted, "HALTED accepted an order"
                accepted_at.append(now)
            else:
                assert got.code != 0 and got.order_id == 0 and REASONS[got.code] != "accepted"
        elif kind in ("fill", "modify", "cancel"):
            open_ids = native.open_orders().order_id.tolist()
            if not open_ids:
                continue
            order_id = open_ids[op[1] % len(open_ids)]
            if kind == "fill":
                orders = native.open_orders()
                k = open_ids.index(order_id)
                price = PRICES[int(orders.instrument[k])]
                limit, side = float(orders.limit[k]), int(orders.side[k])
                if side * (limit - price) < 0:
                    continue  # a limit order away from the (fixed) market price cannot fill
                qty = min(math.ceil(orders.remaining[k] * op[2]), orders.remaining[k])
                native.fill(order_id, qty, price)
                python.fill(order_id, qty, price)
            elif kind == "modify":
                orders = native.open_orders()
                limit = float(orders.limit[open_ids.index(order_id)])
                got = native.modify(order_id, op[2], price=limit, ts=now)
                assert got == REASONS[python.modify(order_id, op[2], limit, now)]
                assert got != "accepted" or not halted, "HALTED accepted a modify"
            else:
                assert native.cancel(order_id) and python.cancel(order_id)
        elif kind == "state":
            native.set_state(op[1])
            python.set_state(op[1])
        else:
            assert native.kill() == python.kill()
            assert native.open_orders().order_id.size == 0
        assert_same_books(native, python)
        assert_within_limits(native, limits)
    assert most_in_window(accepted_at, limits.submit_window_ns) <= limits.max_submits


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.integers(-(2**40), 2**40),
            st.integers(-128, 127),
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(allow_nan=True, allow_infinity=True),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_any_input_at_all_is_a_decision_with_a_code(orders):
    native, python = pair(LIMIT_SETS["exposure"])
    inst, side, qty, price, reduce_only = (list(column) for column in zip(*orders, strict=True))
    codes, ids = native.submit_batch(inst, side, qty, price=price, reduce_only=reduce_only, ts=START)
    assert ((codes == 0) == (ids > 0)).all()
    expected = [python.submit(*order, START) for order in orders]
    assert codes.tolist() == [code for code, _ in expected]


@PROPERTY
@given(
    st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=2, max_size=40),
    st.lists(st.floats(-0.06, 0.06), min_size=80, max_size=80),
)
def test_a_routed_backtest_never_grows_a_position_past_its_limit(weights, moves):
    engine = RiskEngine(
        [InstrumentLimits(lot_size=1, max_position_notional=30_000)] * 2,
        AccountLimits(max_gross_notional=45_000, max_daily_loss=0.04),
        cash=100_000,
    )
    prices = np.array([100.0, 20.0])
    for t, target in enumerate(weights):
        prices = prices * (1 + np.array(moves[2 * t : 2 * t + 2]))
        before = engine.positions()
        routed = engine.route_target_weights([t * 86_400 * SEC] * 2, [0, 1], list(target), prices)
        after = engine.positions()
        grew = np.abs(after) > np.abs(before)
        assert (np.abs(after[grew]) * prices[grew] <= 30_000 * (1 + 1e-9)).all()
        if grew.any():
            assert (np.abs(after) * prices).sum() <= 45_000 * (1 + 1e-9)
        assert np.isfinite(routed.weight).all()
        assert all(0 <= code < len(REASONS) for code in routed.reason.tolist())
        if routed.state[0] == 1:  # REDUCING: nothing grew
            assert not grew.any()


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.lists(st.floats(-0.12, 0.08), min_size=3, max_size=3),  # the bar's price moves
            st.lists(st.tuples(st.integers(0, 2), st.sampled_from([1, 1, -1]), st.integers(20, 120)), max_size=6),
            st.integers(0, 3),  # hours later; a new UTC day every few bars
        ),
        min_size=1,
        max_size=40,
    )
)
def test_rust_and_python_agree_on_marks_and_loss_trips(bars):
    limits = AccountLimits(max_daily_loss=0.02, daily_loss_action="reducing", max_drawdown=0.05, max_leverage=3.0)
    native = RiskEngine(INSTRUMENTS, limits, cash=CASH)
    python = PyRiskEngine(INSTRUMENTS, limits, cash=CASH)
    prices, now = list(PRICES), START
    for moves, orders, hours in bars:
        now += (hours * 8 + 1) * 3600 * SEC
        prices = [round(p * (1 + m), 2) for p, m in zip(prices, moves, strict=True)]
        for i, p in enumerate(prices):
            native.set_reference(i, p, now)
            python.set_reference(i, p, now)
        mark = native.mark(now)
        equity, state, cause, tripped = python.mark(now)
        assert (mark.state, mark.cause, mark.tripped) == (state, cause, tripped)
        assert mark.equity == pytest.approx(equity, rel=1e-12)
        if mark.tripped is not None:
            event(f"tripped {mark.tripped}")
        for inst, side, qty in orders:
            got = native.submit(inst, side, qty, ts=now)
            assert (got.code, got.order_id) == python.submit(inst, side, float(qty), math.nan, False, now)
            if got.accepted:  # filled at once, a little off the reference: equity moves
                price = round(prices[inst] * (1 + 0.001 * side), 2)
                native.fill(got.order_id, qty, price)
                python.fill(got.order_id, qty, price)
        assert_same_books(native, python)
