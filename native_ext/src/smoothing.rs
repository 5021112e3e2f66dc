//! Moving averages and smoothers: EMA (SMA-seeded as in TA-Lib, or pure recursive), Wilder, WMA,
//! DEMA, TEMA, KAMA and Hull.
//!
//! Every kernel works on one gap-free run (see `groups::map_finite_runs`): a non-finite input
//! ends the run and the smoother restarts its warm-up after it.
//!
//! Speed: an exponential smoother is a recursion `s = b * s + a * x`, so a plain loop is bound by
//! the latency of one multiply and one add per row. `linear_recursion` advances four rows per
//! step of that dependency chain instead (the partial sums of the four inputs do not depend on
//! the state, so the CPU overlaps them), which is what makes EMA/RSI/ATR faster than TA-Lib.
//! Results differ from the one-row-at-a-time recursion only by rounding (~1e-15 relative).

use crate::groups::{map_finite_runs, map_groups1, nan_warm_up, Offsets};

/// Exponential moving average, alpha = 2 / (period + 1), SMA-seeded (TA-Lib `EMA`).
pub fn ema(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_groups1(values, offsets, |run, out| ema_series(run, period, out))
}

/// Pure recursive EMA: seeded with the first value, defined from the first row
/// (pandas `ewm(span=period, adjust=False)`, the average inside TA-Lib `ADOSC`).
pub fn ema_recursive(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| {
        ema_recursive_series(run, period, out)
    })
}

/// Wilder smoothing, alpha = 1 / period, SMA-seeded (the average inside TA-Lib `RSI` and `ATR`).
pub fn wilder(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_groups1(values, offsets, |run, out| wilder_series(run, period, out))
}

/// Linearly weighted moving average, weights 1..=period, newest heaviest (TA-Lib `WMA`).
pub fn wma(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| wma_series(run, period, out))
}

/// Double EMA, `2 * EMA - EMA(EMA)` (TA-Lib `DEMA`); first value at `2 * (period - 1)`.
pub fn dema(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| {
        let [e1, e2] = ema_chain::<2>(run, period);
        let start = 2 * (period - 1);
        for i in start..run.len() {
            out[i] = 2.0 * e1[i] - e2[i];
        }
    })
}

/// Triple EMA, `3 * EMA - 3 * EMA(EMA) + EMA(EMA(EMA))` (TA-Lib `TEMA`); first value at
/// `3 * (period - 1)`.
pub fn tema(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| {
        let [e1, e2, e3] = ema_chain::<3>(run, period);
        let start = 3 * (period - 1);
        for i in start..run.len() {
            out[i] = 3.0 * e1[i] - 3.0 * e2[i] + e3[i];
        }
    })
}

/// Kaufman adaptive moving average (TA-Lib `KAMA`, fast 2 / slow 30): the smoothing constant
/// follows the efficiency ratio |net change| / path length over `period` bars, so the average
/// hugs trends and stays flat in noise. First value at index `period`.
pub fn kama(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| kama_series(run, period, out))
}

/// Hull moving average, `WMA(2 * WMA(x, period / 2) - WMA(x, period), floor(sqrt(period)))`;
/// first value at `period - 1 + floor(sqrt(period)) - 1`. Requires period >= 2.
pub fn hma(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    assert!(period >= 2, "period must be >= 2");
    let half = period / 2;
    let root = (period as f64).sqrt().floor() as usize;
    map_finite_runs(values, offsets, |run, out| {
        if run.len() < period {
            return;
        }
        let mut fast = vec![f64::NAN; run.len()];
        let mut slow = vec![f64::NAN; run.len()];
        wma_series(run, half, &mut fast);
        wma_series(run, period, &mut slow);
        let raw: Vec<f64> = (period - 1..run.len())
            .map(|i| 2.0 * fast[i] - slow[i])
            .collect();
        wma_series(&raw, root, &mut out[period - 1..]);
    })
}

/// EMA of one series into every position of `out` (NaN in the warm-up). Returns false when
/// the input held a non-finite value (see `groups::map_groups`).
pub fn ema_series(values: &[f64], period: usize, out: &mut [f64]) -> bool {
    let alpha = 2.0 / (period as f64 + 1.0);
    sma_seeded(values, period, out, alpha)
}

/// Wilder smoothing of one series into every position of `out` (NaN in the warm-up). Returns
/// false when the input held a non-finite value.
pub fn wilder_series(values: &[f64], period: usize, out: &mut [f64]) -> bool {
    sma_seeded(values, period, out, 1.0 / period as f64)
}

/// Pure recursive EMA of one gap-free series, seeded with its first value.
pub fn ema_recursive_series(values: &[f64], period: usize, out: &mut [f64]) {
    assert!(period >= 1, "period must be >= 1");
    let Some(&first) = values.first() else {
        return;
    };
    let alpha = 2.0 / (period as f64 + 1.0);
    out[0] = first;
    linear_recursion(&values[1..], &mut out[1..], first, alpha);
}

/// Wilder smoothing in place: `buf[period - 1]` becomes the mean of `buf[..period]`, later
/// positions the smoothed values, earlier ones NaN. Saves a buffer where the input is scratch
/// (true range inside ATR).
pub fn wilder_in_place(buf: &mut [f64], period: usize) {
    assert!(period >= 1, "period must be >= 1");
    if buf.len() < period {
        buf.fill(f64::NAN);
        return;
    }
    let seed = buf[..period].iter().sum::<f64>() / period as f64;
    buf[..period - 1].fill(f64::NAN);
    buf[period - 1] = seed;
    linear_recursion_in_place(&mut buf[period..], seed, 1.0 / period as f64);
}

/// Seeds the state with the mean of the first `period` values, then smooths with `alpha`.
/// Writes all of `out`; false when an input was not finite: the state, which takes in every
/// input, can then never be finite again (NaN and infinities survive the recursion).
fn sma_seeded(values: &[f64], period: usize, out: &mut [f64], alpha: f64) -> bool {
    assert!(period >= 1, "period must be >= 1");
    if nan_warm_up(out, period - 1) < period - 1 || values.len() < period {
        return true; // all warm-up, whatever the inputs
    }
    let seed = values[..period].iter().sum::<f64>() / period as f64;
    out[period - 1] = seed;
    linear_recursion(&values[period..], &mut out[period..], seed, alpha).is_finite()
}

/// `s = s + alpha * (x - s)` for each `x`, written to `out`, starting from `state`.
/// Returns the final state. Four rows per dependency step (see the module docs): with
/// `b = 1 - alpha`, `s[k+j] = P_j + b^(j+1) * s[k-1]` where `P_j` depends on inputs only.
pub fn linear_recursion(values: &[f64], out: &mut [f64], mut state: f64, alpha: f64) -> f64 {
    let (a, b) = (alpha, 1.0 - alpha);
    let (b2, b3, b4) = (b * b, b * b * b, b * b * b * b);
    let mut xs = values.chunks_exact(4);
    let mut os = out.chunks_exact_mut(4);
    for (x, o) in (&mut xs).zip(&mut os) {
        let p0 = a * x[0];
        let p1 = b * p0 + a * x[1];
        let p2 = b * p1 + a * x[2];
        let p3 = b * p2 + a * x[3];
        o[0] = p0 + b * state;
        o[1] = p1 + b2 * state;
        o[2] = p2 + b3 * state;
        state = p3 + b4 * state;
        o[3] = state;
    }
    for (x, o) in xs.remainder().iter().zip(os.into_remainder()) {
        state = a * x + b * state;
        *o = state;
    }
    state
}

/// `linear_recursion` over `buf` in place (each input is read before its slot is written).
pub fn linear_recursion_in_place(buf: &mut [f64], mut state: f64, alpha: f64) -> f64 {
    let (a, b) = (alpha, 1.0 - alpha);
    let (b2, b3, b4) = (b * b, b * b * b, b * b * b * b);
    let mut chunks = buf.chunks_exact_mut(4);
    for o in &mut chunks {
        let p0 = a * o[0];
        let p1 = b * p0 + a * o[1];
        let p2 = b * p1 + a * o[2];
        let p3 = b * p2 + a * o[3];
        o[0] = p0 + b * state;
        o[1] = p1 + b2 * state;
        o[2] = p2 + b3 * state;
        state = p3 + b4 * state;
        o[3] = state;
    }
    for o in chunks.into_remainder() {
        state = a * *o + b * state;
        *o = state;
    }
    state
}

/// `K` successive SMA-seeded EMAs of a gap-free run (each one smoothing the previous one from
/// its first defined value), as full-length NaN-padded vectors.
pub fn ema_chain<const K: usize>(run: &[f64], period: usize) -> [Vec<f64>; K] {
    let mut chain: [Vec<f64>; K] = std::array::from_fn(|_| vec![f64::NAN; run.len()]);
    for k in 0..K {
        let start = k * (period - 1);
        if run.len() <= start {
            break;
        }
        let (done, rest) = chain.split_at_mut(k);
        let input = if k == 0 { run } else { &done[k - 1][..] };
        ema_series(&input[start..], period, &mut rest[0][start..]);
    }
    chain
}

/// WMA of one gap-free series. The weighted sum drops the plain window sum each step and adds
/// `period * x`, so a step is O(1); both sums are recomputed exactly every `RECOMPUTE` rows so
/// rounding cannot accumulate over a long series.
pub fn wma_series(values: &[f64], period: usize, out: &mut [f64]) {
    const RECOMPUTE: usize = 1024;
    assert!(period >= 1, "period must be >= 1");
    if values.len() < period {
        return;
    }
    let n = period as f64;
    let divider = n * (n + 1.0) / 2.0;
    let exact = |end: usize| {
        let window = &values[end + 1 - period..=end];
        let weighted: f64 = window
            .iter()
            .enumerate()
            .map(|(k, x)| (k + 1) as f64 * x)
            .sum();
        (weighted, window.iter().sum::<f64>())
    };
    let (mut weighted, mut plain) = exact(period - 1);
    out[period - 1] = weighted / divider;
    for i in period..values.len() {
        if (i - period + 1).is_multiple_of(RECOMPUTE) {
            (weighted, plain) = exact(i);
        } else {
            weighted += n * values[i] - plain;
            plain += values[i] - values[i - period];
        }
        out[i] = weighted / divider;
    }
}

/// TA-Lib's "is zero" test (`TA_IS_ZERO`): |x| < 1e-8. Kept only where parity with TA-Lib needs
/// it (KAMA's flat-path case).
pub(crate) fn talib_is_zero(x: f64) -> bool {
    x.abs() < 1e-8
}

/// KAMA of one gap-free series, TA-Lib's recursion: seeded with the value before the first
/// output, efficiency ratio 1 when the path length is (near) zero or not above the net change.
pub fn kama_series(values: &[f64], period: usize, out: &mut [f64]) {
    assert!(period >= 1, "period must be >= 1");
    if values.len() <= period {
        return;
    }
    let slowest = 2.0 / 31.0;
    let spread = 2.0 / 3.0 - slowest;
    let mut path: f64 = values[..=period]
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .sum();
    let mut state = values[period - 1];
    for i in period..values.len() {
        if i > period {
            path += (values[i] - values[i - 1]).abs()
                - (values[i - period] - values[i - period - 1]).abs();
        }
        let change = values[i] - values[i - period];
        let ratio = if path <= change || talib_is_zero(path) {
            1.0
        } else {
            (change / path).abs()
        };
        let constant = (ratio * spread + slowest).powi(2);
        state += (values[i] - state) * constant;
        out[i] = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Rng};

    /// Textbook recursion written independently of the kernel.
    fn reference(values: &[f64], period: usize, alpha: f64) -> Vec<f64> {
        let mut out = vec![f64::NAN; values.len()];
        if values.len() >= period {
            let mut s = 0.0;
            for v in &values[..period] {
                s += v / period as f64;
            }
            out[period - 1] = s;
            for i in period..values.len() {
                s = alpha * values[i] + (1.0 - alpha) * s;
                out[i] = s;
            }
        }
        out
    }

    fn reference_wma(values: &[f64], period: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; values.len()];
        let divider = (period * (period + 1) / 2) as f64;
        for i in period - 1..values.len() {
            let w = &values[i + 1 - period..=i];
            out[i] = w
                .iter()
                .enumerate()
                .map(|(k, x)| (k + 1) as f64 * x)
                .sum::<f64>()
                / divider;
        }
        out
    }

    #[test]
    fn ema_is_sma_seeded_with_alpha_two_over_n_plus_one() {
        let values = Rng::new(1).walk(500, 100.0, 1.0);
        let out = ema(&values, &Offsets::single(500), 10);
        assert_close(&out, &reference(&values, 10, 2.0 / 11.0), 1e-12);
        assert!(out[8].is_nan());
        assert_close(
            &out[9..10],
            &[values[..10].iter().sum::<f64>() / 10.0],
            1e-15,
        );
    }

    #[test]
    fn wilder_is_sma_seeded_with_alpha_one_over_n() {
        let values = Rng::new(2).walk(500, 100.0, 1.0);
        let out = wilder(&values, &Offsets::single(500), 14);
        assert_close(&out, &reference(&values, 14, 1.0 / 14.0), 1e-12);
        let mut buf = values.clone();
        wilder_in_place(&mut buf, 14);
        assert_close(&buf, &out, 1e-15);
    }

    #[test]
    fn recursive_ema_starts_at_the_first_value() {
        let values = Rng::new(5).walk(103, 100.0, 1.0);
        let out = ema_recursive(&values, &Offsets::single(103), 9);
        let mut expected = vec![values[0]];
        for x in &values[1..] {
            let prev = *expected.last().unwrap();
            expected.push(prev + 0.2 * (x - prev));
        }
        assert_close(&out, &expected, 1e-12);
    }

    #[test]
    fn period_one_reproduces_the_input() {
        let values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.0];
        assert_eq!(ema(&values, &Offsets::single(6), 1), values.to_vec());
        assert_eq!(wilder(&values, &Offsets::single(6), 1), values.to_vec());
        assert_eq!(wma(&values, &Offsets::single(6), 1), values.to_vec());
    }

    #[test]
    fn wma_matches_its_definition_over_a_long_series() {
        let values = Rng::new(6).walk(5000, 1e4, 1.0);
        let out = wma(&values, &Offsets::single(5000), 30);
        assert_close(&out, &reference_wma(&values, 30), 1e-12);
    }

    #[test]
    fn dema_and_tema_combine_chained_emas() {
        let values = Rng::new(7).walk(300, 100.0, 1.0);
        let e1 = reference(&values, 5, 1.0 / 3.0);
        let e2_tail = reference(&e1[4..], 5, 1.0 / 3.0);
        let out = dema(&values, &Offsets::single(300), 5);
        assert!(out[7].is_nan() && out[8].is_finite());
        for i in 8..300 {
            assert!((out[i] - (2.0 * e1[i] - e2_tail[i - 4])).abs() < 1e-9);
        }
        let t = tema(&values, &Offsets::single(300), 5);
        assert!(t[11].is_nan() && t[12].is_finite());
    }

    #[test]
    fn kama_tracks_a_straight_line_with_the_fast_constant() {
        let line: Vec<f64> = (0..50).map(f64::from).collect();
        let out = kama(&line, &Offsets::single(50), 10);
        assert!(out[9].is_nan());
        // Efficiency ratio 1 -> constant (2/3)^2: the gap to the line shrinks geometrically.
        let gap = |i: usize| line[i] - out[i];
        assert!((gap(11) - (gap(10) + 1.0) * (1.0 - 4.0 / 9.0)).abs() < 1e-12);
    }

    #[test]
    fn hull_average_is_the_wma_of_twice_the_fast_wma_minus_the_slow_one() {
        let values = Rng::new(8).walk(200, 100.0, 1.0);
        let (fast, slow) = (reference_wma(&values, 8), reference_wma(&values, 16));
        let raw: Vec<f64> = (15..200).map(|i| 2.0 * fast[i] - slow[i]).collect();
        let smoothed = reference_wma(&raw, 4);
        let out = hma(&values, &Offsets::single(200), 16);
        assert!(out[17].is_nan() && out[18].is_finite());
        assert_close(&out[15..], &smoothed, 1e-12);
    }

    #[test]
    fn smoothers_restart_warm_up_after_nan_and_never_cross_groups() {
        let values = [1.0, 2.0, 3.0, f64::NAN, 5.0, 6.0, 7.0, 8.0, 9.0];
        let offsets = Offsets::new(&[0, 6, 9], 9).unwrap();
        let out = ema(&values, &offsets, 2);
        let expected = [
            f64::NAN,
            1.5,
            1.5 + (3.0 - 1.5) * 2.0 / 3.0, // first run
            f64::NAN,                      // the gap
            f64::NAN,
            5.5, // second run, ends at the group boundary
            f64::NAN,
            7.5,
            7.5 + (9.0 - 7.5) * 2.0 / 3.0, // second group
        ];
        assert_close(&out, &expected, 1e-15);
    }

    #[test]
    fn series_shorter_than_period_is_all_nan() {
        let out = ema(&[1.0, 2.0], &Offsets::single(2), 3);
        assert!(out.iter().all(|x| x.is_nan()));
        assert!(kama(&[1.0, 2.0], &Offsets::single(2), 2)
            .iter()
            .all(|x| x.is_nan()));
        assert!(hma(&[1.0, 2.0], &Offsets::single(2), 4)
            .iter()
            .all(|x| x.is_nan()));
    }
}
