//! Fractional differencing with a fixed-width window (FFD; López de Prado, AFML ch. 5).
//!
//! `(1 - B)^d x` keeps memory of the level while making the series closer to stationary. The
//! binomial weights `w_0 = 1, w_k = -w_{k-1} (d - k + 1) / k` are cut where `|w_k|` falls below
//! `threshold` (or at `max_width`), so every output uses the same fixed window and the first
//! `width - 1` rows of a run are warm-up.

use crate::groups::{map_finite_runs, Offsets};

/// FFD weights, newest first (`w[0]` multiplies the current value).
pub fn ffd_weights(d: f64, threshold: f64, max_width: usize) -> Vec<f64> {
    let mut weights = vec![1.0];
    while weights.len() < max_width {
        let k = weights.len() as f64;
        let next = -weights[weights.len() - 1] * (d - k + 1.0) / k;
        if next.abs() < threshold {
            break;
        }
        weights.push(next);
    }
    weights
}

/// Fixed-width fractional difference of order `d` of each gap-free run.
pub fn frac_diff(
    values: &[f64],
    offsets: &Offsets,
    d: f64,
    threshold: f64,
    max_width: usize,
) -> Vec<f64> {
    let weights = ffd_weights(d, threshold, max_width);
    // Oldest first, so each output is a dot product with a forward slice of the input.
    let oldest_first: Vec<f64> = weights.iter().rev().copied().collect();
    let width = oldest_first.len();
    map_finite_runs(values, offsets, |run, out| {
        for i in width.saturating_sub(1)..run.len() {
            out[i] = dot(&oldest_first, &run[i + 1 - width..=i]);
        }
    })
}

/// Dot product with four independent accumulators (so the adds pipeline and vectorize).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn integer_orders_give_the_identity_and_the_first_difference() {
        assert_eq!(ffd_weights(0.0, 1e-5, 100), vec![1.0]);
        assert_eq!(ffd_weights(1.0, 1e-5, 100), vec![1.0, -1.0]);
        let x = Rng::new(13).walk(50, 100.0, 1.0);
        let out = frac_diff(&x, &Offsets::single(50), 1.0, 1e-5, 100);
        assert!(out[0].is_nan());
        assert!((1..50).all(|i| (out[i] - (x[i] - x[i - 1])).abs() < 1e-12));
    }

    #[test]
    fn weights_follow_the_binomial_recursion_and_stop_at_the_threshold() {
        let w = ffd_weights(0.5, 1e-3, 1000);
        assert_eq!(&w[..3], &[1.0, -0.5, -0.125]);
        assert!(w.iter().all(|x| x.abs() >= 1e-3));
        assert_eq!(ffd_weights(0.5, 0.0, 7).len(), 7);
    }
}
