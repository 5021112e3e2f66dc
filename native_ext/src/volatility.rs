//! Volatility and range: true range, ATR, NATR, and the range-based volatility estimators
//! (Parkinson, Garman-Klass, Rogers-Satchell, Yang-Zhang).
//!
//! Estimators return per-bar volatility (a standard deviation of log returns per bar, not
//! annualized) over a rolling window of `period` bars.

use crate::groups::{map_groups, map_runs, nan_warm_up, Offsets};
use crate::rolling::sma_series;

/// True range (TA-Lib `TRANGE`): `max(high, prev close) - min(low, prev close)`; first value at
/// index 1 of each run.
pub fn trange(high: &[f64], low: &[f64], close: &[f64], offsets: &Offsets) -> Vec<f64> {
    let [out] = map_runs([high, low, close], offsets, |[h, l, c], [out]| {
        true_range_into(h, l, c, out)
    });
    out
}

fn true_range_into(h: &[f64], l: &[f64], c: &[f64], out: &mut [f64]) {
    for i in 1..c.len() {
        out[i] = h[i].max(c[i - 1]) - l[i].min(c[i - 1]);
    }
}

/// Average true range (TA-Lib `ATR`): Wilder average of the true range, seeded with the mean of
/// the first `period` true ranges; first value at index `period`.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    let [out] = map_groups([high, low, close], offsets, |[h, l, c], [out]| {
        atr_series(h, l, c, period, out)
    });
    out
}

/// ATR of one series into every position of `out`, in one pass: the true range is computed
/// inside the Wilder recursion (four rows per dependency step, as in `linear_recursion`), so
/// the range work overlaps the recursion's latency and is never stored. Returns false (output incomplete) when an input was not finite. The true range's
/// `max`/`min` would hide a NaN, so each range carries `((h + l) + c) * 0`: exactly +0 for
/// finite inputs, NaN otherwise, and a NaN in the Wilder state never leaves it.
fn atr_series(h: &[f64], l: &[f64], c: &[f64], period: usize, out: &mut [f64]) -> bool {
    // The same code compiled for AVX2 (three-operand instructions, no FMA, so results are
    // identical) runs a few percent faster where the CPU has it.
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { atr_series_avx2(h, l, c, period, out) };
    }
    atr_series_body(h, l, c, period, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn atr_series_avx2(h: &[f64], l: &[f64], c: &[f64], period: usize, out: &mut [f64]) -> bool {
    atr_series_body(h, l, c, period, out)
}

#[inline(always)]
fn atr_series_body(h: &[f64], l: &[f64], c: &[f64], period: usize, out: &mut [f64]) -> bool {
    assert!(period >= 1, "period must be >= 1");
    let len = c.len();
    assert!(h.len() == len && l.len() == len && out.len() == len);
    if nan_warm_up(out, period) == len {
        return true; // all warm-up, whatever the inputs
    }
    // Plain compare-selects (one `maxpd`/`minpd` each): NaN is caught by the probe term, so the
    // NaN handling of `f64::max` would only cost instructions.
    #[inline(always)]
    fn range(h: f64, l: f64, c: f64, prev: f64) -> f64 {
        let high = if h > prev { h } else { prev };
        let low = if l < prev { l } else { prev };
        (high - low) + ((h + l) + c) * 0.0
    }
    let mut sum = 0.0;
    for i in 1..=period {
        sum += range(h[i], l[i], c[i], c[i - 1]);
    }
    let row0 = ((h[0] + l[0]) + c[0]).is_finite();
    let mut state = sum / period as f64;
    out[period] = state;
    let (a, b) = (1.0 / period as f64, 1.0 - 1.0 / period as f64);
    let (b2, b3, b4) = (b * b, b * b * b, b * b * b * b);
    let from = period + 1;
    let (mut hs, mut ls, mut cs, mut ps) = (
        h[from..].chunks_exact(4),
        l[from..].chunks_exact(4),
        c[from..].chunks_exact(4),
        c[from - 1..len - 1].chunks_exact(4),
    );
    let mut os = out[from..].chunks_exact_mut(4);
    for ((((o, h), l), c), p) in (&mut os)
        .zip(&mut hs)
        .zip(&mut ls)
        .zip(&mut cs)
        .zip(&mut ps)
    {
        let p0 = a * range(h[0], l[0], c[0], p[0]);
        let p1 = b * p0 + a * range(h[1], l[1], c[1], p[1]);
        let p2 = b * p1 + a * range(h[2], l[2], c[2], p[2]);
        let p3 = b * p2 + a * range(h[3], l[3], c[3], p[3]);
        o[0] = p0 + b * state;
        o[1] = p1 + b2 * state;
        o[2] = p2 + b3 * state;
        state = p3 + b4 * state;
        o[3] = state;
    }
    let rest = os
        .into_remainder()
        .iter_mut()
        .zip(hs.remainder())
        .zip(ls.remainder());
    for (((o, h), l), (c, p)) in rest.zip(cs.remainder().iter().zip(ps.remainder())) {
        state = a * range(*h, *l, *c, *p) + b * state;
        *o = state;
    }
    row0 && state.is_finite()
}

/// Normalized ATR (TA-Lib `NATR`): `100 * ATR / close`.
pub fn natr(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    offsets: &Offsets,
    period: usize,
) -> Vec<f64> {
    let mut out = atr(high, low, close, offsets, period);
    for (o, c) in out.iter_mut().zip(close) {
        *o = 100.0 * *o / c;
    }
    out
}

/// Which range-based estimator to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimator {
    /// `ln(h/l)^2 / (4 ln 2)`: uses the range only.
    Parkinson,
    /// `0.5 ln(h/l)^2 - (2 ln 2 - 1) ln(c/o)^2`: range plus open-to-close.
    GarmanKlass,
    /// `ln(h/c) ln(h/o) + ln(l/c) ln(l/o)`: unbiased under drift.
    RogersSatchell,
}

/// Rolling range-based volatility: the square root of the window mean of the estimator's
/// per-bar variance term (negative means, possible for Garman-Klass, give 0). First value at
/// index `period - 1`.
pub fn range_volatility(
    open: &[f64],
    high: &[f64],
    low: &[f64],
    close: &[f64],
    offsets: &Offsets,
    period: usize,
    estimator: Estimator,
) -> Vec<f64> {
    let [out] = map_runs([open, high, low, close], offsets, |[o, h, l, c], [out]| {
        let terms: Vec<f64> = (0..c.len())
            .map(|i| variance_term(estimator, o[i], h[i], l[i], c[i]))
            .collect();
        sma_series(&terms, period, out);
        // Only full windows: `NaN.max(0.0)` is 0 and would fill the warm-up.
        for v in out.iter_mut().skip(period - 1) {
            *v = v.max(0.0).sqrt();
        }
    });
    out
}

fn variance_term(estimator: Estimator, o: f64, h: f64, l: f64, c: f64) -> f64 {
    let ln2 = std::f64::consts::LN_2;
    match estimator {
        Estimator::Parkinson => (h / l).ln().powi(2) / (4.0 * ln2),
        Estimator::GarmanKlass => {
            0.5 * (h / l).ln().powi(2) - (2.0 * ln2 - 1.0) * (c / o).ln().powi(2)
        }
        Estimator::RogersSatchell => (h / c).ln() * (h / o).ln() + (l / c).ln() * (l / o).ln(),
    }
}

/// Yang-Zhang volatility: `sqrt(var_overnight + k var_open_to_close + (1 - k) mean_RS)` with
/// sample variances of `ln(open / prev close)` and `ln(close / open)` over `period` bars and
/// `k = 0.34 / (1.34 + (period + 1) / (period - 1))`. Needs the previous close, so the first
/// value sits at index `period`. Requires period >= 2.
pub fn yang_zhang(
    open: &[f64],
    high: &[f64],
    low: &[f64],
    close: &[f64],
    offsets: &Offsets,
    period: usize,
) -> Vec<f64> {
    assert!(period >= 2, "period must be >= 2");
    let n = period as f64;
    let k = 0.34 / (1.34 + (n + 1.0) / (n - 1.0));
    let [out] = map_runs([open, high, low, close], offsets, |[o, h, l, c], [out]| {
        if c.len() <= period {
            return;
        }
        let overnight: Vec<f64> = (1..c.len()).map(|i| (o[i] / c[i - 1]).ln()).collect();
        let intraday: Vec<f64> = (1..c.len()).map(|i| (c[i] / o[i]).ln()).collect();
        let rs: Vec<f64> = (1..c.len())
            .map(|i| variance_term(Estimator::RogersSatchell, o[i], h[i], l[i], c[i]))
            .collect();
        let sample_var = |x: &[f64]| {
            let mean = x.iter().sum::<f64>() / n;
            x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        };
        let mut rs_mean = vec![f64::NAN; rs.len()];
        sma_series(&rs, period, &mut rs_mean);
        for j in period - 1..rs.len() {
            let window = j + 1 - period..=j;
            let var = sample_var(&overnight[window.clone()])
                + k * sample_var(&intraday[window])
                + (1.0 - k) * rs_mean[j];
            out[j + 1] = var.max(0.0).sqrt();
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_is_the_wilder_average_of_true_range() {
        let h = [10.0, 11.0, 12.0, 11.5, 13.0];
        let l = [9.0, 10.0, 10.5, 10.0, 11.0];
        let c = [9.5, 10.5, 11.0, 11.0, 12.5];
        let tr = trange(&h, &l, &c, &Offsets::single(5));
        assert!(tr[0].is_nan());
        assert_eq!(&tr[1..], &[1.5, 1.5, 1.5, 2.0]);
        let a = atr(&h, &l, &c, &Offsets::single(5), 2);
        assert!(a[1].is_nan());
        assert_eq!(a[2], 1.5);
        assert_eq!(a[4], (1.5 + 2.0) / 2.0);
    }

    #[test]
    fn estimators_are_zero_for_flat_bars_and_parkinson_matches_its_formula() {
        let flat = [100.0; 10];
        let out = range_volatility(
            &flat,
            &flat,
            &flat,
            &flat,
            &Offsets::single(10),
            3,
            Estimator::GarmanKlass,
        );
        assert!(out[2..].iter().all(|&v| v == 0.0));
        let (o, c) = ([100.0; 4], [100.0; 4]);
        let (h, l) = ([102.0; 4], [99.0; 4]);
        let p = range_volatility(&o, &h, &l, &c, &Offsets::single(4), 2, Estimator::Parkinson);
        let expected = ((102.0f64 / 99.0).ln().powi(2) / (4.0 * std::f64::consts::LN_2)).sqrt();
        assert!((p[3] - expected).abs() < 1e-15);
        let yz = yang_zhang(&o, &h, &l, &c, &Offsets::single(4), 2);
        assert!(yz[1].is_nan() && yz[2].is_finite());
    }
}
