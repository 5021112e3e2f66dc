//! Worked examples: one per rule, each showing the order that passes and the one that does not.

use super::*;

const NOW: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

fn engine_with(limits: Limits, instrument: InstrumentLimits) -> RiskEngine {
    let mut e = RiskEngine::new(limits, vec![instrument.clone(), instrument], 1_000_000.0).unwrap();
    e.set_reference(0, 100.0, NOW);
    e.set_reference(1, 50.0, NOW);
    e
}

fn engine(limits: Limits) -> RiskEngine {
    engine_with(limits, InstrumentLimits::default())
}

fn buy(instrument: usize, qty: f64) -> OrderRequest {
    OrderRequest {
        instrument,
        side: 1,
        qty,
        price: f64::NAN,
        reduce_only: false,
    }
}

fn sell(instrument: usize, qty: f64) -> OrderRequest {
    OrderRequest {
        side: -1,
        ..buy(instrument, qty)
    }
}

fn limit(order: OrderRequest, price: f64) -> OrderRequest {
    OrderRequest { price, ..order }
}

/// Submits and fills at the reference in full.
fn trade(e: &mut RiskEngine, order: OrderRequest) -> Reason {
    let (reason, id) = e.submit(&order, NOW);
    if reason.accepted() {
        let (price, _) = e.reference(order.instrument).unwrap();
        e.fill(id, order.qty, price, 0.0).unwrap();
    }
    reason
}

#[test]
fn reason_codes_round_trip_and_have_unique_names() {
    let mut names = std::collections::HashSet::new();
    for (code, reason) in REASONS.iter().enumerate() {
        assert_eq!(reason.code() as usize, code);
        assert_eq!(Reason::from_code(code as u8), Some(*reason));
        assert!(names.insert(reason.name()));
    }
    assert_eq!(Reason::from_code(REASONS.len() as u8), None);
}

#[test]
fn a_plain_order_within_every_limit_is_accepted_and_booked() {
    let mut e = engine(Limits::default());
    let (reason, id) = e.submit(&buy(0, 10.0), NOW);
    assert_eq!((reason, id), (Reason::Accepted, 1));
    assert_eq!(e.working(0), (10.0, 0.0));
    assert_eq!(e.open_order_notional(), 1_000.0);
    assert_eq!(e.gross(), 1_000.0);
}

#[test]
fn unknown_and_restricted_instruments_are_denied() {
    let restricted = InstrumentLimits {
        tradable: false,
        ..Default::default()
    };
    let mut e = engine_with(Limits::default(), restricted);
    assert_eq!(e.submit(&buy(7, 1.0), NOW).0, Reason::UnknownInstrument);
    assert_eq!(e.submit(&buy(0, 1.0), NOW).0, Reason::Restricted);
}

#[test]
fn bad_side_quantity_and_price_are_denials_not_crashes() {
    let mut e = engine(Limits::default());
    let mut sideways = buy(0, 1.0);
    sideways.side = 0;
    assert_eq!(e.submit(&sideways, NOW).0, Reason::InvalidSide);
    for qty in [f64::NAN, f64::INFINITY, 0.0, -5.0] {
        assert_eq!(
            e.submit(&buy(0, qty), NOW).0,
            Reason::InvalidQuantity,
            "{qty}"
        );
    }
    for price in [f64::INFINITY, f64::NEG_INFINITY, 0.0, -1.0] {
        assert_eq!(
            e.submit(&limit(buy(0, 1.0), price), NOW).0,
            Reason::InvalidPrice,
            "{price}"
        );
    }
    assert!(e.open_orders().is_empty());
}

#[test]
fn quantities_follow_the_lot_and_limit_prices_the_tick() {
    let inst = InstrumentLimits {
        lot_size: 100.0,
        tick_size: 0.01,
        ..Default::default()
    };
    let mut e = engine_with(Limits::default(), inst);
    assert_eq!(e.submit(&buy(0, 150.0), NOW).0, Reason::LotSize);
    assert_eq!(e.submit(&buy(0, 300.0), NOW).0, Reason::Accepted);
    assert_eq!(
        e.submit(&limit(buy(0, 100.0), 100.005), NOW).0,
        Reason::TickSize
    );
    // 100.07 has no exact binary form; the grid check tolerates that.
    assert_eq!(
        e.submit(&limit(buy(0, 100.0), 100.07), NOW).0,
        Reason::Accepted
    );
}

#[test]
fn a_missing_stale_or_invalid_reference_rejects() {
    let limits = Limits {
        reference_max_age_ns: 60 * SEC,
        ..Default::default()
    };
    let mut e = RiskEngine::new(limits, vec![InstrumentLimits::default(); 2], 1e6).unwrap();
    assert_eq!(e.submit(&buy(0, 1.0), NOW).0, Reason::ReferenceMissing);
    assert!(
        !e.set_reference(0, f64::NAN, NOW),
        "a NaN reference is refused"
    );
    assert!(!e.set_reference(0, -3.0, NOW));
    assert_eq!(e.submit(&buy(0, 1.0), NOW).0, Reason::ReferenceMissing);
    e.set_reference(0, 100.0, NOW);
    assert_eq!(e.submit(&buy(0, 1.0), NOW + 60 * SEC).0, Reason::Accepted);
    assert_eq!(
        e.submit(&buy(0, 1.0), NOW + 61 * SEC).0,
        Reason::ReferenceStale
    );
}

#[test]
fn limit_prices_outside_the_collar_are_denied() {
    let mut e = engine(Limits {
        collar: 0.05,
        ..Default::default()
    });
    assert_eq!(
        e.submit(&limit(buy(0, 1.0), 104.99), NOW).0,
        Reason::Accepted
    );
    assert_eq!(
        e.submit(&limit(buy(0, 1.0), 105.5), NOW).0,
        Reason::PriceCollar
    );
    assert_eq!(
        e.submit(&limit(sell(0, 1.0), 94.0), NOW).0,
        Reason::PriceCollar
    );
}

#[test]
fn order_quantity_and_notional_caps_per_symbol_and_global() {
    let inst = InstrumentLimits {
        max_order_qty: 500.0,
        max_order_notional: 30_000.0,
        ..Default::default()
    };
    let mut e = engine_with(
        Limits {
            max_order_notional: 20_000.0,
            ..Default::default()
        },
        inst,
    );
    assert_eq!(e.submit(&buy(1, 501.0), NOW).0, Reason::MaxOrderQty);
    assert_eq!(e.submit(&buy(0, 301.0), NOW).0, Reason::MaxOrderNotional);
    assert_eq!(
        e.submit(&buy(0, 250.0), NOW).0,
        Reason::MaxOrderNotionalGlobal
    );
    assert_eq!(e.submit(&buy(0, 200.0), NOW).0, Reason::Accepted);
    // A limit order's notional is at its limit price.
    assert_eq!(
        e.submit(&limit(buy(1, 390.0), 52.0), NOW).0,
        Reason::MaxOrderNotionalGlobal
    );
}

#[test]
fn position_limits_count_working_orders_in_the_worst_case() {
    let inst = InstrumentLimits {
        max_position_qty: 100.0,
        max_position_notional: 8_000.0,
        ..Default::default()
    };
    let mut e = engine_with(Limits::default(), inst);
    assert_eq!(trade(&mut e, buy(1, 60.0)), Reason::Accepted);
    assert_eq!(e.submit(&buy(1, 30.0), NOW).0, Reason::Accepted); // 90 if it fills
    assert_eq!(e.submit(&buy(1, 20.0), NOW).0, Reason::MaxPositionQty); // would be 110
                                                                        // Selling 150 leaves the worst case at 90 either way (90 long, or -90): no growth, allowed.
    assert_eq!(e.check(&sell(1, 150.0), NOW, true), Reason::Accepted);
    assert_eq!(e.submit(&sell(1, 200.0), NOW).0, Reason::MaxPositionQty); // -140 if it fills
    assert_eq!(e.submit(&buy(0, 81.0), NOW).0, Reason::MaxPositionNotional); // 8,100 > 8,000
    assert_eq!(e.submit(&buy(0, 80.0), NOW).0, Reason::Accepted);
}

#[test]
fn a_position_may_not_exceed_its_fraction_of_equity() {
    let mut e = engine(Limits {
        max_position_weight: 0.1,
        ..Default::default()
    });
    assert_eq!(e.submit(&buy(0, 1_001.0), NOW).0, Reason::MaxPositionWeight); // 100.1k of 1M
    assert_eq!(trade(&mut e, buy(0, 1_000.0)), Reason::Accepted);
    e.set_reference(0, 150.0, NOW); // 150k of 1.05M: over, but selling shrinks it
    assert_eq!(e.submit(&buy(0, 1.0), NOW).0, Reason::MaxPositionWeight);
    assert_eq!(e.submit(&sell(0, 500.0), NOW).0, Reason::Accepted);
}

#[test]
fn adopted_orders_are_booked_without_checks_and_count_against_limits() {
    let mut e = engine(Limits {
        max_open_order_notional: 1_000.0,
        ..Default::default()
    });
    let id = e.adopt(&buy(0, 30.0)).unwrap(); // 3k: over the limit, but already at the broker
    assert_eq!(e.open_order_notional(), 3_000.0);
    assert_eq!(e.submit(&buy(1, 1.0), NOW).0, Reason::OpenOrderNotional);
    assert!(e.adopt(&buy(9, 1.0)).is_none());
    assert!(e.adopt(&buy(0, f64::NAN)).is_none());
    e.fill(id, 30.0, 100.0, 0.0).unwrap();
    assert_eq!(e.position(0), 30.0);
}

#[test]
fn gross_and_net_exposure_limits() {
    let mut e = engine(Limits {
        max_gross_notional: 20_000.0,
        max_net_notional: 12_000.0,
        ..Default::default()
    });
    assert_eq!(trade(&mut e, buy(0, 100.0)), Reason::Accepted); // 10k long
    assert_eq!(e.submit(&buy(1, 50.0), NOW).0, Reason::NetExposure); // 12.5k net
    assert_eq!(trade(&mut e, sell(1, 150.0)), Reason::Accepted); // 7.5k short: gross 17.5k, net 2.5k
    assert_eq!(e.submit(&sell(1, 60.0), NOW).0, Reason::GrossExposure); // gross 20.5k
                                                                        // Closing shrinks gross: allowed even when gross is at its limit.
    assert_eq!(e.submit(&buy(1, 150.0), NOW).0, Reason::Accepted);
}

#[test]
fn an_order_that_shrinks_a_breached_exposure_still_passes() {
    let mut e = engine(Limits {
        max_gross_notional: 20_000.0,
        ..Default::default()
    });
    assert_eq!(trade(&mut e, buy(0, 150.0)), Reason::Accepted); // 15k
    e.set_reference(0, 200.0, NOW); // price doubles: 30k gross, over the limit
    assert_eq!(e.submit(&buy(0, 1.0), NOW).0, Reason::GrossExposure);
    assert_eq!(e.submit(&sell(0, 50.0), NOW).0, Reason::Accepted);
}

#[test]
fn open_order_notional_is_capped() {
    let mut e = engine(Limits {
        max_open_order_notional: 5_000.0,
        ..Default::default()
    });
    assert_eq!(e.submit(&buy(0, 30.0), NOW).0, Reason::Accepted);
    assert_eq!(e.submit(&sell(1, 40.0), NOW).0, Reason::Accepted); // 3k + 2k = 5k
    assert_eq!(e.submit(&buy(1, 1.0), NOW).0, Reason::OpenOrderNotional);
    e.cancel(1);
    assert_eq!(e.submit(&buy(1, 1.0), NOW).0, Reason::Accepted);
}

#[test]
fn buying_power_is_equity_times_leverage() {
    let mut e = RiskEngine::new(
        Limits {
            max_leverage: 2.0,
            ..Default::default()
        },
        vec![InstrumentLimits::default()],
        10_000.0,
    )
    .unwrap();
    e.set_reference(0, 100.0, NOW);
    assert_eq!(e.submit(&buy(0, 201.0), NOW).0, Reason::BuyingPower);
    assert_eq!(trade(&mut e, buy(0, 200.0)), Reason::Accepted);
    assert_eq!(e.submit(&buy(0, 1.0), NOW).0, Reason::BuyingPower);
    assert_eq!(e.submit(&sell(0, 200.0), NOW).0, Reason::Accepted);
}

#[test]
fn reduce_only_orders_may_not_open_or_flip_a_position() {
    let mut e = engine(Limits::default());
    let reduce = |o: OrderRequest| OrderRequest {
        reduce_only: true,
        ..o
    };
    assert_eq!(e.submit(&reduce(sell(0, 1.0)), NOW).0, Reason::ReduceOnly); // flat: would open
    assert_eq!(trade(&mut e, buy(0, 10.0)), Reason::Accepted);
    assert_eq!(e.submit(&reduce(sell(0, 11.0)), NOW).0, Reason::ReduceOnly); // would flip
    assert_eq!(e.submit(&reduce(sell(0, 6.0)), NOW).0, Reason::Accepted);
    assert_eq!(e.submit(&reduce(sell(0, 5.0)), NOW).0, Reason::ReduceOnly); // 6 + 5 working > 10
    assert_eq!(e.submit(&reduce(buy(0, 1.0)), NOW).0, Reason::ReduceOnly);
}

#[test]
fn reducing_denies_orders_that_add_exposure_and_halted_denies_everything_but_cancels() {
    let mut e = engine(Limits::default());
    assert_eq!(trade(&mut e, buy(0, 10.0)), Reason::Accepted);
    let (_, working) = e.submit(&buy(1, 5.0), NOW);
    e.set_state(TradingState::Reducing, StateCause::Manual);
    assert_eq!(e.submit(&buy(0, 1.0), NOW).0, Reason::Reducing);
    assert_eq!(e.submit(&sell(1, 1.0), NOW).0, Reason::Reducing);
    assert_eq!(e.submit(&sell(0, 4.0), NOW).0, Reason::Accepted);
    e.set_state(TradingState::Halted, StateCause::Manual);
    assert_eq!(e.submit(&sell(0, 1.0), NOW).0, Reason::Halted);
    assert_eq!(e.modify(working, 1.0, f64::NAN, NOW), Reason::Halted);
    assert!(e.cancel(working), "cancels pass while halted");
}

#[test]
fn the_kill_switch_halts_and_cancels_every_working_order() {
    let mut e = engine(Limits::default());
    let ids: Vec<u64> = (0..3).map(|_| e.submit(&buy(0, 1.0), NOW).1).collect();
    assert_eq!(e.kill(), ids);
    assert_eq!(
        (e.state(), e.cause()),
        (TradingState::Halted, StateCause::KillSwitch)
    );
    assert!(e.open_orders().is_empty());
    assert_eq!((e.working(0), e.open_order_notional()), ((0.0, 0.0), 0.0));
    assert_eq!(e.submit(&sell(0, 1.0), NOW).0, Reason::Halted);
}

#[test]
fn submit_and_modify_throttles_use_a_sliding_window() {
    let mut e = engine(Limits {
        submits: Throttle {
            max: 3,
            window_ns: SEC,
        },
        modifies: Throttle {
            max: 1,
            window_ns: SEC,
        },
        ..Default::default()
    });
    for k in 0..3 {
        assert_eq!(e.submit(&buy(0, 1.0), NOW + k).0, Reason::Accepted);
    }
    assert_eq!(e.submit(&buy(0, 1.0), NOW + 10).0, Reason::SubmitRate);
    // A denied order does not use the budget; the first submit leaves the window after 1 s.
    assert_eq!(e.submit(&buy(0, 1.0), NOW + SEC).0, Reason::Accepted);
    assert_eq!(e.modify(1, 2.0, f64::NAN, NOW + SEC), Reason::Accepted);
    assert_eq!(e.modify(1, 3.0, f64::NAN, NOW + SEC), Reason::ModifyRate);
    assert_eq!(e.open_order(1).unwrap().remaining, 2.0);
    assert_eq!(e.modify(99, 3.0, f64::NAN, NOW + SEC), Reason::UnknownOrder);
}

#[test]
fn a_denied_modify_leaves_the_working_order_as_it_was() {
    let mut e = engine(Limits {
        max_open_order_notional: 2_000.0,
        ..Default::default()
    });
    let (_, id) = e.submit(&buy(0, 10.0), NOW);
    assert_eq!(e.modify(id, 25.0, f64::NAN, NOW), Reason::OpenOrderNotional);
    assert_eq!(e.open_order(id).unwrap().remaining, 10.0);
    assert_eq!(e.open_order_notional(), 1_000.0);
    assert_eq!(e.modify(id, 20.0, f64::NAN, NOW), Reason::Accepted);
    assert_eq!(e.open_order_notional(), 2_000.0);
}

#[test]
fn fills_move_positions_and_cash_and_bad_fills_are_errors() {
    let mut e = engine(Limits::default());
    let (_, id) = e.submit(&buy(0, 10.0), NOW);
    e.fill(id, 4.0, 101.0, 1.0).unwrap();
    assert_eq!((e.position(0), e.working(0)), (4.0, (6.0, 0.0)));
    assert_eq!(e.cash(), 1_000_000.0 - 405.0);
    assert!(e
        .fill(id, 7.0, 101.0, 0.0)
        .unwrap_err()
        .0
        .contains("more than the 6"));
    assert!(e.fill(id, f64::NAN, 101.0, 0.0).is_err());
    assert!(e.fill(id, 1.0, 0.0, 0.0).is_err());
    e.fill(id, 6.0, 99.0, 0.0).unwrap();
    assert!(e.open_order(id).is_none());
    assert!(e
        .fill(id, 1.0, 99.0, 0.0)
        .unwrap_err()
        .0
        .contains("no such working order"));
}

#[test]
fn the_daily_loss_limit_trips_reducing_and_clears_the_next_day() {
    let mut e = engine(Limits {
        max_daily_loss: 0.02,
        ..Default::default()
    });
    assert_eq!(trade(&mut e, buy(0, 5_000.0)), Reason::Accepted); // 500k of 1M equity
    let day = engine::DAY_NS;
    assert_eq!(e.mark(NOW).tripped, None);
    e.set_reference(0, 95.0, NOW + 3600 * SEC); // -25k: 2.5% of the day's start
    let m = e.mark(NOW + 3600 * SEC);
    assert_eq!(m.tripped, Some(StateCause::DailyLoss));
    assert_eq!(
        (m.state, m.cause),
        (TradingState::Reducing, StateCause::DailyLoss)
    );
    assert_eq!(e.submit(&buy(0, 1.0), NOW + 3600 * SEC).0, Reason::Reducing);
    let next = e.mark(NOW + day);
    assert!(next.cleared);
    assert_eq!(next.state, TradingState::Active);
    assert_eq!(next.day_start_equity, 975_000.0);
}

#[test]
fn the_drawdown_limit_halts_and_stays_halted() {
    let mut e = engine(Limits {
        max_drawdown: 0.1,
        max_daily_loss: 0.05,
        ..Default::default()
    });
    assert_eq!(trade(&mut e, buy(0, 10_000.0)), Reason::Accepted); // all-in: 1M
    e.mark(NOW);
    e.set_reference(0, 120.0, NOW + SEC);
    assert_eq!(e.mark(NOW + SEC).peak_equity, 1_200_000.0);
    e.set_reference(0, 113.0, NOW + 2 * SEC); // -5.8%: daily loss from 1M? no, a gain today
    assert_eq!(e.mark(NOW + 2 * SEC).tripped, None);
    e.set_reference(0, 107.0, NOW + 3 * SEC); // -10.8% from the peak
    let m = e.mark(NOW + 3 * SEC);
    assert_eq!(
        (m.state, m.cause),
        (TradingState::Halted, StateCause::Drawdown)
    );
    assert_eq!(e.mark(NOW + 5 * engine::DAY_NS).state, TradingState::Halted);
}

#[test]
fn invalid_limits_are_refused_with_the_field_named() {
    let err = |limits: Limits| RiskEngine::new(limits, vec![], 0.0).err().unwrap().0;
    assert!(err(Limits {
        max_gross_notional: -1.0,
        ..Default::default()
    })
    .contains("max_gross_notional"));
    assert!(err(Limits {
        submits: Throttle {
            max: 5,
            window_ns: 0
        },
        ..Default::default()
    })
    .contains("submits throttle"));
    assert!(err(Limits {
        daily_loss_action: TradingState::Active,
        ..Default::default()
    })
    .contains("daily_loss_action"));
    let bad_lot = InstrumentLimits {
        lot_size: f64::NAN,
        ..Default::default()
    };
    assert!(RiskEngine::new(Limits::default(), vec![bad_lot], 0.0)
        .err()
        .unwrap()
        .0
        .contains("instrument 0: lot_size"));
}

#[test]
fn plans_trade_whole_lots_skip_tiny_trades_and_split_flips() {
    let p = plan(0.0, 257.0, 100.0, 10.0, 0.0);
    assert_eq!(p.qty(), 200.0);
    assert!(!p.exact);
    assert_eq!(plan(0.0, 257.0, 0.0, 10.0, 0.0).qty(), 257.0);
    assert!(plan(0.0, 257.0, 0.0, 10.0, 0.0).exact);
    assert_eq!(plan(100.0, 104.0, 1.0, 10.0, 50.0).legs().count(), 0); // 40 < 50
    let flip = plan(100.0, -50.0, 1.0, 10.0, 0.0);
    let legs: Vec<Leg> = flip.legs().collect();
    assert_eq!(legs.len(), 2);
    assert_eq!(
        (legs[0].side, legs[0].qty, legs[0].closing),
        (Side::Sell, 100.0, true)
    );
    assert_eq!(
        (legs[1].side, legs[1].qty, legs[1].closing),
        (Side::Sell, 50.0, false)
    );
    assert_eq!(plan(0.0, f64::NAN, 1.0, 10.0, 0.0).legs().count(), 0);
}

fn route(e: &mut RiskEngine, rows: &[(i64, i64, f64, f64)], params: RouteParams) -> Routed {
    let ts: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let inst: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let w: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let px: Vec<f64> = rows.iter().map(|r| r.3).collect();
    route_target_weights(e, &ts, &inst, &w, &px, params).unwrap()
}

const FREE: RouteParams = RouteParams {
    cost_rate: 0.0,
    min_trade_notional: 0.0,
    min_trade_weight: 0.0,
};

#[test]
fn routing_keeps_target_weights_exactly_where_no_limit_binds() {
    let mut e =
        RiskEngine::new(Limits::default(), vec![InstrumentLimits::default(); 2], 1e5).unwrap();
    let rows = [
        (0, 0, 0.3, 10.0),
        (0, 1, -0.2, 20.0),
        (1, 0, 0.1, 11.0),
        (1, 1, 0.0, 19.0),
    ];
    let out = route(&mut e, &rows, FREE);
    assert_eq!(out.weight, vec![0.3, -0.2, 0.1, 0.0]);
    assert_eq!(out.reason, vec![0; 4]);
}

#[test]
fn routing_denies_what_the_limits_deny_and_holds_the_old_position() {
    let inst = InstrumentLimits {
        max_position_notional: 25_000.0,
        ..Default::default()
    };
    let mut e = RiskEngine::new(Limits::default(), vec![inst; 2], 1e5).unwrap();
    let rows = [(0, 0, 0.2, 10.0), (0, 1, 0.3, 20.0), (DAY, 0, 0.4, 10.0)];
    let out = route(&mut e, &rows, FREE);
    assert_eq!(out.reason[1], Reason::MaxPositionNotional.code());
    assert_eq!(out.weight[1], 0.0);
    assert_eq!(out.reason[2], Reason::MaxPositionNotional.code());
    assert!((out.weight[2] - 0.2).abs() < 1e-12, "{}", out.weight[2]);
}

const DAY: i64 = engine::DAY_NS;

#[test]
fn routing_trips_the_daily_loss_limit_and_lets_only_closing_orders_through() {
    let limits = Limits {
        max_daily_loss: 0.05,
        ..Default::default()
    };
    let mut e = RiskEngine::new(limits, vec![InstrumentLimits::default(); 2], 1e5).unwrap();
    let rows = [
        (0, 0, 1.0, 100.0),
        (0, 1, 0.0, 10.0),
        (DAY, 0, 1.0, 90.0), // -10%: trips REDUCING before this bar's orders
        (DAY, 1, 0.5, 10.0), // would add exposure: denied
        (2 * DAY, 0, 0.5, 90.0),
        (2 * DAY, 1, 0.5, 10.0), // a new day: active again
    ];
    let out = route(&mut e, &rows, FREE);
    assert_eq!(out.state[2], TradingState::Reducing as u8);
    assert_eq!(out.reason[3], Reason::Reducing.code());
    assert_eq!(out.weight[3], 0.0);
    assert!((out.weight[2] - 1.0).abs() < 1e-12);
    assert_eq!(out.state[4], TradingState::Active as u8);
    assert_eq!(&out.reason[4..], &[0, 0]);
}

#[test]
fn routing_refuses_unsorted_rows_and_duplicate_instruments() {
    let mut e =
        RiskEngine::new(Limits::default(), vec![InstrumentLimits::default(); 2], 1e5).unwrap();
    let err =
        route_target_weights(&mut e, &[1, 0], &[0, 1], &[0.1, 0.1], &[1.0, 1.0], FREE).unwrap_err();
    assert!(err.0.contains("sorted by ts"), "{}", err.0);
    let mut e =
        RiskEngine::new(Limits::default(), vec![InstrumentLimits::default(); 2], 1e5).unwrap();
    let err =
        route_target_weights(&mut e, &[0, 0], &[1, 1], &[0.1, 0.1], &[1.0, 1.0], FREE).unwrap_err();
    assert!(err.0.contains("two rows"), "{}", err.0);
}

#[test]
fn routing_pays_costs_from_cash() {
    let mut e = RiskEngine::new(Limits::default(), vec![InstrumentLimits::default()], 1e5).unwrap();
    let params = RouteParams {
        cost_rate: 0.001,
        ..FREE
    };
    route(&mut e, &[(0, 0, 0.5, 10.0)], params);
    assert!((e.cash() - (1e5 - 50_000.0 - 50.0)).abs() < 1e-9);
}
