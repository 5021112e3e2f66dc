//! Rolling-window statistics: mean and standard deviation in O(n).
//!
//! A window is defined only when it holds `window` finite values of one group; a window touching
//! a non-finite value gives NaN (see `groups::map_finite_runs`).
//!
//! Numerics: each window is tracked as sums of deviations from a shift close to the window's
//! mean (`s1 = sum(x - shift)`, `s2 = sum((x - shift)^2)`), updated in O(1) as values enter and
//! leave. The window is recomputed exactly (corrected two-pass, shift reset to its mean) every
//! `window` steps, so rounding cannot drift over a long series, and also as soon as the one-pass
//! variance `s2 - s1^2 / n` would cancel more than `MAX_CANCELLATION` (the mean has moved far from
//! the shift relative to the window's spread, e.g. a flat window after a jump). Error therefore
//! scales with the spread of the window, not with the price level. Cost: one extra pass in total,
//! plus one window per cancellation event (rare on market data; a flat window recomputes once and
//! then stays exactly zero).

use crate::groups::{map_finite_runs, Offsets};

/// Recompute a window exactly when `s2` exceeds its variance part `m2` by more than this factor
/// (about three significant digits lost to cancellation).
const MAX_CANCELLATION: f64 = 1e3;

/// Rolling arithmetic mean (TA-Lib `SMA`).
pub fn sma(values: &[f64], offsets: &Offsets, window: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| {
        rolling_moments(run, window, out, |m| m.mean())
    })
}

/// Rolling standard deviation with `window - ddof` in the denominator, times `scale`.
/// `ddof = 0, scale = nbdev` is TA-Lib `STDDEV`; `ddof = 1, scale = 1` is the sample std.
pub fn std(values: &[f64], offsets: &Offsets, window: usize, ddof: usize, scale: f64) -> Vec<f64> {
    assert!(ddof < window, "ddof must be < window");
    let denominator = (window - ddof) as f64;
    map_finite_runs(values, offsets, |run, out| {
        rolling_moments(run, window, out, |m| (m.m2() / denominator).sqrt() * scale)
    })
}

/// Sums of deviations from `shift` over the current window of `n` values.
#[derive(Debug, Clone, Copy)]
struct Moments {
    n: f64,
    shift: f64,
    s1: f64,
    s2: f64,
}

impl Moments {
    /// Exact moments of `window`, shifted by its mean (computed relative to its first value).
    fn of(window: &[f64]) -> Self {
        let n = window.len() as f64;
        let first = window[0];
        let shift = first + window.iter().map(|x| x - first).sum::<f64>() / n;
        let (s1, s2) = window.iter().fold((0.0, 0.0), |(s1, s2), x| {
            let d = x - shift;
            (s1 + d, s2 + d * d)
        });
        Self { n, shift, s1, s2 }
    }

    /// Slides the window: `old` leaves, `new` enters.
    fn replace(&mut self, old: f64, new: f64) {
        let (a, b) = (new - self.shift, old - self.shift);
        self.s1 += a - b;
        self.s2 += (a - b) * (a + b);
    }

    fn mean(&self) -> f64 {
        self.shift + self.s1 / self.n
    }

    /// Sum of squared deviations from the window mean.
    fn m2(&self) -> f64 {
        (self.s2 - self.s1 * self.s1 / self.n).max(0.0)
    }

    /// True when `m2` has lost too many digits to cancellation to be trusted.
    fn is_ill_conditioned(&self) -> bool {
        self.s2 > MAX_CANCELLATION * self.m2()
    }
}

/// Writes `emit(moments)` for every full window of one gap-free series.
fn rolling_moments(values: &[f64], window: usize, out: &mut [f64], emit: impl Fn(&Moments) -> f64) {
    assert!(window >= 1, "window must be >= 1");
    if values.len() < window {
        return;
    }
    let mut moments = Moments::of(&values[..window]);
    out[window - 1] = emit(&moments);
    let mut since_recompute = 0;
    for i in window..values.len() {
        since_recompute += 1;
        moments.replace(values[i - window], values[i]);
        if since_recompute == window || moments.is_ill_conditioned() {
            moments = Moments::of(&values[i + 1 - window..=i]);
            since_recompute = 0;
        }
        out[i] = emit(&moments);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Rng};

    fn reference_std(values: &[f64], window: usize, ddof: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; values.len()];
        for i in window - 1..values.len() {
            let w = &values[i + 1 - window..=i];
            let mean = w.iter().sum::<f64>() / window as f64;
            let ss: f64 = w.iter().map(|x| (x - mean).powi(2)).sum();
            out[i] = (ss / (window - ddof) as f64).sqrt();
        }
        out
    }

    fn reference_mean(values: &[f64], window: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; values.len()];
        for i in window - 1..values.len() {
            out[i] = values[i + 1 - window..=i].iter().sum::<f64>() / window as f64;
        }
        out
    }

    #[test]
    fn rolling_std_does_not_drift_on_a_long_high_level_random_walk() {
        let values = Rng::new(3).walk(200_000, 1e4, 1.0);
        let offsets = Offsets::single(values.len());
        for window in [2, 20, 250] {
            assert_close(
                &std(&values, &offsets, window, 1, 1.0),
                &reference_std(&values, window, 1),
                1e-9,
            );
            assert_close(
                &std(&values, &offsets, window, 0, 1.0),
                &reference_std(&values, window, 0),
                1e-9,
            );
            assert_close(
                &sma(&values, &offsets, window),
                &reference_mean(&values, window),
                1e-12,
            );
        }
    }

    #[test]
    fn constant_series_has_exactly_zero_std_and_its_own_mean() {
        let values = vec![10_000.1; 300];
        let offsets = Offsets::single(300);
        let out = std(&values, &offsets, 7, 1, 1.0);
        assert!(out[6..].iter().all(|&x| x == 0.0));
        assert!(sma(&values, &offsets, 7)[6..]
            .iter()
            .all(|&x| x == 10_000.1));
    }

    #[test]
    fn flat_window_after_a_jump_has_exactly_zero_std() {
        let mut values = vec![100.0; 50];
        values.extend(vec![10_000.3; 50]);
        let out = std(&values, &Offsets::single(100), 5, 1, 1.0);
        assert!(out[54..].iter().all(|&x| x == 0.0), "{:?}", &out[50..]);
        assert!(out[4..50].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn windows_touching_nan_are_nan_and_windows_never_cross_groups() {
        let values = [1.0, 2.0, 3.0, f64::NAN, 5.0, 6.0, 7.0, 8.0];
        let offsets = Offsets::new(&[0, 6, 8], 8).unwrap();
        let out = sma(&values, &offsets, 2);
        let expected = [f64::NAN, 1.5, 2.5, f64::NAN, f64::NAN, 5.5, f64::NAN, 7.5];
        assert_close(&out, &expected, 1e-15);
    }

    #[test]
    fn nbdev_scales_the_population_std() {
        let values = [1.0, 2.0, 3.0, 4.0];
        let out = std(&values, &Offsets::single(4), 4, 0, 2.0);
        assert_close(&out[3..], &[2.0 * 1.25f64.sqrt()], 1e-15);
    }
}
