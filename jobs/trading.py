"""Trading controls as jobs, so the UI (and `dagster job launch`) can reach them.

Both run the execution cycle (the four execution assets) with an operator switch set:

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


kill_switch = dg.define_asset_job(
    "kill_switch",
    selection=EXECUTION_ASSETS,
    config=_switch(kill_switch=True, resume=False, reason="kill switch engaged from the UI"),
    description="Kill switch: HALT trading and cancel every working order at the broker, now and in "
    "every later cycle until resume_trading runs (or the flag file is removed).",
)

resume_trading = dg.define_asset_job(
    "resume_trading",
    selection=EXECUTION_ASSETS,
    config=_switch(kill_switch=False, resume=True, reason="resumed from the UI"),
    description="Release the kill switch and clear a loss-limit or reconciliation halt; the cycle "
    "then trades the latest signals again.",
)
