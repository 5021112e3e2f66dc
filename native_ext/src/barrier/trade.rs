//! Triple barrier in trade terms: separate profit-taking and stop-loss widths, an optional side
//! (meta-labeling), a vertical barrier given per bar, and intrabar touches from high/low.
//!
//! Entry is at `close[i]`. With side `s` (+1 long, -1 short; no side means long), the position's
//! log return at a price `p` is `s * ln(p / close[i])`. Profit-taking is hit when it reaches
//! `+profit[i]`, the stop when it reaches `-stop[i]`.
//!
//! Touch detection per later bar `j` (up to the vertical barrier, never past the group):
//! - close only: `close[j]` is compared with both barriers;
//! - with high/low: a gap first: when `open[j]` is given and already beyond a barrier, the trade
//!   exits at the open (its real fill); otherwise the barrier is touched when the bar's high or
//!   low reaches it, and the exit return is the barrier itself. When one bar's range reaches both
//!   barriers, the order inside the bar is unknown: the **stop-loss wins** (the conservative
//!   rule; a profit inside such a bar is never claimed).
//!
//! Without a touch, the vertical barrier decides with the close there (`barrier` 0); when it lies
//! past the group's last bar, the outcome is not known yet (`UNKNOWN_INDEX`).

use super::{BarrierTouches, UNKNOWN_INDEX};
use crate::groups::Offsets;

/// The vertical barrier: a fixed number of bars, or an absolute index per bar (time-based
/// barriers resolve to the last bar inside the time window; an index past the group means the
/// window is not over yet).
#[derive(Debug, Clone, Copy)]
pub enum Vertical<'a> {
    Bars(usize),
    Index(&'a [i64]),
}

/// Prices the scan reads. `high` and `low` come together; `open` only matters with them.
#[derive(Debug, Clone, Copy)]
pub struct Prices<'a> {
    pub close: &'a [f64],
    pub high_low: Option<(&'a [f64], &'a [f64])>,
    pub open: Option<&'a [f64]>,
}

/// Barrier codes in trade terms.
pub const PROFIT: i8 = 1;
pub const STOP: i8 = -1;

/// First touch for every bar: `ret` is the trade's log return, `barrier` +1 profit-taking,
/// -1 stop-loss, 0 vertical.
pub fn trade_barrier(
    prices: &Prices,
    profit: &[f64],
    stop: &[f64],
    side: Option<&[f64]>,
    vertical: Vertical,
    offsets: &Offsets,
) -> BarrierTouches {
    let n = prices.close.len();
    assert!(
        profit.len() == n && stop.len() == n,
        "widths differ in length from close"
    );
    assert_eq!(offsets.series_len(), n, "offsets do not describe close");
    if let Some((high, low)) = prices.high_low {
        assert!(
            high.len() == n && low.len() == n,
            "high/low differ in length from close"
        );
    }
    if let Some(open) = prices.open {
        assert_eq!(open.len(), n, "open differs in length from close");
    }
    if let Some(side) = side {
        assert_eq!(side.len(), n, "side differs in length from close");
    }
    if let Vertical::Index(v) = vertical {
        assert_eq!(v.len(), n, "vertical differs in length from close");
    }
    let mut out = BarrierTouches {
        touch_index: vec![UNKNOWN_INDEX; n],
        ret: vec![f64::NAN; n],
        barrier: vec![0; n],
    };
    for group in offsets.ranges() {
        let Some(last) = group.end.checked_sub(1) else {
            continue;
        };
        for i in group {
            let s = match side.map_or(1.0, |s| s[i]) {
                x if x > 0.0 => 1.0,
                x if x < 0.0 => -1.0,
                _ => continue, // no side (0 or NaN): no trade, no label
            };
            let end = match vertical {
                Vertical::Bars(h) => i.saturating_add(h),
                Vertical::Index(v) if v[i] > i as i64 => v[i] as usize,
                Vertical::Index(_) => continue,
            };
            // In price space: widths of the barrier above and below the entry.
            let (up, down) = if s > 0.0 {
                (profit[i], stop[i])
            } else {
                (stop[i], profit[i])
            };
            if let Some((j, price_ret, hit_up)) = scan(prices, i, end.min(last), up, down, s) {
                out.touch_index[i] = j as i64;
                out.ret[i] = s * price_ret;
                out.barrier[i] = if hit_up == (s > 0.0) { PROFIT } else { STOP };
            } else if end <= last
                && is_price(prices.close[end])
                && is_price(prices.close[i])
                && valid(up, down)
            {
                out.touch_index[i] = end as i64;
                out.ret[i] = s * (prices.close[end] / prices.close[i]).ln();
            }
        }
    }
    out
}

fn is_price(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn valid(up: f64, down: f64) -> bool {
    up > 0.0 && down > 0.0 // false for NaN; +inf disables a barrier
}

/// (touch index, log price return at exit, whether the upper barrier was hit).
fn scan(
    prices: &Prices,
    i: usize,
    scan_last: usize,
    up: f64,
    down: f64,
    side: f64,
) -> Option<(usize, f64, bool)> {
    let base = prices.close[i];
    if !is_price(base) || !valid(up, down) {
        return None;
    }
    for j in i + 1..=scan_last {
        let hit = match prices.high_low {
            None => close_touch(prices.close[j], base, up, down),
            Some((high, low)) => range_touch(
                prices.open.map(|o| o[j]),
                high[j],
                low[j],
                base,
                up,
                down,
                side,
            ),
        };
        if let Some((ret, hit_up)) = hit {
            return Some((j, ret, hit_up));
        }
    }
    None
}

fn close_touch(price: f64, base: f64, up: f64, down: f64) -> Option<(f64, bool)> {
    if !is_price(price) {
        return None;
    }
    let r = (price / base).ln();
    if r >= up {
        Some((r, true))
    } else if r <= -down {
        Some((r, false))
    } else {
        None
    }
}

fn range_touch(
    open: Option<f64>,
    high: f64,
    low: f64,
    base: f64,
    up: f64,
    down: f64,
    side: f64,
) -> Option<(f64, bool)> {
    if let Some(open) = open.filter(|&o| is_price(o)) {
        let r = (open / base).ln();
        if r >= up {
            return Some((r, true));
        }
        if r <= -down {
            return Some((r, false));
        }
    }
    if !is_price(high) || !is_price(low) {
        return None;
    }
    let hits_up = (high / base).ln() >= up;
    let hits_down = (low / base).ln() <= -down;
    match (hits_up, hits_down) {
        // Both inside one bar: the stop wins. For a long the stop is below, for a short above.
        (true, true) if side > 0.0 => Some((-down, false)),
        (true, true) => Some((up, true)),
        (true, false) => Some((up, true)),
        (false, true) => Some((-down, false)),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close_only(close: &[f64]) -> Prices<'_> {
        Prices {
            close,
            high_low: None,
            open: None,
        }
    }

    fn run(prices: &Prices, pt: f64, sl: f64, side: Option<&[f64]>, h: usize) -> BarrierTouches {
        let n = prices.close.len();
        trade_barrier(
            prices,
            &vec![pt; n],
            &vec![sl; n],
            side,
            Vertical::Bars(h),
            &Offsets::single(n),
        )
    }

    #[test]
    fn separate_profit_and_stop_widths() {
        let close = [100.0, 97.0, 104.0];
        // stop at 5% is not reached by 97; profit at 3% is reached by 104
        let t = run(&close_only(&close), 0.03, 0.05, None, 2);
        assert_eq!((t.touch_index[0], t.barrier[0]), (2, PROFIT));
        // a 2% stop is reached first
        let t = run(&close_only(&close), 0.03, 0.02, None, 2);
        assert_eq!((t.touch_index[0], t.barrier[0]), (1, STOP));
    }

    #[test]
    fn a_short_side_profits_when_the_price_falls() {
        let close = [100.0, 96.0, 90.0];
        let side = [-1.0; 3];
        let t = run(&close_only(&close), 0.03, 0.03, Some(&side), 2);
        assert_eq!((t.touch_index[0], t.barrier[0]), (1, PROFIT));
        assert!((t.ret[0] - (100.0f64 / 96.0).ln()).abs() < 1e-15);
        let side0 = [0.0; 3];
        let t = run(&close_only(&close), 0.03, 0.03, Some(&side0), 2);
        assert_eq!(t.touch_index[0], UNKNOWN_INDEX);
    }

    #[test]
    fn intrabar_touch_exits_at_the_barrier_and_a_tie_goes_to_the_stop() {
        let close = [100.0, 100.0, 100.0];
        let high = [100.0, 106.0, 100.0];
        let low = [100.0, 99.0, 100.0];
        let p = Prices {
            close: &close,
            high_low: Some((&high, &low)),
            open: None,
        };
        let t = run(&p, 0.05, 0.05, None, 2);
        assert_eq!(
            (t.touch_index[0], t.barrier[0], t.ret[0]),
            (1, PROFIT, 0.05)
        );
        let low = [100.0, 94.0, 100.0];
        let p = Prices {
            close: &close,
            high_low: Some((&high, &low)),
            open: None,
        };
        let t = run(&p, 0.05, 0.05, None, 2);
        assert_eq!((t.touch_index[0], t.barrier[0], t.ret[0]), (1, STOP, -0.05));
        let short = [-1.0; 3];
        let t = run(&p, 0.05, 0.05, Some(&short), 2);
        assert_eq!((t.barrier[0], t.ret[0]), (STOP, -0.05)); // the short's stop is above
    }

    #[test]
    fn a_gap_through_the_stop_fills_at_the_open() {
        let close = [100.0, 80.0];
        let open = [100.0, 85.0];
        let high = [100.0, 86.0];
        let low = [100.0, 79.0];
        let p = Prices {
            close: &close,
            high_low: Some((&high, &low)),
            open: Some(&open),
        };
        let t = run(&p, 0.05, 0.05, None, 1);
        assert_eq!(t.barrier[0], STOP);
        assert!((t.ret[0] - (0.85f64).ln()).abs() < 1e-15);
    }

    #[test]
    fn vertical_by_index_and_unknown_past_the_group() {
        let close = [100.0, 100.5, 100.2, 100.1];
        let v = [2, 3, 4, 9];
        let t = trade_barrier(
            &close_only(&close),
            &[0.1; 4],
            &[0.1; 4],
            None,
            Vertical::Index(&v),
            &Offsets::single(4),
        );
        assert_eq!(t.touch_index, vec![2, 3, -1, -1]);
        assert_eq!(t.barrier, vec![0, 0, 0, 0]);
    }

    #[test]
    fn close_only_long_agrees_with_the_price_space_kernel() {
        use crate::testutil::Rng;
        let mut rng = Rng::new(9);
        let close: Vec<f64> = rng
            .walk(3000, 0.0, 0.01)
            .iter()
            .map(|x| 100.0 * x.exp())
            .collect();
        let up: Vec<f64> = (0..3000).map(|_| 0.005 + 0.03 * rng.uniform()).collect();
        let down: Vec<f64> = (0..3000).map(|_| 0.005 + 0.03 * rng.uniform()).collect();
        let offsets = Offsets::new(&[0, 1000, 3000], 3000).unwrap();
        let a = super::super::triple_barrier(&close, &up, &down, &offsets, 15);
        let b = trade_barrier(
            &close_only(&close),
            &up,
            &down,
            None,
            Vertical::Bars(15),
            &offsets,
        );
        let first = (0..3000)
            .find(|&i| (a.touch_index[i], a.barrier[i]) != (b.touch_index[i], b.barrier[i]));
        assert_eq!(
            first,
            None,
            "{:?}",
            first.map(|i| (
                i,
                a.touch_index[i],
                b.touch_index[i],
                a.barrier[i],
                b.barrier[i]
            ))
        );
        let same_ret = |x: f64, y: f64| x == y || (x.is_nan() && y.is_nan());
        assert!(a.ret.iter().zip(&b.ret).all(|(&x, &y)| same_ret(x, y)));
    }
}
