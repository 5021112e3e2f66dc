//! Bindings for labelling kernels (triple barrier).

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use super::args::{float_slice, offsets, positive, same_length};
use crate::barrier;

type Touches<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i8>>,
);

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
    Ok((
        touches.touch_index.into_pyarray(py),
        touches.ret.into_pyarray(py),
        touches.barrier.into_pyarray(py),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(triple_barrier, m)?)?;
    Ok(())
}
