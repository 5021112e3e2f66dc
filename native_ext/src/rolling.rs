//! Rolling-window statistics in O(n): sum, mean, variance/std, skew, kurtosis, z-score.
//!
//! A window is defined only when it holds `window` finite values of one group; a window touching
//! a non-finite value gives NaN (see `groups::map_finite_runs`).
//!
//! Numerics: windows are tracked as power sums of deviations from a shift close to the data
//! (`s1 = sum(x - shift)`, `s2 = sum((x - shift)^2)`, ...), updated in O(1) as values enter and
//! leave. The series is cut into segments; each segment starts from an exact sum with the shift
//! reset to its first window, so rounding cannot drift over a long series. A window whose
//! variance would lose more than `MAX_CANCELLATION` to cancellation (e.g. a flat window after a
//! jump) is recomputed exactly, two-pass. Error therefore scales with the spread of the window,
//! not with the price level.
//!
//! Speed: the sum and mean (and the variance sums) advance four rows per step of their
//! dependency chain (the partial sums of four incoming/outgoing pairs are independent of the
//! running total), and square roots run as a separate pass over each segment so they vectorize.

use crate::groups::{map_finite_runs, map_groups1, nan_warm_up, Offsets};

/// Recompute a window exactly when `s2` exceeds its variance part `m2` by more than this factor
/// (about five of sixteen significant digits lost to cancellation).
const MAX_CANCELLATION: f64 = 1e5;

/// Output rows per segment (each segment starts from exact sums).
fn segment_len(window: usize) -> usize {
    (4 * window).max(1024)
}

/// Rolling sum (TA-Lib `SUM`).
pub fn sum(values: &[f64], offsets: &Offsets, window: usize) -> Vec<f64> {
    let n = window as f64;
    map_groups1(values, offsets, |run, out| {
        window_sums(run, window, out, |shift, s| shift * n + s)
    })
}

/// Rolling arithmetic mean (TA-Lib `SMA`).
pub fn sma(values: &[f64], offsets: &Offsets, window: usize) -> Vec<f64> {
    map_groups1(values, offsets, |run, out| sma_series(run, window, out))
}

/// Rolling mean of one series into every position of `out` (NaN in the warm-up); false when
/// the input held a non-finite value (see `groups::map_groups`).
pub fn sma_series(values: &[f64], window: usize, out: &mut [f64]) -> bool {
    let inv = 1.0 / window as f64;
    window_sums(values, window, out, |shift, s| shift + s * inv)
}

/// Rolling standard deviation with `window - ddof` in the denominator, times `scale`.
/// `ddof = 0, scale = nbdev` is TA-Lib `STDDEV`; `ddof = 1, scale = 1` is the sample std.
pub fn std(values: &[f64], offsets: &Offsets, window: usize, ddof: usize, scale: f64) -> Vec<f64> {
    assert!(ddof < window, "ddof must be < window");
    let inv_den = 1.0 / (window - ddof) as f64;
    map_groups1(values, offsets, |run, out| {
        window_m2(run, window, out, inv_den, |v| v.sqrt() * scale)
    })
}

/// Rolling variance with `window - ddof` in the denominator (`ddof = 0`: TA-Lib `VAR`).
pub fn var(values: &[f64], offsets: &Offsets, window: usize, ddof: usize) -> Vec<f64> {
    assert!(ddof < window, "ddof must be < window");
    let inv_den = 1.0 / (window - ddof) as f64;
    map_groups1(values, offsets, |run, out| {
        window_m2(run, window, out, inv_den, |v| v)
    })
}

/// Distance of each value from its window's mean in population standard deviations; 0 where
/// the window is flat.
pub fn zscore(values: &[f64], offsets: &Offsets, window: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| {
        rolling_moments(run, window, out, |m, x| {
            let sd = (m.m2() / m.n).sqrt();
            if sd > 0.0 {
                (x - m.mean()) / sd
            } else {
                0.0
            }
        })
    })
}

/// Rolling skewness, population (biased) form `m3 / m2^1.5`; 0 where the window is flat.
pub fn skew(values: &[f64], offsets: &Offsets, window: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| {
        rolling_moments(run, window, out, |m, _| m.skew())
    })
}

/// Rolling excess kurtosis, population (biased) form `m4 / m2^2 - 3`; 0 where the window is
/// flat.
pub fn kurt(values: &[f64], offsets: &Offsets, window: usize) -> Vec<f64> {
    map_finite_runs(values, offsets, |run, out| {
        rolling_moments(run, window, out, |m, _| m.kurt())
    })
}

/// Writes `emit(shift, sum(x - shift))` for every full window of one series, NaN before.
/// Returns false (output incomplete) on a non-finite input: every input enters some segment's
/// running sum, which a NaN or infinity leaves non-finite for the rest of the segment.
fn window_sums(
    values: &[f64],
    window: usize,
    out: &mut [f64],
    emit: impl Fn(f64, f64) -> f64,
) -> bool {
    assert!(window >= 1, "window must be >= 1");
    let len = values.len();
    let mut start = nan_warm_up(out, window - 1);
    while start < len {
        let end = (start + segment_len(window)).min(len);
        let shift = values[start];
        let mut s: f64 = values[start + 1 - window..=start]
            .iter()
            .map(|x| x - shift)
            .sum();
        out[start] = emit(shift, s);
        let new = &values[start + 1..end];
        let old = &values[start + 1 - window..end - window];
        let dst = &mut out[start + 1..end];
        let (mut news, mut olds, mut dsts) = (
            new.chunks_exact(4),
            old.chunks_exact(4),
            dst.chunks_exact_mut(4),
        );
        for ((a, b), o) in (&mut news).zip(&mut olds).zip(&mut dsts) {
            let p0 = a[0] - b[0];
            let p1 = p0 + (a[1] - b[1]);
            let p2 = p1 + (a[2] - b[2]);
            let p3 = p2 + (a[3] - b[3]);
            o[0] = emit(shift, s + p0);
            o[1] = emit(shift, s + p1);
            o[2] = emit(shift, s + p2);
            s += p3;
            o[3] = emit(shift, s);
        }
        for ((a, b), o) in news
            .remainder()
            .iter()
            .zip(olds.remainder())
            .zip(dsts.into_remainder())
        {
            s += a - b;
            *o = emit(shift, s);
        }
        if !s.is_finite() {
            return false;
        }
        start = end;
    }
    true
}

/// Rows per pass of `window_m2`: its three stack buffers stay inside the L1 cache.
const M2_BLOCK: usize = 512;

/// Writes `m2 * inv_den` (sum of squared deviations from the window mean, scaled) for every full
/// window of one series, through `finish` (the standard deviation takes its square root there,
/// in the same pass), NaN before. Returns false (output incomplete) on a non-finite input,
/// which leaves the segment's running sums non-finite.
///
/// Three passes per block of rows, so only the prefix sums run serially: (1) per-row increments
/// of `s1` and `s2` (independent, vectorized), (2) their running sums four rows per dependency
/// step, plus the running peak of `s2`, (3) `m2`, the cancellation test and the scaling
/// (independent, vectorized). Windows failing the test are recomputed exactly.
fn window_m2(
    values: &[f64],
    window: usize,
    out: &mut [f64],
    inv_den: f64,
    finish: impl Fn(f64) -> f64,
) -> bool {
    assert!(window >= 1, "window must be >= 1");
    let len = values.len();
    let inv_n = 1.0 / window as f64;
    let mut d = [0.0; M2_BLOCK];
    let mut e = [0.0; M2_BLOCK];
    let mut p = [0.0; M2_BLOCK];
    let mut start = nan_warm_up(out, window - 1);
    while start < len {
        let end = (start + segment_len(window)).min(len);
        let first = Moments::of(&values[start + 1 - window..=start]);
        let shift = first.shift;
        let (mut s1, mut s2) = (first.s1, first.s2);
        // The largest the running sum of squares has been in this segment: its rounding error
        // is relative to that, not to the current (possibly much smaller) sum.
        let mut peak = s2;
        out[start] = finish(first.m2() * inv_den);
        let mut from = start + 1;
        // Whether any window of the segment needs the exact recompute (rare): only then is the
        // segment's output searched for the NaN markers.
        let mut marked = false;
        while from < end {
            let m = M2_BLOCK.min(end - from);
            let (d, e, p) = (&mut d[..m], &mut e[..m], &mut p[..m]);
            let new = &values[from..from + m];
            let old = &values[from - window..from - window + m];
            for k in 0..m {
                let (a, b) = (new[k] - shift, old[k] - shift);
                d[k] = a - b;
                e[k] = (a - b) * (a + b);
            }
            (s1, s2, peak) = running_sums(d, e, p, s1, s2, peak);
            for (k, o) in out[from..from + m].iter_mut().enumerate() {
                let m2 = larger(e[k] - d[k] * d[k] * inv_n, 0.0);
                let ill = p[k] > MAX_CANCELLATION * m2;
                marked |= ill;
                // NaN marks a window to recompute (inputs are finite, so a real m2 never is).
                *o = if ill { f64::NAN } else { finish(m2 * inv_den) };
            }
            from += m;
        }
        if !(s1.is_finite() && s2.is_finite()) {
            return false;
        }
        if marked {
            for (i, o) in (start + 1..end).zip(&mut out[start + 1..end]) {
                if o.is_nan() {
                    *o = finish(exact_m2(&values[i + 1 - window..=i]) * inv_den);
                }
            }
        }
        start = end;
    }
    true
}

/// Turns per-row increments `d`, `e` into running sums in place (starting from `s1`, `s2`) and
/// fills `p` with the running peak of the `e` sums; returns the final `(s1, s2, peak)`.
/// Four rows per dependency step, as in `window_sums`.
fn running_sums(
    d: &mut [f64],
    e: &mut [f64],
    p: &mut [f64],
    mut s1: f64,
    mut s2: f64,
    mut peak: f64,
) -> (f64, f64, f64) {
    let mut ds = d.chunks_exact_mut(4);
    let mut es = e.chunks_exact_mut(4);
    let mut ps = p.chunks_exact_mut(4);
    for ((d, e), p) in (&mut ds).zip(&mut es).zip(&mut ps) {
        let (d1, d2, d3) = (
            d[0] + d[1],
            d[0] + d[1] + d[2],
            (d[0] + d[1]) + (d[2] + d[3]),
        );
        let (e1, e2, e3) = (
            e[0] + e[1],
            e[0] + e[1] + e[2],
            (e[0] + e[1]) + (e[2] + e[3]),
        );
        d[0] += s1;
        e[0] += s2;
        d[1] = s1 + d1;
        e[1] = s2 + e1;
        d[2] = s1 + d2;
        e[2] = s2 + e2;
        s1 += d3;
        s2 += e3;
        d[3] = s1;
        e[3] = s2;
        let block_peak = larger(larger(e[0], e[1]), larger(e[2], e[3]));
        p[0] = larger(peak, e[0]);
        p[1] = larger(p[0], e[1]);
        p[2] = larger(p[1], e[2]);
        peak = larger(peak, block_peak);
        p[3] = peak;
    }
    for ((d, e), p) in ds
        .into_remainder()
        .iter_mut()
        .zip(es.into_remainder())
        .zip(ps.into_remainder())
    {
        s1 += *d;
        s2 += *e;
        *d = s1;
        *e = s2;
        peak = larger(peak, s2);
        *p = peak;
    }
    (s1, s2, peak)
}

#[cold]
#[inline(never)]
fn exact_m2(window: &[f64]) -> f64 {
    Moments::of(window).m2()
}

/// `max` for values known not to be NaN: a single compare-and-select, where `f64::max` also
/// handles NaN operands at the cost of extra instructions on the hot path.
#[inline(always)]
fn larger(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

/// Power sums of deviations from `shift` over the current window of `n` values.
#[derive(Debug, Clone, Copy)]
struct Moments {
    n: f64,
    shift: f64,
    s1: f64,
    s2: f64,
    s3: f64,
    s4: f64,
}

impl Moments {
    /// Exact moments of `window`, shifted by its mean (computed relative to its first value).
    fn of(window: &[f64]) -> Self {
        let n = window.len() as f64;
        let first = window[0];
        let shift = first + window.iter().map(|x| x - first).sum::<f64>() / n;
        let mut m = Self {
            n,
            shift,
            s1: 0.0,
            s2: 0.0,
            s3: 0.0,
            s4: 0.0,
        };
        for &x in window {
            m.add(x, 1.0);
        }
        m
    }

    fn add(&mut self, x: f64, sign: f64) {
        let d = x - self.shift;
        let d2 = d * d;
        self.s1 += sign * d;
        self.s2 += sign * d2;
        self.s3 += sign * d2 * d;
        self.s4 += sign * d2 * d2;
    }

    fn mean(&self) -> f64 {
        self.shift + self.s1 / self.n
    }

    /// Sum of squared deviations from the window mean.
    fn m2(&self) -> f64 {
        (self.s2 - self.s1 * self.s1 / self.n).max(0.0)
    }

    /// Central moments 2, 3, 4 (divided by n).
    fn central(&self) -> (f64, f64, f64) {
        let n = self.n;
        let d = self.s1 / n;
        let (r2, r3, r4) = (self.s2 / n, self.s3 / n, self.s4 / n);
        let m2 = self.m2() / n;
        let m3 = r3 - 3.0 * d * r2 + 2.0 * d * d * d;
        let m4 = r4 - 4.0 * d * r3 + 6.0 * d * d * r2 - 3.0 * d * d * d * d;
        (m2, m3, m4)
    }

    fn skew(&self) -> f64 {
        let (m2, m3, _) = self.central();
        if m2 > 0.0 {
            m3 / m2.powf(1.5)
        } else {
            0.0
        }
    }

    fn kurt(&self) -> f64 {
        let (m2, _, m4) = self.central();
        if m2 > 0.0 {
            m4 / (m2 * m2) - 3.0
        } else {
            0.0
        }
    }

    /// True when `m2` has lost too many digits to cancellation to be trusted.
    fn is_ill_conditioned(&self) -> bool {
        self.s2 > MAX_CANCELLATION * self.m2()
    }
}

/// Writes `emit(moments, newest value)` for every full window of one gap-free series, with an
/// exact recompute every `window` rows and whenever the variance is ill-conditioned.
fn rolling_moments(
    values: &[f64],
    window: usize,
    out: &mut [f64],
    emit: impl Fn(&Moments, f64) -> f64,
) {
    assert!(window >= 1, "window must be >= 1");
    if values.len() < window {
        return;
    }
    let mut moments = Moments::of(&values[..window]);
    out[window - 1] = emit(&moments, values[window - 1]);
    let mut since_recompute = 0;
    for i in window..values.len() {
        since_recompute += 1;
        moments.add(values[i - window], -1.0);
        moments.add(values[i], 1.0);
        if since_recompute == window || moments.is_ill_conditioned() {
            moments = Moments::of(&values[i + 1 - window..=i]);
            since_recompute = 0;
        }
        out[i] = emit(&moments, values[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Rng};

    fn reference_std(values: &[f64], window: usize, ddof: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; values.len()];
        for i in window - 1..values.len() {
            let w = &values[i + 1 - window..=i];
            let mean = w.iter().sum::<f64>() / window as f64;
            let ss: f64 = w.iter().map(|x| (x - mean).powi(2)).sum();
            out[i] = (ss / (window - ddof) as f64).sqrt();
        }
        out
    }

    fn reference_mean(values: &[f64], window: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; values.len()];
        for i in window - 1..values.len() {
            out[i] = values[i + 1 - window..=i].iter().sum::<f64>() / window as f64;
        }
        out
    }

    #[test]
    fn rolling_std_does_not_drift_on_a_long_high_level_random_walk() {
        let values = Rng::new(3).walk(200_000, 1e4, 1.0);
        let offsets = Offsets::single(values.len());
        for window in [2, 20, 250] {
            assert_close(
                &std(&values, &offsets, window, 1, 1.0),
                &reference_std(&values, window, 1),
                1e-9,
            );
            assert_close(
                &std(&values, &offsets, window, 0, 1.0),
                &reference_std(&values, window, 0),
                1e-9,
            );
            assert_close(
                &sma(&values, &offsets, window),
                &reference_mean(&values, window),
                1e-12,
            );
        }
    }

    #[test]
    fn constant_series_has_exactly_zero_std_and_its_own_mean() {
        let values = vec![10_000.1; 300];
        let offsets = Offsets::single(300);
        let out = std(&values, &offsets, 7, 1, 1.0);
        assert!(out[6..].iter().all(|&x| x == 0.0));
        assert!(sma(&values, &offsets, 7)[6..]
            .iter()
            .all(|&x| x == 10_000.1));
    }

    #[test]
    fn flat_window_after_a_jump_has_exactly_zero_std() {
        let mut values = vec![100.0; 50];
        values.extend(vec![10_000.3; 50]);
        let out = std(&values, &Offsets::single(100), 5, 1, 1.0);
        assert!(out[54..].iter().all(|&x| x == 0.0), "{:?}", &out[50..]);
        assert!(out[4..50].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn windows_touching_nan_are_nan_and_windows_never_cross_groups() {
        let values = [1.0, 2.0, 3.0, f64::NAN, 5.0, 6.0, 7.0, 8.0];
        let offsets = Offsets::new(&[0, 6, 8], 8).unwrap();
        let out = sma(&values, &offsets, 2);
        let expected = [f64::NAN, 1.5, 2.5, f64::NAN, f64::NAN, 5.5, f64::NAN, 7.5];
        assert_close(&out, &expected, 1e-15);
    }

    #[test]
    fn nbdev_scales_the_population_std() {
        let values = [1.0, 2.0, 3.0, 4.0];
        let out = std(&values, &Offsets::single(4), 4, 0, 2.0);
        assert_close(&out[3..], &[2.0 * 1.25f64.sqrt()], 1e-15);
    }
}
