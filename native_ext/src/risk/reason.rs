//! Reason codes: every decision the engine makes carries one, so an audit can say why.
//!
//! Codes are stable integers (they are stored in the journal); never renumber one, only append.

/// Why an order was accepted or denied. `Accepted` is the only code that lets an order through.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    Accepted = 0,
    /// Trading is HALTED: no submit or modify passes, only cancels.
    Halted = 1,
    /// The instrument index is not one the engine was built with.
    UnknownInstrument = 2,
    /// The instrument is on the restricted list (not tradable).
    Restricted = 3,
    /// Side is neither buy (+1) nor sell (-1).
    InvalidSide = 4,
    /// Quantity is NaN, infinite, zero or negative.
    InvalidQuantity = 5,
    /// A limit price is infinite, zero or negative.
    InvalidPrice = 6,
    /// Quantity is not a whole number of lots.
    LotSize = 7,
    /// A limit price is not on the tick grid.
    TickSize = 8,
    /// No finite positive reference price for the instrument.
    ReferenceMissing = 9,
    /// The reference price is older than the allowed age.
    ReferenceStale = 10,
    /// A limit price is further from the reference than the collar allows.
    PriceCollar = 11,
    /// Quantity over the instrument's per-order maximum.
    MaxOrderQty = 12,
    /// Notional over the instrument's per-order maximum.
    MaxOrderNotional = 13,
    /// Notional over the firm-wide per-order maximum.
    MaxOrderNotionalGlobal = 14,
    /// A reduce-only order would open or grow a position.
    ReduceOnly = 15,
    /// Trading is REDUCING and the order would open or grow a position.
    Reducing = 16,
    /// The position's worst case (with working orders) would exceed its quantity limit.
    MaxPositionQty = 17,
    /// The position's worst case (with working orders) would exceed its notional limit.
    MaxPositionNotional = 18,
    /// Gross exposure (sum of |worst-case position| x reference) over its limit.
    GrossExposure = 19,
    /// Net exposure (signed positions plus working orders) outside +/- its limit.
    NetExposure = 20,
    /// Working orders' notional over its limit.
    OpenOrderNotional = 21,
    /// Gross exposure would exceed equity x max leverage.
    BuyingPower = 22,
    /// Too many accepted submits within the throttle window.
    SubmitRate = 23,
    /// Too many accepted modifies within the throttle window.
    ModifyRate = 24,
    /// Modify or fill of an order id the engine does not hold open.
    UnknownOrder = 25,
    /// The position's worst case would exceed its fraction of equity.
    MaxPositionWeight = 26,
}

/// Every reason, indexed by its code.
pub const REASONS: [Reason; 27] = [
    Reason::Accepted,
    Reason::Halted,
    Reason::UnknownInstrument,
    Reason::Restricted,
    Reason::InvalidSide,
    Reason::InvalidQuantity,
    Reason::InvalidPrice,
    Reason::LotSize,
    Reason::TickSize,
    Reason::ReferenceMissing,
    Reason::ReferenceStale,
    Reason::PriceCollar,
    Reason::MaxOrderQty,
    Reason::MaxOrderNotional,
    Reason::MaxOrderNotionalGlobal,
    Reason::ReduceOnly,
    Reason::Reducing,
    Reason::MaxPositionQty,
    Reason::MaxPositionNotional,
    Reason::GrossExposure,
    Reason::NetExposure,
    Reason::OpenOrderNotional,
    Reason::BuyingPower,
    Reason::SubmitRate,
    Reason::ModifyRate,
    Reason::UnknownOrder,
    Reason::MaxPositionWeight,
];

impl Reason {
    /// The snake_case name stored in the journal beside the code.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::Accepted => "accepted",
            Reason::Halted => "halted",
            Reason::UnknownInstrument => "unknown_instrument",
            Reason::Restricted => "restricted",
            Reason::InvalidSide => "invalid_side",
            Reason::InvalidQuantity => "invalid_quantity",
            Reason::InvalidPrice => "invalid_price",
            Reason::LotSize => "lot_size",
            Reason::TickSize => "tick_size",
            Reason::ReferenceMissing => "reference_missing",
            Reason::ReferenceStale => "reference_stale",
            Reason::PriceCollar => "price_collar",
            Reason::MaxOrderQty => "max_order_qty",
            Reason::MaxOrderNotional => "max_order_notional",
            Reason::MaxOrderNotionalGlobal => "max_order_notional_global",
            Reason::ReduceOnly => "reduce_only",
            Reason::Reducing => "reducing",
            Reason::MaxPositionQty => "max_position_qty",
            Reason::MaxPositionNotional => "max_position_notional",
            Reason::GrossExposure => "gross_exposure",
            Reason::NetExposure => "net_exposure",
            Reason::OpenOrderNotional => "open_order_notional",
            Reason::BuyingPower => "buying_power",
            Reason::SubmitRate => "submit_rate",
            Reason::ModifyRate => "modify_rate",
            Reason::UnknownOrder => "unknown_order",
            Reason::MaxPositionWeight => "max_position_weight",
        }
    }

    pub const fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Reason> {
        REASONS.get(code as usize).copied()
    }

    pub const fn accepted(self) -> bool {
        matches!(self, Reason::Accepted)
    }
}

/// ACTIVE trades freely; REDUCING only lets orders through that shrink positions; HALTED lets
/// nothing through but cancels.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TradingState {
    Active = 0,
    Reducing = 1,
    Halted = 2,
}

impl TradingState {
    pub fn from_code(code: u8) -> Option<TradingState> {
        match code {
            0 => Some(TradingState::Active),
            1 => Some(TradingState::Reducing),
            2 => Some(TradingState::Halted),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            TradingState::Active => "active",
            TradingState::Reducing => "reducing",
            TradingState::Halted => "halted",
        }
    }
}

/// What put the engine in its current state. A daily-loss trip clears itself at the next day;
/// every other cause stays until someone sets the state again.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateCause {
    None = 0,
    Manual = 1,
    KillSwitch = 2,
    DailyLoss = 3,
    Drawdown = 4,
    Reconciliation = 5,
}

impl StateCause {
    pub fn from_code(code: u8) -> Option<StateCause> {
        match code {
            0 => Some(StateCause::None),
            1 => Some(StateCause::Manual),
            2 => Some(StateCause::KillSwitch),
            3 => Some(StateCause::DailyLoss),
            4 => Some(StateCause::Drawdown),
            5 => Some(StateCause::Reconciliation),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            StateCause::None => "none",
            StateCause::Manual => "manual",
            StateCause::KillSwitch => "kill_switch",
            StateCause::DailyLoss => "daily_loss",
            StateCause::Drawdown => "drawdown",
            StateCause::Reconciliation => "reconciliation",
        }
    }
}

/// Buy adds to a position, sell takes from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// +1 buy, -1 sell, anything else is not a side.
    pub fn from_sign(sign: i8) -> Option<Side> {
        match sign {
            1 => Some(Side::Buy),
            -1 => Some(Side::Sell),
            _ => None,
        }
    }

    pub const fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }
}
