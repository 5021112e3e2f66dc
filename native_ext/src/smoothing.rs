//! Recursive smoothers (EMA, Wilder), TA-Lib conventions.
//!
//! Both are seeded with the simple mean of the first `period` values, so the first output sits at
//! index `period - 1` of each gap-free run. A non-finite input ends the run: the smoother restarts
//! its warm-up on the values after it (see `groups::map_finite_runs`).

use crate::groups::{map_finite_runs, Offsets};

/// Exponential moving average, alpha = 2 / (period + 1), SMA-seeded (TA-Lib `EMA`).
pub fn ema(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| ema_series(run, period, out))
}

/// Wilder smoothing, alpha = 1 / period, SMA-seeded (the average inside TA-Lib `RSI` and `ATR`).
pub fn wilder(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| wilder_series(run, period, out))
}

/// EMA of one gap-free series into `out` (warm-up positions are left untouched).
pub fn ema_series(values: &[f64], period: usize, out: &mut [f64]) {
    let alpha = 2.0 / (period as f64 + 1.0);
    // Same operation order as TA-Lib, so results agree to the last bit on the same input.
    sma_seeded(values, period, out, |prev, x| (x - prev) * alpha + prev);
}

/// Wilder smoothing of one gap-free series into `out` (warm-up positions are left untouched).
pub fn wilder_series(values: &[f64], period: usize, out: &mut [f64]) {
    let n = period as f64;
    sma_seeded(values, period, out, |prev, x| (prev * (n - 1.0) + x) / n);
}

/// Seeds the state with the mean of the first `period` values, then applies `step` per value.
fn sma_seeded(values: &[f64], period: usize, out: &mut [f64], step: impl Fn(f64, f64) -> f64) {
    assert!(period >= 1, "period must be >= 1");
    if values.len() < period {
        return;
    }
    let mut state = values[..period].iter().sum::<f64>() / period as f64;
    out[period - 1] = state;
    for (x, o) in values[period..].iter().zip(&mut out[period..]) {
        state = step(state, *x);
        *o = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Rng};

    /// Textbook recursion written independently of the kernel.
    fn reference(values: &[f64], period: usize, alpha: f64) -> Vec<f64> {
        let mut out = vec![f64::NAN; values.len()];
        if values.len() >= period {
            let mut s = 0.0;
            for v in &values[..period] {
                s += v / period as f64;
            }
            out[period - 1] = s;
            for i in period..values.len() {
                s = alpha * values[i] + (1.0 - alpha) * s;
                out[i] = s;
            }
        }
        out
    }

    #[test]
    fn ema_is_sma_seeded_with_alpha_two_over_n_plus_one() {
        let values = Rng::new(1).walk(500, 100.0, 1.0);
        let out = ema(&values, &Offsets::single(500), 10);
        assert_close(&out, &reference(&values, 10, 2.0 / 11.0), 1e-12);
        assert!(out[8].is_nan());
        assert_close(
            &out[9..10],
            &[values[..10].iter().sum::<f64>() / 10.0],
            1e-15,
        );
    }

    #[test]
    fn wilder_is_sma_seeded_with_alpha_one_over_n() {
        let values = Rng::new(2).walk(500, 100.0, 1.0);
        let out = wilder(&values, &Offsets::single(500), 14);
        assert_close(&out, &reference(&values, 14, 1.0 / 14.0), 1e-12);
    }

    #[test]
    fn period_one_reproduces_the_input() {
        let values = [3.0, 1.0, 4.0, 1.5];
        assert_eq!(ema(&values, &Offsets::single(4), 1), values.to_vec());
        assert_eq!(wilder(&values, &Offsets::single(4), 1), values.to_vec());
    }

    #[test]
    fn smoothers_restart_warm_up_after_nan_and_never_cross_groups() {
        let values = [1.0, 2.0, 3.0, f64::NAN, 5.0, 6.0, 7.0, 8.0, 9.0];
        let offsets = Offsets::new(&[0, 6, 9], 9).unwrap();
        let out = ema(&values, &offsets, 2);
        let expected = [
            f64::NAN,
            1.5,
            1.5 + (3.0 - 1.5) * 2.0 / 3.0, // first run
            f64::NAN,                      // the gap
            f64::NAN,
            5.5, // second run, ends at the group boundary
            f64::NAN,
            7.5,
            7.5 + (9.0 - 7.5) * 2.0 / 3.0, // second group
        ];
        assert_close(&out, &expected, 1e-15);
    }

    #[test]
    fn series_shorter_than_period_is_all_nan() {
        let out = ema(&[1.0, 2.0], &Offsets::single(2), 3);
        assert!(out.iter().all(|x| x.is_nan()));
    }
}
