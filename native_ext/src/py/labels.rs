//! Bindings for labelling kernels (triple barrier: price-space, trade-space, fused volatility).

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::args::{float_slice, offsets, positive, same_length};
use crate::barrier::{self, BarrierTouches, Prices, Vertical};

type Touches<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i8>>,
);

fn to_python<'py>(py: Python<'py>, t: BarrierTouches) -> Touches<'py> {
    (
        t.touch_index.into_pyarray(py),
        t.ret.into_pyarray(py),
        t.barrier.into_pyarray(py),
    )
}

#[pyfunction]
#[pyo3(signature = (close, upper, lower, *, horizon, offsets=None))]
fn triple_barrier<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    upper: PyReadonlyArray1<'py, f64>,
    lower: PyReadonlyArray1<'py, f64>,
    horizon: i64,
    offsets: Option<PyReadonlyArray1<'py, i64>>,
) -> PyResult<Touches<'py>> {
    let horizon = positive("horizon", horizon)?;
    let close = float_slice(&close, "close")?;
    let upper = float_slice(&upper, "upper")?;
    let lower = float_slice(&lower, "lower")?;
    same_length(&[
        ("close", close.len()),
        ("upper", upper.len()),
        ("lower", lower.len()),
    ])?;
    let offsets = self::offsets(offsets.as_ref(), close.len())?;
    let touches = py.detach(|| barrier::triple_barrier(close, upper, lower, &offsets, horizon));
    Ok(to_python(py, touches))
}

fn optional<'a>(
    array: &'a Option<PyReadonlyArray1<'_, f64>>,
    name: &str,
) -> PyResult<Option<&'a [f64]>> {
    array.as_ref().map(|a| float_slice(a, name)).transpose()
}

#[pyfunction]
#[pyo3(signature = (close, profit, stop, vertical, *, high=None, low=None, open=None, side=None, offsets=None))]
#[allow(clippy::too_many_arguments)]
fn trade_barrier<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    profit: PyReadonlyArray1<'py, f64>,
    stop: PyReadonlyArray1<'py, f64>,
    vertical: PyReadonlyArray1<'py, i64>,
    high: Option<PyReadonlyArray1<'py, f64>>,
    low: Option<PyReadonlyArray1<'py, f64>>,
    open: Option<PyReadonlyArray1<'py, f64>>,
    side: Option<PyReadonlyArray1<'py, f64>>,
    offsets: Option<PyReadonlyArray1<'py, i64>>,
) -> PyResult<Touches<'py>> {
    let close = float_slice(&close, "close")?;
    let profit = float_slice(&profit, "profit")?;
    let stop = float_slice(&stop, "stop")?;
    let vertical = vertical
        .as_slice()
        .map_err(|_| PyValueError::new_err("vertical must be a C-contiguous 1-D int64 array"))?;
    let (high, low, open, side) = (
        optional(&high, "high")?,
        optional(&low, "low")?,
        optional(&open, "open")?,
        optional(&side, "side")?,
    );
    let mut lengths = vec![
        ("close", close.len()),
        ("profit", profit.len()),
        ("stop", stop.len()),
        ("vertical", vertical.len()),
    ];
    for (name, a) in [("high", high), ("low", low), ("open", open), ("side", side)] {
        if let Some(a) = a {
            lengths.push((name, a.len()));
        }
    }
    same_length(&lengths)?;
    let high_low = match (high, low) {
        (Some(h), Some(l)) => Some((h, l)),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "pass high and low together, or neither",
            ))
        }
    };
    if open.is_some() && high_low.is_none() {
        return Err(PyValueError::new_err(
            "open is only used with high and low; pass them too",
        ));
    }
    let offsets = self::offsets(offsets.as_ref(), close.len())?;
    let prices = Prices {
        close,
        high_low,
        open,
    };
    let touches = py.detach(|| {
        barrier::trade_barrier(
            &prices,
            profit,
            stop,
            side,
            Vertical::Index(vertical),
            &offsets,
        )
    });
    Ok(to_python(py, touches))
}

#[pyfunction]
#[pyo3(signature = (close, log_close, *, horizon, vol_window, profit_mult, stop_mult, offsets=None))]
#[allow(clippy::too_many_arguments)]
fn triple_barrier_vol<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    log_close: PyReadonlyArray1<'py, f64>,
    horizon: i64,
    vol_window: i64,
    profit_mult: f64,
    stop_mult: f64,
    offsets: Option<PyReadonlyArray1<'py, i64>>,
) -> PyResult<(Touches<'py>, Bound<'py, PyArray1<f64>>)> {
    let horizon = positive("horizon", horizon)?;
    let vol_window = positive("vol_window", vol_window)?;
    if vol_window < 2 {
        return Err(PyValueError::new_err("vol_window must be >= 2"));
    }
    let close = float_slice(&close, "close")?;
    let log_close = float_slice(&log_close, "log_close")?;
    same_length(&[("close", close.len()), ("log_close", log_close.len())])?;
    let offsets = self::offsets(offsets.as_ref(), close.len())?;
    let (touches, vol) = py.detach(|| {
        barrier::triple_barrier_vol(
            close,
            log_close,
            &offsets,
            horizon,
            vol_window,
            profit_mult,
            stop_mult,
        )
    });
    Ok((to_python(py, touches), vol.into_pyarray(py)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(triple_barrier, m)?)?;
    m.add_function(wrap_pyfunction!(trade_barrier, m)?)?;
    m.add_function(wrap_pyfunction!(triple_barrier_vol, m)?)?;
    Ok(())
}
