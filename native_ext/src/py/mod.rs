//! The Python binding layer: argument conversion and validation, GIL release, registration.
//! No computation lives here; kernels are in the domain modules of the crate.

mod args;
mod events;
mod indicators;
mod labels;
mod risk;
mod series;
mod ta;

use pyo3::prelude::*;

/// Adds every kernel to the `foxml_dagster._native` module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    indicators::register(m)?;
    labels::register(m)?;
    events::register(m)?;
    series::register(m)?;
    ta::register(m)?;
    risk::register(m)?;
    Ok(())
}
