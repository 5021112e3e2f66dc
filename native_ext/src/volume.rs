//! Volume indicators: on-balance volume, accumulation/distribution, the Chaikin oscillator and
//! the rolling volume-weighted average price.

use crate::groups::{map_runs, Offsets};
use crate::smoothing::ema_recursive_series;

/// On-balance volume (TA-Lib `OBV`): starts at the first bar's volume, then adds the volume on
/// up-closes and subtracts it on down-closes. Cumulative from the start of each run.
pub fn obv(close: &[f64], volume: &[f64], offsets: &Offsets) -> Vec<f64> {
    let [out] = map_runs([close, volume], offsets, |[c, v], [out]| {
        let mut total = 0.0;
        for i in 0..c.len() {
            if i == 0 {
                total = v[0];
            } else if c[i] > c[i - 1] {
                total += v[i];
            } else if c[i] < c[i - 1] {
                total -= v[i];
            }
            out[i] = total;
        }
    });
    out
}

/// Accumulation/distribution line (TA-Lib `AD`): cumulative `volume * CLV`, where the close
/// location value `((c - l) - (h - c)) / (h - l)` is 0 for a bar with no range.
pub fn ad(high: &[f64], low: &[f64], close: &[f64], volume: &[f64], offsets: &Offsets) -> Vec<f64> {
    let [out] = map_runs(
        [high, low, close, volume],
        offsets,
        |[h, l, c, v], [out]| ad_series(h, l, c, v, out),
    );
    out
}

fn ad_series(h: &[f64], l: &[f64], c: &[f64], v: &[f64], out: &mut [f64]) {
    let mut total = 0.0;
    for i in 0..c.len() {
        let range = h[i] - l[i];
        if range > 0.0 {
            total += ((c[i] - l[i]) - (h[i] - c[i])) / range * v[i];
        }
        out[i] = total;
    }
}

/// Chaikin A/D oscillator (TA-Lib `ADOSC`): fast minus slow pure-recursive EMA of the A/D line
/// (both seeded with its first value, as TA-Lib does); first value at index `slow - 1`.
pub fn adosc(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    offsets: &Offsets,
    fast: usize,
    slow: usize,
) -> Vec<f64> {
    let start = fast.max(slow) - 1;
    let [out] = map_runs(
        [high, low, close, volume],
        offsets,
        |[h, l, c, v], [out]| {
            let mut line = vec![0.0; c.len()];
            ad_series(h, l, c, v, &mut line);
            let (mut f, mut s) = (vec![0.0; c.len()], vec![0.0; c.len()]);
            ema_recursive_series(&line, fast, &mut f);
            ema_recursive_series(&line, slow, &mut s);
            for i in start..c.len() {
                out[i] = f[i] - s[i];
            }
        },
    );
    out
}

/// Rolling VWAP over `period` bars with the typical price `(h + l + c) / 3`; NaN when the
/// window traded no volume. First value at index `period - 1`.
pub fn vwap(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    offsets: &Offsets,
    period: usize,
) -> Vec<f64> {
    assert!(period >= 1, "period must be >= 1");
    let [out] = map_runs(
        [high, low, close, volume],
        offsets,
        |[h, l, c, v], [out]| {
            let (mut pv, mut vol) = (0.0, 0.0);
            for i in 0..c.len() {
                // Exact re-sum every `period` rows keeps the running sums from drifting.
                if i >= period && (i - period).is_multiple_of(period) {
                    (pv, vol) = (0.0, 0.0);
                    for j in i + 1 - period..i {
                        pv += (h[j] + l[j] + c[j]) / 3.0 * v[j];
                        vol += v[j];
                    }
                } else if i >= period {
                    let j = i - period;
                    pv -= (h[j] + l[j] + c[j]) / 3.0 * v[j];
                    vol -= v[j];
                }
                pv += (h[i] + l[i] + c[i]) / 3.0 * v[i];
                vol += v[i];
                if i + 1 >= period {
                    out[i] = if vol > 0.0 { pv / vol } else { f64::NAN };
                }
            }
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obv_adds_up_volume_and_subtracts_down_volume() {
        let c = [10.0, 11.0, 11.0, 9.0];
        let v = [5.0, 2.0, 7.0, 3.0];
        assert_eq!(obv(&c, &v, &Offsets::single(4)), vec![5.0, 7.0, 7.0, 4.0]);
    }

    #[test]
    fn ad_weights_volume_by_close_location() {
        let (h, l) = ([12.0, 12.0, 10.0], [10.0, 10.0, 10.0]);
        let c = [12.0, 10.0, 10.0];
        let v = [100.0, 50.0, 9.0];
        assert_eq!(
            ad(&h, &l, &c, &v, &Offsets::single(3)),
            vec![100.0, 50.0, 50.0]
        );
    }

    #[test]
    fn vwap_matches_its_definition() {
        let h: Vec<f64> = (0..30).map(|i| 10.0 + (i % 7) as f64).collect();
        let l: Vec<f64> = h.iter().map(|x| x - 1.0).collect();
        let c: Vec<f64> = h.iter().map(|x| x - 0.5).collect();
        let v: Vec<f64> = (0..30).map(|i| 100.0 + (i * 13 % 11) as f64).collect();
        let out = vwap(&h, &l, &c, &v, &Offsets::single(30), 5);
        for (i, got) in out.iter().enumerate().skip(4) {
            let (mut pv, mut vol) = (0.0, 0.0);
            for j in i - 4..=i {
                pv += (h[j] + l[j] + c[j]) / 3.0 * v[j];
                vol += v[j];
            }
            assert!((got - pv / vol).abs() < 1e-12);
        }
        assert!(out[3].is_nan());
    }
}
