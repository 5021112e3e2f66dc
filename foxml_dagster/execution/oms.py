"""The order manager: one execution cycle, from the latest target weights to orders at a broker.

A cycle, in order (docs/execution.md walks through it):

1. Restore. The journal gives the orders still working, the fills seen and the trading state.
   A simulated broker's market catches up to the decision time T (the signals' last bar).
   Orders in the outbox that the journal lacks (sent by a cycle that died before it was
   journaled) are asked of the broker and journaled as it answers (foxml_dagster.execution.outbox).
2. Sync. New fills and status changes of the working orders come from the broker and are
   journaled (a fill is booked once, by its fill id).
3. Reconcile. Positions from the journal's fills are compared with the broker's, and working
   orders with the broker's open orders, before anything is sent. A difference is a risk
   event; `execution.reconcile: halt` then HALTS trading, `adopt` books an adjustment so the
   journal agrees with the broker.
4. Engine. The Rust risk engine is loaded with the broker's cash and positions, the working
   orders, reference prices (each symbol's last close at or before T), the loss baseline and
   the trading state from the journal. The kill switch (HALTED, every open order cancelled at
   the broker, positions flattened if configured) and resume requests apply here; a resume of
   a reconciliation halt acknowledges the differences and adopts the broker's view. The book
   is marked at T: the daily-loss and drawdown limits trip REDUCING or HALTED by themselves.
5. Plan. Target quantities are weight x equity / reference; orders are the difference from
   the expected position (held plus working), in whole lots, none under the no-trade threshold,
   a flip split into close and open. Each gets a deterministic client order id; an order that
   is working or filled is never sent again, one that ended unfilled is retried under a new
   attempt id.
6. Check and send. All legs are checked in one native call, closing legs first; accepted ones
   are written to the outbox, then go to the broker; denied ones are journaled as rejected with
   the engine's reason code.
7. A simulated broker's market runs on over the bars after T; a real broker is given up to
   `execution.settle_seconds` for this cycle's orders to finish. Fills are synced, the journal
   is reconciled with the broker again (a difference halts the next cycle as it would this
   one), and a positions snapshot is taken.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from foxml_dagster.execution.broker import Broker, BrokerFill, BrokerOrder, Clocked, OrderTicket, Streaming
from foxml_dagster.execution.config import ExecutionConfig
from foxml_dagster.execution.journal import Journal, average_cost
from foxml_dagster.execution.orders import (
    FILLS_SCHEMA,
    ORDERS_SCHEMA,
    POSITIONS_SCHEMA,
    RISK_EVENTS_SCHEMA,
    TERMINAL,
    WORKING,
    OrderStatus,
    PlannedOrder,
    check_transition,
    client_order_id,
)
from foxml_dagster.execution.outbox import Outbox
from foxml_dagster.execution.risk import build_engine, instrument_limits, to_ns
from foxml_dagster.native.risk import ACCEPTED, REASONS, RiskEngine, plan_legs

__all__ = ["CycleResult", "run_cycle"]

S = OrderStatus
_DAY_NS = 86_400 * 10**9
# Columns every journal row sets for itself (its order, sequence, cycle, times, account, state).
_BOOKKEEPING = frozenset(
    {"event_id", "seq", "cycle_id", "event_ts", "recorded_at", "account", "client_order_id", "status"}
)
_QTY_EPS = 1e-9


@dataclass
class CycleResult:
    """The journal with this cycle's rows appended, the rows alone, and a summary."""

    journal: Journal
    new: dict[str, pl.DataFrame]
    summary: dict


class _Log:
    """This cycle's journal rows, with every order transition checked by the state machine."""

    def __init__(self, journal: Journal, *, cycle_id: str, account: str, recorded_at: datetime):
        self.cycle_id, self.account, self.recorded_at = cycle_id, account, recorded_at
        self.last: dict[str, dict] = {r["client_order_id"]: r for r in journal.latest_orders().iter_rows(named=True)}
        self.orders: list[dict] = []
        self.fills: list[dict] = []
        self.positions: list[dict] = []
        self.risk: list[dict] = []
        self.state, self.cause = "active", "none"
        self.engine: RiskEngine | None = None

    def order(self, cid: str, status: OrderStatus, event_ts: datetime, **changes) -> None:
        previous = self.last.get(cid)
        check_transition(OrderStatus(previous["status"]) if previous else None, status, cid)
        seq = previous["seq"] + 1 if previous else 0
        row = {**(previous or dict.fromkeys(ORDERS_SCHEMA)), **changes}
        row.update(
            event_id=f"{cid}:{seq}",
            seq=seq,
            cycle_id=self.cycle_id,
            event_ts=event_ts,
            recorded_at=self.recorded_at,
            account=self.account,
            client_order_id=cid,
            status=str(status),
        )
        if previous is None or "reason" not in changes:
            row["reason"] = changes.get("reason")
        self.last[cid] = row
        self.orders.append(row)

    def event(self, kind: str, event_ts: datetime, **fields) -> None:
        engine = self.engine
        row = dict.fromkeys(RISK_EVENTS_SCHEMA)
        if engine is not None:
            self.state, self.cause = engine.state, engine.cause
            row.update(equity=engine.equity, gross=engine.gross, net=engine.net)
        seq = len(self.risk)
        row.update(
            event_id=f"{self.cycle_id}:{seq}",
            cycle_id=self.cycle_id,
            seq=seq,
            event_ts=event_ts,
            recorded_at=self.recorded_at,
            account=self.account,
            kind=kind,
            state=self.state,
            cause=self.cause,
            **fields,
        )
        self.risk.append(row)

    def fill(self, f: BrokerFill) -> None:
        self.fills.append(
            {
                "fill_id": f.fill_id,
                "cycle_id": self.cycle_id,
                "ts": f.ts,
                "recorded_at": self.recorded_at,
                "account": self.account,
                "client_order_id": f.client_order_id,
                "broker_order_id": f.broker_order_id,
                "symbol": f.symbol,
                "side": f.side,
                "qty": f.qty,
                "price": f.price,
                "fee": f.fee,
                "slippage_bps": f.slippage_bps,
                "participation": f.participation,
            }
        )

    def frames(self) -> dict[str, pl.DataFrame]:
        return {
            "orders": pl.DataFrame(self.orders, schema=ORDERS_SCHEMA),
            "fills": pl.DataFrame(self.fills, schema=FILLS_SCHEMA),
            "positions": pl.DataFrame(self.positions, schema=POSITIONS_SCHEMA),
            "risk_events": pl.DataFrame(self.risk, schema=RISK_EVENTS_SCHEMA),
        }


def run_cycle(
    signals: pl.DataFrame,
    bars: pl.DataFrame,
    config: ExecutionConfig,
    journal: Journal,
    broker: Broker,
    *,
    cycle_id: str,
    kill_switch: str | None = None,
    resume: bool = False,
    recorded_at: datetime | None = None,
    outbox: Outbox | None = None,
) -> CycleResult:
    """One execution cycle (see the module docstring).

    Args:
        signals: symbol, ts, target_weight; the rows at the last ts are the targets.
        bars: symbol, ts, close (the paper broker also needs open, high, low, volume).
        config: the experiment's `execution` section.
        journal: what earlier cycles journaled (`Journal()` for the first).
        broker: where orders go.
        cycle_id: names this cycle's rows (the Dagster run id).
        kill_switch: the kill switch's reason while it is engaged, else None.
        resume: clear a loss trip or reconciliation halt before trading (a reconciliation
            halt's differences are then acknowledged: the broker's view is adopted).
        recorded_at: the wall clock stamped on every row (default: now).
        outbox: where accepted orders are written before they are sent (default: in memory).
    """
    if bars.is_empty():
        raise ValueError("bars is empty: the execution stage needs prices to value and check orders")
    recorded_at = recorded_at or datetime.now(UTC)
    log = _Log(journal, cycle_id=cycle_id, account=config.account, recorded_at=recorded_at)
    restored = journal.restore()
    log.state, log.cause = restored.state, restored.cause
    fill_ids = set(restored.fill_ids)

    decision_ts = signals["ts"].max() if signals.height else bars["ts"].max()
    clocked = isinstance(broker, Clocked)
    if clocked:
        broker.advance(decision_ts)
    outbox = outbox if outbox is not None else Outbox()
    outbox.settle(set(log.last))
    recovered = _recover(outbox, broker, log, decision_ts)
    _sync(broker, log, fill_ids, decision_ts)

    held = broker.positions()
    working = [cid for cid, row in log.last.items() if row["status"] in WORKING]
    universe = sorted(
        set(bars["symbol"].cast(pl.String).unique().to_list())
        | set(signals["symbol"].cast(pl.String).unique().to_list() if signals.height else [])
        | set(held)
        | set(_journal_positions(journal, log))
        | {log.last[c]["symbol"] for c in working}
    )
    index = {s: k for k, s in enumerate(universe)}

    engine = build_engine(config.risk, universe, cash=broker.account().cash)
    log.engine = engine
    for symbol, qty in held.items():
        engine.set_position(index[symbol], qty)
    refs = _references(bars, decision_ts, universe)
    engine.set_references(
        [index[s] for s in refs["symbol"]], refs["close"].to_numpy(), refs["ts"].dt.epoch("ns").to_numpy()
    )
    engine_ids = _adopt(engine, log, working, index)
    if restored.last_mark is not None:
        m = restored.last_mark
        engine.set_loss_baseline(to_ns(m["event_ts"]) // _DAY_NS, m["day_start_equity"], m["peak_equity"], m["equity"])
    if restored.state != "active":
        engine.set_state(restored.state, restored.cause)

    # Operator switches before anything is sent: the kill switch wins over a resume request.
    acknowledge = False
    killed: dict = {}
    if kill_switch is not None:
        killed = _kill(config, engine, broker, log, engine_ids, decision_ts, kill_switch, fill_ids)
    else:
        if restored.cause == "kill_switch":
            engine.set_state("active")
            log.event("state", decision_ts, reason="kill_switch", detail="kill switch released: trading again")
        if resume and engine.state != "active":
            was = f"{engine.state} ({engine.cause})"
            # Resuming a reconciliation halt is the operator's word that the broker is right.
            acknowledge = engine.cause == "reconciliation"
            engine.set_state("active")
            ack = "; the broker's positions and orders are adopted" if acknowledge else ""
            log.event("state", decision_ts, reason="manual", detail=f"resumed on request; was {was}{ack}")

    adopt = config.reconcile == "adopt" or acknowledge
    mismatches = _reconcile(
        broker,
        journal,
        log,
        decision_ts,
        refs,
        adopt=adopt,
        engine=engine,
        index=index,
        resync=lambda: _sync(broker, log, fill_ids, decision_ts, engine=engine, engine_ids=engine_ids),
    )
    if mismatches and not adopt and kill_switch is None:
        _halt_for_differences(engine, log, decision_ts, mismatches, "before trading")

    mark = engine.mark(to_ns(decision_ts))
    log.event(
        "mark",
        decision_ts,
        day_start_equity=mark.day_start_equity,
        peak_equity=mark.peak_equity,
        detail=f"day P&L {mark.equity - mark.day_start_equity:+,.2f}; drawdown {1 - mark.equity / mark.peak_equity:.2%}"
        if mark.peak_equity > 0
        else None,
    )
    if mark.cleared:
        log.event("state", decision_ts, reason="daily_loss", detail="a new day: the daily-loss trip expired")
    if mark.tripped is not None:
        limit = config.risk.max_daily_loss if mark.tripped == "daily_loss" else config.risk.max_drawdown
        log.event(
            "trip",
            decision_ts,
            reason=mark.tripped,
            day_start_equity=mark.day_start_equity,
            peak_equity=mark.peak_equity,
            detail=f"{mark.tripped} over its limit of {limit:.2%}: trading {mark.state}",
        )

    counts = _trade(signals, bars, config, log, engine, broker, engine_ids, index, refs, decision_ts, outbox)

    as_of = decision_ts
    if clocked:
        as_of = max(decision_ts, bars["ts"].max())
        broker.advance(as_of)
    elif isinstance(broker, Streaming) and config.settle_seconds > 0:
        sent = [cid for cid, row in log.last.items() if row["status"] in WORKING]
        if sent:
            broker.wait_for_final(sent, config.settle_seconds)
    _sync(broker, log, fill_ids, as_of, engine=engine, engine_ids=engine_ids)
    after = _reconcile(
        broker,
        journal,
        log,
        as_of,
        _references(bars, as_of, universe),
        adopt=adopt,
        phase="after trading",
        resync=lambda: _sync(broker, log, fill_ids, as_of, engine=engine, engine_ids=engine_ids),
    )
    after += _check_fills(broker, log, journal, as_of)
    if after and not adopt and engine.state != "halted":
        # Orders already sent stand; the halt (in the journal's last event) stops the next cycle.
        _halt_for_differences(engine, log, as_of, after, "after trading")
    _snapshot(config, broker, journal, log, bars, as_of, universe)

    new = log.frames()
    summary = {
        "signal_ts": decision_ts,
        "as_of": as_of,
        "state": engine.state,
        "cause": engine.cause,
        "equity": broker.account().equity,
        "kill_switch": kill_switch is not None,
        "reconcile_differences": mismatches,
        "reconcile_differences_after": after,
        "reconcile_adopted": adopt,
        "recovered": recovered,
        "fills": new["fills"].height,
        **killed,
        **counts,
    }
    return CycleResult(journal=journal.append(**new), new=new, summary=summary)


# --- steps ---------------------------------------------------------------------------------------


def _journal_positions(journal: Journal, log: _Log) -> dict[str, float]:
    fills = pl.concat([journal.fills, pl.DataFrame(log.fills, schema=FILLS_SCHEMA)])
    return Journal(fills=fills).positions_from_fills()


def _references(bars: pl.DataFrame, at: datetime, universe: list[str]) -> pl.DataFrame:
    """symbol, ts, close of each symbol's last bar at or before `at`."""
    return (
        bars.select(pl.col("symbol").cast(pl.String), "ts", pl.col("close").cast(pl.Float64))
        .filter((pl.col("ts") <= at) & pl.col("symbol").is_in(universe))
        .sort("symbol", "ts")
        .group_by("symbol", maintain_order=True)
        .last()
    )


def _sync(
    broker: Broker,
    log: _Log,
    fill_ids: set[str],
    now: datetime,
    *,
    engine: RiskEngine | None = None,
    engine_ids: dict[str, int] | None = None,
) -> None:
    """Journals the new fills and status changes of every working order."""
    working = [cid for cid, row in log.last.items() if row["status"] in WORKING]
    if not working:
        return
    reports = {o.client_order_id: o for o in broker.orders(working)}
    fresh = [f for f in broker.fills(working) if f.fill_id not in fill_ids]
    for f in sorted(fresh, key=lambda f: (f.ts, f.fill_id)):
        last = log.last[f.client_order_id]
        before = last["filled_qty"] or 0.0
        filled = before + f.qty
        avg = ((last["avg_fill_price"] or 0.0) * before + f.price * f.qty) / filled
        status = S.FILLED if filled >= last["qty"] - _QTY_EPS * max(last["qty"], 1.0) else S.PARTIALLY_FILLED
        log.fill(f)
        fill_ids.add(f.fill_id)
        log.order(
            f.client_order_id,
            status,
            f.ts,
            filled_qty=filled,
            avg_fill_price=avg,
            broker_order_id=f.broker_order_id or last["broker_order_id"],
            reason=None,
        )
        if engine is not None and engine_ids and f.client_order_id in engine_ids:
            try:
                engine.fill(engine_ids[f.client_order_id], f.qty, f.price, f.fee)
            except ValueError as exc:  # the broker filled more than was working: a reconcile matter
                log.event("reconcile", f.ts, client_order_id=f.client_order_id, symbol=f.symbol, detail=str(exc))
    for cid in working:
        last = log.last[cid]
        report = reports.get(cid)
        if report is None:
            status = S.REJECTED if last["status"] == S.SUBMITTED else S.CANCELLED
            log.order(cid, status, now, reason="the broker has no record of this order")
            log.event("reconcile", now, client_order_id=cid, symbol=last["symbol"], detail="unknown to the broker")
        elif report.status in TERMINAL and report.status != S.FILLED and last["status"] not in TERMINAL:
            log.order(cid, S(report.status), report.updated_at or now, reason=report.reason)
        elif report.status == S.FILLED and last["status"] != S.FILLED:
            log.event(
                "reconcile",
                now,
                client_order_id=cid,
                symbol=last["symbol"],
                detail=f"the broker reports it filled, the journal has {last['filled_qty'] or 0:g} of {last['qty']:g}",
            )
        elif report.status == S.ACCEPTED and last["status"] == S.SUBMITTED:
            log.order(cid, S.ACCEPTED, report.updated_at or now, broker_order_id=report.broker_order_id)
        if engine is not None and engine_ids and cid in engine_ids and log.last[cid]["status"] in TERMINAL:
            engine.cancel(engine_ids.pop(cid))


def _adopt(engine: RiskEngine, log: _Log, working: list[str], index: dict[str, int]) -> dict[str, int]:
    """Books the orders still working at the broker in the engine (they were checked when sent)."""
    ids = {}
    for cid in working:
        row = log.last[cid]
        remaining = row["qty"] - (row["filled_qty"] or 0.0)
        price = row["limit_price"] if row["limit_price"] is not None else math.nan
        order_id = engine.adopt(index[row["symbol"]], 1 if row["side"] == "buy" else -1, remaining, price=price)
        if order_id is not None:
            ids[cid] = order_id
    return ids


def _kill(
    config: ExecutionConfig,
    engine: RiskEngine,
    broker: Broker,
    log: _Log,
    engine_ids: dict[str, int],
    now: datetime,
    reason: str,
    fill_ids: set[str],
) -> dict:
    """HALTED, every open order cancelled at the broker (`kill_switch.cancel: all` reaches the
    orders this platform did not send too), and with `kill_switch.flatten` every position closed
    by a market order that bypasses the halted engine. Returns counts for the summary."""
    engine.kill()
    engine_ids.clear()
    ours = [cid for cid, row in log.last.items() if row["status"] in WORKING]
    reports: dict[str, BrokerOrder | None] = {}
    others = 0
    if config.kill_switch.cancel == "all":
        for report in broker.cancel_all():
            if report.client_order_id in log.last:
                reports[report.client_order_id] = report
            else:
                others += 1
    for cid in ours:
        if cid not in reports:
            reports[cid] = broker.cancel(cid)
    pending = [cid for cid in ours if reports[cid] is not None and reports[cid].status not in TERMINAL]
    if pending and isinstance(broker, Streaming) and config.settle_seconds > 0:
        # A broker cancels asynchronously: wait for the confirmations before flattening, so an
        # order that fills while its cancel is pending cannot be closed twice.
        broker.wait_for_final(pending, config.settle_seconds)
        reports.update({o.client_order_id: o for o in broker.orders(pending)})
    cancelled = 0
    for cid in ours:
        report, row = reports[cid], log.last[cid]
        if report is None or report.status == S.CANCELLED:
            log.order(cid, S.CANCELLED, now, reason=f"kill switch: {reason}")
            cancelled += 1
        elif report.status in TERMINAL and row["status"] not in TERMINAL and report.status != S.FILLED:
            log.order(cid, S(report.status), report.updated_at or now, reason=report.reason)
    _sync(broker, log, fill_ids, now)
    flattened = _flatten(config, broker, log, now) if config.kill_switch.flatten else 0
    detail = f"{reason}; cancelled {cancelled} working order(s)"
    if others:
        detail += f" and {others} other open order(s) at the broker"
    if config.kill_switch.flatten:
        detail += f"; sent {flattened} order(s) to flatten the book"
    log.event("kill_switch", now, reason="kill_switch", detail=detail)
    return {"kill_cancelled": cancelled, "kill_cancelled_other": others, "kill_flatten_orders": flattened}


def _flatten(config: ExecutionConfig, broker: Broker, log: _Log, now: datetime) -> int:
    """A market order closing each position the broker holds where no order is still working
    (one whose cancel is not confirmed might yet fill). The halted engine is bypassed on
    purpose: the operator asked for it, and every order only shrinks a position."""
    busy = {row["symbol"] for row in log.last.values() if row["status"] in WORKING}
    sent = 0
    for symbol, held in sorted(broker.positions().items()):
        if symbol in busy or abs(held) <= _QTY_EPS:
            continue
        side, qty = ("sell" if held > 0 else "buy"), abs(held)
        cid = _fresh_id(log, config.account, now, symbol, side, qty, "flatten")
        if cid is None:
            continue
        fields = dict(
            symbol=symbol,
            side=side,
            qty=qty,
            order_type="market",
            time_in_force="day",
            signal_ts=now,
            target_weight=0.0,
            target_qty=0.0,
            filled_qty=0.0,
            risk_decision="override",
            reason="kill switch: flatten",
        )
        log.order(cid, S.PLANNED, now, **fields)
        ticket = OrderTicket(cid, symbol, side, qty, "market", None, "day", submitted_at=now)
        sent += 1
        _send(broker, log, ticket, now)
    return sent


def _send(broker: Broker, log: _Log, ticket: OrderTicket, now: datetime) -> BrokerOrder | None:
    """Sends one order and journals the answer; None when the outcome is unknown (an
    exception), in which case the order stays submitted and later cycles ask the broker."""
    cid = ticket.client_order_id
    try:
        ack = broker.submit(ticket)
    except Exception as exc:  # outcome unknown (a timeout): ask the broker next cycle, never resend
        log.order(cid, S.SUBMITTED, now, reason=f"broker error, outcome unknown: {exc}")
        return None
    note = "already at the broker under this id: nothing was sent again" if ack.duplicate else None
    log.order(cid, S.SUBMITTED, now, broker_order_id=ack.broker_order_id, reason=note)
    if ack.status == S.REJECTED:
        log.order(cid, S.REJECTED, ack.updated_at or now, reason=f"broker: {ack.reason}")
    elif ack.status in (S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED):
        # Fills (and the partially_filled / filled states) come from the fills, in the sync.
        log.order(cid, S.ACCEPTED, ack.updated_at or now)
    elif ack.status in (S.CANCELLED, S.EXPIRED):
        log.order(cid, S(ack.status), ack.updated_at or now, reason=ack.reason)
    return ack


def _recover(outbox: Outbox, broker: Broker, log: _Log, now: datetime) -> int:
    """Journals the outbox's orders that no stored cycle journaled (see outbox.py): what the
    broker says about each, or rejected where it never arrived. Returns how many."""
    lost = [row for row in outbox.pending() if row["client_order_id"] not in log.last]
    if not lost:
        return 0
    reports = {o.client_order_id: o for o in broker.orders([row["client_order_id"] for row in lost])}
    for row in lost:
        cid = row["client_order_id"]
        planned = {k: v for k, v in row.items() if k in ORDERS_SCHEMA and k not in _BOOKKEEPING}
        log.order(cid, S.PLANNED, row["event_ts"] or now, **planned)
        report = reports.get(cid)
        if report is None:
            log.order(cid, S.SUBMITTED, now, reason="recovered from the outbox after an unfinished cycle")
            log.order(cid, S.REJECTED, now, reason="never reached the broker: the cycle that sent it stopped first")
        else:
            log.order(
                cid,
                S.SUBMITTED,
                now,
                broker_order_id=report.broker_order_id,
                reason="recovered from the outbox after an unfinished cycle: the broker has it",
            )
            if report.status != S.SUBMITTED and report.status != S.REJECTED:
                log.order(cid, S.ACCEPTED, report.updated_at or now)
        log.event(
            "recovery",
            now,
            client_order_id=cid,
            symbol=row["symbol"],
            side=row["side"],
            qty=row["qty"],
            detail="sent by a cycle that stopped before journaling it; "
            + ("not at the broker" if report is None else f"at the broker: {report.status}"),
        )
    return len(lost)


def _halt_for_differences(engine: RiskEngine, log: _Log, now: datetime, n: int, phase: str) -> None:
    engine.set_state("halted", "reconciliation")
    log.event(
        "state",
        now,
        reason="reconciliation",
        detail=f"{n} difference(s) between the journal and the broker {phase}; see the reconcile events, "
        "fix the account, then run resume_trading (which acknowledges them and adopts the broker's view), "
        "or set execution.reconcile: adopt",
    )


def _reconcile(
    broker: Broker,
    journal: Journal,
    log: _Log,
    now: datetime,
    refs: pl.DataFrame,
    *,
    adopt: bool,
    engine: RiskEngine | None = None,
    index: dict[str, int] | None = None,
    phase: str = "before trading",
    resync: Callable[[], None] | None = None,
) -> int:
    """Compares the journal's positions and working orders with the broker's; returns the
    number of differences (each journaled as a reconcile event). With `adopt`, the journal is
    made to agree: an adjustment fill per position, and each open order the journal lacks is
    journaled as adopted, so later cycles track it.

    A real broker's orders fill while the cycle looks: a fill landing between the last sync and
    the positions read would look like a difference. So a difference found while orders work is
    checked once more after `resync` (another sync of fills) before it counts."""
    gaps = _position_gaps(broker, journal, log)
    if gaps and resync is not None and any(row["status"] in WORKING for row in log.last.values()):
        resync()
        gaps = _position_gaps(broker, journal, log)
    differences = 0
    prices = dict(zip(refs["symbol"], refs["close"], strict=True))
    for symbol, (mine, broker_qty) in gaps.items():
        differences += 1
        log.event(
            "reconcile",
            now,
            symbol=symbol,
            qty=broker_qty - mine,
            detail=f"{phase}: journal holds {mine:g}, the broker {broker_qty:g}",
        )
        if adopt:
            gap = broker_qty - mine
            log.fills.append(
                {
                    "fill_id": f"adjust:{log.cycle_id}:{symbol}:{phase.split()[0]}",
                    "cycle_id": log.cycle_id,
                    "ts": now,
                    "recorded_at": log.recorded_at,
                    "account": log.account,
                    "client_order_id": "reconciliation",
                    "broker_order_id": None,
                    "symbol": symbol,
                    "side": "buy" if gap > 0 else "sell",
                    "qty": abs(gap),
                    "price": float(prices.get(symbol, math.nan)),
                    "fee": 0.0,
                    "slippage_bps": None,
                    "participation": None,
                }
            )
    ours_open = {cid for cid, row in log.last.items() if row["status"] in WORKING}
    for order in broker.open_orders():
        if order.client_order_id in ours_open:
            continue
        differences += 1
        remaining = order.qty - order.filled_qty
        log.event(
            "reconcile",
            now,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            qty=remaining,
            detail=f"{phase}: working at the broker but not in the journal (placed outside this platform?)",
        )
        if adopt and order.client_order_id not in log.last:
            _adopt_foreign(log, order, now)
        if engine is not None and index is not None and order.symbol in index:
            # It counts against the limits all the same.
            price = order.limit_price if order.limit_price is not None else order.stop_price
            engine.adopt(index[order.symbol], 1 if order.side == "buy" else -1, remaining, price=price or math.nan)
    return differences


def _position_gaps(broker: Broker, journal: Journal, log: _Log) -> dict[str, tuple[float, float]]:
    """Per symbol where they differ: (the journal's position, the broker's)."""
    ours = _journal_positions(journal, log)
    theirs = broker.positions()
    gaps = {}
    for symbol in sorted(set(ours) | set(theirs)):
        mine, broker_qty = ours.get(symbol, 0.0), theirs.get(symbol, 0.0)
        if abs(mine - broker_qty) > _QTY_EPS * max(abs(mine), abs(broker_qty), 1.0):
            gaps[symbol] = (mine, broker_qty)
    return gaps


def _adopt_foreign(log: _Log, order: BrokerOrder, now: datetime) -> None:
    """Journals an order someone else placed on the account, so later cycles follow it."""
    cid = order.client_order_id
    log.order(
        cid,
        S.PLANNED,
        now,
        symbol=order.symbol,
        side=order.side,
        qty=order.qty,
        order_type=order.order_type,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        time_in_force=order.time_in_force,
        filled_qty=order.filled_qty,
        avg_fill_price=order.avg_fill_price,
        risk_decision="adopt",
        reason="adopted: working at the broker, placed outside this platform",
    )
    log.order(cid, S.SUBMITTED, now, broker_order_id=order.broker_order_id)
    log.order(cid, S.ACCEPTED, order.updated_at or now)


def _check_fills(broker: Broker, log: _Log, journal: Journal, now: datetime) -> int:
    """Every fill the journal holds for the orders this cycle touched must be one the broker
    reports; returns the number that are not (each a reconcile event)."""
    touched = {row["client_order_id"] for row in log.orders if row["status"] not in (S.PLANNED, S.REJECTED)}
    touched = {cid for cid in touched if (log.last[cid]["filled_qty"] or 0) > 0}
    if not touched:
        return 0
    fills = pl.concat([journal.fills, pl.DataFrame(log.fills, schema=FILLS_SCHEMA)])
    ours = fills.filter(pl.col("client_order_id").is_in(list(touched)))
    theirs = {f.fill_id for f in broker.fills(sorted(touched))}
    missing = ours.filter(~pl.col("fill_id").is_in(list(theirs)))
    for row in missing.iter_rows(named=True):
        log.event(
            "reconcile",
            now,
            client_order_id=row["client_order_id"],
            symbol=row["symbol"],
            side=row["side"],
            qty=row["qty"],
            detail=f"after trading: the journal has fill {row['fill_id']} that the broker does not report",
        )
    return missing.height


def _trade(
    signals: pl.DataFrame,
    bars: pl.DataFrame,
    config: ExecutionConfig,
    log: _Log,
    engine: RiskEngine,
    broker: Broker,
    engine_ids: dict[str, int],
    index: dict[str, int],
    refs: pl.DataFrame,
    now: datetime,
    outbox: Outbox,
) -> dict:
    """Plans, checks (one native call), writes to the outbox and sends this cycle's orders;
    returns counts."""
    counts = {
        "planned": 0,
        "accepted": 0,
        "denied": 0,
        "sent": 0,
        "broker_rejected": 0,
        "already_sent": 0,
        "already_at_broker": 0,
    }
    universe = list(index)
    latest = signals.filter(pl.col("ts") == now) if signals.height else signals
    weights = dict(zip(latest["symbol"].cast(pl.String), latest["target_weight"], strict=True)) if latest.height else {}
    price = dict(zip(refs["symbol"], refs["close"], strict=True))
    ref = np.array([price.get(s, math.nan) for s in universe])
    weight = np.array([float(weights.get(s) or 0.0) for s in universe])
    for k, symbol in enumerate(universe):
        if not (ref[k] > 0) and (weight[k] != 0 or engine.positions()[k] != 0):
            log.event(
                "check",
                now,
                symbol=symbol,
                decision="deny",
                reason="reference_missing",
                code=REASONS.index("reference_missing"),
                detail=f"no bar of {symbol} at or before {now:%Y-%m-%d %H:%M}: nothing to price an order at",
            )
    buys, sells = engine.working()
    expected = engine.positions() + buys - sells
    equity = engine.equity
    lots = np.array([instrument_limits(config.risk, s).lot_size for s in universe])
    settings = config.orders
    min_notional = max(settings.min_trade_notional, settings.min_trade_weight * max(equity, 0.0))
    target_qty = np.where(ref > 0, weight * max(equity, 0.0) / np.where(ref > 0, ref, 1.0), np.nan)
    legs = plan_legs(expected, target_qty, lots, ref, min_notional=min_notional)

    order = np.argsort(~legs.closing, kind="stable")  # closing legs first
    planned: list[PlannedOrder] = []
    for j in order:
        k = int(legs.row[j])
        symbol, side = universe[k], "buy" if legs.side[j] > 0 else "sell"
        leg = "close" if legs.closing[j] else "open"
        cid = _fresh_id(log, config.account, now, symbol, side, float(legs.qty[j]), leg)
        if cid is None:
            counts["already_sent"] += 1
            continue
        planned.append(
            PlannedOrder(
                client_order_id=cid,
                symbol=symbol,
                side=side,
                qty=float(legs.qty[j]),
                order_type=settings.order_type,
                limit_price=_limit_price(config, symbol, side, float(ref[k])),
                stop_price=_stop_price(config, symbol, side, float(ref[k])),
                time_in_force=settings.time_in_force,
                closing=bool(legs.closing[j]),
                ref_price=float(ref[k]),
                target_weight=float(weight[k]),
                target_qty=float(target_qty[k]),
                signal_ts=now,
            )
        )
    if not planned:
        return counts
    codes, ids = engine.submit_batch(
        [index[p.symbol] for p in planned],
        [p.sign for p in planned],
        [p.qty for p in planned],
        price=[p.price if p.price is not None else math.nan for p in planned],
        ts=to_ns(now),
    )
    accepted: list[tuple[PlannedOrder, int]] = []
    for p, code, order_id in zip(planned, codes.tolist(), ids.tolist(), strict=True):
        counts["planned"] += 1
        decision = "accept" if code == ACCEPTED else "deny"
        log.order(
            p.client_order_id,
            S.PLANNED,
            now,
            symbol=p.symbol,
            side=p.side,
            qty=p.qty,
            order_type=p.order_type,
            limit_price=p.limit_price,
            stop_price=p.stop_price,
            time_in_force=p.time_in_force,
            ref_price=p.ref_price,
            notional=p.notional,
            target_weight=p.target_weight,
            target_qty=p.target_qty,
            signal_ts=p.signal_ts,
            filled_qty=0.0,
            risk_decision=decision,
            risk_reason=REASONS[code],
        )
        log.event(
            "check",
            now,
            client_order_id=p.client_order_id,
            symbol=p.symbol,
            side=p.side,
            qty=p.qty,
            decision=decision,
            reason=REASONS[code],
            code=code,
        )
        if code != ACCEPTED:
            counts["denied"] += 1
            log.order(p.client_order_id, S.REJECTED, now, reason=f"risk: {REASONS[code]}")
            continue
        counts["accepted"] += 1
        accepted.append((p, order_id))
    # Written down before the first is sent: a crash from here on leaves a trace (outbox.py).
    outbox.record(log.last[p.client_order_id] for p, _ in accepted)
    for p, order_id in accepted:
        ticket = OrderTicket(
            client_order_id=p.client_order_id,
            symbol=p.symbol,
            side=p.side,
            qty=p.qty,
            order_type=p.order_type,
            limit_price=p.limit_price,
            time_in_force=p.time_in_force,
            submitted_at=now,
            stop_price=p.stop_price,
        )
        ack = _send(broker, log, ticket, now)
        counts["sent"] += 1
        if ack is not None and ack.status == S.REJECTED:
            counts["broker_rejected"] += 1
            engine.cancel(order_id)
        else:
            engine_ids[p.client_order_id] = order_id
            counts["already_at_broker"] += int(ack is not None and ack.duplicate)
    return counts


def _fresh_id(log: _Log, account: str, now: datetime, symbol: str, side: str, qty: float, leg: str) -> str | None:
    """The client order id for this order: the first attempt the journal has not seen. An
    attempt that ended unfilled (denied, rejected, cancelled, expired) is tried again under the
    next attempt's id; one that is working or filled means this order was already sent (the
    plan would not ask for it otherwise unless the journal lost track), so None: never twice."""
    for attempt in range(1000):
        cid = client_order_id(account, now, symbol, side, qty, f"{leg}#{attempt}")
        if cid not in log.last:
            return cid
        if log.last[cid]["status"] not in (S.REJECTED, S.CANCELLED, S.EXPIRED):
            return None
    raise RuntimeError(f"{symbol}: 1000 unfilled attempts of one order at {now}; the journal looks corrupt")


def _limit_price(config: ExecutionConfig, symbol: str, side: str, ref: float) -> float | None:
    """Limit orders: the reference moved `limit_offset_bps` toward the other side, on the tick
    grid (rounded so the limit stays inside the offset)."""
    if config.orders.order_type != "limit" or not ref > 0:
        return None
    tick = instrument_limits(config.risk, symbol).tick_size
    offset = config.orders.limit_offset_bps / 1e4
    raw = ref * (1 + offset) if side == "buy" else ref * (1 - offset)
    if tick <= 0:
        return raw
    steps = raw / tick
    steps = math.floor(steps + 1e-9) if side == "buy" else math.ceil(steps - 1e-9)
    return round(steps * tick, 10)


def _stop_price(config: ExecutionConfig, symbol: str, side: str, ref: float) -> float | None:
    """Stop orders: triggered `stop_offset_bps` past the reference (a buy above, a sell below),
    on the tick grid (rounded so the stop is at least that far away)."""
    if config.orders.order_type != "stop" or not ref > 0:
        return None
    tick = instrument_limits(config.risk, symbol).tick_size
    offset = config.orders.stop_offset_bps / 1e4
    raw = ref * (1 + offset) if side == "buy" else ref * (1 - offset)
    if tick <= 0:
        return raw
    steps = raw / tick
    steps = math.ceil(steps - 1e-9) if side == "buy" else math.floor(steps + 1e-9)
    return round(steps * tick, 10)


def _snapshot(
    config: ExecutionConfig,
    broker: Broker,
    journal: Journal,
    log: _Log,
    bars: pl.DataFrame,
    as_of: datetime,
    universe: list[str],
) -> None:
    """A positions row per symbol held or traded: the journal's view beside the broker's."""
    fills = pl.concat([journal.fills, pl.DataFrame(log.fills, schema=FILLS_SCHEMA)])
    book = average_cost(fills)
    theirs = broker.positions()
    marks = _references(bars, as_of, universe)
    mark = dict(zip(marks["symbol"], marks["close"], strict=True))
    equity = broker.account().equity
    for symbol in sorted(set(universe) | set(book) | set(theirs)):
        qty, avg, realized = book.get(symbol, (0.0, 0.0, 0.0))
        broker_qty = theirs.get(symbol, 0.0)
        price = mark.get(symbol)
        value = qty * price if price is not None else None
        log.positions.append(
            {
                "cycle_id": log.cycle_id,
                "as_of": as_of,
                "recorded_at": log.recorded_at,
                "account": log.account,
                "symbol": symbol,
                "qty": qty,
                "broker_qty": broker_qty,
                "reconciled": abs(qty - broker_qty) <= _QTY_EPS * max(abs(qty), 1.0),
                "avg_price": avg if qty else None,
                "mark_price": price,
                "market_value": value,
                "weight": value / equity if value is not None and equity > 0 else None,
                "realized_pnl": realized,
                "unrealized_pnl": (price - avg) * qty if price is not None and qty else 0.0,
            }
        )
