//! Bindings for event sampling (symmetric CUSUM filter).

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use super::args::{float_slice, offsets, same_length};
use crate::events;

/// (event indices, directions).
type Events<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i8>>);

#[pyfunction]
#[pyo3(signature = (values, threshold, *, offsets=None))]
fn cusum_filter<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    threshold: PyReadonlyArray1<'py, f64>,
    offsets: Option<PyReadonlyArray1<'py, i64>>,
) -> PyResult<Events<'py>> {
    let values = float_slice(&values, "values")?;
    let threshold = float_slice(&threshold, "threshold")?;
    same_length(&[("values", values.len()), ("threshold", threshold.len())])?;
    let offsets = self::offsets(offsets.as_ref(), values.len())?;
    let (index, direction) = py.detach(|| events::cusum_filter(values, threshold, &offsets));
    Ok((index.into_pyarray(py), direction.into_pyarray(py)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cusum_filter, m)?)?;
    Ok(())
}
