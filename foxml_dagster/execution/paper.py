"""The built-in paper broker: a simulated account trading on the run's bars.

Market model. An order trades on the bars that open after it was submitted (or after the
broker's clock, if that is later: an order never fills in the past). On each bar it fills at
most `max_participation` x the bar's volume, in whole lots, so a large order fills in parts over
several bars; the rest of a `day` order expires when its first trading day ends, a `gtc` order
keeps working. The fill price is the bar's open (or close, or VWAP: `paper.fill_price`), moved
against the order by `slippage_bps + impact_bps x participation ^ impact_exponent`, where
participation is the fill's share of the bar's volume. A limit order fills only on a bar that
trades through its limit, and never at a worse price. A stop order waits for a bar that trades
through its stop (a buy stop at or above it, a sell stop at or below) and then fills as a market
order: on that bar at the stop, or at the open where the bar opened beyond it (a gap). Fees are
`fee_bps` of the notional plus `fee_per_share`.

Account model. Cash moves with fills and fees; equity is cash plus positions at the last close
the clock has seen. The account rejects an order for a symbol it has no bars for, a repeated
client order id (it answers with the order it holds under that id, and sends nothing), a sale
that opens or grows a short when `allow_short` is off, and an order that would take gross
exposure past `leverage` x equity.

State lives in one JSON file (`$FOXML_HOME/paper/<account>.json`), written atomically after
every change, so the paper account outlives runs the way a real account does and the order
manager reconciles against it as it would against a real broker.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from foxml_dagster.execution.broker import Account, BrokerFill, BrokerOrder, OrderTicket
from foxml_dagster.execution.config import PaperSettings
from foxml_dagster.execution.orders import TERMINAL, OrderStatus
from foxml_dagster.storage import write_text_atomic

__all__ = ["PaperBroker", "whole_lots"]

S = OrderStatus
_EPS = 1e-9


def whole_lots(qty: float, lot: float) -> float:
    """Whole lots of `qty`, rounded toward zero (lot 0: unchanged); the engine's rule."""
    return math.floor(qty / lot + _EPS) * lot if lot > 0 else qty


@dataclass
class _Order:
    client_order_id: str
    broker_order_id: str
    symbol: str
    side: str
    qty: float
    order_type: str
    limit_price: float | None
    time_in_force: str
    submitted_at: str
    status: str
    filled_qty: float = 0.0
    avg_fill_price: float | None = None
    reason: str | None = None
    updated_at: str | None = None
    trading_day: str | None = None  # the UTC date of the first bar it could trade on
    n_fills: int = 0
    stop_price: float | None = None
    triggered: bool = False  # a stop order whose stop has traded: a market order from then on

    @property
    def remaining(self) -> float:
        return self.qty - self.filled_qty

    @property
    def sign(self) -> int:
        return 1 if self.side == "buy" else -1

    def view(self, *, duplicate: bool = False) -> BrokerOrder:
        return BrokerOrder(
            client_order_id=self.client_order_id,
            broker_order_id=self.broker_order_id,
            symbol=self.symbol,
            side=self.side,
            qty=self.qty,
            status=self.status,
            filled_qty=self.filled_qty,
            avg_fill_price=self.avg_fill_price,
            reason=self.reason,
            updated_at=_parse(self.updated_at),
            order_type=self.order_type,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            time_in_force=self.time_in_force,
            duplicate=duplicate,
        )


@dataclass
class _State:
    cash: float
    positions: dict[str, float] = field(default_factory=dict)
    orders: dict[str, _Order] = field(default_factory=dict)
    fills: list[dict] = field(default_factory=list)
    clock: str | None = None
    next_id: int = 1


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat()


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class PaperBroker:
    """A paper account (see the module docstring) on `market`: bars with symbol, ts, open, high,
    low, close, volume (and optionally vwap).

    Args:
        settings: the market and account model (`execution.paper`).
        capital: the starting cash of a new account.
        market: the bars it trades on.
        lots: lot size per symbol (partial fills are whole lots); missing symbols: `default_lot`.
        path: the JSON file holding the account; None keeps it in memory only.
    """

    name = "paper"
    live = False

    def __init__(
        self,
        settings: PaperSettings,
        *,
        capital: float,
        market: pl.DataFrame,
        lots: Mapping[str, float] | None = None,
        default_lot: float = 1.0,
        path: Path | None = None,
    ):
        missing = [c for c in ("symbol", "ts", "open", "high", "low", "close", "volume") if c not in market.columns]
        if missing:
            raise ValueError(f"paper broker: market bars need columns {missing}")
        self.settings = settings
        self.path = path
        self._lots = dict(lots or {})
        self._default_lot = default_lot
        columns = ["symbol", "ts", "open", "high", "low", "close", "volume"]
        columns += ["vwap"] if "vwap" in market.columns else []
        bars = market.select(columns).with_columns(pl.col("symbol").cast(pl.String)).sort("symbol", "ts")
        self._bars = {sym[0]: frame for sym, frame in bars.partition_by("symbol", as_dict=True).items()}
        self._state = self._load(capital)
        self._marks: dict[str, float] = {}
        self._marks_at: str | None = None

    # --- persistence -----------------------------------------------------------------------

    def _load(self, capital: float) -> _State:
        if self.path is None or not self.path.exists():
            return _State(cash=float(capital))
        try:
            raw = json.loads(self.path.read_text())
            orders = {k: _Order(**v) for k, v in raw.pop("orders").items()}
            return _State(orders=orders, **raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(
                f"{self.path}: the paper account file cannot be read ({exc}); restore it, or delete it to "
                "open a new paper account (the order journal will then no longer reconcile with it)"
            ) from None

    def _save(self) -> None:
        if self.path is None:
            return
        state = asdict(self._state)
        write_text_atomic(json.dumps(state, indent=1, sort_keys=True), self.path)

    # --- the Broker interface ----------------------------------------------------------------

    @property
    def clock(self) -> datetime | None:
        return _parse(self._state.clock)

    def account(self) -> Account:
        equity = self._equity()
        gross = self._gross()
        return Account(
            cash=self._state.cash,
            equity=equity,
            buying_power=max(0.0, equity * self.settings.leverage - gross),
        )

    def positions(self) -> dict[str, float]:
        return {s: q for s, q in self._state.positions.items() if q != 0}

    def open_orders(self) -> list[BrokerOrder]:
        return [o.view() for o in self._state.orders.values() if o.status not in TERMINAL]

    def orders(self, client_order_ids: Collection[str]) -> list[BrokerOrder]:
        return [self._state.orders[i].view() for i in client_order_ids if i in self._state.orders]

    def fills(self, client_order_ids: Collection[str]) -> list[BrokerFill]:
        wanted = set(client_order_ids)
        return [_fill_from(f) for f in self._state.fills if f["client_order_id"] in wanted]

    def submit(self, ticket: OrderTicket) -> BrokerOrder:
        if ticket.client_order_id in self._state.orders:
            # Like a real broker: the id is taken, so nothing is sent; the answer is the order
            # that holds it (a restarted cycle re-planning an order it sent before the crash).
            return self._state.orders[ticket.client_order_id].view(duplicate=True)
        clock = self.clock
        at = max(ticket.submitted_at, clock) if clock is not None else ticket.submitted_at
        order = _Order(
            client_order_id=ticket.client_order_id,
            broker_order_id=f"paper-{self._state.next_id}",
            symbol=ticket.symbol,
            side=ticket.side,
            qty=float(ticket.qty),
            order_type=ticket.order_type,
            limit_price=ticket.limit_price,
            time_in_force=ticket.time_in_force,
            submitted_at=_iso(at),
            status=S.ACCEPTED,
            updated_at=_iso(at),
            stop_price=ticket.stop_price,
        )
        self._state.next_id += 1
        refusal = self._refusal(order)
        if refusal:
            order.status, order.reason = S.REJECTED, refusal
        self._state.orders[order.client_order_id] = order
        self._save()
        return order.view()

    def cancel(self, client_order_id: str) -> BrokerOrder | None:
        order = self._state.orders.get(client_order_id)
        if order is None:
            return None
        if order.status not in TERMINAL:
            order.status, order.reason = S.CANCELLED, "cancelled on request"
            order.updated_at = self._state.clock or order.updated_at
            self._save()
        return order.view()

    def cancel_all(self) -> list[BrokerOrder]:
        working = [o.client_order_id for o in self._state.orders.values() if o.status not in TERMINAL]
        return [view for cid in working if (view := self.cancel(cid)) is not None]

    def replace(
        self,
        client_order_id: str,
        new_client_order_id: str,
        *,
        qty: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> BrokerOrder:
        old = self._state.orders.get(client_order_id)
        if new_client_order_id in self._state.orders:
            return self._state.orders[new_client_order_id].view(duplicate=True)
        if old is None or old.status in TERMINAL:
            why = "unknown" if old is None else old.status
            return BrokerOrder(
                client_order_id=new_client_order_id,
                broker_order_id=None,
                symbol=old.symbol if old else "",
                side=old.side if old else "",
                qty=float(qty or 0.0),
                status=S.REJECTED,
                filled_qty=0.0,
                avg_fill_price=None,
                reason=f"cannot replace order {client_order_id}: it is {why}",
                updated_at=_parse(self._state.clock),
            )
        # The filled part stays with the old order; the new one carries the new terms.
        old.status, old.reason = S.CANCELLED, f"replaced by {new_client_order_id}"
        old.updated_at = self._state.clock or old.updated_at
        ticket = OrderTicket(
            client_order_id=new_client_order_id,
            symbol=old.symbol,
            side=old.side,
            qty=float(qty if qty is not None else old.remaining),
            order_type=old.order_type,
            limit_price=limit_price if limit_price is not None else old.limit_price,
            time_in_force=old.time_in_force,
            submitted_at=_parse(old.submitted_at),
            stop_price=stop_price if stop_price is not None else old.stop_price,
        )
        return self.submit(ticket)

    # --- the simulated market ----------------------------------------------------------------

    def advance(self, until: datetime) -> None:
        """Trades the working orders on every bar after the clock up to `until`, then moves the
        clock to `until` (never backwards)."""
        clock = self.clock
        if clock is not None and until <= clock:
            return
        working = sorted(
            (o for o in self._state.orders.values() if o.status not in TERMINAL), key=lambda o: o.broker_order_id
        )
        for order in working:
            submitted = _parse(order.submitted_at)
            self._work(order, after=max(submitted, clock) if clock else submitted, until=until)
        self._state.clock = _iso(until)
        self._save()

    def _work(self, order: _Order, *, after: datetime, until: datetime) -> None:
        bars = self._bars.get(order.symbol)
        if bars is None:
            return
        window = bars.filter((pl.col("ts") > after) & (pl.col("ts") <= until))
        for bar in window.iter_rows(named=True):
            day = bar["ts"].date().isoformat()
            if order.time_in_force == "day" and order.trading_day is not None and day > order.trading_day:
                break
            order.trading_day = order.trading_day or day
            self._fill_on(order, bar)
            if order.status == S.FILLED:
                return
        ended = order.trading_day is not None and until.date().isoformat() > order.trading_day
        if order.time_in_force == "day" and ended and order.status not in TERMINAL:
            order.status = S.EXPIRED
            order.reason = f"day order: {order.remaining:g} unfilled at the end of {order.trading_day}"
            order.updated_at = _iso(until)

    def _fill_on(self, order: _Order, bar: dict) -> None:
        p = self.settings
        volume = bar["volume"]
        if volume is None or not math.isfinite(volume) or volume <= 0:
            return
        lot = self._lots.get(order.symbol, self._default_lot)
        qty = min(order.remaining, whole_lots(p.max_participation * volume, lot))
        if qty <= 0:
            return
        base = self._base_price(bar)
        if order.stop_price is not None and not order.triggered:
            stop = order.stop_price
            through = bar["high"] >= stop if order.sign > 0 else bar["low"] <= stop
            if not through:
                return
            order.triggered = True
            gapped = bar["open"] >= stop if order.sign > 0 else bar["open"] <= stop
            base = bar["open"] if gapped else stop
        if order.limit_price is not None:
            through = bar["low"] <= order.limit_price if order.sign > 0 else bar["high"] >= order.limit_price
            if not through:
                return
        participation = qty / volume
        slippage_bps = p.slippage_bps + p.impact_bps * participation**p.impact_exponent
        price = base * (1 + order.sign * slippage_bps / 1e4)
        if order.limit_price is not None:
            price = min(price, order.limit_price) if order.sign > 0 else max(price, order.limit_price)
        fee = p.fee_bps / 1e4 * qty * price + p.fee_per_share * qty
        state = self._state
        state.cash -= order.sign * qty * price + fee
        state.positions[order.symbol] = state.positions.get(order.symbol, 0.0) + order.sign * qty
        prior = order.filled_qty
        order.filled_qty = prior + qty
        order.avg_fill_price = ((order.avg_fill_price or 0.0) * prior + price * qty) / order.filled_qty
        order.n_fills += 1
        order.status = S.FILLED if order.remaining <= _EPS * max(order.qty, 1.0) else S.PARTIALLY_FILLED
        order.updated_at = _iso(bar["ts"])
        state.fills.append(
            {
                "fill_id": f"{order.broker_order_id}-{order.n_fills}",
                "client_order_id": order.client_order_id,
                "broker_order_id": order.broker_order_id,
                "symbol": order.symbol,
                "side": order.side,
                "qty": qty,
                "price": price,
                "fee": fee,
                "ts": _iso(bar["ts"]),
                "slippage_bps": slippage_bps,
                "participation": participation,
            }
        )

    def _base_price(self, bar: dict) -> float:
        how = self.settings.fill_price
        if how == "vwap":
            vwap = bar.get("vwap")
            if vwap is not None and math.isfinite(vwap) and vwap > 0:
                return vwap
            return (bar["high"] + bar["low"] + bar["close"]) / 3  # the typical price stands in
        return bar[how]

    # --- the account ---------------------------------------------------------------------------

    def _mark(self, symbol: str) -> float:
        """The last close at or before the clock (the first bar's open before any)."""
        clock = self._state.clock
        if self._marks_at != clock:
            self._marks, self._marks_at = {}, clock
        if symbol not in self._marks:
            self._marks[symbol] = self._last_close(symbol)
        return self._marks[symbol]

    def _last_close(self, symbol: str) -> float:
        bars = self._bars.get(symbol)
        if bars is None or bars.is_empty():
            return math.nan
        clock = self.clock
        seen = bars.height if clock is None else bars["ts"].search_sorted(clock, side="right")
        return float(bars["close"][seen - 1]) if seen else float(bars["open"][0])

    def _equity(self) -> float:
        return self._state.cash + sum(q * self._mark(s) for s, q in self._state.positions.items() if q)

    def _gross(self, extra: tuple[str, float] | None = None) -> float:
        positions = dict(self._state.positions)
        if extra is not None:
            positions[extra[0]] = positions.get(extra[0], 0.0) + extra[1]
        return sum(abs(q) * self._mark(s) for s, q in positions.items() if q)

    def _refusal(self, order: _Order) -> str | None:
        if order.symbol not in self._bars:
            return f"unknown symbol {order.symbol}: the paper market has no bars for it"
        held = self._state.positions.get(order.symbol, 0.0)
        working_sells = sum(
            o.remaining
            for o in self._state.orders.values()
            if o.symbol == order.symbol and o.side == "sell" and o.status not in TERMINAL
        )
        if order.sign < 0 and not self.settings.allow_short and order.qty > held - working_sells + _EPS:
            return f"short selling is disabled (paper.allow_short: false): holds {held:g}, sells {order.qty:g}"
        gross_after = self._gross((order.symbol, order.sign * order.qty))
        if gross_after > self._gross() and gross_after > self._equity() * self.settings.leverage:
            return (
                f"insufficient buying power: gross {gross_after:,.0f} would exceed equity "
                f"{self._equity():,.0f} x leverage {self.settings.leverage:g}"
            )
        return None


def _fill_from(raw: dict) -> BrokerFill:
    return BrokerFill(**{**raw, "ts": datetime.fromisoformat(raw["ts"])})
