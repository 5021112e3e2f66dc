//! Event sampling with the symmetric CUSUM filter (López de Prado, AFML 2.5.2.1).
//!
//! Per group, on the differences `d = x[k] - x[k-1]` of a series (use log prices):
//! `s+ = max(0, s+ + d)` and `s- = min(0, s- + d)`. When `s+ > h[k]` an up event fires at `k`
//! and `s+` restarts at 0; when `s- < -h[k]` a down event fires and `s-` restarts. The threshold
//! is per bar, so it can follow a causal volatility estimate. Sums start at 0 in every group;
//! a non-finite value is skipped (the next difference is taken from the last finite value);
//! while `h[k]` is not a positive number (e.g. volatility still warming up) nothing accumulates.
//! Every event uses data up to and including its bar only.

use crate::groups::Offsets;

/// Event indices (absolute, increasing) and their direction (+1 up, -1 down).
pub fn cusum_filter(values: &[f64], threshold: &[f64], offsets: &Offsets) -> (Vec<i64>, Vec<i8>) {
    assert_eq!(
        values.len(),
        threshold.len(),
        "values and threshold differ in length"
    );
    assert_eq!(
        offsets.series_len(),
        values.len(),
        "offsets do not describe values"
    );
    let (mut index, mut direction) = (Vec::new(), Vec::new());
    for group in offsets.ranges() {
        let (mut up, mut down) = (0.0f64, 0.0f64);
        let mut previous: Option<f64> = None;
        for k in group {
            let x = values[k];
            if !x.is_finite() {
                continue;
            }
            let h = threshold[k];
            if let (Some(p), true) = (previous, h > 0.0 && h.is_finite()) {
                let d = x - p;
                up = (up + d).max(0.0);
                down = (down + d).min(0.0);
                if down < -h {
                    down = 0.0;
                    index.push(k as i64);
                    direction.push(-1);
                } else if up > h {
                    up = 0.0;
                    index.push(k as i64);
                    direction.push(1);
                }
            }
            previous = Some(x);
        }
    }
    (index, direction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(values: &[f64], h: f64) -> (Vec<i64>, Vec<i8>) {
        cusum_filter(
            values,
            &vec![h; values.len()],
            &Offsets::single(values.len()),
        )
    }

    #[test]
    fn fires_when_the_cumulated_move_exceeds_the_threshold() {
        // +0.4, +0.4, +0.4: s+ = 0.4, 0.8, 1.2 > 1 at index 3; then resets.
        let (idx, dir) = single(&[0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4], 1.0);
        assert_eq!((idx, dir), (vec![3, 6], vec![1, 1]));
        let (idx, dir) = single(&[0.0, -0.6, -1.2, -1.0], 1.0);
        assert_eq!((idx, dir), (vec![2], vec![-1]));
    }

    #[test]
    fn noise_below_the_threshold_never_fires_and_sums_floor_at_zero() {
        let v: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { 0.0 } else { 0.3 })
            .collect();
        assert!(single(&v, 0.5).0.is_empty());
    }

    #[test]
    fn matches_a_brute_force_loop_and_respects_groups_and_gaps() {
        use crate::testutil::Rng;
        let mut rng = Rng::new(11);
        let mut v = rng.walk(2000, 0.0, 1.0);
        v[500] = f64::NAN;
        let h: Vec<f64> = (0..2000)
            .map(|i| {
                if i < 30 {
                    f64::NAN
                } else {
                    2.0 + rng.uniform()
                }
            })
            .collect();
        let offsets = Offsets::new(&[0, 700, 2000], 2000).unwrap();
        let (idx, dir) = cusum_filter(&v, &h, &offsets);
        let mut expected = (Vec::new(), Vec::new());
        for range in [0..700usize, 700..2000] {
            let (mut sp, mut sn, mut prev) = (0.0f64, 0.0f64, f64::NAN);
            for k in range {
                if v[k].is_nan() {
                    continue;
                }
                if !prev.is_nan() && h[k] > 0.0 {
                    let d = v[k] - prev;
                    sp = (sp + d).max(0.0);
                    sn = (sn + d).min(0.0);
                    if sn < -h[k] {
                        sn = 0.0;
                        expected.0.push(k as i64);
                        expected.1.push(-1i8);
                    } else if sp > h[k] {
                        sp = 0.0;
                        expected.0.push(k as i64);
                        expected.1.push(1i8);
                    }
                }
                prev = v[k];
            }
        }
        assert_eq!((idx, dir), expected);
        assert!(!expected_contains_boundary_cross(&expected.0));
    }

    fn expected_contains_boundary_cross(idx: &[i64]) -> bool {
        idx.contains(&700) // the first bar of a group has no difference, so it cannot fire
    }
}
