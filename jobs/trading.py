"""Trading as jobs, so the UI, schedules and `dagster job launch` can reach them.

`trading` runs one execution cycle (the four execution assets) on the signals and bars already
in the lake: what a schedule runs during market hours. The controls run the same cycle with an
operator switch set:

- `kill_switch`: engages the kill switch (the flag file under $FOXML_HOME/trading, see
  foxml_dagster.execution.kill_switch), so the cycle halts trading, cancels every working
  order at the broker and journals it; every later cycle stays halted until it is released.
- `resume_trading`: releases the kill switch and asks the cycle to clear a daily-loss,
  drawdown or reconciliation halt.

Edit `reason` in the launchpad; it is journaled with the event.
"""

import dagster as dg

EXECUTION_ASSETS = dg.AssetSelection.assets("orders", "fills", "positions", "risk_events")


def _switch(**flags) -> dict:
    return {"ops": {"execution": {"config": flags}}}


trading = dg.define_asset_job(
    "trading",
    selection=EXECUTION_ASSETS,
    config=_switch(kill_switch=False, resume=False, reason=""),
    description="One execution cycle on the latest stored signals and bars: reconcile with the broker, "
    "check the plan's orders with the risk engine, send them (paper, Alpaca or IBKR per execution.broker; "
    "live only with execution.mode: live and FOXML_LIVE_TRADING=I_UNDERSTAND), journal and reconcile "
    "again. Its run tags say the mode (foxml/trading_mode) and broker.",
)

kill_switch = dg.define_asset_job(
    "kill_switch",
    selection=EXECUTION_ASSETS,
    config=_switch(kill_switch=True, resume=False, reason="kill switch engaged from the UI"),
    description="Kill switch: HALT trading and cancel every open order at the broker (and flatten the "
    "book with execution.kill_switch.flatten), now and in every later cycle until resume_trading runs "
    "(or the flag file is removed).",
)

resume_trading = dg.define_asset_job(
    "resume_trading",
    selection=EXECUTION_ASSETS,
    config=_switch(kill_switch=False, resume=True, reason="resumed from the UI"),
    description="Release the kill switch and clear a loss-limit or reconciliation halt (a reconciliation "
    "halt's differences are acknowledged: the broker's positions and orders are adopted); the cycle then "
    "trades the latest signals again.",
)
