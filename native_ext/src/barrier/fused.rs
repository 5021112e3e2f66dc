//! Triple barrier with its volatility computed in the same pass.
//!
//! For each group, one loop walks the bars: the bar's log return enters a sliding window of
//! `vol_window` returns, the window's sample standard deviation `sigma` (ddof 1) sets the widths
//! `profit_mult * sigma` and `stop_mult * sigma`, and the first-touch scan runs while the next
//! `horizon` closes are still in cache. A bar whose window is incomplete or holds a non-finite
//! return has `sigma = NaN` and no label. `sigma` uses returns up to and including bar `i` only,
//! so barrier widths are causal.
//!
//! The caller passes `log_close = ln(close)` (a vectorised log is several times faster than a
//! scalar one), so each return and each scan step is a subtraction; NaN marks an invalid price.
//! The window keeps a running mean and sum of squared deviations (Welford add/remove), and is
//! recomputed exactly every `RECOMPUTE_LAPS * vol_window` steps so rounding cannot drift along a
//! long series.
//!
//! Speed. The bars run in blocks of `BLOCK`: first the window's variance for every bar of the
//! block (the serial Welford chain), then their square roots in one loop that vectorises (so
//! no scan waits on a square root), then the scans. Where the CPU has AVX2, a scan tests
//! `CHUNK` steps at once without a branch and takes the first near step from the bit mask, so
//! the random step of the first touch costs no mispredicted loop exit. Every value is computed
//! with the same operations as the plain per-bar loop (the tests keep it as
//! `tests::triple_barrier_vol_reference`), so results are equal bit for bit.

use super::{BarrierTouches, Touch, UNKNOWN_INDEX};
use crate::groups::Offsets;

/// Bars per block: a block's variances and outcomes live in stack buffers of this many rows.
/// 64 measured best of 32..1024 on the benchmark (by about 1 ns/row over 256: the buffers stay
/// in L1).
const BLOCK: usize = 64;

/// Scan steps tested per branch.
const CHUNK: usize = 16;

/// Bit k of a chunk's mask stands for step k of the chunk.
type Mask = u32;

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
    assert_eq!(log_close.len(), n, "close and log_close differ in length");
    assert!(
        horizon >= 1 && vol_window >= 2,
        "horizon >= 1 and vol_window >= 2 required"
    );
    let args = Args {
        close,
        log_close,
        offsets,
        horizon,
        vol_window,
        profit_mult,
        stop_mult,
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU running this has AVX2, checked just above.
        return unsafe { avx2::kernel(&args) };
    }
    // SAFETY: `Portable::mask` runs on any CPU.
    unsafe { kernel::<Portable>(&args) }
}

struct Args<'a> {
    close: &'a [f64],
    log_close: &'a [f64],
    offsets: &'a Offsets,
    horizon: usize,
    vol_window: usize,
    profit_mult: f64,
    stop_mult: f64,
}

/// How a scan finds the near steps of a chunk.
trait NearSteps {
    /// Bit k set where step k of `chunk` is near a barrier (`l - base >= near_up` or
    /// `l - base <= near_down`; never for NaN); bits above the lowest set one may be left clear.
    ///
    /// # Safety
    /// The CPU must have the features the implementation is compiled for.
    unsafe fn mask(chunk: &[f64; CHUNK], base: f64, near_up: f64, near_down: f64) -> Mask;
}

/// Any CPU: a plain loop that stops at the first near step.
struct Portable;

impl NearSteps for Portable {
    #[inline(always)]
    unsafe fn mask(chunk: &[f64; CHUNK], base: f64, near_up: f64, near_down: f64) -> Mask {
        chunk
            .iter()
            .position(|&l| is_near(l, base, near_up, near_down))
            .map_or(0, |k| 1 << k)
    }
}

#[inline(always)]
fn is_near(l: f64, base: f64, near_up: f64, near_down: f64) -> bool {
    let d = l - base;
    d >= near_up || d <= near_down // false for NaN: an invalid price never touches
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Args, BarrierTouches, Mask, NearSteps, CHUNK};
    use std::arch::x86_64::{
        _mm256_cmp_pd, _mm256_loadu_pd, _mm256_movemask_pd, _mm256_or_pd, _mm256_set1_pd,
        _mm256_sub_pd, _CMP_GE_OQ, _CMP_LE_OQ,
    };

    /// Four steps per instruction; the chunk's whole mask without a branch.
    pub(super) struct Avx2;

    impl NearSteps for Avx2 {
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn mask(chunk: &[f64; CHUNK], base: f64, near_up: f64, near_down: f64) -> Mask {
            let (base, up, down) = (
                _mm256_set1_pd(base),
                _mm256_set1_pd(near_up),
                _mm256_set1_pd(near_down),
            );
            let mut mask = 0;
            for (q, l) in chunk.chunks_exact(4).enumerate() {
                // SAFETY: `l` holds 4 values (`chunks_exact(4)`); an unaligned load reads them.
                let d = _mm256_sub_pd(unsafe { _mm256_loadu_pd(l.as_ptr()) }, base);
                // Ordered comparisons: false for NaN, as in `is_near`.
                let near = _mm256_or_pd(
                    _mm256_cmp_pd::<_CMP_GE_OQ>(d, up),
                    _mm256_cmp_pd::<_CMP_LE_OQ>(d, down),
                );
                mask |= (_mm256_movemask_pd(near) as Mask) << (4 * q);
            }
            mask
        }
    }

    /// The kernel compiled for AVX2. No FMA is enabled (and Rust never contracts `a * b + c`
    /// on its own), so every value is bit for bit that of the portable build.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn kernel(args: &Args<'_>) -> (BarrierTouches, Vec<f64>) {
        // SAFETY: our caller guarantees AVX2, all `Avx2::mask` needs.
        unsafe { super::kernel::<Avx2>(args) }
    }
}

/// The loop over groups and blocks.
///
/// # Safety
/// As for `K::mask`: the CPU must have the features `K` is compiled for.
#[inline(always)]
unsafe fn kernel<K: NearSteps>(args: &Args<'_>) -> (BarrierTouches, Vec<f64>) {
    let (close, log_close) = (args.close, args.log_close);
    let n = close.len();
    // Each block appends its rows to every output, in order: the groups cover 0..n contiguously.
    let mut touches = BarrierTouches {
        touch_index: Vec::with_capacity(n),
        ret: Vec::with_capacity(n),
        barrier: Vec::with_capacity(n),
    };
    let mut vol = Vec::with_capacity(n);
    let mut window = Window::new(args.vol_window);
    let mut var = [0.0f64; BLOCK];
    let (mut index, mut ret, mut barrier) = ([0i64; BLOCK], [0.0f64; BLOCK], [0i8; BLOCK]);
    for group in args.offsets.ranges() {
        let Some(last) = group.end.checked_sub(1) else {
            continue;
        };
        window.clear();
        let mut block_start = group.start;
        while block_start < group.end {
            let block_end = group.end.min(block_start + BLOCK);
            let var = &mut var[..block_end - block_start];
            // 1. The window's variance per bar (NaN while incomplete): a serial chain.
            for (v, i) in var.iter_mut().zip(block_start..block_end) {
                if i > group.start {
                    window.push(log_close[i] - log_close[i - 1]);
                }
                *v = window.variance();
            }
            // 2. The square roots, independent of each other: this loop vectorises.
            vol.extend(var.iter().map(|v| v.sqrt()));
            // 3. The scans, into block buffers appended at once (no per-push capacity checks).
            //    A complete window's variance is never NaN (`max(0.0)` clears it), so a NaN
            //    sigma is exactly an incomplete window.
            let sigmas = &vol[block_start..block_end];
            for (k, (&sigma, i)) in sigmas.iter().zip(block_start..).enumerate() {
                let touch = if sigma.is_nan() {
                    None
                } else {
                    let widths = (args.profit_mult * sigma, args.stop_mult * sigma);
                    // SAFETY: as required of our caller.
                    unsafe { scan::<K>(close, log_close, i, last, widths, args.horizon) }
                };
                (index[k], ret[k], barrier[k]) = match touch {
                    Some(t) => (t.index as i64, t.ret, t.barrier),
                    None => (UNKNOWN_INDEX, f64::NAN, 0),
                };
            }
            let rows = sigmas.len();
            touches.touch_index.extend_from_slice(&index[..rows]);
            touches.ret.extend_from_slice(&ret[..rows]);
            touches.barrier.extend_from_slice(&barrier[..rows]);
            block_start = block_end;
        }
    }
    debug_assert_eq!(vol.len(), n);
    (touches, vol)
}

/// Far above the rounding error of a difference of two logarithms of prices.
const MARGIN: f64 = 1e-12;

/// The scan of `first_touch` on log prices. Candidates within `MARGIN` of a barrier are settled by
/// the exact definition, so touches equal `first_touch` with the same widths; `ret` may differ
/// from `ln(close[j] / close[i])` in the last bits.
///
/// # Safety
/// As for `K::mask`.
#[inline(always)]
unsafe fn scan<K: NearSteps>(
    close: &[f64],
    log_close: &[f64],
    i: usize,
    last: usize,
    (up, down): (f64, f64),
    horizon: usize,
) -> Option<Touch> {
    let base = log_close[i];
    let widths_valid = up > 0.0 && down > 0.0; // false for NaN widths
    if base.is_nan() || !widths_valid {
        return None;
    }
    let scan_last = i.saturating_add(horizon).min(last);
    let (near_up, near_down) = (up - MARGIN, -down + MARGIN);
    let (clear_up, clear_down) = (up + MARGIN, down + MARGIN);
    let mut start = i + 1;
    while start <= scan_last {
        // Bit k: step `start + k` is near a barrier. Steps past `scan_last` are masked off, so a
        // full chunk may read past the scan (never past the series).
        let steps = (scan_last + 1 - start).min(CHUNK);
        let mask = match log_close.get(start..start + CHUNK) {
            // SAFETY: passed on from our caller.
            Some(chunk) => unsafe {
                K::mask(
                    chunk.try_into().expect("CHUNK long"),
                    base,
                    near_up,
                    near_down,
                )
            },
            None => log_close[start..start + steps]
                .iter()
                .position(|&l| is_near(l, base, near_up, near_down))
                .map_or(0, |k| 1 << k),
        } & low_bits(steps);
        if mask == 0 {
            start += CHUNK;
            continue;
        }
        let j = start + mask.trailing_zeros() as usize;
        let d = log_close[j] - base;
        // Clear of the margin the log difference decides (and is the return to within
        // rounding). The direction is a coin flip, so it is selected without a branch, and one
        // predictable test on `sign * d` (exact) checks the margin on that side: upward
        // `d >= up + MARGIN`, downward `-d >= down + MARGIN`, i.e. `d <= -down - MARGIN`.
        let (sign, clear) =
            std::hint::select_unpredictable(d >= up, (1.0, clear_up), (-1.0, clear_down));
        if sign * d >= clear {
            return Some(Touch {
                index: j,
                ret: d,
                barrier: sign as i8,
            });
        }
        // Within the margin the exact definition decides, as in `first_touch`.
        let r = (close[j] / close[i]).ln();
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
        start = j + 1; // a near miss inside the margin: scan on after it
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

/// The lowest `k` bits set (`k <= CHUNK`).
#[inline(always)]
fn low_bits(k: usize) -> Mask {
    if k >= CHUNK {
        Mask::MAX
    } else {
        (1 << k) - 1
    }
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

    /// Sample variance of a complete window (never NaN: `max` maps a NaN `m2` to 0); NaN while
    /// the window is incomplete.
    fn variance(&self) -> f64 {
        if self.count >= self.len {
            self.m2.max(0.0) * self.inv_dof
        } else {
            f64::NAN
        }
    }
}

#[cfg(test)]
mod tests;
