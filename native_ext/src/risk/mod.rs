//! Pre-trade risk: one engine for the backtest, the paper broker and live brokers.
//!
//! - `reason`: the reason codes every decision carries, the trading states and their causes.
//! - `limits`: what is enforced (per instrument and account-wide); off is infinity.
//! - `engine`: the stateful engine (positions, working orders, references, throttles, trips).
//! - `plan`: target position to orders (whole lots, no-trade threshold, close before open).
//! - `route`: the backtest's bar-by-bar path through the engine.

pub mod engine;
pub mod limits;
pub mod plan;
pub mod reason;
pub mod route;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use engine::{Mark, OpenOrder, OrderRequest, RiskEngine};
pub use limits::{InstrumentLimits, Limits, Throttle};
pub use plan::{plan, Leg, Plan};
pub use reason::{Reason, Side, StateCause, TradingState, REASONS};
pub use route::{route_target_weights, RouteParams, Routed};
