//! Converting and validating Python arguments. Errors name the argument and say what to pass.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::groups::Offsets;

/// A float64 array handed to Python, one read from it, and optional group offsets.
pub type Arr<'py> = Bound<'py, PyArray1<f64>>;
pub type In<'py> = PyReadonlyArray1<'py, f64>;
pub type PyOffsets<'py> = Option<PyReadonlyArray1<'py, i64>>;

/// Borrows a float64 array as a slice, or explains how to make it contiguous.
pub fn float_slice<'a>(array: &'a PyReadonlyArray1<'_, f64>, name: &str) -> PyResult<&'a [f64]> {
    array.as_slice().map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be a C-contiguous 1-D float64 array; pass \
             np.ascontiguousarray({name}, dtype=np.float64) (foxml_dagster.native does this for you)"
        ))
    })
}

/// Validated offsets for a series of length `len`; `None` is one group spanning the series.
pub fn offsets(array: Option<&PyReadonlyArray1<'_, i64>>, len: usize) -> PyResult<Offsets> {
    let Some(array) = array else {
        return Ok(Offsets::single(len));
    };
    let raw = array
        .as_slice()
        .map_err(|_| PyValueError::new_err("offsets must be a C-contiguous 1-D int64 array"))?;
    Offsets::new(raw, len).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A window length, period or horizon: an integer >= 1.
pub fn positive(name: &str, value: i64) -> PyResult<usize> {
    at_least(name, value, 1)
}

/// An integer parameter with a lower bound (e.g. a Hull or rank window needs at least 2).
pub fn at_least(name: &str, value: i64, min: usize) -> PyResult<usize> {
    match usize::try_from(value) {
        Ok(v) if v >= min => Ok(v),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be >= {min}, got {value}"
        ))),
    }
}

/// A finite float parameter.
pub fn finite(name: &str, value: f64) -> PyResult<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(PyValueError::new_err(format!(
            "{name} must be finite, got {value}"
        )))
    }
}

/// Fails unless all named arrays have the length of the first.
pub fn same_length(arrays: &[(&str, usize)]) -> PyResult<()> {
    let (first_name, first_len) = arrays[0];
    for &(name, len) in &arrays[1..] {
        if len != first_len {
            return Err(PyValueError::new_err(format!(
                "{name} has length {len} but {first_name} has length {first_len}; \
                 they must be aligned bar for bar"
            )));
        }
    }
    Ok(())
}

/// The shape shared by single-input indicators: borrow `values`, validate `offsets`, run
/// `kernel` with the GIL released, hand the result to numpy without copying.
pub fn map_series<'py>(
    py: Python<'py>,
    values: &PyReadonlyArray1<'py, f64>,
    name: &str,
    offsets_array: Option<&PyReadonlyArray1<'py, i64>>,
    kernel: impl FnOnce(&[f64], &Offsets) -> Vec<f64> + Send,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let values = float_slice(values, name)?;
    let offsets = offsets(offsets_array, values.len())?;
    // The slice stays borrowed from numpy while detached, as numpy's own ufuncs do; a caller
    // mutating the array from another thread at the same time gets unspecified results.
    let out = py.detach(|| kernel(values, &offsets));
    Ok(out.into_pyarray(py))
}

/// The shape shared by multi-input / multi-output indicators: borrow every input (they must be
/// aligned), validate `offsets`, run `kernel` with the GIL released, hand each output to numpy
/// without copying.
pub fn map_arrays<'py, const I: usize, const O: usize>(
    py: Python<'py>,
    inputs: [(&PyReadonlyArray1<'py, f64>, &str); I],
    offsets_array: Option<&PyReadonlyArray1<'py, i64>>,
    kernel: impl FnOnce([&[f64]; I], &Offsets) -> [Vec<f64>; O] + Send,
) -> PyResult<[Bound<'py, PyArray1<f64>>; O]> {
    let mut slices: [&[f64]; I] = [&[]; I];
    let mut lengths = Vec::with_capacity(I);
    for (slot, (array, name)) in slices.iter_mut().zip(inputs) {
        *slot = float_slice(array, name)?;
        lengths.push((name, slot.len()));
    }
    same_length(&lengths)?;
    let offsets = offsets(offsets_array, slices.first().map_or(0, |s| s.len()))?;
    let outs = py.detach(|| kernel(slices, &offsets));
    Ok(outs.map(|v| v.into_pyarray(py)))
}
