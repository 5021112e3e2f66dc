//! Bindings for the pre-trade risk engine: a stateful `RiskEngine` class whose batch methods
//! take aligned numpy arrays and release the GIL, and the reason/state name tables.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::args::{float_slice, same_length};
use crate::risk::{
    plan, route_target_weights, InstrumentLimits, Limits, OrderRequest, Reason, RiskEngine,
    RouteParams, StateCause, Throttle, TradingState, REASONS,
};

fn ints<'a, T: numpy::Element>(
    array: &'a PyReadonlyArray1<'_, T>,
    name: &str,
) -> PyResult<&'a [T]> {
    array.as_slice().map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be a C-contiguous 1-D array; pass np.ascontiguousarray({name}) \
             (foxml_dagster.native.risk does this for you)"
        ))
    })
}

/// An instrument id as the engine's index; a negative id becomes one no engine knows, so the
/// order is denied as unknown_instrument rather than raising.
fn instrument_index(id: i64) -> usize {
    usize::try_from(id).unwrap_or(usize::MAX)
}

fn state_of(code: u8, name: &str) -> PyResult<TradingState> {
    TradingState::from_code(code).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{name} must be 0 (active), 1 (reducing) or 2 (halted), got {code}"
        ))
    })
}

fn cause_of(code: u8) -> PyResult<StateCause> {
    StateCause::from_code(code).ok_or_else(|| {
        PyValueError::new_err(format!(
            "cause must be one of the codes of risk_cause_names(), got {code}"
        ))
    })
}

fn throttle(name: &str, max: i64, window_ns: i64) -> PyResult<Throttle> {
    let max = u32::try_from(max).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be between 0 and {}, got {max}",
            u32::MAX
        ))
    })?;
    Ok(Throttle { max, window_ns })
}

type Floats<'py> = Bound<'py, PyArray1<f64>>;
type Codes<'py> = Bound<'py, PyArray1<u8>>;
type Ids<'py> = Bound<'py, PyArray1<i64>>;

#[pyclass(name = "RiskEngine", module = "foxml_dagster._native")]
pub struct PyRiskEngine {
    inner: RiskEngine,
}

#[pymethods]
impl PyRiskEngine {
    #[new]
    #[pyo3(signature = (
        *, cash, tradable, lot_size, tick_size, max_order_qty, max_order_notional,
        max_position_qty, max_position_notional, max_order_notional_global, max_gross_notional,
        max_net_notional, max_open_order_notional, max_position_weight, max_leverage, collar, reference_max_age_ns,
        max_submits, submit_window_ns, max_modifies, modify_window_ns, max_daily_loss,
        daily_loss_action, max_drawdown, drawdown_action
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        cash: f64,
        tradable: PyReadonlyArray1<'_, bool>,
        lot_size: PyReadonlyArray1<'_, f64>,
        tick_size: PyReadonlyArray1<'_, f64>,
        max_order_qty: PyReadonlyArray1<'_, f64>,
        max_order_notional: PyReadonlyArray1<'_, f64>,
        max_position_qty: PyReadonlyArray1<'_, f64>,
        max_position_notional: PyReadonlyArray1<'_, f64>,
        max_order_notional_global: f64,
        max_gross_notional: f64,
        max_net_notional: f64,
        max_open_order_notional: f64,
        max_position_weight: f64,
        max_leverage: f64,
        collar: f64,
        reference_max_age_ns: i64,
        max_submits: i64,
        submit_window_ns: i64,
        max_modifies: i64,
        modify_window_ns: i64,
        max_daily_loss: f64,
        daily_loss_action: u8,
        max_drawdown: f64,
        drawdown_action: u8,
    ) -> PyResult<Self> {
        let tradable = ints(&tradable, "tradable")?;
        let columns = [
            ("lot_size", float_slice(&lot_size, "lot_size")?),
            ("tick_size", float_slice(&tick_size, "tick_size")?),
            (
                "max_order_qty",
                float_slice(&max_order_qty, "max_order_qty")?,
            ),
            (
                "max_order_notional",
                float_slice(&max_order_notional, "max_order_notional")?,
            ),
            (
                "max_position_qty",
                float_slice(&max_position_qty, "max_position_qty")?,
            ),
            (
                "max_position_notional",
                float_slice(&max_position_notional, "max_position_notional")?,
            ),
        ];
        let mut lengths = vec![("tradable", tradable.len())];
        lengths.extend(columns.iter().map(|(name, c)| (*name, c.len())));
        same_length(&lengths)?;
        let instruments = (0..tradable.len())
            .map(|i| InstrumentLimits {
                tradable: tradable[i],
                lot_size: columns[0].1[i],
                tick_size: columns[1].1[i],
                max_order_qty: columns[2].1[i],
                max_order_notional: columns[3].1[i],
                max_position_qty: columns[4].1[i],
                max_position_notional: columns[5].1[i],
            })
            .collect();
        let limits = Limits {
            max_order_notional: max_order_notional_global,
            max_gross_notional,
            max_net_notional,
            max_open_order_notional,
            max_position_weight,
            max_leverage,
            collar,
            reference_max_age_ns,
            submits: throttle("max_submits", max_submits, submit_window_ns)?,
            modifies: throttle("max_modifies", max_modifies, modify_window_ns)?,
            max_daily_loss,
            daily_loss_action: state_of(daily_loss_action, "daily_loss_action")?,
            max_drawdown,
            drawdown_action: state_of(drawdown_action, "drawdown_action")?,
        };
        let inner = RiskEngine::new(limits, instruments, cash)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { inner })
    }

    #[getter]
    fn n_instruments(&self) -> usize {
        self.inner.n_instruments()
    }

    #[getter]
    fn state(&self) -> u8 {
        self.inner.state() as u8
    }

    #[getter]
    fn cause(&self) -> u8 {
        self.inner.cause() as u8
    }

    #[getter]
    fn cash(&self) -> f64 {
        self.inner.cash()
    }

    #[getter]
    fn equity(&self) -> f64 {
        self.inner.equity()
    }

    #[getter]
    fn gross(&self) -> f64 {
        self.inner.gross()
    }

    #[getter]
    fn net(&self) -> f64 {
        self.inner.net()
    }

    #[getter]
    fn open_order_notional(&self) -> f64 {
        self.inner.open_order_notional()
    }

    fn positions<'py>(&self, py: Python<'py>) -> Floats<'py> {
        (0..self.inner.n_instruments())
            .map(|i| self.inner.position(i))
            .collect::<Vec<_>>()
            .into_pyarray(py)
    }

    /// (working buy quantity, working sell quantity) per instrument.
    fn working<'py>(&self, py: Python<'py>) -> (Floats<'py>, Floats<'py>) {
        let (buy, sell): (Vec<f64>, Vec<f64>) = (0..self.inner.n_instruments())
            .map(|i| self.inner.working(i))
            .unzip();
        (buy.into_pyarray(py), sell.into_pyarray(py))
    }

    /// (reference price, its time) per instrument; NaN and i64::MIN where there is none.
    fn references<'py>(&self, py: Python<'py>) -> (Floats<'py>, Ids<'py>) {
        let (price, ts): (Vec<f64>, Vec<i64>) = (0..self.inner.n_instruments())
            .map(|i| self.inner.reference(i).unwrap_or((f64::NAN, i64::MIN)))
            .unzip();
        (price.into_pyarray(py), ts.into_pyarray(py))
    }

    /// Working orders: (ids, instrument, side, remaining, limit price (NaN: market), booked
    /// price, reduce_only), by id.
    #[allow(clippy::type_complexity)]
    fn open_orders<'py>(
        &self,
        py: Python<'py>,
    ) -> (
        Ids<'py>,
        Ids<'py>,
        Bound<'py, PyArray1<i8>>,
        Floats<'py>,
        Floats<'py>,
        Floats<'py>,
        Bound<'py, PyArray1<bool>>,
    ) {
        let open = self.inner.open_orders();
        (
            open.iter()
                .map(|(id, _)| *id as i64)
                .collect::<Vec<_>>()
                .into_pyarray(py),
            open.iter()
                .map(|(_, o)| o.instrument as i64)
                .collect::<Vec<_>>()
                .into_pyarray(py),
            open.iter()
                .map(|(_, o)| o.side.sign() as i8)
                .collect::<Vec<_>>()
                .into_pyarray(py),
            open.iter()
                .map(|(_, o)| o.remaining)
                .collect::<Vec<_>>()
                .into_pyarray(py),
            open.iter()
                .map(|(_, o)| o.limit)
                .collect::<Vec<_>>()
                .into_pyarray(py),
            open.iter()
                .map(|(_, o)| o.price)
                .collect::<Vec<_>>()
                .into_pyarray(py),
            open.iter()
                .map(|(_, o)| o.reduce_only)
                .collect::<Vec<_>>()
                .into_pyarray(py),
        )
    }

    fn submits_in_window(&self, ts: i64) -> usize {
        self.inner.submits_in_window(ts)
    }

    fn set_reference(&mut self, instrument: i64, price: f64, ts: i64) -> bool {
        self.inner
            .set_reference(instrument_index(instrument), price, ts)
    }

    /// Sets many references; returns how many were taken (invalid prices are skipped).
    fn set_references(
        &mut self,
        py: Python<'_>,
        instrument: PyReadonlyArray1<'_, i64>,
        price: PyReadonlyArray1<'_, f64>,
        ts: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<usize> {
        let instrument = ints(&instrument, "instrument")?;
        let price = float_slice(&price, "price")?;
        let ts = ints(&ts, "ts")?;
        same_length(&[
            ("instrument", instrument.len()),
            ("price", price.len()),
            ("ts", ts.len()),
        ])?;
        let engine = &mut self.inner;
        Ok(py.detach(|| {
            (0..price.len())
                .filter(|&k| engine.set_reference(instrument_index(instrument[k]), price[k], ts[k]))
                .count()
        }))
    }

    fn set_position(&mut self, instrument: i64, qty: f64) -> PyResult<()> {
        if self.inner.set_position(instrument_index(instrument), qty) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "set_position: instrument {instrument} must be in 0..{} and qty finite, got {qty}",
                self.inner.n_instruments()
            )))
        }
    }

    fn set_cash(&mut self, cash: f64) -> PyResult<()> {
        if self.inner.set_cash(cash) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "set_cash: cash must be finite, got {cash}"
            )))
        }
    }

    fn set_loss_baseline(
        &mut self,
        day: i64,
        day_start_equity: f64,
        peak_equity: f64,
        last_equity: f64,
    ) {
        self.inner
            .set_loss_baseline(day, day_start_equity, peak_equity, last_equity);
    }

    fn set_state(&mut self, state: u8, cause: u8) -> PyResult<()> {
        self.inner
            .set_state(state_of(state, "state")?, cause_of(cause)?);
        Ok(())
    }

    #[pyo3(signature = (instrument, side, qty, price, reduce_only, ts))]
    fn check(
        &self,
        instrument: i64,
        side: i8,
        qty: f64,
        price: f64,
        reduce_only: bool,
        ts: i64,
    ) -> u8 {
        let order = OrderRequest {
            instrument: instrument_index(instrument),
            side,
            qty,
            price,
            reduce_only,
        };
        self.inner.check(&order, ts, true).code()
    }

    /// (reason code, order id; 0 when denied).
    #[pyo3(signature = (instrument, side, qty, price, reduce_only, ts))]
    fn submit(
        &mut self,
        instrument: i64,
        side: i8,
        qty: f64,
        price: f64,
        reduce_only: bool,
        ts: i64,
    ) -> (u8, u64) {
        let order = OrderRequest {
            instrument: instrument_index(instrument),
            side,
            qty,
            price,
            reduce_only,
        };
        let (reason, id) = self.inner.submit(&order, ts);
        (reason.code(), id)
    }

    /// Checks and books each order in turn (the state each one sees includes those before it).
    #[allow(clippy::too_many_arguments)]
    fn submit_batch<'py>(
        &mut self,
        py: Python<'py>,
        instrument: PyReadonlyArray1<'py, i64>,
        side: PyReadonlyArray1<'py, i8>,
        qty: PyReadonlyArray1<'py, f64>,
        price: PyReadonlyArray1<'py, f64>,
        reduce_only: PyReadonlyArray1<'py, bool>,
        ts: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<(Codes<'py>, Ids<'py>)> {
        let instrument = ints(&instrument, "instrument")?;
        let side = ints(&side, "side")?;
        let qty = float_slice(&qty, "qty")?;
        let price = float_slice(&price, "price")?;
        let reduce_only = ints(&reduce_only, "reduce_only")?;
        let ts = ints(&ts, "ts")?;
        same_length(&[
            ("instrument", instrument.len()),
            ("side", side.len()),
            ("qty", qty.len()),
            ("price", price.len()),
            ("reduce_only", reduce_only.len()),
            ("ts", ts.len()),
        ])?;
        let engine = &mut self.inner;
        let (codes, ids): (Vec<u8>, Vec<i64>) = py.detach(|| {
            engine.reserve_orders(qty.len());
            (0..qty.len())
                .map(|k| {
                    let order = OrderRequest {
                        instrument: instrument_index(instrument[k]),
                        side: side[k],
                        qty: qty[k],
                        price: price[k],
                        reduce_only: reduce_only[k],
                    };
                    let (reason, id) = engine.submit(&order, ts[k]);
                    (reason.code(), id as i64)
                })
                .unzip()
        });
        Ok((codes.into_pyarray(py), ids.into_pyarray(py)))
    }

    /// Books a working order without checks (restoring a broker's open orders); its new id,
    /// or None for an order the engine cannot hold.
    #[pyo3(signature = (instrument, side, qty, price, reduce_only))]
    fn adopt(
        &mut self,
        instrument: i64,
        side: i8,
        qty: f64,
        price: f64,
        reduce_only: bool,
    ) -> Option<u64> {
        self.inner.adopt(&OrderRequest {
            instrument: instrument_index(instrument),
            side,
            qty,
            price,
            reduce_only,
        })
    }

    fn modify(&mut self, order_id: u64, qty: f64, price: f64, ts: i64) -> u8 {
        self.inner.modify(order_id, qty, price, ts).code()
    }

    fn cancel(&mut self, order_id: u64) -> bool {
        self.inner.cancel(order_id)
    }

    fn cancel_all(&mut self) -> Vec<u64> {
        self.inner.cancel_all()
    }

    /// HALTED with cause kill_switch, every working order cancelled; returns their ids.
    fn kill(&mut self) -> Vec<u64> {
        self.inner.kill()
    }

    #[pyo3(signature = (order_id, qty, price, fee=0.0))]
    fn fill(&mut self, order_id: u64, qty: f64, price: f64, fee: f64) -> PyResult<()> {
        self.inner
            .fill(order_id, qty, price, fee)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Books fills in turn; stops at the first bad one and raises, naming its position.
    fn fill_batch(
        &mut self,
        py: Python<'_>,
        order_id: PyReadonlyArray1<'_, i64>,
        qty: PyReadonlyArray1<'_, f64>,
        price: PyReadonlyArray1<'_, f64>,
        fee: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<()> {
        let order_id = ints(&order_id, "order_id")?;
        let qty = float_slice(&qty, "qty")?;
        let price = float_slice(&price, "price")?;
        let fee = float_slice(&fee, "fee")?;
        same_length(&[
            ("order_id", order_id.len()),
            ("qty", qty.len()),
            ("price", price.len()),
            ("fee", fee.len()),
        ])?;
        let engine = &mut self.inner;
        py.detach(|| {
            for k in 0..qty.len() {
                let id = u64::try_from(order_id[k]).unwrap_or(0);
                engine
                    .fill(id, qty[k], price[k], fee[k])
                    .map_err(|e| format!("fill {k}: {e}"))?;
            }
            Ok::<(), String>(())
        })
        .map_err(PyValueError::new_err)
    }

    /// Marks the book at time `ts`: (equity, day start equity, peak equity, state, cause,
    /// tripped cause or -1, whether a daily-loss trip expired).
    fn mark(&mut self, ts: i64) -> (f64, f64, f64, u8, u8, i16, bool) {
        let m = self.inner.mark(ts);
        (
            m.equity,
            m.day_start_equity,
            m.peak_equity,
            m.state as u8,
            m.cause as u8,
            m.tripped.map_or(-1, |c| i16::from(c as u8)),
            m.cleared,
        )
    }

    /// The backtest's path: see foxml_dagster.native.risk.route_target_weights.
    #[pyo3(signature = (ts, instrument, target, price, *, cost_rate, min_trade_notional, min_trade_weight))]
    #[allow(clippy::too_many_arguments)]
    fn route_target_weights<'py>(
        &mut self,
        py: Python<'py>,
        ts: PyReadonlyArray1<'py, i64>,
        instrument: PyReadonlyArray1<'py, i64>,
        target: PyReadonlyArray1<'py, f64>,
        price: PyReadonlyArray1<'py, f64>,
        cost_rate: f64,
        min_trade_notional: f64,
        min_trade_weight: f64,
    ) -> PyResult<(Floats<'py>, Codes<'py>, Codes<'py>)> {
        let ts = ints(&ts, "ts")?;
        let instrument = ints(&instrument, "instrument")?;
        let target = float_slice(&target, "target")?;
        let price = float_slice(&price, "price")?;
        for (name, v) in [
            ("cost_rate", cost_rate),
            ("min_trade_notional", min_trade_notional),
            ("min_trade_weight", min_trade_weight),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(PyValueError::new_err(format!(
                    "{name} must be finite and >= 0, got {v}"
                )));
            }
        }
        let params = RouteParams {
            cost_rate,
            min_trade_notional,
            min_trade_weight,
        };
        let engine = &mut self.inner;
        let routed = py
            .detach(|| route_target_weights(engine, ts, instrument, target, price, params))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok((
            routed.weight.into_pyarray(py),
            routed.reason.into_pyarray(py),
            routed.state.into_pyarray(py),
        ))
    }
}

/// The orders between current and target positions, per row: (row of each leg, side, qty,
/// closing) and per row whether the legs reach the target exactly.
#[pyfunction]
#[pyo3(signature = (current, target, lot_size, price, *, min_notional))]
#[allow(clippy::type_complexity)]
fn plan_legs<'py>(
    py: Python<'py>,
    current: PyReadonlyArray1<'py, f64>,
    target: PyReadonlyArray1<'py, f64>,
    lot_size: PyReadonlyArray1<'py, f64>,
    price: PyReadonlyArray1<'py, f64>,
    min_notional: PyReadonlyArray1<'py, f64>,
) -> PyResult<(
    Ids<'py>,
    Bound<'py, PyArray1<i8>>,
    Floats<'py>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<bool>>,
)> {
    let current = float_slice(&current, "current")?;
    let target = float_slice(&target, "target")?;
    let lot_size = float_slice(&lot_size, "lot_size")?;
    let price = float_slice(&price, "price")?;
    let min_notional = float_slice(&min_notional, "min_notional")?;
    same_length(&[
        ("current", current.len()),
        ("target", target.len()),
        ("lot_size", lot_size.len()),
        ("price", price.len()),
        ("min_notional", min_notional.len()),
    ])?;
    let (mut row, mut side, mut qty, mut closing) = (vec![], vec![], vec![], vec![]);
    let mut exact = Vec::with_capacity(current.len());
    for k in 0..current.len() {
        let p = plan(
            current[k],
            target[k],
            lot_size[k],
            price[k],
            min_notional[k],
        );
        exact.push(p.exact);
        for leg in p.legs() {
            row.push(k as i64);
            side.push(leg.side.sign() as i8);
            qty.push(leg.qty);
            closing.push(leg.closing);
        }
    }
    Ok((
        row.into_pyarray(py),
        side.into_pyarray(py),
        qty.into_pyarray(py),
        closing.into_pyarray(py),
        exact.into_pyarray(py),
    ))
}

/// Reason names, indexed by code.
#[pyfunction]
fn risk_reason_names() -> Vec<&'static str> {
    REASONS.iter().map(|r: &Reason| r.name()).collect()
}

/// Trading state names, indexed by code.
#[pyfunction]
fn risk_state_names() -> Vec<&'static str> {
    [
        TradingState::Active,
        TradingState::Reducing,
        TradingState::Halted,
    ]
    .iter()
    .map(|s| s.name())
    .collect()
}

/// State cause names, indexed by code.
#[pyfunction]
fn risk_cause_names() -> Vec<&'static str> {
    (0u8..)
        .map_while(StateCause::from_code)
        .map(|c| c.name())
        .collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRiskEngine>()?;
    m.add_function(wrap_pyfunction!(plan_legs, m)?)?;
    m.add_function(wrap_pyfunction!(risk_reason_names, m)?)?;
    m.add_function(wrap_pyfunction!(risk_state_names, m)?)?;
    m.add_function(wrap_pyfunction!(risk_cause_names, m)?)?;
    Ok(())
}
