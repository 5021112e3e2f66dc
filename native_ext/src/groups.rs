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
        let finite = |i: usize| inputs.iter().all(|x| x[i].is_finite());
        let mut start = group.start;
        while start < group.end {
            if !finite(start) {
                start += 1;
                continue;
            }
            let end = (start..group.end)
                .find(|&i| !finite(i))
                .unwrap_or(group.end);
            run(start..end, &mut outs);
            start = end;
        }
    }
    outs
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
