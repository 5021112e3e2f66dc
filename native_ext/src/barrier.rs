//! Triple-barrier first-touch search (López de Prado, AFML ch. 3).
//!
//! For bar `i`, scan `j = i+1 ..= min(i + horizon, group_last)` with `r_j = ln(close[j] / close[i])`.
//! The upper barrier is hit when `r_j >= upper[i]`, the lower when `r_j <= -lower[i]`; a width of
//! +inf disables that barrier. The first touch wins. Without a touch, the vertical barrier at
//! `i + horizon` gives the label 0, if that bar lies inside the group; otherwise the outcome is not
//! known yet and the bar gets `UNKNOWN_INDEX`.

use crate::groups::Offsets;

mod fused;
mod trade;

pub use fused::triple_barrier_vol;
pub use trade::{trade_barrier, Prices, Vertical, PROFIT, STOP};

/// `touch_index` of a bar whose outcome is unknown (no label).
pub const UNKNOWN_INDEX: i64 = -1;

/// Per-bar outcome arrays, all of the input's length.
#[derive(Debug, Clone, PartialEq)]
pub struct BarrierTouches {
    /// Absolute index of the touching bar, or `UNKNOWN_INDEX`.
    pub touch_index: Vec<i64>,
    /// Log return from bar `i` to the touching bar; NaN when unknown.
    pub ret: Vec<f64>,
    /// +1 upper, -1 lower, 0 vertical barrier or unknown.
    pub barrier: Vec<i8>,
}

/// Runs the first-touch search for every bar of every group.
///
/// Bars whose close is not a positive finite price, or whose width is NaN or <= 0, are unknown.
/// Later bars without a valid price are skipped by the scan (they cannot touch), and a vertical
/// barrier that lands on such a bar is unknown.
pub fn triple_barrier(
    close: &[f64],
    upper: &[f64],
    lower: &[f64],
    offsets: &Offsets,
    horizon: usize,
) -> BarrierTouches {
    let n = close.len();
    assert!(
        upper.len() == n && lower.len() == n,
        "close, upper and lower differ in length"
    );
    assert_eq!(offsets.series_len(), n, "offsets do not describe close");
    assert!(horizon >= 1, "horizon must be >= 1");
    let mut touches = BarrierTouches {
        touch_index: vec![UNKNOWN_INDEX; n],
        ret: vec![f64::NAN; n],
        barrier: vec![0; n],
    };
    for group in offsets.ranges() {
        let Some(group_last) = group.end.checked_sub(1) else {
            continue;
        };
        for i in group {
            if let Some(touch) = first_touch(close, i, group_last, upper[i], lower[i], horizon) {
                touches.touch_index[i] = touch.index as i64;
                touches.ret[i] = touch.ret;
                touches.barrier[i] = touch.barrier;
            }
        }
    }
    touches
}

pub(crate) struct Touch {
    pub index: usize,
    pub ret: f64,
    pub barrier: i8,
}

fn is_price(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn is_width(x: f64) -> bool {
    x > 0.0 // false for NaN and -inf; +inf is a valid (disabled) barrier
}

pub(crate) fn first_touch(
    close: &[f64],
    i: usize,
    group_last: usize,
    upper: f64,
    lower: f64,
    horizon: usize,
) -> Option<Touch> {
    let base = close[i];
    if !is_price(base) || !is_width(upper) || !is_width(lower) {
        return None;
    }
    let band = SafeBand::new(upper, lower);
    let scan_last = i.saturating_add(horizon).min(group_last);
    for (j, &price) in close.iter().enumerate().take(scan_last + 1).skip(i + 1) {
        if !is_price(price) {
            continue;
        }
        let ratio = price / base;
        if band.surely_inside(ratio) {
            continue;
        }
        let ret = ratio.ln();
        if upper.is_finite() && ret >= upper {
            return Some(Touch {
                index: j,
                ret,
                barrier: 1,
            });
        }
        if lower.is_finite() && ret <= -lower {
            return Some(Touch {
                index: j,
                ret,
                barrier: -1,
            });
        }
    }
    let vertical = i.checked_add(horizon).filter(|&v| v <= group_last)?;
    let price = close[vertical];
    is_price(price).then(|| Touch {
        index: vertical,
        ret: (price / base).ln(),
        barrier: 0,
    })
}

/// Price-ratio bounds strictly inside both barriers, with a margin far above the rounding error
/// of `exp`/`ln`, so most scan steps skip the logarithm. Ratios outside the band take the exact
/// `ln` comparison, so results equal the plain definition bit for bit.
struct SafeBand {
    ratio_above: f64,
    ratio_below: f64,
}

impl SafeBand {
    const MARGIN: f64 = 1e-12;

    fn new(upper: f64, lower: f64) -> Self {
        // exp(upper) overflowing to +inf is still correct: no finite ratio has ln >= 710.
        let ratio_below = upper.exp() * (1.0 - Self::MARGIN);
        // exp(-lower) loses relative precision in the subnormal range, so wide finite lower
        // barriers skip the fast path.
        let ratio_above = if lower == f64::INFINITY {
            0.0
        } else if lower <= 700.0 {
            (-lower).exp() * (1.0 + Self::MARGIN)
        } else {
            f64::INFINITY
        };
        Self {
            ratio_above,
            ratio_below,
        }
    }

    fn surely_inside(&self, ratio: f64) -> bool {
        ratio > self.ratio_above && ratio < self.ratio_below
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const INF: f64 = f64::INFINITY;

    fn single(close: &[f64], upper: f64, lower: f64, horizon: usize) -> BarrierTouches {
        let n = close.len();
        triple_barrier(
            close,
            &vec![upper; n],
            &vec![lower; n],
            &Offsets::single(n),
            horizon,
        )
    }

    #[test]
    fn upper_touch_first_wins() {
        let close = [100.0, 101.0, 103.0, 90.0, 100.0];
        let t = single(&close, 0.02, 0.05, 3);
        assert_eq!((t.touch_index[0], t.barrier[0]), (2, 1));
        assert_eq!(t.ret[0], (103.0f64 / 100.0).ln());
    }

    #[test]
    fn lower_touch_first_wins() {
        let close = [100.0, 99.0, 94.0, 120.0, 100.0];
        let t = single(&close, 0.02, 0.05, 3);
        assert_eq!((t.touch_index[0], t.barrier[0]), (2, -1));
    }

    #[test]
    fn barrier_hit_exactly_counts_as_a_touch() {
        let close = [100.0, 110.0];
        let t = single(&close, (110.0f64 / 100.0).ln(), 1.0, 1);
        assert_eq!((t.touch_index[0], t.barrier[0]), (1, 1));
    }

    #[test]
    fn no_touch_within_full_horizon_is_the_vertical_barrier() {
        let close = [100.0, 100.5, 99.8, 100.2, 150.0];
        let t = single(&close, 0.05, 0.05, 3);
        assert_eq!((t.touch_index[0], t.barrier[0]), (3, 0));
        assert_eq!(t.ret[0], (100.2f64 / 100.0).ln());
    }

    #[test]
    fn horizon_past_the_series_end_is_unknown() {
        let close = [100.0, 100.5, 99.8, 100.2];
        let t = single(&close, 0.05, 0.05, 3);
        assert_eq!(t.touch_index, vec![3, -1, -1, -1]);
        assert!(t.ret[1..].iter().all(|r| r.is_nan()));
        assert_eq!(t.barrier, vec![0; 4]);
    }

    #[test]
    fn group_boundary_stops_the_scan() {
        let close = [100.0, 100.1, 200.0, 200.0];
        let n = close.len();
        let offsets = Offsets::new(&[0, 2, 4], n).unwrap();
        let t = triple_barrier(&close, &[0.05; 4], &[0.05; 4], &offsets, 2);
        // bar 0 would touch the upper barrier at 2, but 2 belongs to the next symbol.
        assert_eq!(t.touch_index, vec![-1, -1, -1, -1]);
        let t = triple_barrier(&close, &[0.05; 4], &[0.05; 4], &offsets, 1);
        assert_eq!(t.touch_index, vec![1, -1, 3, -1]);
    }

    #[test]
    fn infinite_width_disables_that_barrier() {
        let close = [100.0, 50.0, 200.0];
        let t = single(&close, 0.1, INF, 2);
        assert_eq!((t.touch_index[0], t.barrier[0]), (2, 1));
        let t = single(&close, INF, INF, 2);
        assert_eq!((t.touch_index[0], t.barrier[0]), (2, 0));
    }

    #[test]
    fn invalid_inputs_are_unknown() {
        let close = [100.0, f64::NAN, 100.0, 100.0];
        let t = triple_barrier(
            &close,
            &[f64::NAN, 0.1, 0.0, 0.1],
            &[0.1, 0.1, 0.1, 0.1],
            &Offsets::single(4),
            1,
        );
        assert_eq!(t.touch_index, vec![-1, -1, -1, -1]);
        // A NaN close inside the scan is skipped, not treated as a touch.
        let t = single(&[100.0, f64::NAN, 120.0], 0.1, 0.1, 2);
        assert_eq!((t.touch_index[0], t.barrier[0]), (2, 1));
    }

    #[test]
    fn fast_path_agrees_with_the_plain_definition() {
        let mut rng = Rng::new(5);
        let close: Vec<f64> = rng
            .walk(5000, 0.0, 0.01)
            .iter()
            .map(|x| 100.0 * x.exp())
            .collect();
        let upper: Vec<f64> = (0..5000).map(|_| 0.005 + 0.03 * rng.uniform()).collect();
        let lower: Vec<f64> = (0..5000).map(|_| 0.005 + 0.03 * rng.uniform()).collect();
        let horizon = 20;
        let t = triple_barrier(&close, &upper, &lower, &Offsets::single(5000), horizon);
        for i in 0..5000 {
            let mut expected = (-1i64, 0i8);
            for j in i + 1..=(i + horizon).min(4999) {
                let r = (close[j] / close[i]).ln();
                if r >= upper[i] {
                    expected = (j as i64, 1);
                    break;
                }
                if r <= -lower[i] {
                    expected = (j as i64, -1);
                    break;
                }
            }
            if expected.0 == -1 && i + horizon <= 4999 {
                expected = ((i + horizon) as i64, 0);
            }
            assert_eq!((t.touch_index[i], t.barrier[i]), expected, "bar {i}");
        }
    }
}
