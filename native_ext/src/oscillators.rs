//! Bounded oscillators (RSI).

use crate::groups::{map_finite_runs, Offsets};

/// RSI value reported when the averaged gain and loss are both exactly zero (a flat series).
/// TA-Lib (0.6+) reports 0 there, which reads as "maximally oversold"; 50 is neutral, which is
/// what a model feature should see for "no movement". Everywhere else we match TA-Lib.
pub const RSI_FLAT: f64 = 50.0;

/// Relative strength index with Wilder smoothing (TA-Lib `RSI`).
///
/// The first value sits at index `period` of each gap-free run: it needs `period` price changes,
/// whose mean gain and mean loss seed the Wilder averages.
/// RSI = 100 * avg_gain / (avg_gain + avg_loss): 100 with only gains, 0 with only losses,
/// `RSI_FLAT` when both averages are zero.
pub fn rsi(close: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_finite_runs(close, offsets, |run, out| rsi_series(run, period, out))
}

/// RSI of one gap-free series into `out` (warm-up positions are left untouched).
pub fn rsi_series(close: &[f64], period: usize, out: &mut [f64]) {
    assert!(period >= 1, "period must be >= 1");
    if close.len() <= period {
        return;
    }
    let n = period as f64;
    let (mut gain, mut loss) = (0.0, 0.0);
    for pair in close[..=period].windows(2) {
        let change = pair[1] - pair[0];
        if change < 0.0 {
            loss -= change;
        } else {
            gain += change;
        }
    }
    gain /= n;
    loss /= n;
    out[period] = rsi_value(gain, loss);
    for i in period + 1..close.len() {
        let change = close[i] - close[i - 1];
        let (up, down) = if change < 0.0 {
            (0.0, -change)
        } else {
            (change, 0.0)
        };
        // Same operation order as TA-Lib's Wilder update.
        gain = (gain * (n - 1.0) + up) / n;
        loss = (loss * (n - 1.0) + down) / n;
        out[i] = rsi_value(gain, loss);
    }
}

fn rsi_value(gain: f64, loss: f64) -> f64 {
    let total = gain + loss;
    if total == 0.0 {
        RSI_FLAT
    } else {
        100.0 * (gain / total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Rng};

    /// RSI as 100 - 100 / (1 + RS), written independently of the kernel.
    fn reference(close: &[f64], period: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; close.len()];
        let changes: Vec<f64> = close.windows(2).map(|w| w[1] - w[0]).collect();
        if changes.len() < period {
            return out;
        }
        let mut avg_gain =
            changes[..period].iter().map(|c| c.max(0.0)).sum::<f64>() / period as f64;
        let mut avg_loss =
            changes[..period].iter().map(|c| (-c).max(0.0)).sum::<f64>() / period as f64;
        let value = |g: f64, l: f64| {
            if l == 0.0 {
                if g == 0.0 {
                    50.0
                } else {
                    100.0
                }
            } else {
                100.0 - 100.0 / (1.0 + g / l)
            }
        };
        out[period] = value(avg_gain, avg_loss);
        for k in period..changes.len() {
            avg_gain += (changes[k].max(0.0) - avg_gain) / period as f64;
            avg_loss += ((-changes[k]).max(0.0) - avg_loss) / period as f64;
            out[k + 1] = value(avg_gain, avg_loss);
        }
        out
    }

    #[test]
    fn rsi_matches_wilder_definition_with_first_value_at_index_period() {
        let close = Rng::new(4).walk(1000, 100.0, 1.0);
        let out = rsi(&close, &Offsets::single(1000), 14);
        assert!(out[13].is_nan() && !out[14].is_nan());
        assert_close(&out, &reference(&close, 14), 1e-9);
    }

    #[test]
    fn rsi_is_100_for_only_gains_0_for_only_losses_and_50_when_flat() {
        let up: Vec<f64> = (0..10).map(f64::from).collect();
        let down: Vec<f64> = up.iter().rev().copied().collect();
        let flat = vec![5.0; 10];
        for (series, expected) in [(up, 100.0), (down, 0.0), (flat, RSI_FLAT)] {
            let out = rsi(&series, &Offsets::single(10), 3);
            assert!(out[3..].iter().all(|&x| x == expected), "{out:?}");
        }
    }

    #[test]
    fn rsi_restarts_after_nan() {
        let close = [1.0, 2.0, 3.0, f64::NAN, 3.0, 2.0, 1.0];
        let out = rsi(&close, &Offsets::single(7), 2);
        let expected = [f64::NAN, f64::NAN, 100.0, f64::NAN, f64::NAN, f64::NAN, 0.0];
        assert_close(&out, &expected, 0.0);
    }
}
