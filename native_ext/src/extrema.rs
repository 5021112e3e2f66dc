//! Rolling maximum and minimum, and how many bars ago they occurred.
//!
//! O(n) whatever the window, with about one comparison per row on market data. The extreme
//! of the current window is kept with its index; a new value that equals or beats it takes
//! its place. When the extreme leaves the window, the new one is found without a rescan, in the
//! manner of van Herk / Gil-Werman: at the last rebuild (row `b`) the suffix extremes of the
//! window then ending at `b` were tabulated, and the extreme of the rows after `b` is tracked as
//! they arrive, so the window's extreme is the better of one table entry and that tracker. The
//! table is rebuilt (O(window)) only once the window has moved past all of it, so at most once
//! per `window` rows. Among equal extremes the most recent wins (the convention of TA-Lib's
//! AROON; "bars since the high" is then 0 on a retest).

use crate::groups::{map_groups, nan_warm_up, Offsets};

/// Which extreme to track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    Max,
    Min,
}

/// Rolling extreme over `window` rows (TA-Lib `MAX` / `MIN`); the first value sits at index
/// `window - 1` of each run.
pub fn rolling_extreme_value(
    values: &[f64],
    offsets: &Offsets,
    window: usize,
    which: Extreme,
) -> Vec<f64> {
    let [value] = map_groups([values], offsets, |[run], [value]| {
        let start = nan_warm_up(value, window - 1);
        if start == run.len() {
            return true;
        }
        extreme_series(run, window, which, |i, _, best| value[i] = best)
    });
    value
}

/// Rolling extreme over `window` rows and the number of rows since it (0 = this row).
/// Outputs `[value, bars_since]`; the first value sits at index `window - 1` of each run.
pub fn rolling_extreme(
    values: &[f64],
    offsets: &Offsets,
    window: usize,
    which: Extreme,
) -> [Vec<f64>; 2] {
    map_groups([values], offsets, |[run], [value, since]| {
        nan_warm_up(since, window - 1);
        if nan_warm_up(value, window - 1) == run.len() {
            return true;
        }
        extreme_series(run, window, which, |i, at, best| {
            value[i] = best;
            since[i] = (i - at) as f64;
        })
    })
}

/// Calls `emit(i, index_of_extreme, extreme)` for every full window of `window` rows ending at
/// `i`. Returns false when a value was not finite (the emitted extremes are then meaningless;
/// see `groups::map_groups`).
pub fn extreme_series(
    values: &[f64],
    window: usize,
    which: Extreme,
    emit: impl FnMut(usize, usize, f64),
) -> bool {
    match which {
        Extreme::Max => extreme_series_of::<true>(values, window, emit),
        Extreme::Min => extreme_series_of::<false>(values, window, emit),
    }
}

/// `extreme_series` with the direction fixed at compile time. The hot loop is TA-Lib's: one
/// compare-and-select per row and a branch taken when the extreme leaves the window.
#[inline(always)]
fn extreme_series_of<const MAX: bool>(
    values: &[f64],
    window: usize,
    mut emit: impl FnMut(usize, usize, f64),
) -> bool {
    assert!(window >= 1, "window must be >= 1");
    // The newer value replaces the older one; ties go to the newer.
    let takes_over = |new: f64, old: f64| if MAX { new >= old } else { new <= old };
    let worst = if MAX {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    let Some(&first) = values.first() else {
        return true;
    };
    // The extreme's value stays in a register: reloading `values[at]` on every comparison would
    // put a load on the dependency chain.
    let (mut at, mut best) = (0, first);
    // Suffix extremes of the `window` rows ending at `built` (built at most once per `window`
    // rows, only when the extreme leaves the window), and the extreme of rows
    // `built + 1..=scanned`, extended lazily when it is needed, so each row is scanned once
    // per table.
    let mut table_value = vec![0.0; 0];
    let mut table_at = vec![0usize; 0];
    let mut built = None;
    let (mut after_at, mut after, mut scanned) = (0, worst, 0);
    let mut finite = true;
    for (i, &x) in values.iter().enumerate() {
        finite &= x.is_finite();
        // Selects, not branches: whether a row sets a new extreme is as good as random. The
        // value's select is written as a single `maxsd`/`minsd` (equal values are equal), so
        // the loop-carried chain through `best` is one instruction; the index follows it off
        // that chain.
        at = if takes_over(x, best) { i } else { at };
        best = if MAX {
            if best > x {
                best
            } else {
                x
            }
        } else if best < x {
            best
        } else {
            x
        };
        let start = (i + 1).saturating_sub(window);
        if at < start {
            match built {
                Some(b) if start <= b => {
                    for (j, &v) in values.iter().enumerate().take(i + 1).skip(scanned + 1) {
                        if takes_over(v, after) {
                            (after_at, after) = (j, v);
                        }
                    }
                    scanned = i;
                    let (old_at, old) = (table_at[b - start], table_value[b - start]);
                    (at, best) = if takes_over(after, old) {
                        (after_at, after)
                    } else {
                        (old_at, old)
                    };
                }
                _ => {
                    // Tabulate the suffix extremes of the window ending here, latest winning
                    // ties; entry `k` covers rows `i - k..=i`.
                    if table_value.is_empty() {
                        table_value = vec![0.0; window];
                        table_at = vec![0; window];
                    }
                    let mut suffix = (i, x);
                    for (k, j) in (start..=i).rev().enumerate() {
                        let v = values[j];
                        if !takes_over(suffix.1, v) {
                            suffix = (j, v);
                        }
                        (table_at[k], table_value[k]) = suffix;
                    }
                    built = Some(i);
                    (after_at, after, scanned) = (i, worst, i);
                    (at, best) = suffix;
                }
            }
        }
        if i + 1 >= window {
            emit(i, at, best);
        }
    }
    finite
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn extremes_match_a_brute_force_scan_with_latest_tie_winning() {
        let mut rng = Rng::new(9);
        // Rounded values make ties common.
        let walk: Vec<f64> = rng
            .walk(2000, 50.0, 2.0)
            .iter()
            .map(|x| x.round())
            .collect();
        // Steady falls and rises are the worst cases of a rescan (the extreme leaves the window
        // every row); a sawtooth mixes both with ties.
        let falling: Vec<f64> = (0..2000).map(|i| -f64::from(i)).collect();
        let rising: Vec<f64> = (0..2000).map(f64::from).collect();
        let saw: Vec<f64> = (0..2000).map(|i| f64::from(i % 37 / 3)).collect();
        for values in [walk, falling, rising, saw] {
            check_against_brute_force(&values);
        }
    }

    #[test]
    fn value_only_extremes_equal_the_pair_and_split_at_gaps() {
        let mut values = Rng::new(10).walk(500, 50.0, 2.0);
        values[100] = f64::NAN;
        values[300] = f64::INFINITY;
        let offsets = Offsets::new(&[0, 250, 500], 500).unwrap();
        for which in [Extreme::Max, Extreme::Min] {
            let [pair, _] = rolling_extreme(&values, &offsets, 7, which);
            let value = rolling_extreme_value(&values, &offsets, 7, which);
            let [expected] = crate::groups::map_runs([&values[..]], &offsets, |[run], [out]| {
                for i in 6..run.len() {
                    let w = &run[i - 6..=i];
                    out[i] = match which {
                        Extreme::Max => w.iter().cloned().fold(f64::MIN, f64::max),
                        Extreme::Min => w.iter().cloned().fold(f64::MAX, f64::min),
                    };
                }
            });
            crate::testutil::assert_close(&value, &expected, 0.0);
            crate::testutil::assert_close(&pair, &expected, 0.0);
        }
    }

    fn check_against_brute_force(values: &[f64]) {
        for window in [1, 3, 20, 64] {
            let [hi, hi_since] =
                rolling_extreme(values, &Offsets::single(2000), window, Extreme::Max);
            let [lo, lo_since] =
                rolling_extreme(values, &Offsets::single(2000), window, Extreme::Min);
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
            let only = rolling_extreme_value(values, &Offsets::single(2000), window, Extreme::Max);
            crate::testutil::assert_close(&only, &hi, 0.0);
        }
    }
}
