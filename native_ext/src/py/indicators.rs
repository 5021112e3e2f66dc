//! Bindings for technical indicators (smoothers, rolling statistics, oscillators).

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::args::{map_series, positive, PyOffsets as Offsets};
use crate::{oscillators, rolling, smoothing};

type Out<'py> = PyResult<Bound<'py, PyArray1<f64>>>;

#[pyfunction]
#[pyo3(signature = (values, *, timeperiod, offsets=None))]
fn ema<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    timeperiod: i64,
    offsets: Offsets<'py>,
) -> Out<'py> {
    let period = positive("timeperiod", timeperiod)?;
    map_series(py, &values, "values", offsets.as_ref(), |v, o| {
        smoothing::ema(v, o, period)
    })
}

#[pyfunction]
#[pyo3(signature = (values, *, timeperiod, offsets=None))]
fn wilder<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    timeperiod: i64,
    offsets: Offsets<'py>,
) -> Out<'py> {
    let period = positive("timeperiod", timeperiod)?;
    map_series(py, &values, "values", offsets.as_ref(), |v, o| {
        smoothing::wilder(v, o, period)
    })
}

#[pyfunction]
#[pyo3(signature = (close, *, timeperiod, offsets=None))]
fn rsi<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    timeperiod: i64,
    offsets: Offsets<'py>,
) -> Out<'py> {
    let period = positive("timeperiod", timeperiod)?;
    map_series(py, &close, "close", offsets.as_ref(), |v, o| {
        oscillators::rsi(v, o, period)
    })
}

#[pyfunction]
#[pyo3(signature = (values, *, timeperiod, offsets=None))]
fn sma<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    timeperiod: i64,
    offsets: Offsets<'py>,
) -> Out<'py> {
    let period = positive("timeperiod", timeperiod)?;
    map_series(py, &values, "values", offsets.as_ref(), |v, o| {
        rolling::sma(v, o, period)
    })
}

#[pyfunction]
#[pyo3(signature = (values, *, timeperiod, nbdev, offsets=None))]
fn stddev<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    timeperiod: i64,
    nbdev: f64,
    offsets: Offsets<'py>,
) -> Out<'py> {
    let period = positive("timeperiod", timeperiod)?;
    if !nbdev.is_finite() {
        return Err(PyValueError::new_err(format!(
            "nbdev must be finite, got {nbdev}"
        )));
    }
    map_series(py, &values, "values", offsets.as_ref(), |v, o| {
        rolling::std(v, o, period, 0, nbdev)
    })
}

#[pyfunction]
#[pyo3(signature = (values, *, window, ddof, offsets=None))]
fn rolling_std<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    window: i64,
    ddof: i64,
    offsets: Offsets<'py>,
) -> Out<'py> {
    let window = positive("window", window)?;
    let ddof = match usize::try_from(ddof) {
        Ok(d) if d < window => d,
        _ => {
            return Err(PyValueError::new_err(format!(
                "ddof must satisfy 0 <= ddof < window, got ddof={ddof}, window={window}"
            )))
        }
    };
    map_series(py, &values, "values", offsets.as_ref(), |v, o| {
        rolling::std(v, o, window, ddof, 1.0)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ema, m)?)?;
    m.add_function(wrap_pyfunction!(wilder, m)?)?;
    m.add_function(wrap_pyfunction!(rsi, m)?)?;
    m.add_function(wrap_pyfunction!(sma, m)?)?;
    m.add_function(wrap_pyfunction!(stddev, m)?)?;
    m.add_function(wrap_pyfunction!(rolling_std, m)?)?;
    Ok(())
}
