"""Execution: pre-trade risk (the Rust engine), order management, the journal and brokers.

- `config`: the experiment's `execution` section (`ExecutionConfig`).
- `risk`: the section's limits as a native engine for a universe of symbols.
- `backtest`: the backtest's route through the same engine (`run_backtest(..., execution=)`).
- `orders`: the order state machine, client order ids, the journal tables' schemas.
- `journal`: the append-only journal and what a restart rebuilds from it.
- `broker`: the interface every broker implements; `paper`: the built-in paper broker;
  `alpaca` and `ibkr`: Alpaca (alpaca-py) and Interactive Brokers (ib_async);
  `connect`: which broker, and the two switches of live trading; `pacing`: a request rate limit.
- `oms`: one execution cycle, from target weights to orders, fills and positions.
- `outbox`: accepted orders written down before they are sent, so a crash cannot hide one.
- `kill_switch`: the kill switch and resume requests as files under FOXML_HOME.
- `reference`: the same checks in plain Python (the benchmark's and tests' yardstick).
"""

from foxml_dagster.execution.config import ExecutionConfig, OrderSettings, PaperSettings, RiskConfig, SymbolRisk
from foxml_dagster.execution.journal import Journal
from foxml_dagster.execution.kill_switch import (
    engage_kill_switch,
    kill_switch_status,
    release_kill_switch,
    request_resume,
)
from foxml_dagster.execution.oms import CycleResult, run_cycle

__all__ = [
    "CycleResult",
    "ExecutionConfig",
    "Journal",
    "OrderSettings",
    "PaperSettings",
    "RiskConfig",
    "SymbolRisk",
    "engage_kill_switch",
    "kill_switch_status",
    "release_kill_switch",
    "request_resume",
    "run_cycle",
]
