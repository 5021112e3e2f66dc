//! Triple barrier with its volatility computed in the same pass.
//!
//! For each group, one loop walks the bars: the bar's log return enters a sliding window of
//! `vol_window` returns, the window's sample standard deviation `sigma` (ddof 1) sets the widths
//! `profit_mult * sigma` and `stop_mult * sigma`, and the first-touch scan runs at once, while
//! the next `horizon` closes are still in cache. A bar whose window is incomplete or holds a
//! non-finite return has `sigma = NaN` and no label. `sigma` uses returns up to and including
//! bar `i` only, so barrier widths are causal.
//!
//! The caller passes `log_close = ln(close)` (a vectorised log is several times faster than a
//! scalar one), so each return and each scan step is a subtraction; NaN marks an invalid price.
//! The window keeps a running mean and sum of squared deviations (Welford add/remove), and is
//! recomputed exactly every `RECOMPUTE_LAPS * vol_window` steps so rounding cannot drift along a
//! long series.

use super::{BarrierTouches, Touch, UNKNOWN_INDEX};
use crate::groups::Offsets;

/// Per-bar outcomes plus the volatility that scaled each bar's barriers.
pub fn triple_barrier_vol(
    close: &[f64],
    log_close: &[f64],
    offsets: &Offsets,
    horizon: usize,
    vol_window: usize,
    profit_mult: f64,
    stop_mult: f64,
) -> (BarrierTouches, Vec<f64>) {
    let n = close.len();
    assert_eq!(offsets.series_len(), n, "offsets do not describe close");
    assert!(
        horizon >= 1 && vol_window >= 2,
        "horizon >= 1 and vol_window >= 2 required"
    );
    let mut touches = BarrierTouches {
        touch_index: vec![UNKNOWN_INDEX; n],
        ret: vec![f64::NAN; n],
        barrier: vec![0; n],
    };
    let mut vol = vec![f64::NAN; n];
    let mut window = Window::new(vol_window);
    for group in offsets.ranges() {
        let Some(last) = group.end.checked_sub(1) else {
            continue;
        };
        window.clear();
        for i in group.clone() {
            if i > group.start {
                window.push(log_close[i] - log_close[i - 1]);
            }
            let Some(sigma) = window.std() else {
                continue;
            };
            vol[i] = sigma;
            let (up, down) = (profit_mult * sigma, stop_mult * sigma);
            if let Some(t) = scan(close, log_close, i, last, up, down, horizon) {
                touches.touch_index[i] = t.index as i64;
                touches.ret[i] = t.ret;
                touches.barrier[i] = t.barrier;
            }
        }
    }
    (touches, vol)
}

/// Far above the rounding error of a difference of two logarithms of prices.
const MARGIN: f64 = 1e-12;

/// The scan of `first_touch` on log prices. Candidates within `MARGIN` of a barrier are settled by
/// the exact definition, so touches equal `first_touch` with the same widths; `ret` may differ
/// from `ln(close[j] / close[i])` in the last bits.
fn scan(
    close: &[f64],
    log_close: &[f64],
    i: usize,
    last: usize,
    up: f64,
    down: f64,
    horizon: usize,
) -> Option<Touch> {
    let base = log_close[i];
    let widths_valid = up > 0.0 && down > 0.0; // false for NaN widths
    if base.is_nan() || !widths_valid {
        return None;
    }
    let scan_last = i.saturating_add(horizon).min(last);
    let (near_up, near_down) = (up - MARGIN, -down + MARGIN);
    // Searching the slice lets the compiler drop the bounds checks of the hot loop.
    let ahead = &log_close[i + 1..=scan_last];
    let near = |l: &f64| {
        let d = l - base;
        d >= near_up || d <= near_down // false for NaN: an invalid price never touches
    };
    let mut start = 0;
    while let Some(k) = ahead[start..].iter().position(near).map(|p| start + p) {
        let j = i + 1 + k;
        let d = ahead[k] - base;
        // Clear of the margin the log difference decides (and is the return to within
        // rounding); within it the exact definition decides, as in `first_touch`.
        let r = if d >= up + MARGIN || d <= -down - MARGIN {
            d
        } else {
            (close[j] / close[i]).ln()
        };
        if r >= up {
            return Some(Touch {
                index: j,
                ret: r,
                barrier: 1,
            });
        }
        if r <= -down {
            return Some(Touch {
                index: j,
                ret: r,
                barrier: -1,
            });
        }
        start = k + 1; // a near miss inside the margin: scan on
    }
    let vertical = i.checked_add(horizon).filter(|&v| v <= last)?;
    let d = log_close[vertical] - base;
    // The log difference is the return to within rounding (no second logarithm per bar).
    d.is_finite().then_some(Touch {
        index: vertical,
        ret: d,
        barrier: 0,
    })
}

/// The last `len` returns, their mean and sum of squared deviations.
/// Passes over the window buffer between exact recomputations of its moments.
const RECOMPUTE_LAPS: usize = 8;

struct Window {
    buf: Vec<f64>,
    len: usize,
    inv_len: f64,
    inv_dof: f64,
    count: usize, // finite returns pushed since the last reset
    head: usize,
    mean: f64,
    m2: f64,
}

impl Window {
    fn new(len: usize) -> Self {
        Self {
            buf: vec![0.0; len],
            len,
            inv_len: 1.0 / len as f64,
            inv_dof: 1.0 / (len - 1) as f64,
            count: 0,
            head: 0,
            mean: 0.0,
            m2: 0.0,
        }
    }

    fn clear(&mut self) {
        self.count = 0;
        self.head = 0;
        self.mean = 0.0;
        self.m2 = 0.0;
    }

    fn push(&mut self, x: f64) {
        if !x.is_finite() {
            self.clear(); // a gap: the window restarts after it
            return;
        }
        if self.count < self.len {
            self.buf[self.head] = x;
            let n = (self.count + 1) as f64;
            let d = x - self.mean;
            self.mean += d / n;
            self.m2 += d * (x - self.mean);
        } else {
            let old = std::mem::replace(&mut self.buf[self.head], x);
            let d = x - old;
            let new_mean = self.mean + d * self.inv_len;
            self.m2 += d * (x - new_mean + old - self.mean);
            self.mean = new_mean;
        }
        self.count += 1;
        self.head += 1;
        if self.head == self.len {
            self.head = 0;
            // Exact recompute every RECOMPUTE_LAPS passes over the buffer bounds the drift.
            if self.count > self.len && (self.count / self.len).is_multiple_of(RECOMPUTE_LAPS) {
                self.recompute();
            }
        }
    }

    fn recompute(&mut self) {
        let n = self.len as f64;
        self.mean = self.buf.iter().sum::<f64>() / n;
        self.m2 = self
            .buf
            .iter()
            .map(|x| (x - self.mean) * (x - self.mean))
            .sum();
    }

    fn std(&self) -> Option<f64> {
        (self.count >= self.len).then(|| (self.m2.max(0.0) * self.inv_dof).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::barrier::triple_barrier;
    use crate::testutil::{assert_close, Rng};

    fn logs(close: &[f64]) -> Vec<f64> {
        close.iter().map(|c| c.ln()).collect()
    }

    fn naive_vol(close: &[f64], window: usize, start: usize) -> Vec<f64> {
        (0..close.len())
            .map(|i| {
                if i < start + window {
                    return f64::NAN;
                }
                let r: Vec<f64> = (i + 1 - window..=i)
                    .map(|k| (close[k] / close[k - 1]).ln())
                    .collect();
                let m = r.iter().sum::<f64>() / window as f64;
                (r.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (window - 1) as f64).sqrt()
            })
            .collect()
    }

    #[test]
    fn volatility_and_touches_match_the_two_step_definition() {
        let mut rng = Rng::new(3);
        let close: Vec<f64> = rng
            .walk(4000, 0.0, 0.02)
            .iter()
            .map(|x| 50.0 * x.exp())
            .collect();
        let offsets = Offsets::new(&[0, 1500, 4000], 4000).unwrap();
        let (t, vol) = triple_barrier_vol(&close, &logs(&close), &offsets, 20, 20, 2.0, 1.5);
        let mut expected = naive_vol(&close[..1500], 20, 0);
        expected.extend(naive_vol(&close[1500..], 20, 0));
        assert_close(&vol, &expected, 1e-9);
        let up: Vec<f64> = expected.iter().map(|s| 2.0 * s).collect();
        let down: Vec<f64> = expected.iter().map(|s| 1.5 * s).collect();
        let e = triple_barrier(&close, &up, &down, &offsets, 20);
        let first = (0..4000)
            .find(|&i| (t.touch_index[i], t.barrier[i]) != (e.touch_index[i], e.barrier[i]));
        assert_eq!(
            first,
            None,
            "{:?}",
            first.map(|i| (i, t.touch_index[i], e.touch_index[i], vol[i], expected[i]))
        );
    }

    #[test]
    fn a_gap_restarts_the_volatility_window() {
        let mut close: Vec<f64> = (0..40).map(|i| 100.0 + (i % 3) as f64).collect();
        close[10] = f64::NAN;
        let (_, vol) =
            triple_barrier_vol(&close, &logs(&close), &Offsets::single(40), 5, 5, 2.0, 2.0);
        assert!(vol[5..10].iter().all(|v| v.is_finite()));
        assert!(vol[10..16].iter().all(|v| v.is_nan()));
        assert!(vol[16].is_finite());
    }
}
