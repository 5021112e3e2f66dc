//! From a target position to orders: the difference, in whole lots, skipped under the no-trade
//! threshold, split in two where it crosses zero (close, then open) so that a REDUCING engine
//! can still let the closing half through.

use super::engine::GRID_EPS;
use super::reason::Side;

/// One order of a plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Leg {
    pub side: Side,
    pub qty: f64,
    /// True when the leg only shrinks the current position.
    pub closing: bool,
}

/// Up to two legs (close, then open) and whether filling them reaches the target exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    pub legs: [Option<Leg>; 2],
    pub exact: bool,
}

impl Plan {
    const NONE: Plan = Plan {
        legs: [None, None],
        exact: false,
    };

    pub fn legs(&self) -> impl Iterator<Item = Leg> + '_ {
        self.legs.iter().flatten().copied()
    }

    pub fn qty(&self) -> f64 {
        self.legs().map(|l| l.qty).sum()
    }
}

/// Whole lots of `qty`, rounded toward zero (0 lot: unchanged).
pub fn whole_lots(qty: f64, lot: f64) -> f64 {
    if lot > 0.0 {
        (qty / lot + GRID_EPS).floor() * lot
    } else {
        qty
    }
}

/// The orders that move `current` toward `target` (signed quantities) at `price`.
///
/// The traded quantity is |target - current| rounded down to whole lots, so a plan never
/// overshoots its target. Nothing is traded when that is under `min_notional` at `price`.
/// A non-finite target or price plans nothing.
pub fn plan(current: f64, target: f64, lot: f64, price: f64, min_notional: f64) -> Plan {
    let delta = target - current;
    if !(delta.is_finite() && current.is_finite() && price.is_finite() && price > 0.0) {
        return Plan::NONE;
    }
    if delta == 0.0 {
        return Plan {
            legs: [None, None],
            exact: true,
        };
    }
    let qty = whole_lots(delta.abs(), lot);
    if qty <= 0.0 || qty * price < min_notional {
        return Plan::NONE;
    }
    let exact = qty == delta.abs();
    let side = if delta > 0.0 { Side::Buy } else { Side::Sell };
    let against = (current > 0.0 && side == Side::Sell) || (current < 0.0 && side == Side::Buy);
    if against && qty > current.abs() {
        let close = current.abs();
        let open = qty - close;
        return Plan {
            legs: [
                Some(Leg {
                    side,
                    qty: close,
                    closing: true,
                }),
                Some(Leg {
                    side,
                    qty: open,
                    closing: false,
                }),
            ],
            exact,
        };
    }
    Plan {
        legs: [
            Some(Leg {
                side,
                qty,
                closing: against,
            }),
            None,
        ],
        exact,
    }
}
