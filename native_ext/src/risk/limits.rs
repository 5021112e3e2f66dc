//! The limits the engine enforces. A limit that is off is `f64::INFINITY` (or 0 for a throttle),
//! so every check is one comparison and no check has a special case for "not configured".

use super::reason::TradingState;

/// Per-instrument limits and reference data (lot and tick), resolved from the configuration's
/// defaults and per-symbol overrides before the engine is built.
#[derive(Clone, Debug, PartialEq)]
pub struct InstrumentLimits {
    /// False for a restricted symbol: every order in it is denied.
    pub tradable: bool,
    /// Quantities must be whole multiples of this; 0 accepts any positive quantity.
    pub lot_size: f64,
    /// Limit prices must be whole multiples of this; 0 accepts any positive price.
    pub tick_size: f64,
    pub max_order_qty: f64,
    pub max_order_notional: f64,
    /// Bounds on |position| in the worst case where every working order fills.
    pub max_position_qty: f64,
    pub max_position_notional: f64,
}

impl Default for InstrumentLimits {
    fn default() -> Self {
        Self {
            tradable: true,
            lot_size: 0.0,
            tick_size: 0.0,
            max_order_qty: f64::INFINITY,
            max_order_notional: f64::INFINITY,
            max_position_qty: f64::INFINITY,
            max_position_notional: f64::INFINITY,
        }
    }
}

/// A sliding-window rate limit: at most `max` accepted messages in any `window_ns`.
/// `max == 0` turns it off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throttle {
    pub max: u32,
    pub window_ns: i64,
}

impl Throttle {
    pub const OFF: Throttle = Throttle {
        max: 0,
        window_ns: 0,
    };

    pub fn is_on(&self) -> bool {
        self.max > 0 && self.window_ns > 0
    }
}

/// Account-wide limits and the automatic loss trips.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Firm-wide cap on one order's notional, whatever the instrument.
    pub max_order_notional: f64,
    pub max_gross_notional: f64,
    /// |net exposure| bound, with working orders counted in the direction they push.
    pub max_net_notional: f64,
    pub max_open_order_notional: f64,
    /// Any one position's worst case may not exceed this fraction of equity.
    pub max_position_weight: f64,
    /// Buying power: gross exposure after an order may not exceed equity x this.
    pub max_leverage: f64,
    /// A limit price may differ from the reference by at most this fraction.
    pub collar: f64,
    /// A reference price older than this (in the caller's clock) rejects the order.
    pub reference_max_age_ns: i64,
    pub submits: Throttle,
    pub modifies: Throttle,
    /// Trip when the day's loss exceeds this fraction of the day's starting equity.
    pub max_daily_loss: f64,
    pub daily_loss_action: TradingState,
    /// Trip when equity falls this fraction below its peak.
    pub max_drawdown: f64,
    pub drawdown_action: TradingState,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_order_notional: f64::INFINITY,
            max_gross_notional: f64::INFINITY,
            max_net_notional: f64::INFINITY,
            max_open_order_notional: f64::INFINITY,
            max_position_weight: f64::INFINITY,
            max_leverage: f64::INFINITY,
            collar: f64::INFINITY,
            reference_max_age_ns: i64::MAX,
            submits: Throttle::OFF,
            modifies: Throttle::OFF,
            max_daily_loss: f64::INFINITY,
            daily_loss_action: TradingState::Reducing,
            max_drawdown: f64::INFINITY,
            drawdown_action: TradingState::Halted,
        }
    }
}

/// Why a set of limits cannot be used; the message names the field.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitError(pub String);

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn positive_or_inf(name: &str, value: f64) -> Result<(), LimitError> {
    if value > 0.0 && !value.is_nan() {
        Ok(())
    } else {
        Err(LimitError(format!(
            "{name} must be > 0 (use infinity for no limit), got {value}"
        )))
    }
}

fn grid(name: &str, value: f64) -> Result<(), LimitError> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(LimitError(format!(
            "{name} must be finite and >= 0 (0: no grid), got {value}"
        )))
    }
}

impl InstrumentLimits {
    pub fn validate(&self, index: usize) -> Result<(), LimitError> {
        grid(&format!("instrument {index}: lot_size"), self.lot_size)?;
        grid(&format!("instrument {index}: tick_size"), self.tick_size)?;
        for (name, value) in [
            ("max_order_qty", self.max_order_qty),
            ("max_order_notional", self.max_order_notional),
            ("max_position_qty", self.max_position_qty),
            ("max_position_notional", self.max_position_notional),
        ] {
            positive_or_inf(&format!("instrument {index}: {name}"), value)?;
        }
        Ok(())
    }
}

impl Limits {
    pub fn validate(&self) -> Result<(), LimitError> {
        for (name, value) in [
            ("max_order_notional", self.max_order_notional),
            ("max_gross_notional", self.max_gross_notional),
            ("max_net_notional", self.max_net_notional),
            ("max_open_order_notional", self.max_open_order_notional),
            ("max_position_weight", self.max_position_weight),
            ("max_leverage", self.max_leverage),
            ("collar", self.collar),
            ("max_daily_loss", self.max_daily_loss),
            ("max_drawdown", self.max_drawdown),
        ] {
            positive_or_inf(name, value)?;
        }
        if self.reference_max_age_ns < 0 {
            return Err(LimitError(format!(
                "reference_max_age_ns must be >= 0, got {}",
                self.reference_max_age_ns
            )));
        }
        for (name, throttle) in [("submits", self.submits), ("modifies", self.modifies)] {
            if throttle.max > 0 && throttle.window_ns <= 0 {
                return Err(LimitError(format!(
                    "{name} throttle allows {} per window but its window is {} ns; give a positive window",
                    throttle.max, throttle.window_ns
                )));
            }
        }
        for (name, action) in [
            ("daily_loss_action", self.daily_loss_action),
            ("drawdown_action", self.drawdown_action),
        ] {
            if action == TradingState::Active {
                return Err(LimitError(format!(
                    "{name} must be reducing or halted: a trip that leaves trading active does nothing"
                )));
            }
        }
        Ok(())
    }
}
