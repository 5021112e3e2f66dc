//! Bindings for oscillators, trend, volatility and volume indicators and fractional
//! differencing. Conversion and validation only.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::args::{
    at_least, finite, map_arrays, map_series, positive, Arr, In, PyOffsets as Offsets,
};
use crate::volatility::Estimator;
use crate::{fracdiff, oscillators, trend, volatility, volume};

#[pyfunction]
#[pyo3(signature = (values, *, fastperiod, slowperiod, signalperiod, offsets=None))]
fn macd<'py>(
    py: Python<'py>,
    values: In<'py>,
    fastperiod: i64,
    slowperiod: i64,
    signalperiod: i64,
    offsets: Offsets<'py>,
) -> PyResult<(Arr<'py>, Arr<'py>, Arr<'py>)> {
    let fast = positive("fastperiod", fastperiod)?;
    let slow = positive("slowperiod", slowperiod)?;
    let signal = positive("signalperiod", signalperiod)?;
    if fast >= slow {
        return Err(PyValueError::new_err(format!(
            "fastperiod must be < slowperiod, got {fast} and {slow}"
        )));
    }
    let [a, b, c] = map_arrays(py, [(&values, "values")], offsets.as_ref(), |[v], o| {
        oscillators::macd(v, o, fast, slow, signal)
    })?;
    Ok((a, b, c))
}

#[pyfunction]
#[pyo3(signature = (high, low, close, *, fastk_period, slowk_period, slowd_period, offsets=None))]
#[allow(clippy::too_many_arguments)]
fn stoch<'py>(
    py: Python<'py>,
    high: In<'py>,
    low: In<'py>,
    close: In<'py>,
    fastk_period: i64,
    slowk_period: i64,
    slowd_period: i64,
    offsets: Offsets<'py>,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    let fk = positive("fastk_period", fastk_period)?;
    let sk = positive("slowk_period", slowk_period)?;
    let sd = positive("slowd_period", slowd_period)?;
    let [k, d] = map_arrays(
        py,
        [(&high, "high"), (&low, "low"), (&close, "close")],
        offsets.as_ref(),
        |[h, l, c], o| oscillators::stoch(h, l, c, o, fk, sk, sd),
    )?;
    Ok((k, d))
}

/// `fn name(high, low, close, *, timeperiod, offsets=None)` over an HLC kernel.
macro_rules! hlc {
    ($name:ident, $min:expr, |$h:ident, $l:ident, $c:ident, $o:ident, $p:ident| $body:expr) => {
        #[pyfunction]
        #[pyo3(signature = (high, low, close, *, timeperiod, offsets=None))]
        fn $name<'py>(
            py: Python<'py>,
            high: In<'py>,
            low: In<'py>,
            close: In<'py>,
            timeperiod: i64,
            offsets: Offsets<'py>,
        ) -> PyResult<Arr<'py>> {
            let $p = at_least("timeperiod", timeperiod, $min)?;
            let [out] = map_arrays(
                py,
                [(&high, "high"), (&low, "low"), (&close, "close")],
                offsets.as_ref(),
                |[$h, $l, $c], $o| [$body],
            )?;
            Ok(out)
        }
    };
}

hlc!(willr, 1, |h, l, c, o, p| oscillators::willr(h, l, c, o, p));
hlc!(cci, 1, |h, l, c, o, p| oscillators::cci(h, l, c, o, p));
hlc!(atr, 1, |h, l, c, o, p| volatility::atr(h, l, c, o, p));
hlc!(natr, 1, |h, l, c, o, p| volatility::natr(h, l, c, o, p));

#[pyfunction]
#[pyo3(signature = (high, low, close, *, timeperiod, offsets=None))]
fn dmi<'py>(
    py: Python<'py>,
    high: In<'py>,
    low: In<'py>,
    close: In<'py>,
    timeperiod: i64,
    offsets: Offsets<'py>,
) -> PyResult<(Arr<'py>, Arr<'py>, Arr<'py>)> {
    let period = positive("timeperiod", timeperiod)?;
    let [p, m, a] = map_arrays(
        py,
        [(&high, "high"), (&low, "low"), (&close, "close")],
        offsets.as_ref(),
        |[h, l, c], o| trend::dmi(h, l, c, o, period),
    )?;
    Ok((p, m, a))
}

#[pyfunction]
#[pyo3(signature = (high, low, close, *, timeperiod, offsets=None))]
fn adx<'py>(
    py: Python<'py>,
    high: In<'py>,
    low: In<'py>,
    close: In<'py>,
    timeperiod: i64,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let period = positive("timeperiod", timeperiod)?;
    let [a] = map_arrays(
        py,
        [(&high, "high"), (&low, "low"), (&close, "close")],
        offsets.as_ref(),
        |[h, l, c], o| [trend::adx(h, l, c, o, period)],
    )?;
    Ok(a)
}

#[pyfunction]
#[pyo3(signature = (high, low, *, timeperiod, offsets=None))]
fn aroon<'py>(
    py: Python<'py>,
    high: In<'py>,
    low: In<'py>,
    timeperiod: i64,
    offsets: Offsets<'py>,
) -> PyResult<(Arr<'py>, Arr<'py>)> {
    let period = positive("timeperiod", timeperiod)?;
    let [down, up] = map_arrays(
        py,
        [(&high, "high"), (&low, "low")],
        offsets.as_ref(),
        |[h, l], o| trend::aroon(h, l, o, period),
    )?;
    Ok((down, up))
}

#[pyfunction]
#[pyo3(signature = (high, low, close, *, timeperiod1, timeperiod2, timeperiod3, offsets=None))]
#[allow(clippy::too_many_arguments)]
fn ultosc<'py>(
    py: Python<'py>,
    high: In<'py>,
    low: In<'py>,
    close: In<'py>,
    timeperiod1: i64,
    timeperiod2: i64,
    timeperiod3: i64,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let periods = [
        positive("timeperiod1", timeperiod1)?,
        positive("timeperiod2", timeperiod2)?,
        positive("timeperiod3", timeperiod3)?,
    ];
    let [out] = map_arrays(
        py,
        [(&high, "high"), (&low, "low"), (&close, "close")],
        offsets.as_ref(),
        |[h, l, c], o| [oscillators::ultosc(h, l, c, o, periods)],
    )?;
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (high, low, close, *, offsets=None))]
fn trange<'py>(
    py: Python<'py>,
    high: In<'py>,
    low: In<'py>,
    close: In<'py>,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let [out] = map_arrays(
        py,
        [(&high, "high"), (&low, "low"), (&close, "close")],
        offsets.as_ref(),
        |[h, l, c], o| [volatility::trange(h, l, c, o)],
    )?;
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (open, high, low, close, *, timeperiod, estimator, offsets=None))]
#[allow(clippy::too_many_arguments)]
fn range_volatility<'py>(
    py: Python<'py>,
    open: In<'py>,
    high: In<'py>,
    low: In<'py>,
    close: In<'py>,
    timeperiod: i64,
    estimator: &str,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let period = positive("timeperiod", timeperiod)?;
    let estimator = match estimator {
        "parkinson" => Estimator::Parkinson,
        "garman_klass" => Estimator::GarmanKlass,
        "rogers_satchell" => Estimator::RogersSatchell,
        other => {
            return Err(PyValueError::new_err(format!(
                "estimator must be 'parkinson', 'garman_klass' or 'rogers_satchell', got {other:?}"
            )))
        }
    };
    let inputs = [
        (&open, "open"),
        (&high, "high"),
        (&low, "low"),
        (&close, "close"),
    ];
    let [out] = map_arrays(py, inputs, offsets.as_ref(), |[op, h, l, c], o| {
        [volatility::range_volatility(
            op, h, l, c, o, period, estimator,
        )]
    })?;
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (open, high, low, close, *, timeperiod, offsets=None))]
fn yang_zhang<'py>(
    py: Python<'py>,
    open: In<'py>,
    high: In<'py>,
    low: In<'py>,
    close: In<'py>,
    timeperiod: i64,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let period = at_least("timeperiod", timeperiod, 2)?;
    let inputs = [
        (&open, "open"),
        (&high, "high"),
        (&low, "low"),
        (&close, "close"),
    ];
    let [out] = map_arrays(py, inputs, offsets.as_ref(), |[op, h, l, c], o| {
        [volatility::yang_zhang(op, h, l, c, o, period)]
    })?;
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (close, volume, *, offsets=None))]
fn obv<'py>(
    py: Python<'py>,
    close: In<'py>,
    volume: In<'py>,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let [out] = map_arrays(
        py,
        [(&close, "close"), (&volume, "volume")],
        offsets.as_ref(),
        |[c, v], o| [volume::obv(c, v, o)],
    )?;
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (high, low, close, volume, *, offsets=None))]
fn ad<'py>(
    py: Python<'py>,
    high: In<'py>,
    low: In<'py>,
    close: In<'py>,
    volume: In<'py>,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let inputs = [
        (&high, "high"),
        (&low, "low"),
        (&close, "close"),
        (&volume, "volume"),
    ];
    let [out] = map_arrays(py, inputs, offsets.as_ref(), |[h, l, c, v], o| {
        [volume::ad(h, l, c, v, o)]
    })?;
    Ok(out)
}

#[pyfunction]
#[pyo3(signature = (high, low, close, volume, *, fastperiod, slowperiod, offsets=None))]
#[allow(clippy::too_many_arguments)]
fn adosc<'py>(
    py: Python<'py>,
    high: In<'py>,
    low: In<'py>,
    close: In<'py>,
    volume: In<'py>,
    fastperiod: i64,
    slowperiod: i64,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let fast = positive("fastperiod", fastperiod)?;
    let slow = positive("slowperiod", slowperiod)?;
    let inputs = [
        (&high, "high"),
        (&low, "low"),
        (&close, "close"),
        (&volume, "volume"),
    ];
    let [out] = map_arrays(py, inputs, offsets.as_ref(), |[h, l, c, v], o| {
        [volume::adosc(h, l, c, v, o, fast, slow)]
    })?;
    Ok(out)
}

/// `fn name(high, low, close, volume, *, timeperiod, offsets=None)` over an HLCV kernel.
macro_rules! hlcv {
    ($name:ident, |$h:ident, $l:ident, $c:ident, $v:ident, $o:ident, $p:ident| $body:expr) => {
        #[pyfunction]
        #[pyo3(signature = (high, low, close, volume, *, timeperiod, offsets=None))]
        #[allow(clippy::too_many_arguments)]
        fn $name<'py>(
            py: Python<'py>,
            high: In<'py>,
            low: In<'py>,
            close: In<'py>,
            volume: In<'py>,
            timeperiod: i64,
            offsets: Offsets<'py>,
        ) -> PyResult<Arr<'py>> {
            let $p = positive("timeperiod", timeperiod)?;
            let inputs = [
                (&high, "high"),
                (&low, "low"),
                (&close, "close"),
                (&volume, "volume"),
            ];
            let [out] = map_arrays(py, inputs, offsets.as_ref(), |[$h, $l, $c, $v], $o| [$body])?;
            Ok(out)
        }
    };
}

hlcv!(mfi, |h, l, c, v, o, p| oscillators::mfi(h, l, c, v, o, p));
hlcv!(vwap, |h, l, c, v, o, p| volume::vwap(h, l, c, v, o, p));

#[pyfunction]
#[pyo3(signature = (values, *, d, threshold, max_width, offsets=None))]
fn frac_diff<'py>(
    py: Python<'py>,
    values: In<'py>,
    d: f64,
    threshold: f64,
    max_width: i64,
    offsets: Offsets<'py>,
) -> PyResult<Arr<'py>> {
    let d = finite("d", d)?;
    let threshold = finite("threshold", threshold)?;
    if threshold < 0.0 {
        return Err(PyValueError::new_err(format!(
            "threshold must be >= 0, got {threshold}"
        )));
    }
    let max_width = positive("max_width", max_width)?;
    map_series(py, &values, "values", offsets.as_ref(), |v, o| {
        fracdiff::frac_diff(v, o, d, threshold, max_width)
    })
}

#[pyfunction]
#[pyo3(signature = (*, d, threshold, max_width))]
fn ffd_weights(d: f64, threshold: f64, max_width: i64) -> PyResult<Vec<f64>> {
    let d = finite("d", d)?;
    let threshold = finite("threshold", threshold)?;
    Ok(fracdiff::ffd_weights(
        d,
        threshold,
        positive("max_width", max_width)?,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for f in [
        wrap_pyfunction!(macd, m)?,
        wrap_pyfunction!(stoch, m)?,
        wrap_pyfunction!(willr, m)?,
        wrap_pyfunction!(cci, m)?,
        wrap_pyfunction!(mfi, m)?,
        wrap_pyfunction!(dmi, m)?,
        wrap_pyfunction!(adx, m)?,
        wrap_pyfunction!(aroon, m)?,
        wrap_pyfunction!(ultosc, m)?,
        wrap_pyfunction!(trange, m)?,
        wrap_pyfunction!(atr, m)?,
        wrap_pyfunction!(natr, m)?,
        wrap_pyfunction!(range_volatility, m)?,
        wrap_pyfunction!(yang_zhang, m)?,
        wrap_pyfunction!(obv, m)?,
        wrap_pyfunction!(ad, m)?,
        wrap_pyfunction!(adosc, m)?,
        wrap_pyfunction!(vwap, m)?,
        wrap_pyfunction!(frac_diff, m)?,
        wrap_pyfunction!(ffd_weights, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
