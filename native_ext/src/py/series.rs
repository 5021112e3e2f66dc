//! Bindings for single-series and pairwise rolling kernels: smoothers, rolling statistics,
//! extremes, quantiles, correlation and beta. Conversion and validation only.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::args::{at_least, map_arrays, map_series, positive, Arr, In, PyOffsets as Offsets};
use crate::extrema::{rolling_extreme, rolling_extreme_value, Extreme};
use crate::{order_stats, oscillators, pairs, rolling, smoothing};

/// `fn name(values, *, timeperiod, offsets=None)` over a single-series kernel.
macro_rules! single {
    ($name:ident, $min:expr, |$v:ident, $o:ident, $p:ident| $body:expr) => {
        #[pyfunction]
        #[pyo3(signature = (values, *, timeperiod, offsets=None))]
        fn $name<'py>(
            py: Python<'py>,
            values: In<'py>,
            timeperiod: i64,
            offsets: Offsets<'py>,
        ) -> PyResult<Arr<'py>> {
            let $p = at_least("timeperiod", timeperiod, $min)?;
            map_series(py, &values, "values", offsets.as_ref(), |$v, $o| $body)
        }
    };
}

single!(ema_recursive, 1, |v, o, p| smoothing::ema_recursive(
    v, o, p
));
single!(wma, 1, |v, o, p| smoothing::wma(v, o, p));
single!(dema, 1, |v, o, p| smoothing::dema(v, o, p));
single!(tema, 1, |v, o, p| smoothing::tema(v, o, p));
single!(kama, 1, |v, o, p| smoothing::kama(v, o, p));
single!(hma, 2, |v, o, p| smoothing::hma(v, o, p));
single!(rolling_sum, 1, |v, o, p| rolling::sum(v, o, p));
single!(zscore, 1, |v, o, p| rolling::zscore(v, o, p));
single!(skew, 1, |v, o, p| rolling::skew(v, o, p));
single!(kurt, 1, |v, o, p| rolling::kurt(v, o, p));
single!(rank, 2, |v, o, p| order_stats::rank(v, o, p));
single!(roc, 1, |v, o, p| oscillators::roc(v, o, p));
single!(trix, 1, |v, o, p| oscillators::trix(v, o, p));

#[pyfunction]
#[pyo3(signature = (values, *, timeperiod, ddof, offsets=None))]
fn var<'py>(
    py: Python<'py>,
    values: In<'py>,
    timeperiod: i64,
    ddof: i64,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let period = positive("timeperiod", timeperiod)?;
    let ddof = match usize::try_from(ddof) {
        Ok(d) if d < period => d,
        _ => {
            return Err(PyValueError::new_err(format!(
                "ddof must satisfy 0 <= ddof < timeperiod, got ddof={ddof}, timeperiod={timeperiod}"
            )))
        }
    };
    map_series(py, &values, "values", offsets.as_ref(), |v, o| {
        rolling::var(v, o, period, ddof)
    })
}

fn extreme<'py>(
    py: Python<'py>,
    values: In<'py>,
    timeperiod: i64,
    offsets: Offsets<'py>,
    which: Extreme,
) -> PyResult<Arr<'py>> {
    let period = positive("timeperiod", timeperiod)?;
    map_series(py, &values, "values", offsets.as_ref(), |v, o| {
        rolling_extreme_value(v, o, period, which)
    })
}

fn extreme_since<'py>(
    py: Python<'py>,
    values: In<'py>,
    timeperiod: i64,
    offsets: Offsets<'py>,
    which: Extreme,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    let period = positive("timeperiod", timeperiod)?;
    let [value, since] = map_arrays(py, [(&values, "values")], offsets.as_ref(), |[v], o| {
        rolling_extreme(v, o, period, which)
    })?;
    Ok((value, since))
}

/// `fn name(values, *, timeperiod, offsets=None)` over one of the four extreme bindings.
macro_rules! extreme_fn {
    ($name:ident, $via:ident, $which:expr, $ret:ty) => {
        #[pyfunction]
        #[pyo3(signature = (values, *, timeperiod, offsets=None))]
        fn $name<'py>(
            py: Python<'py>,
            values: In<'py>,
            timeperiod: i64,
            offsets: Offsets<'py>,
        ) -> PyResult<$ret> {
            $via(py, values, timeperiod, offsets, $which)
        }
    };
}

// `rolling_max` / `rolling_min` return (value, bars since); the `_value` variants write the
// value only, half the output memory traffic, for callers that need no index.
extreme_fn!(
    rolling_max,
    extreme_since,
    Extreme::Max,
    (Arr<'py>, Arr<'py>)
);
extreme_fn!(
    rolling_min,
    extreme_since,
    Extreme::Min,
    (Arr<'py>, Arr<'py>)
);
extreme_fn!(rolling_max_value, extreme, Extreme::Max, Arr<'py>);
extreme_fn!(rolling_min_value, extreme, Extreme::Min, Arr<'py>);

#[pyfunction]
#[pyo3(signature = (values, *, timeperiod, q, offsets=None))]
fn quantile<'py>(
    py: Python<'py>,
    values: In<'py>,
    timeperiod: i64,
    q: f64,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let period = positive("timeperiod", timeperiod)?;
    if !(0.0..=1.0).contains(&q) {
        return Err(PyValueError::new_err(format!(
            "q must be in [0, 1], got {q}"
        )));
    }
    map_series(py, &values, "values", offsets.as_ref(), |v, o| {
        order_stats::quantile(v, o, period, q)
    })
}

#[pyfunction]
#[pyo3(signature = (x, y, *, timeperiod, offsets=None))]
fn correl<'py>(
    py: Python<'py>,
    x: In<'py>,
    y: In<'py>,
    timeperiod: i64,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let period = positive("timeperiod", timeperiod)?;
    let [out] = map_arrays(py, [(&x, "x"), (&y, "y")], offsets.as_ref(), |[x, y], o| {
        [pairs::corr(x, y, o, period)]
    })?;
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (y, x, *, timeperiod, offsets=None))]
fn rolling_beta<'py>(
    py: Python<'py>,
    y: In<'py>,
    x: In<'py>,
    timeperiod: i64,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let period = positive("timeperiod", timeperiod)?;
    let [out] = map_arrays(py, [(&y, "y"), (&x, "x")], offsets.as_ref(), |[y, x], o| {
        [pairs::beta(y, x, o, period)]
    })?;
    Ok(out)
}

/// Adds this module's functions to `foxml_dagster._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for f in [
        wrap_pyfunction!(ema_recursive, m)?,
        wrap_pyfunction!(wma, m)?,
        wrap_pyfunction!(dema, m)?,
        wrap_pyfunction!(tema, m)?,
        wrap_pyfunction!(kama, m)?,
        wrap_pyfunction!(hma, m)?,
        wrap_pyfunction!(rolling_sum, m)?,
        wrap_pyfunction!(var, m)?,
        wrap_pyfunction!(zscore, m)?,
        wrap_pyfunction!(skew, m)?,
        wrap_pyfunction!(kurt, m)?,
        wrap_pyfunction!(rank, m)?,
        wrap_pyfunction!(quantile, m)?,
        wrap_pyfunction!(rolling_max, m)?,
        wrap_pyfunction!(rolling_min, m)?,
        wrap_pyfunction!(rolling_max_value, m)?,
        wrap_pyfunction!(rolling_min_value, m)?,
        wrap_pyfunction!(correl, m)?,
        wrap_pyfunction!(rolling_beta, m)?,
        wrap_pyfunction!(roc, m)?,
        wrap_pyfunction!(trix, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
