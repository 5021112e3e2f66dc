//! Trend strength and direction: ADX with +DI / -DI, and Aroon. TA-Lib's recursions.

use crate::extrema::{extreme_series, Extreme};
use crate::groups::{map_groups, map_runs, nan_warm_up, Offsets};
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
    map_groups(
        [high, low, close],
        offsets,
        |[h, l, c], [plus, minus, adx]| dmi_series(h, l, c, period, Some((plus, minus)), adx),
    )
}

/// ADX alone (TA-Lib `ADX`): `dmi`'s third output, without writing the other two.
pub fn adx(high: &[f64], low: &[f64], close: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    assert!(period >= 1, "period must be >= 1");
    let [adx] = map_groups([high, low, close], offsets, |[h, l, c], [adx]| {
        dmi_series(h, l, c, period, None, adx)
    });
    adx
}

/// The directional-movement recursion of one series, writing every position of `adx` and, when
/// given, of the DI outputs (NaN in the warm-ups). Returns false (outputs incomplete) when an
/// input was not finite: the comparisons and `max`/`min` would hide a NaN, so each true range
/// carries `((h + l) + c) * 0` (+0 for finite inputs, NaN otherwise) into the Wilder sum, which
/// then never becomes finite again.
fn dmi_series(
    h: &[f64],
    l: &[f64],
    c: &[f64],
    period: usize,
    mut di: Option<(&mut [f64], &mut [f64])>,
    adx: &mut [f64],
) -> bool {
    let len = c.len();
    assert!(h.len() == len && l.len() == len && adx.len() == len);
    if let Some((plus, minus)) = di.as_mut() {
        nan_warm_up(plus, period);
        nan_warm_up(minus, period);
    }
    nan_warm_up(adx, 2 * period - 1);
    if len <= period {
        return true; // all warm-up, whatever the inputs
    }
    let n = period as f64;
    let moves = |i: usize| {
        let up = h[i] - h[i - 1];
        let down = l[i - 1] - l[i];
        let p = if up > 0.0 && up > down { up } else { 0.0 };
        let m = if down > 0.0 && down > up { down } else { 0.0 };
        let tr = (h[i].max(c[i - 1]) - l[i].min(c[i - 1])) + ((h[i] + l[i]) + c[i]) * 0.0;
        (p, m, tr)
    };
    let row0 = ((h[0] + l[0]) + c[0]).is_finite();
    let (mut sp, mut sm, mut st) = (0.0, 0.0, 0.0);
    for i in 1..period {
        let (p, m, tr) = moves(i);
        sp += p;
        sm += m;
        st += tr;
    }
    let mut dx_sum = 0.0;
    let mut smoothed = f64::NAN;
    for i in period..len {
        let (p, m, tr) = moves(i);
        sp = sp - sp / n + p;
        sm = sm - sm / n + m;
        st = st - st / n + tr;
        let (pdi, mdi) = if talib_is_zero(st) {
            (0.0, 0.0)
        } else {
            (100.0 * (sp / st), 100.0 * (sm / st))
        };
        if let Some((plus, minus)) = di.as_mut() {
            plus[i] = pdi;
            minus[i] = mdi;
        }
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
    row0 && st.is_finite()
}

/// Aroon (TA-Lib `AROON`): `[aroon_down, aroon_up]`, `100 * (period - bars since the lowest
/// low / highest high) / period` over the last `period + 1` bars; the latest of equal extremes
/// counts. First value at index `period`.
pub fn aroon(high: &[f64], low: &[f64], offsets: &Offsets, period: usize) -> [Vec<f64>; 2] {
    assert!(period >= 1, "period must be >= 1");
    let n = period as f64;
    map_runs([high, low], offsets, |[h, l], [down, up]| {
        extreme_series(h, period + 1, Extreme::Max, |i, at, _| {
            up[i] = 100.0 * (n - (i - at) as f64) / n
        });
        extreme_series(l, period + 1, Extreme::Min, |i, at, _| {
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
