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
    "AlpacaTrading",
    "ExecutionConfig",
    "IbkrTrading",
    "KillSwitchSettings",
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

    max: int = Field(0, ge=0, description="accepted messages in any window at most; 0: no throttle")
    per_seconds: float = Field(1.0, gt=0, description="length of the sliding window, in seconds")


class SymbolRisk(Settings):
    """Per-symbol overrides of the instrument limits (unset fields take the section's value)."""

    tradable: bool | None = Field(
        default=None, description="false: no order may trade the symbol; null: tradable unless in `restricted`"
    )
    lot_size: float | None = Field(
        default=None, ge=0, description="the symbol's lot size (0: fractional); null: the section's"
    )
    tick_size: float | None = Field(
        default=None, ge=0, description="the symbol's tick size (0: any price); null: the section's"
    )
    max_order_qty: float | None = _positive("largest quantity of one order; null: the section's")
    max_order_notional: float | None = _positive("largest notional of one order, in currency; null: no symbol cap")
    max_position_qty: float | None = _positive("largest worst-case |position|, in units; null: the section's")
    max_position_notional: float | None = _positive(
        "largest worst-case position value, in currency; null: the section's"
    )


class RiskConfig(Settings):
    """Pre-trade limits the Rust engine enforces on every order of every path."""

    restricted: list[str] = Field(default_factory=list, description="symbols no order may trade")
    lot_size: float = Field(1.0, ge=0, description="quantities in whole multiples of this; 0: fractional")
    tick_size: float = Field(0.01, ge=0, description="limit prices on this grid; 0: any price")
    max_order_qty: float | None = _positive("largest quantity of one order, per symbol; null: off")
    max_order_notional: float | None = Field(default=None, gt=0, description="firm-wide cap on one order")
    max_position_qty: float | None = _positive("largest worst-case |position| per symbol, in units; null: off")
    max_position_notional: float | None = _positive(
        "largest worst-case position value per symbol, in currency; null: off"
    )
    max_position_weight: float | None = Field(default=None, gt=0, description="fraction of equity per symbol")
    max_gross_notional: float | None = _positive(
        "largest sum of worst-case exposures across symbols, in currency; null: off"
    )
    max_net_notional: float | None = _positive(
        "largest |net exposure| (positions plus working orders in the order's direction), in currency; null: off"
    )
    max_open_order_notional: float | None = _positive(
        "largest total notional of working orders, in currency; null: off"
    )
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
    daily_loss_action: Literal["reducing", "halted"] = Field(
        "reducing",
        description="the state max_daily_loss trips until the next UTC day: reducing (only orders that shrink a "
        "position) or halted",
    )
    max_drawdown: float | None = Field(default=None, gt=0, lt=1, description="fraction of the peak equity")
    drawdown_action: Literal["reducing", "halted"] = Field(
        "halted", description="the state max_drawdown trips, held until a resume: reducing or halted"
    )
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

    order_type: Literal["market", "limit", "stop"] = Field(
        "market", description="market | limit (at limit_offset_bps) | stop (at stop_offset_bps)"
    )
    limit_offset_bps: float = Field(10.0, ge=0, description="limit orders: reference +/- this, on the tick grid")
    stop_offset_bps: float = Field(
        50.0, gt=0, description="stop orders: triggered this far past the reference (buy above, sell below)"
    )
    time_in_force: Literal["day", "gtc"] = Field(
        "day",
        description="day: unfilled at the end of its first trading day, it expires; gtc: works until filled"
        " or cancelled",
    )
    min_trade_notional: float = Field(100.0, ge=0, description="no-trade threshold in currency")
    min_trade_weight: float = Field(0.0, ge=0, lt=1, description="no-trade threshold as a fraction of equity")


class PaperSettings(Settings):
    """The built-in paper broker's market and account model."""

    fill_price: Literal["open", "close", "vwap"] = Field(
        "open",
        description="base price of a fill, from each bar after the order: open, close or vwap (the typical "
        "price where the bars have none)",
    )
    slippage_bps: float = Field(2.0, ge=0, description="fixed slippage against every fill, in basis points")
    impact_bps: float = Field(20.0, ge=0, description="extra cost at 100% of the bar's volume")
    impact_exponent: float = Field(
        0.5, gt=0, le=2, description="impact = impact_bps x participation ^ this (0.5: square-root impact)"
    )
    max_participation: float = Field(0.1, gt=0, le=1, description="fill at most this share of a bar's volume")
    fee_bps: float = Field(0.0, ge=0, description="fee on each fill's notional, in basis points")
    fee_per_share: float = Field(0.0, ge=0, description="fee per share (unit) filled, in currency")
    allow_short: bool = Field(True, description="false: a sale that opens or grows a short is rejected")
    leverage: float = Field(2.0, gt=0, description="the simulated account's margin: gross <= equity x this")


class AlpacaTrading(Settings):
    """Alpaca's trading API through alpaca-py; keys from the environment only, endpoint by mode.

    The keys are read from the variables named here, never from a file; the endpoint follows
    `execution.mode` (paper unless live)."""

    key_env: str = Field("APCA_API_KEY_ID", description="environment variable holding the API key id")
    secret_env: str = Field("APCA_API_SECRET_KEY", description="environment variable holding the secret key")
    url_override: str | None = Field(
        default=None, description="another REST endpoint (a proxy or a test server) instead of Alpaca's"
    )
    stream_url_override: str | None = Field(
        default=None, description="another trade-updates websocket (wss://...) instead of Alpaca's"
    )
    stream: bool = Field(True, description="listen to the trade-updates stream while orders work")
    max_requests_per_minute: int = Field(
        190, ge=1, description="REST requests per minute at most (Alpaca allows 200 per account)"
    )
    max_attempts: int = Field(4, ge=1, description="per request, counting the first; 429 and 5xx are retried")
    retry_wait_seconds: float = Field(2.0, ge=0, description="between attempts (a 429's Retry-After wins)")
    timeout_seconds: float = Field(15.0, gt=0, description="per HTTP request")


class IbkrTrading(Settings):
    """Interactive Brokers through ib_async and a running TWS or IB Gateway."""

    host: str = Field("127.0.0.1", description="where TWS / IB Gateway listens")
    port: int = Field(7497, ge=1, le=65535, description="TWS paper 7497, live 7496; IB Gateway paper 4002, live 4001")
    client_id: int = Field(
        23, ge=0, description="unique among the programs connected to that TWS (the data source uses 17)"
    )
    account: str | None = Field(default=None, description="the IB account code; required when TWS manages several")
    sec_type: Literal["STK", "CRYPTO", "CASH"] = Field("STK", description="the contracts' kind, as for the data source")
    exchange: str | None = Field(default=None, description="None: SMART (STK), PAXOS (CRYPTO), IDEALPRO (CASH)")
    primary_exchange: str | None = Field(default=None, description="STK only: settles an ambiguous symbol")
    currency: str = Field("USD", description="the quote currency when a symbol does not name one")
    fractional: bool = Field(
        False, description="send fractional quantities (only accounts and contracts IB enables for them)"
    )
    timeout_seconds: float = Field(10.0, gt=0, description="connecting, and waiting for each answer")
    messages_per_second: int = Field(
        40, ge=1, le=50, description="outgoing API messages per second at most (IB disconnects above 50)"
    )
    reconnect_attempts: int = Field(3, ge=0, description="after a dropped connection, before the call fails")
    reconnect_wait_seconds: float = Field(2.0, ge=0, description="between reconnect attempts")


class KillSwitchSettings(Settings):
    """What the kill switch does at the broker besides halting trading."""

    cancel: Literal["all", "journal"] = Field(
        "all", description="all: every open order of the account; journal: the orders this platform sent"
    )
    flatten: bool = Field(False, description="also close every position with market orders")


class ExecutionConfig(Settings):
    """Account, broker, orders and risk for the execution stage (and for a routed backtest)."""

    capital: float = Field(
        100_000.0,
        gt=0,
        description="starting cash of a new paper account and of a routed backtest, in the account's currency",
    )
    account: str = Field(
        "paper",
        min_length=1,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="name of the account: its paper state file, outbox and journal rows (letters, digits, _ . -)",
    )
    broker: Literal["paper", "alpaca", "ibkr"] = Field(
        "paper", description="paper: the built-in simulator; alpaca or ibkr: their paper or live accounts"
    )
    mode: Literal["paper", "live"] = Field(
        "paper", description="live: real money; also needs FOXML_LIVE_TRADING=I_UNDERSTAND in the run's environment"
    )
    reconcile: Literal["halt", "adopt"] = Field(
        "halt",
        description="when the journal and the broker differ: halt trading until resume_trading, or adopt the "
        "broker's positions and open orders",
    )
    settle_seconds: float = Field(
        10.0, ge=0, description="real brokers: how long a cycle waits for its orders to fill before it snapshots"
    )
    orders: OrderSettings = Field(default_factory=OrderSettings)
    paper: PaperSettings = Field(default_factory=PaperSettings)
    alpaca: AlpacaTrading = Field(default_factory=AlpacaTrading)
    ibkr: IbkrTrading = Field(default_factory=IbkrTrading)
    kill_switch: KillSwitchSettings = Field(default_factory=KillSwitchSettings)
    risk: RiskConfig = Field(default_factory=RiskConfig)

    @model_validator(mode="before")
    @classmethod
    def _live_is_a_mode(cls, data: object) -> object:
        if isinstance(data, dict) and "live" in data:
            raise ValueError(
                "execution.live is now execution.mode: write `mode: live` (or `mode: paper`); live trading "
                "also needs FOXML_LIVE_TRADING=I_UNDERSTAND in the run's environment"
            )
        return data

    @model_validator(mode="after")
    def _live_needs_a_live_broker(self) -> ExecutionConfig:
        if self.mode == "live" and self.broker == "paper":
            raise ValueError(
                "mode: live with broker: paper; the built-in paper broker never trades real money: "
                "set broker: alpaca or ibkr to trade live, or keep mode: paper"
            )
        return self

    @property
    def live(self) -> bool:
        """True where real money moves (mode: live)."""
        return self.mode == "live"
