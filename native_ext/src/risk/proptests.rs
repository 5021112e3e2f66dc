//! Property tests: whatever sequence of orders, modifies, cancels, fills and state changes
//! arrives, no position, exposure, working notional or submit rate passes its limit while
//! prices stand still, HALTED never lets an order through, and every denial carries a code.

use proptest::prelude::*;

use super::engine::GRID_EPS;
use super::*;

const SEC: i64 = 1_000_000_000;
const PRICES: [f64; 3] = [100.0, 50.0, 20.0];
const CASH: f64 = 20_000.0;

fn limits() -> Limits {
    Limits {
        max_order_notional: 15_000.0,
        max_gross_notional: 40_000.0,
        max_net_notional: 25_000.0,
        max_open_order_notional: 30_000.0,
        max_position_weight: 0.6,
        max_leverage: 1.5,
        collar: 0.05,
        reference_max_age_ns: 3600 * SEC,
        submits: Throttle {
            max: 5,
            window_ns: SEC,
        },
        modifies: Throttle {
            max: 2,
            window_ns: SEC,
        },
        ..Default::default()
    }
}

fn instrument() -> InstrumentLimits {
    InstrumentLimits {
        lot_size: 1.0,
        tick_size: 0.01,
        max_order_qty: 400.0,
        max_order_notional: 12_000.0,
        max_position_qty: 300.0,
        max_position_notional: 20_000.0,
        tradable: true,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Submit {
        instrument: usize,
        side: i8,
        qty: f64,
        limit_offset: Option<f64>,
        reduce_only: bool,
    },
    Modify {
        pick: usize,
        qty: f64,
    },
    Cancel {
        pick: usize,
    },
    Fill {
        pick: usize,
        fraction: f64,
    },
    State(u8),
    Kill,
}

fn quantity() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => (1u32..250).prop_map(f64::from),
        1 => Just(f64::NAN),
        1 => Just(-5.0),
        1 => Just(0.0),
        1 => Just(2.5),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0usize..4, prop_oneof![10 => Just(1i8), 10 => Just(-1i8), 1 => Just(0i8)], quantity(),
               proptest::option::of(-0.08f64..0.08), proptest::bool::weighted(0.2))
            .prop_map(|(instrument, side, qty, limit_offset, reduce_only)| Op::Submit {
                instrument, side, qty, limit_offset, reduce_only,
            }),
        2 => (any::<usize>(), quantity()).prop_map(|(pick, qty)| Op::Modify { pick, qty }),
        2 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        6 => (any::<usize>(), 0.05f64..1.0).prop_map(|(pick, fraction)| Op::Fill { pick, fraction }),
        1 => (0u8..3).prop_map(Op::State),
        1 => Just(Op::Kill),
    ]
}

fn tick(price: f64) -> f64 {
    (price * 100.0).round() / 100.0
}

/// Every limit holds on the engine's books, recomputed from scratch.
fn assert_within_limits(e: &RiskEngine) -> Result<(), TestCaseError> {
    let lim = limits();
    let inst = instrument();
    let slack = 1.0 + 1e-9;
    let (mut gross, mut net) = (0.0, 0.0);
    let (mut open_buy_notional, mut open_sell_notional) = (0.0, 0.0);
    for (_, order) in e.open_orders() {
        match order.side {
            Side::Buy => open_buy_notional += order.remaining * order.price,
            Side::Sell => open_sell_notional += order.remaining * order.price,
        }
    }
    for (i, &price) in PRICES.iter().enumerate() {
        let (buy, sell) = e.working(i);
        let pos = e.position(i);
        let worst = (pos + buy).abs().max((pos - sell).abs());
        prop_assert!(
            worst <= inst.max_position_qty * slack,
            "instrument {i}: worst {worst}"
        );
        prop_assert!(worst * price <= inst.max_position_notional * slack);
        // Equity stays at the starting cash (fills at the reference, no fees).
        prop_assert!(worst * price <= lim.max_position_weight * CASH * slack);
        gross += worst * price;
        net += pos * price;
    }
    prop_assert!(gross <= lim.max_gross_notional * slack, "gross {gross}");
    prop_assert!(
        (gross - e.gross()).abs() <= 1e-6 * gross.max(1.0),
        "running gross drifted"
    );
    prop_assert!(net + open_buy_notional <= lim.max_net_notional * slack);
    prop_assert!(net - open_sell_notional >= -lim.max_net_notional * slack);
    prop_assert!(open_buy_notional + open_sell_notional <= lim.max_open_order_notional * slack);
    // Fills happen at the reference without fees, so equity stays at the starting cash.
    prop_assert!(
        gross <= CASH * lim.max_leverage * slack,
        "buying power: gross {gross}"
    );
    Ok(())
}

/// Field by field, a NaN limit (market order) equal to itself.
fn same_order(a: &OpenOrder, b: &OpenOrder) -> bool {
    a.instrument == b.instrument
        && a.side == b.side
        && a.remaining == b.remaining
        && a.price == b.price
        && a.limit.to_bits() == b.limit.to_bits()
        && a.reduce_only == b.reduce_only
}

fn max_in_window(times: &[i64], window: i64) -> usize {
    (0..times.len())
        .map(|j| {
            times[..=j]
                .iter()
                .filter(|&&t| t > times[j] - window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_orders_and_fills_breaks_a_limit(
        ops in proptest::collection::vec((op(), 0i64..400_000_000), 1..80)
    ) {
        let mut e = RiskEngine::new(limits(), vec![instrument(); 3], CASH).unwrap();
        let start = 1_700_000_000 * SEC;
        for (i, &p) in PRICES.iter().enumerate() {
            e.set_reference(i, p, start);
        }
        let mut now = start;
        let mut submits = Vec::new();
        let mut modifies = Vec::new();
        for (op, dt) in ops {
            now += dt;
            let halted = e.state() == TradingState::Halted;
            match op {
                Op::Submit { instrument, side, qty, limit_offset, reduce_only } => {
                    let price = match (limit_offset, PRICES.get(instrument)) {
                        (Some(off), Some(p)) => tick(p * (1.0 + off)),
                        _ => f64::NAN,
                    };
                    let order = OrderRequest { instrument, side, qty, price, reduce_only };
                    let reducing = e.state() == TradingState::Reducing;
                    let before = (e.position(instrument), e.working(instrument));
                    let (reason, id) = e.submit(&order, now);
                    prop_assert!(Reason::from_code(reason.code()).is_some());
                    if reason.accepted() {
                        prop_assert!(!halted, "HALTED accepted an order");
                        prop_assert!(id > 0);
                        submits.push(now);
                        if reducing || reduce_only {
                            let (pos, (buy, sell)) = before;
                            let after = if side > 0 { pos + buy + qty } else { pos - sell - qty };
                            prop_assert!(if side > 0 { after <= 0.0 } else { after >= 0.0 },
                                "an order that adds exposure passed while reducing");
                        }
                    } else {
                        prop_assert_eq!(id, 0);
                        prop_assert_ne!(reason.code(), 0);
                        prop_assert!(!reason.name().is_empty());
                    }
                }
                Op::Modify { pick, qty } => {
                    let open = e.open_orders();
                    if open.is_empty() { continue; }
                    let (id, order) = open[pick % open.len()];
                    let reason = e.modify(id, qty, order.limit, now);
                    if reason.accepted() {
                        prop_assert!(!halted, "HALTED accepted a modify");
                        prop_assert_eq!(e.open_order(id).unwrap().remaining, qty);
                        modifies.push(now);
                    } else {
                        let now_open = e.open_order(id).unwrap();
                        prop_assert!(same_order(now_open, &order), "a denied modify changed the order");
                    }
                }
                Op::Cancel { pick } => {
                    let open = e.open_orders();
                    if open.is_empty() { continue; }
                    prop_assert!(e.cancel(open[pick % open.len()].0));
                }
                Op::Fill { pick, fraction } => {
                    let open = e.open_orders();
                    if open.is_empty() { continue; }
                    let (id, order) = open[pick % open.len()];
                    let market = PRICES[order.instrument];
                    if order.side.sign() * (order.limit - market) < 0.0 {
                        continue; // a limit away from the (fixed) market price cannot fill
                    }
                    let qty = (order.remaining * fraction).ceil().min(order.remaining);
                    let before = e.position(order.instrument);
                    e.fill(id, qty, market, 0.0).unwrap();
                    let moved = e.position(order.instrument) - before;
                    prop_assert!((moved - order.side.sign() * qty).abs() <= GRID_EPS);
                }
                Op::State(code) => {
                    e.set_state(TradingState::from_code(code).unwrap(), StateCause::Manual);
                }
                Op::Kill => {
                    e.kill();
                    prop_assert!(e.open_orders().is_empty());
                }
            }
            assert_within_limits(&e)?;
        }
        prop_assert!(max_in_window(&submits, SEC) <= 5, "submit rate over its limit");
        prop_assert!(max_in_window(&modifies, SEC) <= 2, "modify rate over its limit");
    }

    #[test]
    fn after_a_price_move_accepted_orders_never_grow_a_breached_exposure(
        qtys in proptest::collection::vec((0usize..3, prop_oneof![Just(1i8), Just(-1i8)], 1u32..200), 1..40),
        moves in proptest::collection::vec(0.5f64..2.0, 3),
    ) {
        let mut e = RiskEngine::new(Limits { submits: Throttle::OFF, ..limits() }, vec![instrument(); 3], CASH).unwrap();
        let now = 1_700_000_000 * SEC;
        for (i, &p) in PRICES.iter().enumerate() {
            e.set_reference(i, p, now);
        }
        for &(i, side, q) in &qtys[..qtys.len() / 2] {
            let (reason, id) = e.submit(&OrderRequest { instrument: i, side, qty: f64::from(q), price: f64::NAN, reduce_only: false }, now);
            if reason.accepted() {
                e.fill(id, f64::from(q), PRICES[i], 0.0).unwrap();
            }
        }
        for (i, m) in moves.iter().enumerate() {
            e.set_reference(i, tick(PRICES[i] * m), now);
        }
        e.resync();
        for &(i, side, q) in &qtys[qtys.len() / 2..] {
            let gross_before = e.gross();
            let worst_before = { let (b, s) = e.working(i); let p = e.position(i); (p + b).abs().max((p - s).abs()) };
            let (reason, _) = e.submit(&OrderRequest { instrument: i, side, qty: f64::from(q), price: f64::NAN, reduce_only: false }, now);
            if reason.accepted() {
                let (b, s) = e.working(i);
                let p = e.position(i);
                let worst = (p + b).abs().max((p - s).abs());
                let (reference, _) = e.reference(i).unwrap();
                if worst > worst_before {
                    prop_assert!(worst * reference <= instrument().max_position_notional * (1.0 + 1e-9));
                    prop_assert!(e.gross() <= limits().max_gross_notional * (1.0 + 1e-9) || e.gross() <= gross_before);
                }
            }
        }
    }

    #[test]
    fn routing_reaches_each_target_within_a_lot_or_says_why(
        weights in proptest::collection::vec(proptest::collection::vec(-1.0f64..1.0, 3), 1..30),
        steps in proptest::collection::vec(proptest::collection::vec(-0.05f64..0.05, 3), 30),
    ) {
        let inst = InstrumentLimits { max_position_notional: 30_000.0, lot_size: 1.0, ..Default::default() };
        let lim = Limits { max_gross_notional: 80_000.0, max_daily_loss: 0.03, ..Default::default() };
        let mut e = RiskEngine::new(lim, vec![inst; 3], 100_000.0).unwrap();
        let mut prices = [100.0, 50.0, 20.0];
        let params = RouteParams { cost_rate: 0.0005, min_trade_notional: 0.0, min_trade_weight: 0.0 };
        for (t, row) in weights.iter().enumerate() {
            for i in 0..3 {
                prices[i] *= 1.0 + steps[t][i];
            }
            let equity = e.cash() + (0..3).map(|i| e.position(i) * prices[i]).sum::<f64>();
            let before: Vec<f64> = (0..3).map(|i| e.position(i)).collect();
            let ts = vec![t as i64 * engine::DAY_NS; 3];
            let out = route_target_weights(&mut e, &ts, &[0, 1, 2], row, &prices, params).unwrap();
            for i in 0..3 {
                let pos = e.position(i);
                prop_assert!(Reason::from_code(out.reason[i]).is_some());
                prop_assert!(out.weight[i].is_finite());
                // A position grows only within its limit (it may sit above it after a price move).
                if pos.abs() > before[i].abs() {
                    prop_assert!(pos.abs() * prices[i] <= 30_000.0 * (1.0 + 1e-9), "instrument {i}: {pos}");
                }
                let target = row[i] * equity / prices[i];
                if out.reason[i] == 0 {
                    prop_assert!((pos - target).abs() < 1.0 + 1e-6, "instrument {i}: held {pos}, target {target}");
                    prop_assert!((out.weight[i] * equity / prices[i] - pos).abs() < 1e-6);
                } else {
                    // A denied row keeps its position, or (a flip whose opening half was denied)
                    // moves toward the target without passing it.
                    prop_assert!((pos - before[i]) * (target - pos) >= -1e-9, "instrument {i}: {} -> {pos}, target {target}", before[i]);
                }
            }
        }
    }
}
