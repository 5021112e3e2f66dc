//! Rolling statistics of two aligned series: Pearson correlation and OLS beta.
//!
//! Co-moment sums about a shift (the first window's means), updated in O(1) and recomputed
//! exactly every `window` rows so rounding cannot drift.

use crate::groups::{map_runs, Offsets};

/// Rolling Pearson correlation of `x` and `y` (TA-Lib `CORREL`); 0 where either window is
/// flat. TA-Lib also answers 0 when the product of the two variance sums is below 1e-8,
/// which silently zeroes low-volatility return windows; we only do so when it is exactly 0.
pub fn corr(x: &[f64], y: &[f64], offsets: &Offsets, window: usize) -> Vec<f64> {
    let [out] = map_runs([x, y], offsets, |[x, y], [out]| {
        co_moments(
            x,
            y,
            window,
            |sxx, syy, sxy| {
                let denominator = sxx * syy;
                if denominator > 0.0 {
                    sxy / denominator.sqrt()
                } else {
                    0.0
                }
            },
            out,
        )
    });
    out
}

/// Rolling OLS slope of `y` on `x`: cov(x, y) / var(x); 0 where `x` is flat.
pub fn beta(y: &[f64], x: &[f64], offsets: &Offsets, window: usize) -> Vec<f64> {
    let [out] = map_runs([x, y], offsets, |[x, y], [out]| {
        co_moments(
            x,
            y,
            window,
            |sxx, _, sxy| if sxx > 0.0 { sxy / sxx } else { 0.0 },
            out,
        )
    });
    out
}

/// Calls `emit(sxx, syy, sxy)` (sums of squared / cross deviations from the window means) for
/// every full window and writes the result to `out`.
fn co_moments(
    x: &[f64],
    y: &[f64],
    window: usize,
    emit: impl Fn(f64, f64, f64) -> f64,
    out: &mut [f64],
) {
    assert!(window >= 1, "window must be >= 1");
    if x.len() < window {
        return;
    }
    let n = window as f64;
    let exact = |end: usize| {
        let (wx, wy) = (&x[end + 1 - window..=end], &y[end + 1 - window..=end]);
        let mx = wx.iter().sum::<f64>() / n;
        let my = wy.iter().sum::<f64>() / n;
        let mut s = [0.0; 5];
        for (a, b) in wx.iter().zip(wy) {
            let (dx, dy) = (a - mx, b - my);
            s = [
                s[0] + dx,
                s[1] + dy,
                s[2] + dx * dx,
                s[3] + dy * dy,
                s[4] + dx * dy,
            ];
        }
        (mx, my, s)
    };
    let (mut mx, mut my, mut s) = exact(window - 1);
    for i in window - 1..x.len() {
        if i >= window {
            if (i + 1 - window).is_multiple_of(window) {
                (mx, my, s) = exact(i);
            } else {
                let (ax, ay) = (x[i] - mx, y[i] - my);
                let (bx, by) = (x[i - window] - mx, y[i - window] - my);
                s[0] += ax - bx;
                s[1] += ay - by;
                s[2] += ax * ax - bx * bx;
                s[3] += ay * ay - by * by;
                s[4] += ax * ay - bx * by;
            }
        }
        let sxx = (s[2] - s[0] * s[0] / n).max(0.0);
        let syy = (s[3] - s[1] * s[1] / n).max(0.0);
        let sxy = s[4] - s[0] * s[1] / n;
        out[i] = emit(sxx, syy, sxy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn corr_and_beta_match_two_pass_definitions() {
        let mut rng = Rng::new(11);
        let x = rng.walk(3000, 100.0, 1.0);
        let noise = rng.walk(3000, 0.0, 1.0);
        let y: Vec<f64> = x.iter().zip(&noise).map(|(a, e)| 2.0 * a + e).collect();
        let w = 30;
        let c = corr(&x, &y, &Offsets::single(3000), w);
        let b = beta(&y, &x, &Offsets::single(3000), w);
        for i in w - 1..3000 {
            let (wx, wy) = (&x[i + 1 - w..=i], &y[i + 1 - w..=i]);
            let mx = wx.iter().sum::<f64>() / w as f64;
            let my = wy.iter().sum::<f64>() / w as f64;
            let sxy: f64 = wx.iter().zip(wy).map(|(a, b)| (a - mx) * (b - my)).sum();
            let sxx: f64 = wx.iter().map(|a| (a - mx).powi(2)).sum();
            let syy: f64 = wy.iter().map(|b| (b - my).powi(2)).sum();
            assert!((c[i] - sxy / (sxx * syy).sqrt()).abs() < 1e-9);
            assert!((b[i] - sxy / sxx).abs() < 1e-9 * (sxy / sxx).abs());
        }
    }

    #[test]
    fn flat_windows_give_zero() {
        let x = vec![3.0; 10];
        let y: Vec<f64> = (0..10).map(f64::from).collect();
        assert!(corr(&x, &y, &Offsets::single(10), 4)[3..]
            .iter()
            .all(|&v| v == 0.0));
        assert!(beta(&y, &x, &Offsets::single(10), 4)[3..]
            .iter()
            .all(|&v| v == 0.0));
    }
}
