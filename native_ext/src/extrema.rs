//! Rolling maximum and minimum, and how many bars ago they occurred, in O(n) amortized.
//!
//! A monotonic deque of indices holds the candidates for the window's extreme: a new value
//! evicts every older candidate it equals or beats, so among equal extremes the most recent one
//! wins (the convention of TA-Lib's AROON; "bars since the high" is then 0 on a retest).

use std::collections::VecDeque;

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
    let mut deque: VecDeque<usize> = VecDeque::with_capacity(window + 1);
    let beaten = |old: f64, new: f64| match which {
        Extreme::Max => old <= new,
        Extreme::Min => old >= new,
    };
    for (i, &x) in values.iter().enumerate() {
        while deque.back().is_some_and(|&j| beaten(values[j], x)) {
            deque.pop_back();
        }
        deque.push_back(i);
        if deque[0] + window <= i {
            deque.pop_front();
        }
        if i + 1 >= window {
            emit(i, deque[0]);
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
