"""execution: the latest signals through the Rust risk engine to the broker; the journal."""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster.execution import Journal, run_cycle
from foxml_dagster.execution.broker import close_broker
from foxml_dagster.execution.connect import make_broker, make_outbox, trading_mode
from foxml_dagster.execution.journal import TABLES
from foxml_dagster.execution.kill_switch import (
    engage_kill_switch,
    kill_switch_status,
    release_kill_switch,
    request_resume,
    take_resume_request,
)
from resources.home import Experiment, FoxmlHome

GROUP = "execution"
# The run's tags say what it traded: paper or live, and through which broker.
MODE_TAG = "foxml/trading_mode"
BROKER_TAG = "foxml/broker"
RECONCILED = "reconciled_with_broker"


class ExecutionRun(dg.Config):
    """Operator switches for this run (the kill_switch and resume_trading jobs set them)."""

    kill_switch: bool = False  # engage the kill switch first: HALTED, every working order cancelled
    resume: bool = False  # release the kill switch and clear a loss trip or reconciliation halt
    reason: str = ""


@dg.multi_asset(
    name="execution",
    group_name=GROUP,
    # One cycle at a time across runs (a scheduled run and the kill_switch job): each reads the
    # journal and the paper account and writes them back, so two at once would lose rows.
    pool="execution",
    outs={
        "orders": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="Append-only order journal: one row per state transition (planned, submitted, "
            "accepted, partially_filled, filled, cancelled, rejected, expired) with the deterministic "
            "client_order_id, the risk decision and its reason code. An order's state is its last row.",
        ),
        "fills": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="Append-only fills: quantity, price, fee, slippage and volume participation.",
        ),
        "positions": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="A snapshot per cycle: positions from the journal's fills beside the broker's "
            "(reconciled), average price, mark, weight, realized and unrealized P&L.",
        ),
        "risk_events": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="Append-only risk log: every check with its reason code, marks (equity, day "
            "start, peak), loss-limit trips, state changes, the kill switch and reconciliation.",
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(
            RECONCILED,
            asset="positions",
            blocking=True,
            description="The journal agrees with the broker before and after this cycle: positions, open "
            "orders and fills. A difference halts trading (no new orders) until it is fixed and "
            "resume_trading acknowledges it, or execution.reconcile: adopt takes the broker's view.",
        )
    ],
    description="One execution cycle: the latest target weights become orders (difference from the "
    "held position, whole lots, no-trade threshold), checked by the Rust pre-trade risk engine, sent "
    "to the broker (paper by default; Alpaca or IBKR per execution.broker, live only with "
    "execution.mode: live and FOXML_LIVE_TRADING), filled, journaled and reconciled before and after. "
    "Run the kill_switch job to halt trading and cancel every open order at the broker.",
)
def execution(
    context: dg.AssetExecutionContext,
    config: ExecutionRun,
    experiment: Experiment,
    home: FoxmlHome,
    signals: pl.DataFrame,
    bars: pl.DataFrame,
):
    cfg = experiment.config.execution
    root = home.layout.root
    who = f"dagster run {context.run_id}"
    if config.kill_switch:
        engage_kill_switch(config.reason or "kill_switch job", home=root, by=who)
    elif config.resume:
        release_kill_switch(home=root)
        request_resume(config.reason or "resume_trading job", home=root, by=who)
    mode = trading_mode(cfg)  # live without both switches stops here, before any broker is touched
    context.instance.add_run_tags(context.run_id, {MODE_TAG: mode.mode, BROKER_TAG: mode.broker})
    context.log.info(f"execution cycle: {mode.describe()}")
    journal, notes = Journal.load(**{name: home.stored(GROUP, name) for name in TABLES})
    for note in notes:
        context.log.warning(note)
    kill = kill_switch_status(home=root)
    broker = make_broker(cfg, market=bars, home=root)
    try:
        resume = take_resume_request(home=root) is not None
        result = run_cycle(
            signals,
            bars,
            cfg,
            journal,
            broker,
            cycle_id=context.run_id,
            kill_switch=(kill["reason"] or "engaged") if kill else None,
            resume=resume,
            outbox=make_outbox(cfg, root),
        )
    finally:
        close_broker(broker)
    new = result.new
    checks = new["risk_events"].filter(pl.col("kind") == "check")
    denials = checks.filter(pl.col("decision") == "deny").group_by("reason").len().sort("reason")
    summary = {k: v for k, v in result.summary.items() if isinstance(v, int | float | str | bool)}
    summary |= {"trading_mode": mode.mode, "broker": mode.broker, "venue": mode.venue}
    yield dg.Output(
        result.journal.orders,
        output_name="orders",
        metadata={
            **summary,
            "this_cycle": markdown_table(
                new["orders"].select("symbol", "side", "qty", "status", "filled_qty", "risk_reason", "reason")
            ),
            "denials": markdown_table(denials) if denials.height else "none",
        },
    )
    yield dg.Output(result.journal.fills, output_name="fills", metadata={"new_fills": new["fills"].height})
    yield dg.Output(
        result.journal.positions,
        output_name="positions",
        metadata={
            "positions": markdown_table(
                new["positions"].select("symbol", "qty", "broker_qty", "reconciled", "mark_price", "weight")
            )
        },
    )
    yield dg.Output(
        result.journal.risk_events,
        output_name="risk_events",
        metadata={"state": result.summary["state"], "cause": result.summary["cause"], "new_events": checks.height},
    )
    yield reconciliation_check(result.summary, new["risk_events"])


def reconciliation_check(summary: dict, events: pl.DataFrame) -> dg.AssetCheckResult:
    """Fails (ERROR, blocking) on any difference the cycle did not adopt; a difference adopted
    by `reconcile: adopt` or an acknowledged resume passes with a warning."""
    found = events.filter(pl.col("kind") == "reconcile")
    before, after = summary["reconcile_differences"], summary["reconcile_differences_after"]
    adopted = bool(summary["reconcile_adopted"])
    metadata = {
        "differences_before": before,
        "differences_after": after,
        "adopted": adopted,
        "state": summary["state"],
        "differences": markdown_table(found.select("symbol", "client_order_id", "qty", "detail"))
        if found.height
        else "none",
    }
    clean = before + after == 0
    outcome = "adopted the broker's view" if adopted else "trading HALTED until fixed and resume_trading runs"
    return dg.AssetCheckResult(
        check_name=RECONCILED,
        asset_key="positions",
        passed=clean or adopted,
        severity=dg.AssetCheckSeverity.WARN if adopted or clean else dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=None if clean else f"{before} difference(s) before trading and {after} after; {outcome}",
    )
