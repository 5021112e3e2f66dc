"""Which broker a cycle trades through, and the two switches live trading needs.

Live trading cannot happen by accident: `execution.mode: live` in the experiment *and*
`FOXML_LIVE_TRADING=I_UNDERSTAND` in the environment of the process that trades. A config edit
alone, or a variable left set in a shell, trades paper. Paper is also what the brokers are told:
Alpaca's paper endpoint, and an IB login that must be a paper account.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from foxml_dagster.execution.broker import Broker, close_broker
from foxml_dagster.execution.config import ExecutionConfig
from foxml_dagster.execution.outbox import Outbox, outbox_path
from foxml_dagster.execution.paper import PaperBroker
from foxml_dagster.execution.risk import instrument_limits

__all__ = [
    "LIVE_CONFIRMATION",
    "LIVE_ENV",
    "TradingMode",
    "cancel_all_at_broker",
    "make_broker",
    "make_outbox",
    "paper_account_path",
    "trading_mode",
]

log = logging.getLogger(__name__)

#: The second switch of live trading, beside `execution.mode: live` in the experiment.
LIVE_ENV = "FOXML_LIVE_TRADING"
#: What it must say: a word no one types by chance (`1` or `true` do not count).
LIVE_CONFIRMATION = "I_UNDERSTAND"


@dataclass(frozen=True)
class TradingMode:
    """What a run trades: `mode` (paper | live), the broker, and where its orders go."""

    mode: str
    broker: str
    venue: str

    def describe(self) -> str:
        return f"{self.mode.upper()} trading through {self.broker} ({self.venue})"


def trading_mode(config: ExecutionConfig) -> TradingMode:
    """The mode a run with this config trades in, after checking both switches: live mode
    without `FOXML_LIVE_TRADING=I_UNDERSTAND` is a PermissionError naming what to set."""
    if config.mode == "live":
        said = os.environ.get(LIVE_ENV)
        if said != LIVE_CONFIRMATION:
            found = "not set" if said is None else "set to something else"
            raise PermissionError(
                f"execution.mode is live but {LIVE_ENV} is {found}: live trading needs both switches. To trade "
                f"real money, export {LIVE_ENV}={LIVE_CONFIRMATION} in the environment of the process that "
                "trades (the Dagster daemon's run workers, or foxml); to trade paper, set execution.mode: paper"
            )
    elif os.environ.get(LIVE_ENV):
        log.warning("%s is set but execution.mode is paper: trading PAPER", LIVE_ENV)
    if config.broker == "alpaca":
        venue = config.alpaca.url_override or ("Alpaca live API" if config.live else "Alpaca paper API")
    elif config.broker == "ibkr":
        venue = f"TWS / IB Gateway at {config.ibkr.host}:{config.ibkr.port}"
    else:
        venue = f"simulated account {config.account}"
    return TradingMode(mode=config.mode, broker=config.broker, venue=venue)


def paper_account_path(config: ExecutionConfig, home: Path) -> Path:
    return home / "paper" / f"{config.account}.json"


def make_broker(config: ExecutionConfig, *, market: pl.DataFrame, home: Path) -> Broker:
    """The configured broker, after the live switches (`trading_mode`). Paper needs nothing;
    Alpaca reads its keys from the environment; IBKR connects to TWS / IB Gateway now."""
    mode = trading_mode(config)
    symbols = market["symbol"].cast(pl.String).unique().to_list()
    if config.broker == "alpaca":
        from foxml_dagster.execution.alpaca import AlpacaBroker

        return AlpacaBroker(config.alpaca, live=config.live, symbols=symbols)
    if config.broker == "ibkr":
        from foxml_dagster.execution.ibkr import IbkrBroker

        return IbkrBroker(config.ibkr, live=config.live, symbols=symbols)
    if mode.mode != "paper":  # the config refuses this; a constructed config must not slip through
        raise PermissionError("the built-in paper broker never trades live")
    lots = {s: instrument_limits(config.risk, s).lot_size for s in symbols}
    return PaperBroker(
        config.paper,
        capital=config.capital,
        market=market,
        lots=lots,
        default_lot=config.risk.lot_size,
        path=paper_account_path(config, home),
    )


def cancel_all_at_broker(config: ExecutionConfig, home: Path) -> tuple[TradingMode, int]:
    """Cancels every open order at the configured broker now, outside any cycle (what
    `foxml kill-switch engage --now` does when Dagster may be down). The journal learns of the
    cancellations in the next cycle's sync. Returns the mode and how many orders were open."""
    mode = trading_mode(config)
    empty = pl.DataFrame(
        schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC")}
        | {c: pl.Float64 for c in ("open", "high", "low", "close", "volume")}
    )
    broker = make_broker(config, market=empty, home=home)
    try:
        return mode, len(broker.cancel_all())
    finally:
        close_broker(broker)


def make_outbox(config: ExecutionConfig, home: Path) -> Outbox:
    """The account's outbox under `$FOXML_HOME/trading/`."""
    return Outbox(outbox_path(home, config.account))
