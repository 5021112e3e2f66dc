//! The backtest's path through the engine: target weights, bar by bar, become orders that the
//! same checks approve or deny, and the weights actually held come back.
//!
//! Per timestamp (rows sorted by time; several symbols share one): reference prices are set
//! to the bar's price, the book is marked (loss trips), each row's target weight becomes a target
//! quantity at the current equity, the plan's legs are checked with closing legs first (as an
//! order manager sends them, so exposure is freed before it is used), and every accepted leg
//! fills at once at the bar's price, paying `cost_rate` x notional. The held weight is the
//! position x price / equity; a row whose plan was fully accepted and exact keeps its target
//! weight bit for bit, so routing changes nothing where no limit binds.

use super::engine::{OrderRequest, RiskEngine};
use super::plan::plan;
use super::reason::Reason;

/// Settings of a routed backtest beside the engine's own limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RouteParams {
    /// Cost per unit of traded notional (cost_bps / 1e4), paid from cash at each fill.
    pub cost_rate: f64,
    /// No-trade threshold in currency.
    pub min_trade_notional: f64,
    /// No-trade threshold as a fraction of equity.
    pub min_trade_weight: f64,
}

/// Per row: the weight held after the bar's orders, the first denial (0: none), the engine's
/// state when the bar's orders were checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Routed {
    pub weight: Vec<f64>,
    pub reason: Vec<u8>,
    pub state: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteError(pub String);

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Routes `target` weights through `engine` (fresh: its cash is the starting capital). Rows are
/// (ts, instrument, target weight, price), sorted by ts, one row per instrument and ts.
pub fn route_target_weights(
    engine: &mut RiskEngine,
    ts: &[i64],
    instrument: &[i64],
    target: &[f64],
    price: &[f64],
    params: RouteParams,
) -> Result<Routed, RouteError> {
    let n = ts.len();
    if instrument.len() != n || target.len() != n || price.len() != n {
        return Err(RouteError(format!(
            "ts, instrument, target and price must have one length; got {n}, {}, {}, {}",
            instrument.len(),
            target.len(),
            price.len()
        )));
    }
    let mut out = Routed {
        weight: vec![0.0; n],
        reason: vec![0; n],
        state: vec![0; n],
    };
    // The row that last touched each instrument: finds a second row of one instrument at one ts.
    let mut seen: Vec<usize> = vec![usize::MAX; engine.n_instruments()];
    let mut legs: Vec<(usize, OrderRequest, bool)> = Vec::new();
    let mut exact: Vec<bool> = vec![false; n];
    let mut start = 0;
    while start < n {
        let now = ts[start];
        let mut end = start + 1;
        while end < n && ts[end] == now {
            end += 1;
        }
        if end < n && ts[end] < now {
            return Err(RouteError(format!(
                "rows must be sorted by ts: row {end} ({}) comes after row {} ({now})",
                ts[end],
                end - 1
            )));
        }
        for k in start..end {
            if let Some(i) = index(instrument[k], engine) {
                if seen[i] != usize::MAX && seen[i] >= start {
                    return Err(RouteError(format!(
                        "instrument {i} has two rows ({} and {k}) at ts {now}; give one target per instrument and ts",
                        seen[i]
                    )));
                }
                seen[i] = k;
                engine.set_reference(i, price[k], now);
            }
        }
        engine.mark(now);
        let state = engine.state() as u8;
        let equity = engine.equity();
        let min_notional = params
            .min_trade_notional
            .max(params.min_trade_weight * equity.max(0.0));

        legs.clear();
        for k in start..end {
            out.state[k] = state;
            let Some(i) = index(instrument[k], engine) else {
                out.reason[k] = Reason::UnknownInstrument.code();
                continue;
            };
            if !target[k].is_finite() {
                out.reason[k] = Reason::InvalidQuantity.code();
                continue;
            }
            if !(price[k].is_finite() && price[k] > 0.0) {
                out.reason[k] = Reason::ReferenceMissing.code();
                continue;
            }
            let lot = engine.instrument(i).map_or(0.0, |l| l.lot_size);
            let target_qty = if equity > 0.0 {
                target[k] * equity / price[k]
            } else {
                0.0
            };
            let p = plan(engine.position(i), target_qty, lot, price[k], min_notional);
            exact[k] = p.exact;
            for leg in p.legs() {
                let request = OrderRequest {
                    instrument: i,
                    side: leg.side.sign() as i8,
                    qty: leg.qty,
                    price: f64::NAN,
                    reduce_only: false,
                };
                legs.push((k, request, leg.closing));
            }
        }
        // Closing legs first: they free exposure and buying power the opening legs need.
        legs.sort_by_key(|&(_, _, closing)| !closing);
        for &(k, request, _) in &legs {
            let (reason, id) = engine.submit(&request, now);
            if reason.accepted() {
                let fee = params.cost_rate * request.qty * price[k];
                engine
                    .fill(id, request.qty, price[k], fee)
                    .map_err(|e| RouteError(e.0))?;
            } else if out.reason[k] == 0 {
                out.reason[k] = reason.code();
            }
        }
        for k in start..end {
            let Some(i) = index(instrument[k], engine) else {
                continue;
            };
            out.weight[k] = if exact[k] && out.reason[k] == 0 {
                target[k]
            } else if equity > 0.0 && price[k].is_finite() && price[k] > 0.0 {
                engine.position(i) * price[k] / equity
            } else {
                0.0
            };
        }
        start = end;
    }
    Ok(out)
}

fn index(instrument: i64, engine: &RiskEngine) -> Option<usize> {
    usize::try_from(instrument)
        .ok()
        .filter(|&i| i < engine.n_instruments())
}
