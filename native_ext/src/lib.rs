//! foxml_dagster._native: hot-path kernels for foxml-dagster.
//!
//! Kernels are plain Rust over slices, one domain per module, each respecting group (symbol)
//! boundaries given as offsets (see `groups`). The `py` module is the only place that knows
//! about Python: it converts arguments, validates them, and releases the GIL around kernels.

pub mod barrier;
pub mod events;
pub mod extrema;
pub mod fracdiff;
pub mod groups;
pub mod order_stats;
pub mod oscillators;
pub mod pairs;
pub mod risk;
pub mod rolling;
pub mod smoothing;
pub mod trend;
pub mod volatility;
pub mod volume;

mod py;
#[cfg(test)]
mod testutil;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)
}
