"""Order planning: deterministic ids, risk decisions with reasons, a flat account's orders."""

from datetime import UTC, datetime

import polars as pl

from foxml_dagster.execution import plan_orders

TS = datetime(2024, 5, 1, tzinfo=UTC)


def frames(weights: dict[str, float], prices: dict[str, float]):
    signals = pl.DataFrame(
        {"symbol": list(weights), "ts": [TS] * len(weights), "target_weight": list(weights.values())}
    )
    bars = pl.DataFrame({"symbol": list(prices), "ts": [TS] * len(prices), "close": list(prices.values())})
    cast = {"ts": pl.Datetime("us", "UTC")}
    return signals.cast(cast), bars.cast(cast)


def test_orders_move_a_flat_account_to_the_target_weights():
    signals, bars = frames({"AAA": 0.2, "BBB": -0.1}, {"AAA": 50.0, "BBB": 20.0})
    orders = plan_orders(signals, bars, capital=10_000, max_symbol_weight=0.25)
    assert orders.select("symbol", "side", "qty", "risk_decision").rows() == [
        ("AAA", "buy", 40, "accept"),
        ("BBB", "sell", 50, "accept"),
    ]


def test_client_order_ids_are_deterministic_so_a_rerun_cannot_double_order():
    signals, bars = frames({"AAA": 0.2}, {"AAA": 50.0})
    a = plan_orders(signals, bars, capital=10_000, max_symbol_weight=0.25)
    b = plan_orders(signals, bars, capital=10_000, max_symbol_weight=0.25)
    assert a["client_order_id"].to_list() == b["client_order_id"].to_list()
    other = plan_orders(signals, bars, capital=20_000, max_symbol_weight=0.25)
    assert other["client_order_id"][0] != a["client_order_id"][0]


def test_risk_rejects_oversized_orders_and_orders_without_a_price():
    signals, bars = frames({"AAA": 0.9, "BBB": 0.1, "CCC": 0.0001}, {"AAA": 10.0, "CCC": 10.0})
    orders = plan_orders(signals, bars, capital=10_000, max_symbol_weight=0.25)
    decisions = dict(
        zip(orders["symbol"], zip(orders["risk_decision"], orders["risk_reason"], strict=True), strict=True)
    )
    assert decisions == {
        "AAA": ("reject", "notional_over_symbol_limit"),
        "BBB": ("reject", "no_reference_price"),
        "CCC": ("skip", "below_one_share"),
    }
    assert set(orders.filter(pl.col("risk_decision") != "accept")["status"]) == {"not_sent"}
