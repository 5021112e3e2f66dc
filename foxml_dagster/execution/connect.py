"""Which broker a cycle trades through, and the two switches live trading needs."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from foxml_dagster.execution.broker import Broker
from foxml_dagster.execution.config import ExecutionConfig
from foxml_dagster.execution.paper import PaperBroker
from foxml_dagster.execution.risk import instrument_limits

__all__ = ["LIVE_ENV", "make_broker", "paper_account_path"]

#: The second switch of live trading, beside `execution.live: true` in the experiment.
LIVE_ENV = "FOXML_LIVE_TRADING"


def paper_account_path(config: ExecutionConfig, home: Path) -> Path:
    return home / "paper" / f"{config.account}.json"


def make_broker(config: ExecutionConfig, *, market: pl.DataFrame, home: Path) -> Broker:
    """The configured broker. Paper needs nothing; live money needs both `execution.live: true`
    and the environment variable FOXML_LIVE_TRADING=1, so neither a config edit nor a stray
    variable alone can send real orders."""
    if config.live and os.environ.get(LIVE_ENV) != "1":
        raise PermissionError(
            f"execution.live is true but {LIVE_ENV} is not 1: live trading needs both switches; "
            f"export {LIVE_ENV}=1 in the environment of the run to trade real money"
        )
    symbols = market["symbol"].cast(pl.String).unique().to_list()
    lots = {s: instrument_limits(config.risk, s).lot_size for s in symbols}
    return PaperBroker(
        config.paper,
        capital=config.capital,
        market=market,
        lots=lots,
        default_lot=config.risk.lot_size,
        path=paper_account_path(config, home),
    )
