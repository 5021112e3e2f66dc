//! The stateful pre-trade risk engine: positions, working orders, reference prices, throttles,
//! trading state and loss trips, and the checks every order passes through.
//!
//! Quantities are f64 (fractional shares and crypto are real); positions are signed (short < 0).
//! Prices are in the account currency. Times are i64 nanoseconds in the caller's clock: the
//! wall clock when trading, the bar time in a backtest, so a backtest is deterministic.
//!
//! Exposure is measured in the worst case: an instrument's exposure is
//! `max(|position + working buys|, |position - working sells|) x reference`, so no sequence of
//! fills of accepted orders can take a position past a limit while prices stand still. A check
//! that measures an exposure denies an order only when the order grows that exposure: after a
//! price move has pushed a book over a limit, orders that shrink it still pass.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use super::limits::{InstrumentLimits, LimitError, Limits, Throttle};
use super::reason::{Reason, Side, StateCause, TradingState};

/// Nanoseconds per day: loss limits reset on UTC day boundaries of the caller's clock.
pub const DAY_NS: i64 = 86_400_000_000_000;
/// Relative tolerance of the lot and tick grids and of fill quantities: decimal steps such as
/// 0.01 have no exact binary form, so `3 * 0.01 / 0.01` is not exactly 3.
pub const GRID_EPS: f64 = 1e-9;

/// A multiplicative hash for the engine's own sequential order ids (the default SipHash would
/// cost more than the whole check).
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type OrderMap = HashMap<u64, OpenOrder, BuildHasherDefault<IdHasher>>;

/// An order to check. `price` is the limit price, or NaN for a market order (priced at the
/// reference for every notional check).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderRequest {
    pub instrument: usize,
    /// +1 buy, -1 sell.
    pub side: i8,
    pub qty: f64,
    pub price: f64,
    pub reduce_only: bool,
}

/// A working order the engine accepted and has not seen filled or cancelled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenOrder {
    pub instrument: usize,
    pub side: Side,
    pub remaining: f64,
    /// NaN for a market order.
    pub limit: f64,
    /// The price its notional was booked at: the limit, or the reference when accepted.
    pub price: f64,
    pub reduce_only: bool,
}

/// What the engine holds for one instrument.
#[derive(Clone, Copy, Debug)]
struct Book {
    position: f64,
    open_buy: f64,
    open_sell: f64,
    n_open: u32,
    reference: f64,
    reference_ts: i64,
    /// Worst-case |position| x reference, as counted in `gross`.
    exposure: f64,
    /// position x reference, as counted in `net_value`.
    value: f64,
}

impl Default for Book {
    fn default() -> Self {
        Self {
            position: 0.0,
            open_buy: 0.0,
            open_sell: 0.0,
            n_open: 0,
            reference: f64::NAN,
            reference_ts: i64::MIN,
            exposure: 0.0,
            value: 0.0,
        }
    }
}

impl Book {
    fn worst(&self) -> f64 {
        (self.position + self.open_buy)
            .abs()
            .max((self.position - self.open_sell).abs())
    }

    /// The reference price, or 0 while there is none (the instrument then counts for nothing
    /// in the sums, and every order in it is denied for want of a reference).
    fn priced(&self) -> f64 {
        if valid_price(self.reference) {
            self.reference
        } else {
            0.0
        }
    }
}

fn valid_price(p: f64) -> bool {
    p.is_finite() && p > 0.0
}

/// True when `value` is a whole multiple of `step` (any positive value when `step` is 0).
pub fn on_grid(value: f64, step: f64) -> bool {
    if step <= 0.0 {
        return true;
    }
    let units = value / step;
    (units - units.round()).abs() <= GRID_EPS * units.abs().max(1.0)
}

/// A fill the engine cannot book: the message says which order and what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct FillError(pub String);

impl std::fmt::Display for FillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The result of marking the book to its reference prices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mark {
    pub equity: f64,
    pub day_start_equity: f64,
    pub peak_equity: f64,
    pub state: TradingState,
    pub cause: StateCause,
    /// The loss limit that tripped at this mark, if one did.
    pub tripped: Option<StateCause>,
    /// True when a daily-loss trip expired at this mark (a new day began).
    pub cleared: bool,
}

pub struct RiskEngine {
    limits: Limits,
    instruments: Vec<InstrumentLimits>,
    book: Vec<Book>,
    orders: OrderMap,
    next_id: u64,
    cash: f64,
    gross: f64,
    net_value: f64,
    open_buy_notional: f64,
    open_sell_notional: f64,
    submits: VecDeque<i64>,
    modifies: VecDeque<i64>,
    state: TradingState,
    cause: StateCause,
    day: Option<i64>,
    day_start_equity: f64,
    peak_equity: f64,
    last_equity: f64,
}

impl RiskEngine {
    /// An engine for `instruments` (index = instrument id) with `cash` and no positions.
    pub fn new(
        limits: Limits,
        instruments: Vec<InstrumentLimits>,
        cash: f64,
    ) -> Result<Self, LimitError> {
        limits.validate()?;
        for (i, inst) in instruments.iter().enumerate() {
            inst.validate(i)?;
        }
        if !cash.is_finite() {
            return Err(LimitError(format!("cash must be finite, got {cash}")));
        }
        let n = instruments.len();
        Ok(Self {
            limits,
            instruments,
            book: vec![Book::default(); n],
            orders: OrderMap::default(),
            next_id: 1,
            cash,
            gross: 0.0,
            net_value: 0.0,
            open_buy_notional: 0.0,
            open_sell_notional: 0.0,
            submits: VecDeque::new(),
            modifies: VecDeque::new(),
            state: TradingState::Active,
            cause: StateCause::None,
            day: None,
            day_start_equity: f64::NAN,
            peak_equity: f64::NAN,
            last_equity: f64::NAN,
        })
    }

    // ---- state ---------------------------------------------------------------------------

    pub fn n_instruments(&self) -> usize {
        self.instruments.len()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn instrument(&self, i: usize) -> Option<&InstrumentLimits> {
        self.instruments.get(i)
    }

    pub fn state(&self) -> TradingState {
        self.state
    }

    pub fn cause(&self) -> StateCause {
        self.cause
    }

    pub fn cash(&self) -> f64 {
        self.cash
    }

    /// Cash plus positions at their reference prices.
    pub fn equity(&self) -> f64 {
        self.cash + self.net_value
    }

    /// Sum over instruments of worst-case |position| x reference.
    pub fn gross(&self) -> f64 {
        self.gross
    }

    /// Sum of position x reference (working orders not included).
    pub fn net(&self) -> f64 {
        self.net_value
    }

    pub fn open_order_notional(&self) -> f64 {
        self.open_buy_notional + self.open_sell_notional
    }

    pub fn position(&self, i: usize) -> f64 {
        self.book.get(i).map_or(0.0, |b| b.position)
    }

    /// (working buy quantity, working sell quantity) of an instrument.
    pub fn working(&self, i: usize) -> (f64, f64) {
        self.book
            .get(i)
            .map_or((0.0, 0.0), |b| (b.open_buy, b.open_sell))
    }

    pub fn reference(&self, i: usize) -> Option<(f64, i64)> {
        self.book
            .get(i)
            .filter(|b| valid_price(b.reference))
            .map(|b| (b.reference, b.reference_ts))
    }

    pub fn open_order(&self, id: u64) -> Option<&OpenOrder> {
        self.orders.get(&id)
    }

    /// Working orders, sorted by id (the order they were accepted in).
    pub fn open_orders(&self) -> Vec<(u64, OpenOrder)> {
        let mut all: Vec<_> = self.orders.iter().map(|(&id, &o)| (id, o)).collect();
        all.sort_unstable_by_key(|&(id, _)| id);
        all
    }

    /// Accepted submits counted by the throttle within its window ending at `now`.
    pub fn submits_in_window(&self, now: i64) -> usize {
        in_window(&self.submits, now, self.limits.submits)
    }

    pub fn modifies_in_window(&self, now: i64) -> usize {
        in_window(&self.modifies, now, self.limits.modifies)
    }

    /// Makes room for `additional` working orders, so a large batch does not rehash as it goes.
    pub fn reserve_orders(&mut self, additional: usize) {
        self.orders.reserve(additional);
    }

    // ---- inputs from outside: prices, account, state ----------------------------------------

    /// Sets an instrument's reference price at time `ts`. A NaN, infinite or non-positive price
    /// is ignored (returns false): the previous reference stands and grows stale.
    pub fn set_reference(&mut self, i: usize, price: f64, ts: i64) -> bool {
        if i >= self.book.len() || !valid_price(price) {
            return false;
        }
        let b = &mut self.book[i];
        b.reference = price;
        b.reference_ts = ts;
        self.refresh(i);
        true
    }

    /// Overwrites a position (restoring from a journal, or adopting the broker's at
    /// reconciliation). Working orders are kept.
    pub fn set_position(&mut self, i: usize, qty: f64) -> bool {
        if i >= self.book.len() || !qty.is_finite() {
            return false;
        }
        self.book[i].position = qty;
        self.refresh(i);
        true
    }

    pub fn set_cash(&mut self, cash: f64) -> bool {
        if !cash.is_finite() {
            return false;
        }
        self.cash = cash;
        true
    }

    /// Restores the loss trips' memory: the UTC day (ts / DAY_NS) the equity figures belong to,
    /// that day's starting equity, the peak equity, and the equity at the last mark.
    pub fn set_loss_baseline(&mut self, day: i64, day_start: f64, peak: f64, last: f64) {
        self.day = Some(day);
        self.day_start_equity = day_start;
        self.peak_equity = peak;
        self.last_equity = last;
    }

    /// Sets the trading state by hand (resume, reduce, halt). Open orders are left alone; use
    /// `kill` to halt and cancel them.
    pub fn set_state(&mut self, state: TradingState, cause: StateCause) {
        self.state = state;
        self.cause = if state == TradingState::Active {
            StateCause::None
        } else {
            cause
        };
    }

    /// The kill switch: HALTED, and every working order cancelled. Returns the cancelled ids.
    pub fn kill(&mut self) -> Vec<u64> {
        self.state = TradingState::Halted;
        self.cause = StateCause::KillSwitch;
        self.cancel_all()
    }

    pub fn cancel_all(&mut self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.orders.keys().copied().collect();
        ids.sort_unstable();
        for &id in &ids {
            self.cancel(id);
        }
        ids
    }

    // ---- orders ------------------------------------------------------------------------------

    /// Checks an order; when accepted, books it as working and returns its id.
    pub fn submit(&mut self, order: &OrderRequest, now: i64) -> (Reason, u64) {
        let reason = self.check(order, now, true);
        if !reason.accepted() {
            return (reason, 0);
        }
        let id = self.next_id;
        self.next_id += 1;
        let open = self.open_from(order);
        self.book_order(id, open);
        record(&mut self.submits, now, self.limits.submits);
        (Reason::Accepted, id)
    }

    /// Books a working order without checking it: restoring the orders a broker still holds
    /// after a restart, which were checked when they were sent. Returns its new id, or None
    /// for an order the engine cannot hold (unknown instrument, bad side, quantity or price).
    pub fn adopt(&mut self, order: &OrderRequest) -> Option<u64> {
        let valid = order.instrument < self.book.len()
            && Side::from_sign(order.side).is_some()
            && order.qty.is_finite()
            && order.qty > 0.0
            && (order.price.is_nan() || valid_price(order.price));
        if !valid {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut open = self.open_from(order);
        if !valid_price(open.price) {
            // A market order adopted before any reference: count its notional as zero until
            // it fills or is cancelled, rather than as NaN that would poison the sums.
            open.price = 0.0;
        }
        self.book_order(id, open);
        Some(id)
    }

    /// Replaces a working order's quantity and limit price (NaN: market). The replacement is
    /// checked as a new order would be, with the old one taken out first; if it is denied the
    /// old order stays as it was.
    pub fn modify(&mut self, id: u64, qty: f64, price: f64, now: i64) -> Reason {
        if self.state == TradingState::Halted {
            return Reason::Halted;
        }
        let Some(old) = self.orders.remove(&id) else {
            return Reason::UnknownOrder;
        };
        if self.limits.modifies.is_on()
            && in_window(&self.modifies, now, self.limits.modifies)
                >= self.limits.modifies.max as usize
        {
            self.orders.insert(id, old);
            return Reason::ModifyRate;
        }
        self.unbook(&old, old.remaining);
        let request = OrderRequest {
            instrument: old.instrument,
            side: old.side.sign() as i8,
            qty,
            price,
            reduce_only: old.reduce_only,
        };
        let reason = self.check(&request, now, false);
        if reason.accepted() {
            let open = self.open_from(&request);
            self.book_order(id, open);
            record(&mut self.modifies, now, self.limits.modifies);
        } else {
            self.book_order(id, old);
        }
        reason
    }

    /// Cancels a working order; false when the id is not working. Cancels always pass, HALTED
    /// included.
    pub fn cancel(&mut self, id: u64) -> bool {
        match self.orders.remove(&id) {
            Some(old) => {
                self.unbook(&old, old.remaining);
                true
            }
            None => false,
        }
    }

    /// Books a fill of a working order: the position and cash move, the working quantity
    /// shrinks, and the order is gone once nothing remains. `fee` is paid from cash.
    pub fn fill(&mut self, id: u64, qty: f64, price: f64, fee: f64) -> Result<(), FillError> {
        let Some(order) = self.orders.get(&id).copied() else {
            return Err(FillError(format!(
                "fill of order {id}: no such working order (never accepted, already filled or cancelled)"
            )));
        };
        if !(qty.is_finite() && qty > 0.0) {
            return Err(FillError(format!(
                "fill of order {id}: quantity must be finite and > 0, got {qty}"
            )));
        }
        if !valid_price(price) {
            return Err(FillError(format!(
                "fill of order {id}: price must be finite and > 0, got {price}"
            )));
        }
        if !fee.is_finite() {
            return Err(FillError(format!(
                "fill of order {id}: fee must be finite, got {fee}"
            )));
        }
        let tolerance = GRID_EPS * order.remaining.max(1.0);
        if qty > order.remaining + tolerance {
            return Err(FillError(format!(
                "fill of order {id}: {qty} is more than the {} still working",
                order.remaining
            )));
        }
        let done = qty >= order.remaining - tolerance;
        let booked = if done { order.remaining } else { qty };
        let i = order.instrument;
        match order.side {
            Side::Buy => {
                self.book[i].position += qty;
                self.cash -= qty * price + fee;
            }
            Side::Sell => {
                self.book[i].position -= qty;
                self.cash += qty * price - fee;
            }
        }
        if done {
            self.orders.remove(&id);
            self.unbook(&order, booked);
        } else {
            self.reduce_working(&order, booked);
            if let Some(o) = self.orders.get_mut(&id) {
                o.remaining -= booked;
            }
            self.refresh(i);
        }
        Ok(())
    }

    /// The checks, in order; the first that fails names the denial. `count_submits` is false
    /// for a modify, which has its own throttle.
    pub fn check(&self, o: &OrderRequest, now: i64, count_submits: bool) -> Reason {
        if self.state == TradingState::Halted {
            return Reason::Halted;
        }
        let Some(lim) = self.instruments.get(o.instrument) else {
            return Reason::UnknownInstrument;
        };
        if !lim.tradable {
            return Reason::Restricted;
        }
        let Some(side) = Side::from_sign(o.side) else {
            return Reason::InvalidSide;
        };
        if !(o.qty.is_finite() && o.qty > 0.0) {
            return Reason::InvalidQuantity;
        }
        let is_limit = !o.price.is_nan();
        if is_limit && !valid_price(o.price) {
            return Reason::InvalidPrice;
        }
        if !on_grid(o.qty, lim.lot_size) {
            return Reason::LotSize;
        }
        if is_limit && !on_grid(o.price, lim.tick_size) {
            return Reason::TickSize;
        }
        let b = &self.book[o.instrument];
        if !valid_price(b.reference) {
            return Reason::ReferenceMissing;
        }
        if now.saturating_sub(b.reference_ts) > self.limits.reference_max_age_ns {
            return Reason::ReferenceStale;
        }
        let reference = b.reference;
        if is_limit && (o.price / reference - 1.0).abs() > self.limits.collar {
            return Reason::PriceCollar;
        }
        let px = if is_limit { o.price } else { reference };
        let notional = o.qty * px;
        if o.qty > lim.max_order_qty {
            return Reason::MaxOrderQty;
        }
        if notional > lim.max_order_notional {
            return Reason::MaxOrderNotional;
        }
        if notional > self.limits.max_order_notional {
            return Reason::MaxOrderNotionalGlobal;
        }

        let (hi, lo) = match side {
            Side::Buy => (b.position + b.open_buy + o.qty, b.position - b.open_sell),
            Side::Sell => (b.position + b.open_buy, b.position - b.open_sell - o.qty),
        };
        // Reducing: even if every working order in the same direction fills, the position only
        // moves toward zero and never crosses it.
        let reduces = match side {
            Side::Buy => hi <= 0.0,
            Side::Sell => lo >= 0.0,
        };
        if o.reduce_only && !reduces {
            return Reason::ReduceOnly;
        }
        if self.state == TradingState::Reducing && !reduces {
            return Reason::Reducing;
        }
        let before = b.worst();
        let after = hi.abs().max(lo.abs());
        let grows = after > before;
        if grows && after > lim.max_position_qty {
            return Reason::MaxPositionQty;
        }
        if grows && after * reference > lim.max_position_notional {
            return Reason::MaxPositionNotional;
        }
        if grows && self.limits.max_position_weight.is_finite() {
            let equity = self.equity();
            if equity <= 0.0 || after * reference > self.limits.max_position_weight * equity {
                return Reason::MaxPositionWeight;
            }
        }
        let gross_after = self.gross - b.exposure + after * reference;
        if grows && gross_after > self.limits.max_gross_notional {
            return Reason::GrossExposure;
        }
        let net_breached = match side {
            Side::Buy => {
                self.net_value + self.open_buy_notional + notional > self.limits.max_net_notional
            }
            Side::Sell => {
                self.net_value - self.open_sell_notional - notional < -self.limits.max_net_notional
            }
        };
        if net_breached {
            return Reason::NetExposure;
        }
        if self.open_order_notional() + notional > self.limits.max_open_order_notional {
            return Reason::OpenOrderNotional;
        }
        if grows && self.limits.max_leverage.is_finite() {
            let equity = self.equity();
            if equity <= 0.0 || gross_after > equity * self.limits.max_leverage {
                return Reason::BuyingPower;
            }
        }
        if count_submits
            && self.limits.submits.is_on()
            && in_window(&self.submits, now, self.limits.submits)
                >= self.limits.submits.max as usize
        {
            return Reason::SubmitRate;
        }
        Reason::Accepted
    }

    // ---- loss limits --------------------------------------------------------------------------

    /// Marks the book at its reference prices at time `now`: starts a new day when the UTC day
    /// changed (a daily-loss trip expires then), updates the peak, and trips REDUCING or
    /// HALTED when the day's loss or the drawdown passes its limit. Trips only escalate.
    pub fn mark(&mut self, now: i64) -> Mark {
        self.resync();
        let equity = self.equity();
        let day = now.div_euclid(DAY_NS);
        let mut cleared = false;
        if self.day.is_none_or(|d| day > d) {
            self.day_start_equity = if self.last_equity.is_finite() {
                self.last_equity
            } else {
                equity
            };
            self.day = Some(day);
            if self.cause == StateCause::DailyLoss {
                self.state = TradingState::Active;
                self.cause = StateCause::None;
                cleared = true;
            }
        }
        // NaN before the first mark: the first equity seen is the first peak.
        if self.peak_equity.is_nan() || equity > self.peak_equity {
            self.peak_equity = equity;
        }
        let mut tripped = None;
        let start = self.day_start_equity;
        if start > 0.0 && start - equity > self.limits.max_daily_loss * start {
            tripped = self
                .trip(self.limits.daily_loss_action, StateCause::DailyLoss)
                .or(tripped);
        }
        let peak = self.peak_equity;
        if peak > 0.0 && peak - equity > self.limits.max_drawdown * peak {
            tripped = self
                .trip(self.limits.drawdown_action, StateCause::Drawdown)
                .or(tripped);
        }
        self.last_equity = equity;
        Mark {
            equity,
            day_start_equity: self.day_start_equity,
            peak_equity: self.peak_equity,
            state: self.state,
            cause: self.cause,
            tripped,
            cleared,
        }
    }

    /// Escalates to `action`; a sticky cause (drawdown) also takes over a daily-loss state of
    /// the same level, so the next day does not clear it.
    fn trip(&mut self, action: TradingState, cause: StateCause) -> Option<StateCause> {
        let takes_over = action == self.state
            && self.cause == StateCause::DailyLoss
            && cause != StateCause::DailyLoss;
        if action > self.state || takes_over {
            self.state = action;
            self.cause = cause;
            Some(cause)
        } else {
            None
        }
    }

    /// Recomputes the running sums from the books and working orders, so float drift from
    /// incremental updates never accumulates past one mark.
    pub fn resync(&mut self) {
        let (mut gross, mut net) = (0.0, 0.0);
        for b in &mut self.book {
            let r = b.priced();
            b.exposure = b.worst() * r;
            b.value = b.position * r;
            gross += b.exposure;
            net += b.value;
        }
        self.gross = gross;
        self.net_value = net;
        // In id order, so the sums are the same bits whatever the map's iteration order.
        let (mut buys, mut sells) = (0.0, 0.0);
        for (_, order) in self.open_orders() {
            match order.side {
                Side::Buy => buys += order.remaining * order.price,
                Side::Sell => sells += order.remaining * order.price,
            }
        }
        self.open_buy_notional = buys;
        self.open_sell_notional = sells;
    }

    // ---- bookkeeping --------------------------------------------------------------------------

    fn open_from(&self, o: &OrderRequest) -> OpenOrder {
        let side = Side::from_sign(o.side).expect("checked");
        let price = if o.price.is_nan() {
            self.book[o.instrument].reference
        } else {
            o.price
        };
        OpenOrder {
            instrument: o.instrument,
            side,
            remaining: o.qty,
            limit: o.price,
            price,
            reduce_only: o.reduce_only,
        }
    }

    fn book_order(&mut self, id: u64, order: OpenOrder) {
        let i = order.instrument;
        let b = &mut self.book[i];
        b.n_open += 1;
        match order.side {
            Side::Buy => {
                b.open_buy += order.remaining;
                self.open_buy_notional += order.remaining * order.price;
            }
            Side::Sell => {
                b.open_sell += order.remaining;
                self.open_sell_notional += order.remaining * order.price;
            }
        }
        self.orders.insert(id, order);
        self.refresh(i);
    }

    fn reduce_working(&mut self, order: &OpenOrder, qty: f64) {
        let b = &mut self.book[order.instrument];
        match order.side {
            Side::Buy => {
                b.open_buy -= qty;
                self.open_buy_notional -= qty * order.price;
            }
            Side::Sell => {
                b.open_sell -= qty;
                self.open_sell_notional -= qty * order.price;
            }
        }
    }

    /// Takes `qty` of a removed order off the books.
    fn unbook(&mut self, order: &OpenOrder, qty: f64) {
        self.reduce_working(order, qty);
        let i = order.instrument;
        let b = &mut self.book[i];
        b.n_open -= 1;
        if b.n_open == 0 {
            // Exactly zero, not a float residue that would keep a phantom working quantity.
            b.open_buy = 0.0;
            b.open_sell = 0.0;
        }
        if self.orders.is_empty() {
            self.open_buy_notional = 0.0;
            self.open_sell_notional = 0.0;
        }
        self.refresh(i);
    }

    fn refresh(&mut self, i: usize) {
        let b = &mut self.book[i];
        let r = b.priced();
        let exposure = b.worst() * r;
        let value = b.position * r;
        self.gross += exposure - b.exposure;
        self.net_value += value - b.value;
        b.exposure = exposure;
        b.value = value;
    }
}

/// Accepted messages within the throttle's window ending at `now` (times after `now - window`).
fn in_window(times: &VecDeque<i64>, now: i64, throttle: Throttle) -> usize {
    if !throttle.is_on() {
        return 0;
    }
    let start = now.saturating_sub(throttle.window_ns);
    times.len() - times.partition_point(|&t| t <= start)
}

/// Records an accepted message, dropping the times that left the window. The deque stays sorted
/// while the caller's clock does not go backwards, and never holds more than `max` times.
fn record(times: &mut VecDeque<i64>, now: i64, throttle: Throttle) {
    if !throttle.is_on() {
        return;
    }
    let start = now.saturating_sub(throttle.window_ns);
    while times.front().is_some_and(|&t| t <= start) {
        times.pop_front();
    }
    times.push_back(now);
}
