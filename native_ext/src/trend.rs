//! Trend strength and direction: ADX with +DI / -DI, and Aroon. TA-Lib's recursions.

use crate::extrema::{extreme_series, Extreme};
use crate::groups::{map_runs, Offsets};
use crate::smoothing::talib_is_zero;

/// Directional movement (TA-Lib `PLUS_DI`, `MINUS_DI`, `ADX`): `[plus_di, minus_di, adx]`.
///
/// +DM / -DM / true range are Wilder-summed: seeded with the sum of the first `period - 1`
/// bars (from index 1, which has a previous bar), then `s = s - s / period + x`. The DIs are
/// defined from index `period`; DX = 100 |+DI - -DI| / (+DI + -DI); ADX seeds with the mean of
/// the first `period` DX values (index `2 * period - 1`) and then Wilder-averages DX. As in
/// TA-Lib, a bar whose true-range sum or DI sum is (near) zero leaves ADX unchanged.
pub fn dmi(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    offsets: &Offsets,
    period: usize,
) -> [Vec<f64>; 3] {
    assert!(period >= 1, "period must be >= 1");
    map_runs(
        [high, low, close],
        offsets,
        |[h, l, c], [plus, minus, adx]| {
            if c.len() <= period {
                return;
            }
            let n = period as f64;
            let moves = |i: usize| {
                let up = h[i] - h[i - 1];
                let down = l[i - 1] - l[i];
                let p = if up > 0.0 && up > down { up } else { 0.0 };
                let m = if down > 0.0 && down > up { down } else { 0.0 };
                let tr = h[i].max(c[i - 1]) - l[i].min(c[i - 1]);
                (p, m, tr)
            };
            let (mut sp, mut sm, mut st) = (0.0, 0.0, 0.0);
            for i in 1..period {
                let (p, m, tr) = moves(i);
                sp += p;
                sm += m;
                st += tr;
            }
            let mut dx_sum = 0.0;
            let mut smoothed = f64::NAN;
            for i in period..c.len() {
                let (p, m, tr) = moves(i);
                sp = sp - sp / n + p;
                sm = sm - sm / n + m;
                st = st - st / n + tr;
                let (pdi, mdi) = if talib_is_zero(st) {
                    (0.0, 0.0)
                } else {
                    (100.0 * (sp / st), 100.0 * (sm / st))
                };
                plus[i] = pdi;
                minus[i] = mdi;
                let dx = (!talib_is_zero(st) && !talib_is_zero(pdi + mdi))
                    .then(|| 100.0 * ((mdi - pdi).abs() / (mdi + pdi)));
                if i < 2 * period {
                    dx_sum += dx.unwrap_or(0.0);
                    if i == 2 * period - 1 {
                        smoothed = dx_sum / n;
                        adx[i] = smoothed;
                    }
                } else {
                    if let Some(dx) = dx {
                        smoothed = (smoothed * (n - 1.0) + dx) / n;
                    }
                    adx[i] = smoothed;
                }
            }
        },
    )
}

/// Aroon (TA-Lib `AROON`): `[aroon_down, aroon_up]`, `100 * (period - bars since the lowest
/// low / highest high) / period` over the last `period + 1` bars; the latest of equal extremes
/// counts. First value at index `period`.
pub fn aroon(high: &[f64], low: &[f64], offsets: &Offsets, period: usize) -> [Vec<f64>; 2] {
    assert!(period >= 1, "period must be >= 1");
    let n = period as f64;
    map_runs([high, low], offsets, |[h, l], [down, up]| {
        extreme_series(h, period + 1, Extreme::Max, |i, at| {
            up[i] = 100.0 * (n - (i - at) as f64) / n
        });
        extreme_series(l, period + 1, Extreme::Min, |i, at| {
            down[i] = 100.0 * (n - (i - at) as f64) / n
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn dmi_warm_up_and_ranges() {
        let mut rng = Rng::new(12);
        let c = rng.walk(400, 100.0, 1.0);
        let h: Vec<f64> = c.iter().map(|x| x + 0.5).collect();
        let l: Vec<f64> = c.iter().map(|x| x - 0.5).collect();
        let [p, m, a] = dmi(&h, &l, &c, &Offsets::single(400), 14);
        assert!(p[13].is_nan() && p[14].is_finite() && m[14].is_finite());
        assert!(a[26].is_nan() && a[27].is_finite());
        assert!(a[27..].iter().all(|x| (0.0..=100.0).contains(x)));
    }

    #[test]
    fn aroon_up_is_100_at_a_new_high_and_0_when_it_leaves_the_window() {
        let h = [1.0, 5.0, 2.0, 2.0, 2.0, 2.0];
        let l = [0.0; 6];
        let [down, up] = aroon(&h, &l, &Offsets::single(6), 3);
        assert!(up[2].is_nan());
        assert_eq!(&up[3..], &[100.0 * 1.0 / 3.0, 0.0, 100.0]);
        assert_eq!(&down[3..], &[100.0, 100.0, 100.0]);
    }
}
