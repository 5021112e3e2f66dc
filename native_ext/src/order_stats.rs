//! Rolling rank and quantile, from a sorted copy of the window.
//!
//! The window is kept sorted: each step removes the leaving value and inserts the entering one
//! by binary search, O(log w) to find plus an O(w) memmove, which for the windows features use
//! (5..500) is far cheaper than sorting each window.

use crate::groups::{map_finite_runs, Offsets};

/// Percentile rank of each value within its window, in [0, 1]: the share of the other
/// `window - 1` values below it, ties counting half. Requires window >= 2.
pub fn rank(values: &[f64], offsets: &Offsets, window: usize) -> Vec<f64> {
    assert!(window >= 2, "window must be >= 2");
    let others = (window - 1) as f64;
    map_finite_runs(values, offsets, |run, out| {
        sorted_windows(run, window, |i, sorted| {
            let x = run[i];
            let below = sorted.partition_point(|&v| v < x);
            let ties = sorted.partition_point(|&v| v <= x) - below - 1; // minus itself
            out[i] = (below as f64 + 0.5 * ties as f64) / others;
        })
    })
}

/// Rolling quantile `q` in [0, 1], linear interpolation between order statistics (numpy's
/// default, `np.quantile(window, q)`).
pub fn quantile(values: &[f64], offsets: &Offsets, window: usize, q: f64) -> Vec<f64> {
    assert!((0.0..=1.0).contains(&q), "q must be in [0, 1]");
    let position = q * (window - 1) as f64;
    let lo = position.floor() as usize;
    let frac = position - lo as f64;
    map_finite_runs(values, offsets, |run, out| {
        sorted_windows(run, window, |i, sorted| {
            let base = sorted[lo];
            out[i] = if frac > 0.0 {
                base + frac * (sorted[lo + 1] - base)
            } else {
                base
            };
        })
    })
}

/// Calls `emit(i, sorted_window)` for every full window ending at `i` of a gap-free series.
fn sorted_windows(values: &[f64], window: usize, mut emit: impl FnMut(usize, &[f64])) {
    assert!(window >= 1, "window must be >= 1");
    if values.len() < window {
        return;
    }
    let mut sorted: Vec<f64> = values[..window].to_vec();
    sorted.sort_by(f64::total_cmp);
    emit(window - 1, &sorted);
    for i in window..values.len() {
        let old = values[i - window];
        let at = sorted.partition_point(|&v| v < old);
        sorted.remove(at);
        let x = values[i];
        let at = sorted.partition_point(|&v| v < x);
        sorted.insert(at, x);
        emit(i, &sorted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn rank_and_quantile_match_sorting_each_window() {
        let values: Vec<f64> = Rng::new(10)
            .walk(600, 0.0, 3.0)
            .iter()
            .map(|x| x.round())
            .collect();
        let w = 15;
        let ranks = rank(&values, &Offsets::single(600), w);
        let medians = quantile(&values, &Offsets::single(600), w, 0.5);
        let q30 = quantile(&values, &Offsets::single(600), w, 0.3);
        for i in w - 1..600 {
            let win = &values[i + 1 - w..=i];
            let x = values[i];
            let below = win.iter().filter(|&&v| v < x).count() as f64;
            let ties = win.iter().filter(|&&v| v == x).count() as f64 - 1.0;
            assert_eq!(ranks[i], (below + 0.5 * ties) / (w - 1) as f64);
            let mut s = win.to_vec();
            s.sort_by(f64::total_cmp);
            assert_eq!(medians[i], s[7]);
            let pos = 0.3 * 14.0;
            let expected = s[4] + (pos - 4.0) * (s[5] - s[4]);
            assert!((q30[i] - expected).abs() < 1e-12);
        }
        assert!(ranks[..w - 1].iter().all(|x| x.is_nan()));
    }
}
