//! Oscillators and momentum: RSI, stochastic, Williams %R, CCI, MFI, ROC, MACD, TRIX, ultimate
//! oscillator. TA-Lib's definitions and warm-ups unless a doc comment says otherwise.

use crate::extrema::{extreme_series, Extreme};
use crate::groups::{map_finite_runs, map_groups, map_groups1, map_runs, nan_warm_up, Offsets};
use crate::rolling::sma_series;
use crate::smoothing::{ema_chain, linear_recursion, linear_recursion_in_place, talib_is_zero};

/// RSI value reported when the averaged gain and loss are both exactly zero (a flat series).
/// TA-Lib (0.6+) reports 0 there, which reads as "maximally oversold"; 50 is neutral, which is
/// what a model feature should see for "no movement". Everywhere else we match TA-Lib.
pub const RSI_FLAT: f64 = 50.0;

/// MFI when no money flowed in either direction over the window (same reasoning as
/// `RSI_FLAT`; TA-Lib reports 0 whenever the total flow is below 1.0).
pub const MFI_FLAT: f64 = 50.0;

/// Rows per block in `rsi_series`: gains and losses of a block are smoothed into stack buffers,
/// then the ratio is taken in one vectorizable pass.
const BLOCK: usize = 256;

/// Relative strength index with Wilder smoothing (TA-Lib `RSI`).
///
/// The first value sits at index `period` of each gap-free run: it needs `period` price changes,
/// whose mean gain and mean loss seed the Wilder averages.
/// RSI = 100 * avg_gain / (avg_gain + avg_loss): 100 with only gains, 0 with only losses,
/// `RSI_FLAT` when both averages are zero.
pub fn rsi(close: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_groups1(close, offsets, |run, out| rsi_series(run, period, out))
}

/// RSI of one series into every position of `out` (NaN in the warm-up). Returns false (output
/// incomplete) when a close was not finite: every close enters some price change, and a change
/// is finite exactly when both its closes are (barring overflow).
pub fn rsi_series(close: &[f64], period: usize, out: &mut [f64]) -> bool {
    assert!(period >= 1, "period must be >= 1");
    if nan_warm_up(out, period) == close.len() {
        return true; // all warm-up, whatever the inputs
    }
    let alpha = 1.0 / period as f64;
    let (mut gain, mut loss) = (0.0, 0.0);
    let mut finite = true;
    for pair in close[..=period].windows(2) {
        let change = pair[1] - pair[0];
        finite &= change.is_finite();
        if change < 0.0 {
            loss -= change;
        } else {
            gain += change;
        }
    }
    gain *= alpha;
    loss *= alpha;
    out[period] = rsi_value(gain, loss);
    let (mut ups, mut downs) = ([0.0; BLOCK], [0.0; BLOCK]);
    let mut start = period + 1;
    while start < close.len() {
        let m = BLOCK.min(close.len() - start);
        // `max` would turn a NaN change into 0, so finiteness is tested here, in the same
        // vectorized loop, while the closes are in registers.
        for k in 0..m {
            let change = close[start + k] - close[start + k - 1];
            finite &= change.is_finite();
            ups[k] = change.max(0.0);
            downs[k] = (-change).max(0.0);
        }
        if !finite {
            return false;
        }
        gain = linear_recursion_in_place(&mut ups[..m], gain, alpha);
        loss = linear_recursion_in_place(&mut downs[..m], loss, alpha);
        for ((o, g), l) in out[start..start + m]
            .iter_mut()
            .zip(&ups[..m])
            .zip(&downs[..m])
        {
            *o = rsi_value(*g, *l);
        }
        start += m;
    }
    finite
}

#[inline(always)]
fn rsi_value(gain: f64, loss: f64) -> f64 {
    let total = gain + loss;
    if total == 0.0 {
        RSI_FLAT
    } else {
        100.0 * (gain / total)
    }
}

/// `100 * (close - lowest low) / (highest high - lowest low)` over `period` bars, 0 when the
/// range is empty (TA-Lib's fast %K); written for every full window of a gap-free run.
fn fast_k(high: &[f64], low: &[f64], close: &[f64], period: usize, out: &mut [f64]) {
    let mut highest = vec![f64::NAN; close.len()];
    extreme_series(high, period, Extreme::Max, |i, _, best| highest[i] = best);
    extreme_series(low, period, Extreme::Min, |i, _, lowest| {
        let range = highest[i] - lowest;
        out[i] = if range != 0.0 {
            100.0 * (close[i] - lowest) / range
        } else {
            0.0
        };
    });
}

/// Stochastic oscillator (TA-Lib `STOCH` with SMA smoothing): `[slow_k, slow_d]`, where slow %K
/// is the `slowk_period` SMA of fast %K over `fastk_period` bars and slow %D the `slowd_period`
/// SMA of slow %K. Slow %K is defined from `fastk + slowk - 2`, slow %D `slowd - 1` bars later
/// (TA-Lib starts both at the later index).
pub fn stoch(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    offsets: &Offsets,
    fastk_period: usize,
    slowk_period: usize,
    slowd_period: usize,
) -> [Vec<f64>; 2] {
    map_runs(
        [high, low, close],
        offsets,
        |[h, l, c], [slow_k, slow_d]| {
            let mut k = vec![f64::NAN; c.len()];
            fast_k(h, l, c, fastk_period, &mut k);
            let k_start = fastk_period - 1;
            if c.len() <= k_start {
                return;
            }
            sma_series(&k[k_start..], slowk_period, &mut slow_k[k_start..]);
            let d_start = k_start + slowk_period - 1;
            if c.len() > d_start {
                sma_series(&slow_k[d_start..], slowd_period, &mut slow_d[d_start..]);
            }
        },
    )
}

/// Williams %R (TA-Lib `WILLR`): `-100 * (highest high - close) / (highest - lowest)` over
/// `period` bars, 0 when the range is empty.
pub fn willr(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    offsets: &Offsets,
    period: usize,
) -> Vec<f64> {
    let [out] = map_runs([high, low, close], offsets, |[h, l, c], [out]| {
        fast_k(h, l, c, period, out);
        for o in out[period.min(c.len()).saturating_sub(1)..].iter_mut() {
            *o -= 100.0; // %R = %K - 100
        }
    });
    out
}

/// Commodity channel index (TA-Lib `CCI`): `(tp - SMA(tp)) / (0.015 * mean absolute deviation)`
/// with typical price `tp = (high + low + close) / 3`; 0 when the deviation is 0. The mean
/// deviation needs the window's own mean, so it costs O(period) per row.
pub fn cci(high: &[f64], low: &[f64], close: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    let [out] = map_runs([high, low, close], offsets, |[h, l, c], [out]| {
        let tp: Vec<f64> = (0..c.len()).map(|i| (h[i] + l[i] + c[i]) / 3.0).collect();
        let n = period as f64;
        for i in period.saturating_sub(1)..tp.len() {
            let window = &tp[i + 1 - period..=i];
            let mean = window.iter().sum::<f64>() / n;
            let deviation = window.iter().map(|x| (x - mean).abs()).sum::<f64>() / n;
            let gap = tp[i] - mean;
            out[i] = if deviation != 0.0 && gap != 0.0 {
                gap / (0.015 * deviation)
            } else {
                0.0
            };
        }
    });
    out
}

/// Money flow index (TA-Lib `MFI`): RSI-like ratio of money flow `tp * volume` on bars whose
/// typical price rose versus fell, summed over `period` bars; first value at index `period`.
/// `MFI_FLAT` when no money flowed (TA-Lib: 0 when the total is below 1.0).
pub fn mfi(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    offsets: &Offsets,
    period: usize,
) -> Vec<f64> {
    let [out] = map_runs(
        [high, low, close, volume],
        offsets,
        |[h, l, c, v], [out]| {
            let len = c.len();
            if len <= period {
                return;
            }
            let tp = |i: usize| (h[i] + l[i] + c[i]) / 3.0;
            // A change below TA-Lib's zero tolerance (1e-8) is no change: on adjusted prices, equal
            // typical prices differ by float noise (~1e-14), which must not count as a flow.
            let flow = |i: usize| {
                let (now, before) = (tp(i), tp(i - 1));
                let change = now - before;
                let money = now * v[i];
                if talib_is_zero(change) {
                    (0.0, 0.0)
                } else if change > 0.0 {
                    (money, 0.0)
                } else {
                    (0.0, money)
                }
            };
            let flows: Vec<(f64, f64)> = (1..len).map(flow).collect(); // flows[k] is bar k + 1
            let (mut pos, mut neg) = (0.0, 0.0);
            for (k, &(p, q)) in flows.iter().enumerate() {
                pos += p;
                neg += q;
                if k >= period {
                    let (p_old, q_old) = flows[k - period];
                    pos -= p_old;
                    neg -= q_old;
                }
                if k + 1 >= period {
                    let total = pos + neg;
                    out[k + 1] = if total > 0.0 {
                        100.0 * pos / total
                    } else {
                        MFI_FLAT
                    };
                }
            }
        },
    );
    out
}

/// Rate of change in percent (TA-Lib `ROC`): `100 * (x / x[-period] - 1)`, 0 when the old
/// value is 0.
pub fn roc(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| {
        for i in period..run.len() {
            let old = run[i - period];
            out[i] = if old != 0.0 {
                (run[i] / old - 1.0) * 100.0
            } else {
                0.0
            };
        }
    })
}

/// MACD (TA-Lib `MACD`): `[macd, signal, hist]`. As in TA-Lib, the fast EMA is seeded where the
/// slow one is (at index `slow - 1`, with the mean of the last `fast` values), so both start
/// together; the signal is the `signal`-period EMA of the MACD line. Requires fast < slow.
pub fn macd(
    values: &[f64],
    offsets: &Offsets,
    fast: usize,
    slow: usize,
    signal: usize,
) -> [Vec<f64>; 3] {
    assert!(fast < slow, "fast must be < slow");
    map_groups([values], offsets, |[run], [line, sig, hist]| {
        macd_series(run, fast, slow, signal, line, sig, hist)
    })
}

/// Rows per block of `macd_series`: both EMAs, the line, the signal and the histogram of a
/// block are computed while it is in L1, so each output is written once.
const MACD_BLOCK: usize = 512;

/// MACD of one series into every position of the three outputs (NaN in their warm-ups).
/// Returns false (outputs incomplete) when a value was not finite: every value enters the slow
/// EMA, whose state a NaN or infinity never leaves.
fn macd_series(
    run: &[f64],
    fast: usize,
    slow: usize,
    signal: usize,
    line: &mut [f64],
    sig: &mut [f64],
    hist: &mut [f64],
) -> bool {
    assert!(fast >= 1 && signal >= 1, "periods must be >= 1");
    let len = run.len();
    let seed_at = slow + signal - 2; // first signal value
    nan_warm_up(sig, seed_at);
    nan_warm_up(hist, seed_at);
    if nan_warm_up(line, slow - 1) == len {
        return true; // all warm-up, whatever the inputs
    }
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let alpha = |period: usize| 2.0 / (period as f64 + 1.0);
    let (mut slow_state, mut fast_state) = (mean(&run[..slow]), mean(&run[slow - fast..slow]));
    line[slow - 1] = fast_state - slow_state;
    let mut sig_state = f64::NAN;
    let (mut slow_buf, mut fast_buf) = ([0.0; MACD_BLOCK], [0.0; MACD_BLOCK]);
    let mut from = slow - 1;
    while from < len {
        // The first block holds only the line's seed row; later ones `MACD_BLOCK` rows.
        let end = if from == slow - 1 {
            slow
        } else {
            (from + MACD_BLOCK).min(len)
        };
        let m = end - from;
        if from >= slow {
            let block = &run[from..end];
            slow_state = linear_recursion(block, &mut slow_buf[..m], slow_state, alpha(slow));
            fast_state = linear_recursion(block, &mut fast_buf[..m], fast_state, alpha(fast));
            if !slow_state.is_finite() {
                return false;
            }
            for ((l, f), s) in line[from..end].iter_mut().zip(&fast_buf).zip(&slow_buf) {
                *l = f - s;
            }
        }
        // The signal: seeded with the mean of the first `signal` line values, then an EMA.
        let mut k = from.max(seed_at);
        if k < end {
            if k == seed_at {
                sig_state = mean(&line[slow - 1..=seed_at]);
                sig[k] = sig_state;
                k += 1;
            }
            sig_state = linear_recursion(&line[k..end], &mut sig[k..end], sig_state, alpha(signal));
            let from_seed = from.max(seed_at);
            for ((h, l), s) in hist[from_seed..end]
                .iter_mut()
                .zip(&line[from_seed..end])
                .zip(&sig[from_seed..end])
            {
                *h = l - s;
            }
        }
        from = end;
    }
    slow_state.is_finite() && fast_state.is_finite()
}

/// TRIX (TA-Lib `TRIX`): one-bar rate of change, in percent, of a triple EMA; first value at
/// `3 * (period - 1) + 1`.
pub fn trix(values: &[f64], offsets: &Offsets, period: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| {
        let [_, _, e3] = ema_chain::<3>(run, period);
        for i in 3 * (period - 1) + 1..run.len() {
            let old = e3[i - 1];
            out[i] = if old != 0.0 {
                (e3[i] / old - 1.0) * 100.0
            } else {
                0.0
            };
        }
    })
}

/// Ultimate oscillator (TA-Lib `ULTOSC`): buying pressure over true range averaged on three
/// windows with weights 4, 2, 1 (shortest first); first value at the longest period. A window
/// with zero true range contributes 0, as in TA-Lib.
pub fn ultosc(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    offsets: &Offsets,
    periods: [usize; 3],
) -> Vec<f64> {
    let mut periods = periods;
    periods.sort_unstable();
    let longest = periods[2];
    let [out] = map_runs([high, low, close], offsets, |[h, l, c], [out]| {
        if c.len() <= longest {
            return;
        }
        // Index 0 has no previous close; pressure and range are defined from index 1.
        let mut pressure = vec![0.0; c.len()];
        let mut range = vec![0.0; c.len()];
        for i in 1..c.len() {
            let floor = l[i].min(c[i - 1]);
            pressure[i] = c[i] - floor;
            range[i] = h[i].max(c[i - 1]) - floor;
        }
        let mut sums = [(0.0, 0.0); 3];
        for i in 1..c.len() {
            for (s, &p) in sums.iter_mut().zip(&periods) {
                s.0 += pressure[i];
                s.1 += range[i];
                if i > p {
                    s.0 -= pressure[i - p];
                    s.1 -= range[i - p];
                }
            }
            if i >= longest {
                let mut total = 0.0;
                for ((bp, tr), weight) in sums.iter().zip([4.0, 2.0, 1.0]) {
                    if !talib_is_zero(*tr) {
                        total += weight * bp / tr;
                    }
                }
                out[i] = 100.0 * total / 7.0;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Rng};

    /// RSI as 100 - 100 / (1 + RS), written independently of the kernel.
    fn reference(close: &[f64], period: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; close.len()];
        let changes: Vec<f64> = close.windows(2).map(|w| w[1] - w[0]).collect();
        if changes.len() < period {
            return out;
        }
        let mut avg_gain =
            changes[..period].iter().map(|c| c.max(0.0)).sum::<f64>() / period as f64;
        let mut avg_loss =
            changes[..period].iter().map(|c| (-c).max(0.0)).sum::<f64>() / period as f64;
        let value = |g: f64, l: f64| {
            if l == 0.0 {
                if g == 0.0 {
                    50.0
                } else {
                    100.0
                }
            } else {
                100.0 - 100.0 / (1.0 + g / l)
            }
        };
        out[period] = value(avg_gain, avg_loss);
        for k in period..changes.len() {
            avg_gain += (changes[k].max(0.0) - avg_gain) / period as f64;
            avg_loss += ((-changes[k]).max(0.0) - avg_loss) / period as f64;
            out[k + 1] = value(avg_gain, avg_loss);
        }
        out
    }

    #[test]
    fn rsi_matches_wilder_definition_with_first_value_at_index_period() {
        let close = Rng::new(4).walk(1000, 100.0, 1.0);
        let out = rsi(&close, &Offsets::single(1000), 14);
        assert!(out[13].is_nan() && !out[14].is_nan());
        assert_close(&out, &reference(&close, 14), 1e-9);
    }

    #[test]
    fn rsi_is_100_for_only_gains_0_for_only_losses_and_50_when_flat() {
        let up: Vec<f64> = (0..10).map(f64::from).collect();
        let down: Vec<f64> = up.iter().rev().copied().collect();
        let flat = vec![5.0; 10];
        for (series, expected) in [(up, 100.0), (down, 0.0), (flat, RSI_FLAT)] {
            let out = rsi(&series, &Offsets::single(10), 3);
            assert!(out[3..].iter().all(|&x| x == expected), "{out:?}");
        }
    }

    #[test]
    fn rsi_restarts_after_nan() {
        let close = [1.0, 2.0, 3.0, f64::NAN, 3.0, 2.0, 1.0];
        let out = rsi(&close, &Offsets::single(7), 2);
        let expected = [f64::NAN, f64::NAN, 100.0, f64::NAN, f64::NAN, f64::NAN, 0.0];
        assert_close(&out, &expected, 0.0);
    }
}
