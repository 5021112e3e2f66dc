//! Group (symbol) boundaries, and the helpers that run a single-series kernel inside them.
//!
//! A panel of many symbols is passed as one flat array plus `offsets`: group `k` occupies
//! `values[offsets[k]..offsets[k + 1]]`. Kernels never look across a group boundary: each group
//! is computed as if it were its own series.
//!
//! Most kernels also treat a non-finite input (NaN, +-inf) as a gap: the group is split into
//! maximal runs of finite values and the kernel runs on each run on its own, so windows never
//! span a gap and recursive smoothers restart their warm-up after one.

use std::fmt;
use std::ops::Range;

/// Validated group start offsets: `n_groups + 1` entries, starting at 0, non-decreasing, ending
/// at the series length. Empty groups (equal consecutive offsets) are allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offsets(Vec<usize>);

/// Why a raw offsets array was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsError {
    Empty,
    FirstNotZero {
        first: i64,
    },
    Decreasing {
        position: usize,
        previous: i64,
        current: i64,
    },
    LastNotLength {
        last: i64,
        len: usize,
    },
}

impl fmt::Display for OffsetsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(
                f,
                "offsets is empty; it needs n_groups + 1 entries, e.g. [0, len(values)] for one group"
            ),
            Self::FirstNotZero { first } => {
                write!(f, "offsets[0] is {first}; the first group must start at 0")
            }
            Self::Decreasing { position, previous, current } => write!(
                f,
                "offsets decrease at position {position} ({previous} -> {current}); \
                 they must be non-decreasing group start positions"
            ),
            Self::LastNotLength { last, len } => write!(
                f,
                "offsets end at {last} but the series has length {len}; \
                 the last offset must equal the series length"
            ),
        }
    }
}

impl std::error::Error for OffsetsError {}

impl Offsets {
    /// Validates raw offsets against a series of length `len`.
    pub fn new(raw: &[i64], len: usize) -> Result<Self, OffsetsError> {
        let (&first, &last) = match (raw.first(), raw.last()) {
            (Some(first), Some(last)) => (first, last),
            _ => return Err(OffsetsError::Empty),
        };
        if first != 0 {
            return Err(OffsetsError::FirstNotZero { first });
        }
        if let Some(position) = raw.windows(2).position(|w| w[1] < w[0]) {
            return Err(OffsetsError::Decreasing {
                position: position + 1,
                previous: raw[position],
                current: raw[position + 1],
            });
        }
        if usize::try_from(last).ok() != Some(len) {
            return Err(OffsetsError::LastNotLength { last, len });
        }
        // Non-negative after the checks above: starts at 0 and never decreases.
        Ok(Self(raw.iter().map(|&o| o as usize).collect()))
    }

    /// One group spanning the whole series.
    pub fn single(len: usize) -> Self {
        Self(vec![0, len])
    }

    pub fn n_groups(&self) -> usize {
        self.0.len() - 1
    }

    /// Length of the series these offsets describe.
    pub fn series_len(&self) -> usize {
        *self.0.last().expect("validated offsets are never empty")
    }

    /// Index range of each group, in order.
    pub fn ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.0.windows(2).map(|w| w[0]..w[1])
    }
}

/// Runs `kernel` on each group's slice of `values` and the matching slice of `out`.
pub fn for_each_group(
    values: &[f64],
    offsets: &Offsets,
    out: &mut [f64],
    mut kernel: impl FnMut(&[f64], &mut [f64]),
) {
    assert_eq!(
        values.len(),
        offsets.series_len(),
        "offsets do not describe values"
    );
    assert_eq!(
        values.len(),
        out.len(),
        "output length differs from input length"
    );
    for range in offsets.ranges() {
        kernel(&values[range.clone()], &mut out[range]);
    }
}

/// Runs `kernel` on each maximal run of finite values in `values` (and the matching slice of
/// `out`); positions holding non-finite values are left untouched.
pub fn for_each_finite_run(
    values: &[f64],
    out: &mut [f64],
    mut kernel: impl FnMut(&[f64], &mut [f64]),
) {
    let mut start = 0;
    while start < values.len() {
        if !values[start].is_finite() {
            start += 1;
            continue;
        }
        let end = values[start..]
            .iter()
            .position(|x| !x.is_finite())
            .map_or(values.len(), |p| start + p);
        kernel(&values[start..end], &mut out[start..end]);
        start = end;
    }
}

/// The common shape of a single-input indicator: a NaN-filled output of the input's length, with
/// `kernel` run on every finite run of every group. `kernel` gets an all-finite slice and writes
/// the positions where its output is defined (it leaves warm-up positions as NaN).
pub fn map_finite_runs(
    values: &[f64],
    offsets: &Offsets,
    mut kernel: impl FnMut(&[f64], &mut [f64]),
) -> Vec<f64> {
    let [out] = map_runs([values], offsets, |[run], [out]| kernel(run, out));
    out
}

/// True when every value is finite. Branch-free, so it vectorizes: `x * 0` is 0 for finite `x`
/// and NaN for NaN or +-inf, and four independent accumulators keep the adds in parallel. This
/// is the fast path that lets a gap-free group (the usual case) skip the run search.
pub fn all_finite(values: &[f64]) -> bool {
    let mut acc = [0.0f64; 4];
    let chunks = values.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            acc[k] += c[k] * 0.0;
        }
    }
    let tail_acc: f64 = tail.iter().map(|x| x * 0.0).sum();
    (acc[0] + acc[1] + acc[2] + acc[3] + tail_acc) == 0.0
}

/// The general shape of an indicator with `I` aligned inputs and `O` outputs: every output is
/// NaN-filled to the input length, and `kernel` runs on each maximal run of rows where every
/// input is finite, inside each group. A row with any non-finite input is a gap for all inputs.
pub fn map_runs<const I: usize, const O: usize>(
    inputs: [&[f64]; I],
    offsets: &Offsets,
    mut kernel: impl FnMut([&[f64]; I], [&mut [f64]; O]),
) -> [Vec<f64>; O] {
    let n = offsets.series_len();
    for input in &inputs {
        assert_eq!(input.len(), n, "offsets do not describe every input");
    }
    let mut outs: [Vec<f64>; O] = std::array::from_fn(|_| vec![f64::NAN; n]);
    let mut run = |range: Range<usize>, outs: &mut [Vec<f64>; O]| {
        let views = outs.each_mut().map(|o| &mut o[range.clone()]);
        kernel(inputs.map(|x| &x[range.clone()]), views);
    };
    for group in offsets.ranges() {
        if inputs.iter().all(|x| all_finite(&x[group.clone()])) {
            run(group, &mut outs);
            continue;
        }
        for run_range in finite_runs(&inputs, group) {
            run(run_range, &mut outs);
        }
    }
    outs
}

/// The maximal runs of rows in `group` where every input is finite.
fn finite_runs<'a, const I: usize>(
    inputs: &'a [&'a [f64]; I],
    group: Range<usize>,
) -> impl Iterator<Item = Range<usize>> + 'a {
    let finite = move |i: usize| inputs.iter().all(|x| x[i].is_finite());
    let mut start = group.start;
    std::iter::from_fn(move || {
        while start < group.end && !finite(start) {
            start += 1;
        }
        if start >= group.end {
            return None;
        }
        let end = (start..group.end)
            .find(|&i| !finite(i))
            .unwrap_or(group.end);
        let run = start..end;
        start = end;
        Some(run)
    })
}

/// Runs `kernel` once per group into outputs that are written exactly once: no NaN pre-fill and
/// no separate finiteness scan, the two extra passes over memory that made the hot kernels
/// slower than TA-Lib.
///
/// Contract for `kernel`: it writes every position of its output slices (warm-up positions get
/// NaN) and returns `true` when all of its inputs were finite. It may return `false` spuriously
/// (an overflow to infinity); never `true` after seeing a non-finite input. Kernels get the
/// check almost for free: a running sum or recursive state that took in a NaN or an infinity
/// never becomes finite again, so testing the final state detects a gap anywhere in the group.
///
/// A group whose kernel reports a non-finite input (rare in practice) is redone: NaN over the
/// group, then `kernel` on each maximal run of rows where every input is finite, exactly as
/// `map_runs` computes it.
pub fn map_groups<const I: usize, const O: usize>(
    inputs: [&[f64]; I],
    offsets: &Offsets,
    mut kernel: impl FnMut([&[f64]; I], [&mut [f64]; O]) -> bool,
) -> [Vec<f64>; O] {
    let n = offsets.series_len();
    for input in &inputs {
        assert_eq!(input.len(), n, "offsets do not describe every input");
    }
    let mut outs: [Vec<f64>; O] = std::array::from_fn(|_| unwritten(n));
    {
        let mut views: [&mut [f64]; O] = outs.each_mut().map(|o| writable(o, n));
        for group in offsets.ranges() {
            let group_inputs = inputs.map(|x| &x[group.clone()]);
            if kernel(group_inputs, slices(&mut views, group.clone())) {
                continue;
            }
            for o in slices(&mut views, group.clone()) {
                o.fill(f64::NAN);
            }
            for run in finite_runs(&inputs, group) {
                kernel(inputs.map(|x| &x[run.clone()]), slices(&mut views, run));
            }
        }
    }
    for o in &mut outs {
        finish(o, n);
    }
    outs
}

fn slices<'a, const O: usize>(
    views: &'a mut [&mut [f64]; O],
    range: Range<usize>,
) -> [&'a mut [f64]; O] {
    views.each_mut().map(move |o| &mut o[range.clone()])
}

/// `map_groups` for one input and one output.
pub fn map_groups1(
    values: &[f64],
    offsets: &Offsets,
    mut kernel: impl FnMut(&[f64], &mut [f64]) -> bool,
) -> Vec<f64> {
    let [out] = map_groups([values], offsets, |[run], [out]| kernel(run, out));
    out
}

/// Writes NaN over a kernel's warm-up rows: the first `warm_up` of `out`, or all of it when the
/// series is shorter. Returns the rows after the warm-up.
#[inline]
pub fn nan_warm_up(out: &mut [f64], warm_up: usize) -> usize {
    let end = warm_up.min(out.len());
    out[..end].fill(f64::NAN);
    end
}

/// Bit pattern that debug builds fill fresh outputs with, to prove that every position was
/// written: a NaN with a payload no arithmetic produces.
const POISON: u64 = 0x7ff4_dead_beef_0001;

/// An empty vector with room for `n` values, whose memory is not touched here.
fn unwritten(n: usize) -> Vec<f64> {
    if cfg!(debug_assertions) {
        let mut v = vec![f64::from_bits(POISON); n];
        v.clear();
        v
    } else {
        let v = Vec::with_capacity(n);
        huge_pages(&v);
        v
    }
}

/// Asks Linux for transparent huge pages on a large output (numpy does the same for its own
/// large arrays, TA-Lib's outputs included): a 50M-row output then takes a few hundred page
/// faults on first write instead of about 100,000. Advice only; failure changes nothing.
#[cfg(target_os = "linux")]
fn huge_pages(v: &Vec<f64>) {
    const MIN_BYTES: usize = 4 << 20;
    const PAGE: usize = 4096;
    const MADV_HUGEPAGE: i32 = 14;
    extern "C" {
        fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
    }
    let bytes = v.capacity() * std::mem::size_of::<f64>();
    if bytes < MIN_BYTES {
        return;
    }
    let start = v.as_ptr() as usize;
    let aligned = start.next_multiple_of(PAGE);
    let len = (start + bytes - aligned) / PAGE * PAGE;
    // SAFETY: the range lies inside the vector's own allocation; MADV_HUGEPAGE changes how the
    // kernel backs those pages, never their contents.
    unsafe {
        madvise(aligned as *mut std::ffi::c_void, len, MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn huge_pages(_: &Vec<f64>) {}

/// The `n`-value buffer of `v` as a slice to write into. In release builds its contents are
/// unspecified until written; kernels under `map_groups` write each position before any read.
fn writable(v: &mut Vec<f64>, n: usize) -> &mut [f64] {
    assert!(v.capacity() >= n);
    // SAFETY: the allocation holds `n` f64 slots, f64 has no invalid bit patterns, and the
    // `map_groups` contract is that every slot is written before it is read; the length is set
    // (by `finish`) only after that.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr(), n) }
}

/// Marks the `n` written values as the vector's contents.
fn finish(v: &mut Vec<f64>, n: usize) {
    // SAFETY: every one of the `n` slots was written by the kernels (`map_groups` contract);
    // debug builds verify it below.
    unsafe { v.set_len(n) };
    #[cfg(debug_assertions)]
    if let Some(i) = v.iter().position(|x| x.to_bits() == POISON) {
        panic!("kernel left output position {i} unwritten");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_offsets_give_group_ranges_including_empty_groups() {
        let offsets = Offsets::new(&[0, 2, 2, 5], 5).unwrap();
        assert_eq!(offsets.n_groups(), 3);
        assert_eq!(offsets.ranges().collect::<Vec<_>>(), vec![0..2, 2..2, 2..5]);
        assert_eq!(Offsets::new(&[0], 0).unwrap().n_groups(), 0);
    }

    #[test]
    fn invalid_offsets_say_what_is_wrong() {
        assert_eq!(Offsets::new(&[], 3), Err(OffsetsError::Empty));
        assert_eq!(
            Offsets::new(&[1, 3], 3),
            Err(OffsetsError::FirstNotZero { first: 1 })
        );
        assert_eq!(
            Offsets::new(&[0, 3, 2, 4], 4),
            Err(OffsetsError::Decreasing {
                position: 2,
                previous: 3,
                current: 2
            })
        );
        assert_eq!(
            Offsets::new(&[0, 2], 3),
            Err(OffsetsError::LastNotLength { last: 2, len: 3 })
        );
        assert_eq!(
            Offsets::new(&[0, -1], 3),
            Err(OffsetsError::Decreasing {
                position: 1,
                previous: 0,
                current: -1
            })
        );
        let message = Offsets::new(&[0, 2], 3).unwrap_err().to_string();
        assert!(
            message.contains("end at 2") && message.contains("length 3"),
            "{message}"
        );
    }

    #[test]
    fn finite_runs_split_at_nan_and_inf() {
        let values = [1.0, f64::NAN, 2.0, 3.0, f64::INFINITY, 4.0];
        let mut runs = Vec::new();
        let mut out = [0.0; 6];
        for_each_finite_run(&values, &mut out, |run, _| runs.push(run.to_vec()));
        assert_eq!(runs, vec![vec![1.0], vec![2.0, 3.0], vec![4.0]]);
    }

    #[test]
    fn all_finite_spots_nan_and_inf_anywhere() {
        let mut values = vec![1.0; 11];
        assert!(all_finite(&values) && all_finite(&[]));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            for i in [0, 5, 10] {
                values[i] = bad;
                assert!(!all_finite(&values));
                values[i] = 1.0;
            }
        }
    }

    #[test]
    fn map_runs_splits_where_any_input_is_not_finite() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, f64::NAN, 3.0, 4.0];
        let [out] = map_runs([&a[..], &b[..]], &Offsets::single(4), |[x, _], [o]| {
            o.fill(x.len() as f64)
        });
        assert!(out[0] == 1.0 && out[1].is_nan() && out[2] == 2.0 && out[3] == 2.0);
    }

    /// The hot kernels run on whole groups and check finiteness themselves; wherever a gap
    /// (NaN or infinity, in any input) sits, the result must equal the run-by-run computation.
    #[test]
    fn single_pass_kernels_equal_the_run_by_run_path_around_every_kind_of_gap() {
        use crate::testutil::Rng;
        use crate::{oscillators, rolling, smoothing, volatility};
        let n = 3000;
        let mut rng = Rng::new(21);
        let close = rng.walk(n, 100.0, 1.0);
        let high: Vec<f64> = close.iter().map(|c| c + 0.5).collect();
        let low: Vec<f64> = close.iter().map(|c| c - 0.5).collect();
        let offsets = Offsets::new(&[0, 5, 1200, 1210, 1210, 3000], n).unwrap();
        let single = |series: &[f64], offsets: &Offsets| {
            let reference = |k: fn(&[f64], usize, &mut [f64]) -> bool| {
                map_finite_runs(series, offsets, |run, out| {
                    k(run, 14, out);
                })
            };
            let ours: [(Vec<f64>, Vec<f64>); 5] = [
                (
                    rolling::sma(series, offsets, 14),
                    reference(rolling::sma_series),
                ),
                (
                    smoothing::ema(series, offsets, 14),
                    reference(smoothing::ema_series),
                ),
                (
                    smoothing::wilder(series, offsets, 14),
                    reference(smoothing::wilder_series),
                ),
                (
                    oscillators::rsi(series, offsets, 14),
                    reference(oscillators::rsi_series),
                ),
                (
                    rolling::std(series, offsets, 14, 0, 2.0),
                    map_finite_runs(series, offsets, |run, out| {
                        let std = rolling::std(run, &Offsets::single(run.len()), 14, 0, 2.0);
                        out.copy_from_slice(&std);
                    }),
                ),
            ];
            for (k, (a, b)) in ours.iter().enumerate() {
                let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "kernel {k} differs");
            }
        };
        let hlc_atr = |h: &[f64], l: &[f64], c: &[f64], offsets: &Offsets| {
            let ours = volatility::atr(h, l, c, offsets, 14);
            let [expected] = map_runs([h, l, c], offsets, |[h, l, c], [out]| {
                let one = volatility::atr(h, l, c, &Offsets::single(c.len()), 14);
                out.copy_from_slice(&one);
            });
            let same = ours
                .iter()
                .zip(&expected)
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "atr differs");
        };
        single(&close, &offsets);
        hlc_atr(&high, &low, &close, &offsets);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            for at in [0, 3, 5, 6, 20, 700, 1205, 1210, 2999] {
                let mut c = close.clone();
                c[at] = bad;
                single(&c, &offsets);
                hlc_atr(&high, &low, &c, &offsets);
                let mut h = high.clone();
                h[at] = bad;
                hlc_atr(&h, &low, &close, &offsets);
                let mut l = low.clone();
                l[at] = bad;
                hlc_atr(&high, &l, &close, &offsets);
            }
        }
    }

    #[test]
    fn map_finite_runs_never_hands_a_kernel_two_groups() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        let offsets = Offsets::new(&[0, 2, 5], 5).unwrap();
        let out = map_finite_runs(&values, &offsets, |run, out| out[0] = run.len() as f64);
        assert_eq!(out[0], 2.0);
        assert_eq!(out[2], 3.0);
        assert!(out[1].is_nan() && out[3].is_nan() && out[4].is_nan());
    }
}
