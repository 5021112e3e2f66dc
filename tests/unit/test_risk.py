"""The risk engine through its Python facade: worked examples, bad input, the backtest route."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from foxml_dagster.backtest import BacktestConfig, run_backtest
from foxml_dagster.execution import ExecutionConfig, RiskConfig
from foxml_dagster.execution.backtest import route_weights
from foxml_dagster.execution.config import OrderSettings, SymbolRisk, Throttle
from foxml_dagster.execution.risk import account_limits, build_engine, instrument_limits, to_ns
from foxml_dagster.native.risk import REASONS, AccountLimits, InstrumentLimits, RiskEngine, plan_legs

NOW = to_ns(datetime(2024, 5, 1, 14, tzinfo=UTC))
SEC = 10**9
DAY = 86_400 * SEC


def engine(limits: AccountLimits | None = None, cash: float = 100_000.0, **instrument) -> RiskEngine:
    e = RiskEngine([InstrumentLimits(**instrument)] * 2, limits, cash=cash)
    e.set_references([0, 1], [100.0, 50.0], NOW)
    return e


def test_an_order_within_every_limit_is_accepted_and_booked_as_working():
    e = engine()
    decision = e.submit(0, 1, 10, ts=NOW)
    assert (decision.accepted, decision.reason, decision.order_id) == (True, "accepted", 1)
    assert e.open_order_notional == 1_000.0
    assert e.open_orders().remaining.tolist() == [10.0]


@pytest.mark.parametrize(
    ("instrument", "side", "qty", "price", "reason"),
    [
        (7, 1, 1.0, math.nan, "unknown_instrument"),
        (-1, 1, 1.0, math.nan, "unknown_instrument"),
        (0, 0, 1.0, math.nan, "invalid_side"),
        (0, 2, 1.0, math.nan, "invalid_side"),
        (0, 1, math.nan, math.nan, "invalid_quantity"),
        (0, 1, math.inf, math.nan, "invalid_quantity"),
        (0, 1, -3.0, math.nan, "invalid_quantity"),
        (0, 1, 0.0, math.nan, "invalid_quantity"),
        (0, 1, 1.0, -10.0, "invalid_price"),
        (0, 1, 1.0, math.inf, "invalid_price"),
        (0, 1, 1.0, 0.0, "invalid_price"),
    ],
)
def test_bad_input_is_a_denial_with_a_code_never_a_crash(instrument, side, qty, price, reason):
    e = engine()
    assert e.submit(instrument, side, qty, price=price, ts=NOW).reason == reason
    assert e.open_orders().order_id.size == 0


def test_each_instrument_rule_names_its_reason():
    e = engine(
        AccountLimits(max_order_notional=20_000, collar=0.05, reference_max_age_ns=60 * SEC),
        lot_size=10,
        tick_size=0.05,
        max_order_qty=500,
        max_order_notional=30_000,
    )
    assert e.submit(0, 1, 15, ts=NOW).reason == "lot_size"
    assert e.submit(0, 1, 10, price=100.02, ts=NOW).reason == "tick_size"
    assert e.submit(0, 1, 10, price=106.0, ts=NOW).reason == "price_collar"
    assert e.submit(1, 1, 510, ts=NOW).reason == "max_order_qty"
    assert e.submit(0, 1, 310, ts=NOW).reason == "max_order_notional"
    assert e.submit(0, 1, 210, ts=NOW).reason == "max_order_notional_global"
    assert e.submit(0, 1, 10, ts=NOW + 61 * SEC).reason == "reference_stale"
    assert e.submit(0, 1, 10, price=104.95, ts=NOW).reason == "accepted"


def test_a_restricted_symbol_and_a_missing_reference_reject():
    risk = RiskConfig(restricted=["BAD"])
    e = build_engine(risk, ["BAD", "GOOD", "NEW"], cash=1e5)
    e.set_references([0, 1], [10.0, 10.0], NOW)
    assert e.submit(0, 1, 1, ts=NOW).reason == "restricted"
    assert e.submit(2, 1, 1, ts=NOW).reason == "reference_missing"
    assert not e.set_reference(2, math.nan, NOW)
    assert e.submit(2, 1, 1, ts=NOW).reason == "reference_missing"
    assert e.submit(1, 1, 1, ts=NOW).reason == "accepted"


@pytest.mark.parametrize(
    ("limits", "instrument", "orders", "reason"),
    [
        # limits, instrument limits, orders left working, (the order one lot over its limit, reason)
        (AccountLimits(), {"max_position_qty": 100}, [(0, 1, 60)], ((0, 1, 41), "max_position_qty")),
        (AccountLimits(), {"max_position_notional": 25_000}, [(0, 1, 200)], ((0, 1, 51), "max_position_notional")),
        (AccountLimits(max_position_weight=0.2), {}, [(0, 1, 199)], ((0, 1, 2), "max_position_weight")),
        (AccountLimits(max_gross_notional=20_000), {}, [(0, 1, 150)], ((1, -1, 101), "gross_exposure")),
        (AccountLimits(max_net_notional=15_000), {}, [(0, 1, 100)], ((1, 1, 101), "net_exposure")),
        (AccountLimits(max_open_order_notional=10_000), {}, [(0, 1, 60)], ((1, -1, 81), "open_order_notional")),
        (AccountLimits(max_leverage=0.5), {}, [(0, 1, 300)], ((1, -1, 401), "buying_power")),
    ],
)
def test_exposure_limits_count_working_orders_and_name_the_limit(limits, instrument, orders, reason):
    """Each order before is accepted and left working; the next one would pass its limit."""
    e = engine(limits, **instrument)
    for inst, side, qty in orders:
        assert e.submit(inst, side, qty, ts=NOW).accepted
    (inst, side, qty), expected = reason
    assert e.submit(inst, side, qty, ts=NOW).reason == expected
    # One lot less fits exactly at the limit.
    assert e.submit(inst, side, qty - 1, ts=NOW).accepted


def test_an_order_that_shrinks_a_breached_exposure_passes():
    e = engine(AccountLimits(max_gross_notional=20_000))
    order = e.submit(0, 1, 150, ts=NOW)
    e.fill(order.order_id, 150, 100.0)
    e.set_reference(0, 200.0, NOW)  # 30k: over the limit after a price move
    assert e.submit(0, 1, 1, ts=NOW).reason == "gross_exposure"
    assert e.submit(0, -1, 50, ts=NOW).accepted


def test_throttles_count_accepted_submits_in_a_sliding_window():
    e = engine(AccountLimits(max_submits=2, submit_window_ns=SEC))
    assert [e.submit(0, 1, 1, ts=NOW + k).reason for k in range(3)] == ["accepted", "accepted", "submit_rate"]
    assert e.submits_in_window(NOW + 2) == 2
    assert e.submit(0, 1, 1, ts=NOW + SEC).accepted  # the first left the window


def test_reducing_state_lets_only_shrinking_orders_through():
    e = engine()
    first = e.submit(0, 1, 10, ts=NOW)
    e.fill(first.order_id, 10, 100.0)
    e.set_state("reducing")
    assert e.submit(0, 1, 1, ts=NOW).reason == "reducing"
    assert e.submit(0, -1, 11, ts=NOW).reason == "reducing"  # would flip short
    assert e.submit(0, -1, 10, ts=NOW).accepted
    with pytest.raises(ValueError, match="state must be one of"):
        e.set_state("paused")


def test_the_kill_switch_halts_cancels_and_lets_only_cancels_through():
    e = engine()
    ids = [e.submit(0, 1, 1, ts=NOW).order_id for _ in range(3)]
    assert e.kill() == ids
    assert (e.state, e.cause, e.open_order_notional) == ("halted", "kill_switch", 0.0)
    assert e.submit(0, -1, 1, ts=NOW).reason == "halted"
    codes, order_ids = e.submit_batch([0, 1], [1, -1], [1, 1], ts=NOW)
    assert [REASONS[c] for c in codes] == ["halted", "halted"] and order_ids.tolist() == [0, 0]


def test_a_daily_loss_trips_reducing_until_the_next_day_and_a_drawdown_halts():
    e = engine(AccountLimits(max_daily_loss=0.03, max_drawdown=0.08))
    buy = e.submit(0, 1, 800, ts=NOW)
    e.fill(buy.order_id, 800, 100.0)  # 80k of 100k equity in one stock
    assert e.mark(NOW).tripped is None
    e.set_reference(0, 95.0, NOW + 3600 * SEC)  # -4k: 4% of the day's start
    mark = e.mark(NOW + 3600 * SEC)
    assert (mark.tripped, mark.state, mark.cause) == ("daily_loss", "reducing", "daily_loss")
    assert e.mark(NOW + DAY).state == "active"
    e.set_reference(0, 89.0, NOW + DAY + SEC)  # 91.2k: 8.8% below the 100k peak
    mark = e.mark(NOW + DAY + SEC)
    assert (mark.state, mark.cause, mark.tripped) == ("halted", "drawdown", "drawdown")


def test_fills_that_cannot_be_booked_raise_with_the_order_named():
    e = engine()
    order = e.submit(0, 1, 5, ts=NOW)
    with pytest.raises(ValueError, match=f"fill of order {order.order_id}: 6 is more than the 5"):
        e.fill(order.order_id, 6, 100.0)
    with pytest.raises(ValueError, match="no such working order"):
        e.fill(999, 1, 100.0)
    with pytest.raises(ValueError, match="fill 1: fill of order 1: price must be finite"):
        e.fill_batch([order.order_id, order.order_id], [1, 1], [100.0, math.nan])


def test_invalid_limits_are_refused_naming_the_field():
    with pytest.raises(ValueError, match="max_gross_notional must be > 0"):
        RiskEngine([InstrumentLimits()], AccountLimits(max_gross_notional=-5), cash=1.0)
    with pytest.raises(ValueError, match="instrument 0: lot_size"):
        RiskEngine([InstrumentLimits(lot_size=math.nan)], cash=1.0)
    with pytest.raises(ValueError, match="daily_loss_action must be one of"):
        RiskEngine([InstrumentLimits()], AccountLimits(daily_loss_action="paused"), cash=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must have length|aligned"):
        engine().submit_batch([0, 1], [1], [1, 1], ts=NOW)


def test_config_resolves_symbol_overrides_and_the_firm_wide_cap():
    risk = RiskConfig(
        lot_size=1,
        max_position_notional=10_000,
        max_order_notional=5_000,
        symbols={"BTC": SymbolRisk(lot_size=0.0001, max_position_notional=20_000, max_order_notional=2_000)},
        restricted=["XYZ"],
        reference_max_age=timedelta(minutes=5),
        submit_throttle=Throttle(max=10, per_seconds=2),
    )
    assert instrument_limits(risk, "AAPL") == InstrumentLimits(lot_size=1, tick_size=0.01, max_position_notional=10_000)
    btc = instrument_limits(risk, "BTC")
    assert (btc.lot_size, btc.max_position_notional, btc.max_order_notional) == (0.0001, 20_000, 2_000)
    assert not instrument_limits(risk, "XYZ").tradable
    acct = account_limits(risk)
    assert (acct.max_order_notional, acct.reference_max_age_ns, acct.max_submits, acct.submit_window_ns) == (
        5_000,
        300 * SEC,
        10,
        2 * SEC,
    )
    assert account_limits(risk, throttles=False).max_submits == 0
    with pytest.raises(ValueError, match="restricted"):
        RiskConfig(restricted=["A"], symbols={"A": SymbolRisk(tradable=True)})


def test_plans_trade_whole_lots_skip_small_trades_and_split_flips():
    legs = plan_legs([0, 100, 100, 10], [257, 104, -50, 10], [100, 1, 1, 1], [10, 10, 10, 10], min_notional=50)
    assert legs.row.tolist() == [0, 2, 2]
    assert legs.qty.tolist() == [200.0, 100.0, 50.0]
    assert legs.side.tolist() == [1, -1, -1]
    assert legs.closing.tolist() == [False, True, False]
    assert legs.exact.tolist() == [False, False, True, True]


# --- the backtest route ----------------------------------------------------------------------


def panel_of(weights: dict[str, list[float]], prices: dict[str, list[float]]) -> pl.DataFrame:
    start = datetime(2024, 1, 2, tzinfo=UTC)
    rows = [(s, start + timedelta(days=t), w, prices[s][t]) for s, ws in weights.items() for t, w in enumerate(ws)]
    return pl.DataFrame(
        rows,
        schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "w": pl.Float64, "close": pl.Float64},
        orient="row",
    )


def unrestricted(**risk) -> ExecutionConfig:
    return ExecutionConfig(risk=RiskConfig(lot_size=0, **risk), orders=OrderSettings(min_trade_notional=0))


def test_routing_changes_nothing_where_no_limit_binds():
    panel = panel_of({"A": [0.2, 0.3, 0.0], "B": [-0.1, 0.1, 0.25]}, {"A": [10, 11, 12], "B": [20, 19, 21]})
    routed = route_weights(panel, unrestricted(), cost_bps=5)
    assert routed["w"].to_list() == panel["w"].to_list()
    assert routed["risk_denied"].sum() == 0 and routed["risk_reason"].null_count() == routed.height
    assert route_weights(panel, None, cost_bps=5) is panel


def test_routing_holds_the_old_position_where_a_limit_denies_the_order():
    panel = panel_of({"A": [0.2, 0.4], "B": [0.3, 0.3]}, {"A": [10.0, 10.0], "B": [20.0, 20.0]})
    routed = route_weights(panel, unrestricted(max_position_notional=25_000), cost_bps=0)
    assert routed.select("symbol", "ts").equals(panel.select("symbol", "ts")), "rows keep their order"
    # 100k of capital: A at 0.2 (20k) fits, 0.4 does not; B at 0.3 (30k) never does.
    assert routed["risk_reason"].to_list() == [None, *["max_position_notional"] * 3]
    assert routed["w"].to_list() == pytest.approx([0.2, 0.2, 0.0, 0.0])
    assert routed["risk_denied"].to_list() == [0, 1, 1, 1]


def test_run_backtest_routed_reports_denials_and_keeps_its_columns():
    n = 30
    ts = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i) for i in range(n)]
    close = 100 * np.cumprod(1 + np.where(np.arange(n) == 10, -0.2, 0.001))
    bars = pl.DataFrame({"symbol": "A", "ts": ts, "close": close}).cast({"ts": pl.Datetime("us", "UTC")})
    signals = bars.select("symbol", "ts", pl.lit(0.9).alias("target_weight"))
    plain = run_backtest(signals, bars, BacktestConfig(cost_bps=0))
    config = ExecutionConfig(
        risk=RiskConfig(lot_size=0, max_drawdown=0.1, drawdown_action="reducing"),
        orders=OrderSettings(min_trade_notional=0),
    )
    routed = run_backtest(signals, bars, BacktestConfig(cost_bps=0), execution=config)
    assert routed.columns == [*plain.columns, "risk_denied"]
    # Before the drop nothing binds, and the routed series is the plain one bit for bit.
    assert routed.select(plain.columns).head(10).equals(plain.head(10))
    # The 20% drop trips the 10% drawdown limit (REDUCING): re-levering to 0.9 of the smaller
    # equity means buying, which is denied every bar after; the book holds its shares instead.
    assert routed["risk_denied"].to_list() == [0] * 10 + [1] * (n - 10)
    assert routed["gross_exposure"][10] < 0.9 and plain["gross_exposure"][10] == pytest.approx(0.9)
