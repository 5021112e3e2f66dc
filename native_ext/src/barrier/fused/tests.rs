//! The fused kernel against a plain reference: the old per-bar loop, bit for bit.
use super::*;
use crate::barrier::triple_barrier;
use crate::testutil::{assert_close, Rng};

fn logs(close: &[f64]) -> Vec<f64> {
    close.iter().map(|c| c.ln()).collect()
}

fn naive_vol(close: &[f64], window: usize, start: usize) -> Vec<f64> {
    (0..close.len())
        .map(|i| {
            if i < start + window {
                return f64::NAN;
            }
            let r: Vec<f64> = (i + 1 - window..=i)
                .map(|k| (close[k] / close[k - 1]).ln())
                .collect();
            let m = r.iter().sum::<f64>() / window as f64;
            (r.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (window - 1) as f64).sqrt()
        })
        .collect()
}

#[test]
fn volatility_and_touches_match_the_two_step_definition() {
    let mut rng = Rng::new(3);
    let close: Vec<f64> = rng
        .walk(4000, 0.0, 0.02)
        .iter()
        .map(|x| 50.0 * x.exp())
        .collect();
    let offsets = Offsets::new(&[0, 1500, 4000], 4000).unwrap();
    let (t, vol) = triple_barrier_vol(&close, &logs(&close), &offsets, 20, 20, 2.0, 1.5);
    let mut expected = naive_vol(&close[..1500], 20, 0);
    expected.extend(naive_vol(&close[1500..], 20, 0));
    assert_close(&vol, &expected, 1e-9);
    let up: Vec<f64> = expected.iter().map(|s| 2.0 * s).collect();
    let down: Vec<f64> = expected.iter().map(|s| 1.5 * s).collect();
    let e = triple_barrier(&close, &up, &down, &offsets, 20);
    let first =
        (0..4000).find(|&i| (t.touch_index[i], t.barrier[i]) != (e.touch_index[i], e.barrier[i]));
    assert_eq!(
        first,
        None,
        "{:?}",
        first.map(|i| (i, t.touch_index[i], e.touch_index[i], vol[i], expected[i]))
    );
}

#[test]
fn a_gap_restarts_the_volatility_window() {
    let mut close: Vec<f64> = (0..40).map(|i| 100.0 + (i % 3) as f64).collect();
    close[10] = f64::NAN;
    let (_, vol) = triple_barrier_vol(&close, &logs(&close), &Offsets::single(40), 5, 5, 2.0, 2.0);
    assert!(vol[5..10].iter().all(|v| v.is_finite()));
    assert!(vol[10..16].iter().all(|v| v.is_nan()));
    assert!(vol[16].is_finite());
}

/// The plain per-bar loop this kernel replaced (one bar at a time, the square root inside
/// the loop, a scan that branches on every step): the reference for bit-for-bit equality.
fn triple_barrier_vol_reference(
    close: &[f64],
    log_close: &[f64],
    offsets: &Offsets,
    horizon: usize,
    vol_window: usize,
    profit_mult: f64,
    stop_mult: f64,
) -> (BarrierTouches, Vec<f64>) {
    let n = close.len();
    let mut touches = BarrierTouches {
        touch_index: vec![UNKNOWN_INDEX; n],
        ret: vec![f64::NAN; n],
        barrier: vec![0; n],
    };
    let mut vol = vec![f64::NAN; n];
    let mut window = Window::new(vol_window);
    for group in offsets.ranges() {
        let Some(last) = group.end.checked_sub(1) else {
            continue;
        };
        window.clear();
        for i in group.clone() {
            if i > group.start {
                window.push(log_close[i] - log_close[i - 1]);
            }
            if window.count < window.len {
                continue;
            }
            let sigma = (window.m2.max(0.0) * window.inv_dof).sqrt();
            vol[i] = sigma;
            let (up, down) = (profit_mult * sigma, stop_mult * sigma);
            if let Some(t) = scan_reference(close, log_close, i, last, up, down, horizon) {
                touches.touch_index[i] = t.index as i64;
                touches.ret[i] = t.ret;
                touches.barrier[i] = t.barrier;
            }
        }
    }
    (touches, vol)
}

fn scan_reference(
    close: &[f64],
    log_close: &[f64],
    i: usize,
    last: usize,
    up: f64,
    down: f64,
    horizon: usize,
) -> Option<Touch> {
    let base = log_close[i];
    if base.is_nan() || !(up > 0.0 && down > 0.0) {
        return None;
    }
    let scan_last = i.saturating_add(horizon).min(last);
    let (near_up, near_down) = (up - MARGIN, -down + MARGIN);
    let ahead = &log_close[i + 1..=scan_last];
    let near = |l: &f64| {
        let d = l - base;
        d >= near_up || d <= near_down
    };
    let mut start = 0;
    while let Some(k) = ahead[start..].iter().position(near).map(|p| start + p) {
        let j = i + 1 + k;
        let d = ahead[k] - base;
        let r = if d >= up + MARGIN || d <= -down - MARGIN {
            d
        } else {
            (close[j] / close[i]).ln()
        };
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
        start = k + 1;
    }
    let vertical = i.checked_add(horizon).filter(|&v| v <= last)?;
    let d = log_close[vertical] - base;
    d.is_finite().then_some(Touch {
        index: vertical,
        ret: d,
        barrier: 0,
    })
}

fn bits(x: &[f64]) -> Vec<u64> {
    x.iter().map(|v| v.to_bits()).collect()
}

fn assert_same(a: &(BarrierTouches, Vec<f64>), b: &(BarrierTouches, Vec<f64>), case: &str) {
    assert_eq!(a.0.touch_index, b.0.touch_index, "{case}: touch_index");
    assert_eq!(a.0.barrier, b.0.barrier, "{case}: barrier");
    assert_eq!(bits(&a.0.ret), bits(&b.0.ret), "{case}: ret");
    assert_eq!(bits(&a.1), bits(&b.1), "{case}: vol");
}

/// Random walks, flat stretches, invalid prices, groups (some empty) across block and chunk
/// boundaries, horizons around `CHUNK`, and barriers placed on realised returns (so the
/// margin's exact path runs): every kernel equals the reference bit for bit.
#[test]
fn blocked_and_chunked_kernels_equal_the_plain_loop_bit_for_bit() {
    let mut rng = Rng::new(11);
    let mut margin_cases = 0;
    for case in 0..400 {
        let n = 1 + (rng.uniform() * 1500.0) as usize;
        let scale = [0.0005, 0.01, 0.05][case % 3];
        let mut close: Vec<f64> = rng
            .walk(n, 0.0, scale)
            .iter()
            .map(|x| 100.0 * x.exp())
            .collect();
        if case % 4 == 1 {
            // Two price levels: the window's sigma, times the right multiple, lands on a
            // realised return within rounding (the margin path).
            close = (0..n).map(|k| [100.0, 101.0][k % 2]).collect();
        }
        if case % 5 == 2 {
            for _ in 0..1 + n / 100 {
                let k = (rng.uniform() * n as f64) as usize % n;
                close[k] = [f64::NAN, 0.0, -1.0, f64::INFINITY][k % 4];
            }
        }
        if case % 7 == 3 {
            close.iter_mut().for_each(|c| *c = (*c * 4.0).round() / 4.0);
        }
        let log_close: Vec<f64> = close
            .iter()
            .map(|&c| {
                if c.is_finite() && c > 0.0 {
                    c.ln()
                } else {
                    f64::NAN
                }
            })
            .collect();
        let mut cuts: Vec<usize> = (0..(case % 4))
            .map(|_| (rng.uniform() * n as f64) as usize)
            .collect();
        cuts.extend([0, n, n]);
        cuts.sort_unstable();
        let cuts: Vec<i64> = cuts.iter().map(|&c| c as i64).collect();
        let offsets = Offsets::new(&cuts, n).unwrap();
        let horizon = [1, 2, 5, 15, 16, 17, 20, 31, 33, 100][case % 10];
        let vol_window = [2, 3, 20, 64][case % 4];
        let (profit, stop) = if case % 4 == 1 {
            let m = (vol_window - 1) as f64 / vol_window as f64;
            (m.sqrt(), [m.sqrt(), 0.5, f64::INFINITY][case % 3])
        } else {
            let pick = |u: f64| {
                [0.01, 0.5, 1.0, 2.0, 4.47, f64::INFINITY, 0.0, f64::NAN][(u * 8.0) as usize % 8]
            };
            (pick(rng.uniform()), pick(rng.uniform()))
        };
        let args = Args {
            close: &close,
            log_close: &log_close,
            offsets: &offsets,
            horizon,
            vol_window,
            profit_mult: profit,
            stop_mult: stop,
        };
        let expected = triple_barrier_vol_reference(
            &close, &log_close, &offsets, horizon, vol_window, profit, stop,
        );
        let label = format!("case {case}: n {n}, h {horizon}, w {vol_window}, {profit}/{stop}");
        // SAFETY: `Portable` runs on any CPU.
        assert_same(&unsafe { kernel::<Portable>(&args) }, &expected, &label);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 detected just above.
            assert_same(&unsafe { avx2::kernel(&args) }, &expected, &label);
        }
        let public = triple_barrier_vol(
            &close, &log_close, &offsets, horizon, vol_window, profit, stop,
        );
        assert_same(&public, &expected, &label);
        if case % 4 == 1 {
            margin_cases += usize::from(expected.0.barrier.iter().any(|&b| b != 0));
        }
    }
    assert!(margin_cases > 0, "the margin path never ran");
}
