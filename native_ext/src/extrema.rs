//! Rolling maximum and minimum, and how many bars ago they occurred.
//!
//! The index of the current extreme is kept; a new value that equals or beats it takes its
//! place, and only when the extreme leaves the window is the window rescanned. On market data
//! that rescan is rare, so a row costs one comparison (a monotonic deque is O(1) worst case but
//! several times slower in practice); the worst case, a steadily falling series for `Max`, is
//! O(window) per row, as in TA-Lib. Among equal extremes the most recent wins (the convention of
//! TA-Lib's AROON; "bars since the high" is then 0 on a retest).

use crate::groups::{map_runs, Offsets};

/// Which extreme to track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    Max,
    Min,
}

/// Rolling extreme over `window` rows and the number of rows since it (0 = this row).
/// Outputs `[value, bars_since]`; the first value sits at index `window - 1` of each run.
pub fn rolling_extreme(
    values: &[f64],
    offsets: &Offsets,
    window: usize,
    which: Extreme,
) -> [Vec<f64>; 2] {
    map_runs([values], offsets, |[run], [value, since]| {
        extreme_series(run, window, which, |i, at| {
            value[i] = run[at];
            since[i] = (i - at) as f64;
        })
    })
}

/// Calls `emit(i, index_of_extreme)` for every full window of `window` rows ending at `i`.
pub fn extreme_series(
    values: &[f64],
    window: usize,
    which: Extreme,
    mut emit: impl FnMut(usize, usize),
) {
    assert!(window >= 1, "window must be >= 1");
    let takes_over = |new: f64, old: f64| match which {
        Extreme::Max => new >= old,
        Extreme::Min => new <= old,
    };
    // The extreme's value stays in a register: reloading `values[at]` on every comparison would
    // put a load on the rescan's dependency chain and make it several times slower.
    let (mut at, mut best) = (0, f64::NAN);
    for (i, &x) in values.iter().enumerate() {
        let start = (i + 1).saturating_sub(window);
        if i == 0 || at < start {
            (at, best) = (start, values[start]);
            for (j, &v) in values.iter().enumerate().take(i + 1).skip(start + 1) {
                if takes_over(v, best) {
                    (at, best) = (j, v);
                }
            }
        } else if takes_over(x, best) {
            (at, best) = (i, x);
        }
        if i + 1 >= window {
            emit(i, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn extremes_match_a_brute_force_scan_with_latest_tie_winning() {
        let mut rng = Rng::new(9);
        // Rounded values make ties common.
        let values: Vec<f64> = rng
            .walk(2000, 50.0, 2.0)
            .iter()
            .map(|x| x.round())
            .collect();
        for window in [1, 3, 20] {
            let [hi, hi_since] =
                rolling_extreme(&values, &Offsets::single(2000), window, Extreme::Max);
            let [lo, lo_since] =
                rolling_extreme(&values, &Offsets::single(2000), window, Extreme::Min);
            for i in window - 1..2000 {
                let w = &values[i + 1 - window..=i];
                let max = w.iter().cloned().fold(f64::MIN, f64::max);
                let min = w.iter().cloned().fold(f64::MAX, f64::min);
                let last_max = w.iter().rposition(|&x| x == max).unwrap();
                let last_min = w.iter().rposition(|&x| x == min).unwrap();
                assert_eq!((hi[i], lo[i]), (max, min));
                assert_eq!(hi_since[i], (window - 1 - last_max) as f64);
                assert_eq!(lo_since[i], (window - 1 - last_min) as f64);
            }
            assert!(hi[..window - 1].iter().all(|x| x.is_nan()));
        }
    }
}
