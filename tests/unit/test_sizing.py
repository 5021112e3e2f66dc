"""Position-sizing policies: worked examples computed by hand, causality, and their place in the grid."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from foxml_dagster.signals import RiskLimits, SignalConfig, signals_from_predictions
from foxml_dagster.sizing import (
    BetSizeParams,
    MetaLabelParams,
    NoTradeBandParams,
    TopkDropoutParams,
    VolTargetParams,
    sizing_context,
)
from foxml_dagster.sizing.band import band_width, no_trade_band
from foxml_dagster.sizing.bet_size import average_active, bet_size, bet_size_weights, discretize
from foxml_dagster.sizing.meta import meta_label_weights
from foxml_dagster.sizing.topk import topk_dropout
from foxml_dagster.sizing.vol_target import ewma_variance, vol_target_scale
from foxml_dagster.strategies import EvaluationConfig, SignalVariant, variants

T0 = datetime(2021, 1, 4, tzinfo=UTC)


def test_bet_size_matches_the_normal_cdf_of_the_probabilitys_z_statistic():
    # p = 0.6: z = 0.1 / sqrt(0.24) = 0.20412, m = 2 Phi(z) - 1 = 0.16174 (by hand, from tables).
    m = bet_size(np.array([0.6, 0.5, 0.4, 0.8, 1.0, 0.0]))
    np.testing.assert_allclose(m[:4], [0.161744, 0.0, -0.161744, 0.546745], atol=1e-6)
    assert m[4] == 1.0 and m[5] == -1.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bet_size(np.array([1.2]))


def test_bet_size_averages_the_active_bets_of_each_symbol_then_discretises():
    # Two symbols of 3 rows; a bet lives 2 rows: row i averages rows i-1 and i of its own symbol.
    sizes = np.array([0.2, 0.4, 0.0, 0.9, -0.1, -0.5])
    offsets = np.array([0, 3, 6])
    np.testing.assert_allclose(average_active(sizes, offsets, 2), [0.2, 0.3, 0.2, 0.9, 0.4, -0.3])
    np.testing.assert_allclose(discretize(np.array([0.26, 0.25, -0.25, 0.04, 1.3]), 0.1), [0.3, 0.3, -0.3, 0.0, 1.0])
    p = np.array([0.6, 0.7, 0.55])
    # m = .1617, .3375, .0801 -> running means .1617, .2496, .1931 (3 active) -> step 0.1: .2, .2, .2
    np.testing.assert_allclose(bet_size_weights(p, np.array([0, 3]), holding_bars=3, step=0.1), [0.2, 0.2, 0.2])


def test_topk_dropout_replaces_at_most_n_drop_holdings_a_bar():
    # The module docstring's example: k=2, n_drop=1, long only.
    ts = np.repeat([1, 2], 4)
    symbols = np.array(list("ABCD") * 2)
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.8, 0.7, 0.9])
    w = topk_dropout(ts, symbols, scores, k=2, n_drop=1, long_short=False)
    assert dict(zip(symbols[:4], w[:4], strict=True)) == {"A": 0.5, "B": 0.5, "C": 0.0, "D": 0.0}
    # A fell to last: it leaves for D, the best outsider; C waits although it beats A too.
    assert dict(zip(symbols[4:], w[4:], strict=True)) == {"A": 0.0, "B": 0.5, "C": 0.0, "D": 0.5}
    # With n_drop = 2 both places may change, so the book is the plain top 2.
    w2 = topk_dropout(ts, symbols, scores, k=2, n_drop=2, long_short=False)
    assert dict(zip(symbols[4:], w2[4:], strict=True)) == {"A": 0.0, "B": 0.5, "C": 0.0, "D": 0.5}
    # Long-short, k=1: the best long and the worst short, 1/(2k) each, gross 1.
    w3 = topk_dropout(ts[:4], symbols[:4], scores[:4], k=1, n_drop=1, long_short=True)
    assert dict(zip(symbols[:4], w3, strict=True)) == {"A": 0.5, "B": 0.0, "C": 0.0, "D": -0.5}


def test_topk_dropout_drops_a_holding_that_has_no_score():
    ts = np.array([1, 1, 1, 2, 2])
    symbols = np.array(["A", "B", "C", "B", "C"])  # A has no bar at ts 2
    w = topk_dropout(ts, symbols, np.array([0.9, 0.8, 0.1, 0.8, 0.1]), k=2, n_drop=0, long_short=False)
    np.testing.assert_allclose(w, [0.5, 0.5, 0.0, 0.5, 0.5])
    # A NaN score is no score: A leaves at ts 2 as if it had no bar, and holds no weight there.
    ts = np.array([1, 1, 1, 2, 2, 2])
    symbols = np.array(["A", "B", "C", "A", "B", "C"])
    w = topk_dropout(ts, symbols, np.array([0.9, 0.8, 0.1, np.nan, 0.8, 0.1]), k=2, n_drop=0, long_short=False)
    np.testing.assert_allclose(w, [0.5, 0.5, 0.0, 0.0, 0.5, 0.5])


def test_topk_dropout_refuses_two_scores_for_one_symbol_at_one_bar():
    with pytest.raises(ValueError, match="one score per symbol and bar"):
        topk_dropout(np.array([1, 1]), np.array(["A", "A"]), np.array([0.1, 0.2]), k=1, n_drop=0, long_short=False)


def test_vol_target_scales_a_known_volatility_to_the_target():
    # Alternating +-1% bars: variance 1e-4, 15.87% a year at 252 bars; a 10% target gives 0.63.
    r = np.tile([0.01, -0.01], 50)
    np.testing.assert_allclose(ewma_variance(r, 10)[-1], 1e-4)
    scale = vol_target_scale(
        r, np.ones(100, bool), annual_vol=0.10, halflife=10, periods_per_year=252, max_leverage=2.0, min_periods=5
    )
    assert scale[:4].tolist() == [1.0] * 4  # no estimate yet: unscaled
    assert scale[-1] == pytest.approx(0.10 / (0.01 * math.sqrt(252)))
    capped = vol_target_scale(
        r / 10, np.ones(100, bool), annual_vol=0.10, halflife=10, periods_per_year=252, max_leverage=2.0, min_periods=5
    )
    assert capped[-1] == 2.0  # a quiet book is levered only up to max_leverage


def test_vol_target_estimate_reads_only_returns_known_at_the_bar():
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.01, 200)
    kwargs = dict(annual_vol=0.1, halflife=20, periods_per_year=252, max_leverage=3.0, min_periods=10)
    full = vol_target_scale(r, np.ones(200, bool), **kwargs)
    changed = r.copy()
    changed[120:] *= 5  # a crash after bar 119 must not move any scale up to bar 119
    moved = vol_target_scale(changed, np.ones(200, bool), **kwargs)
    np.testing.assert_array_equal(full[:120], moved[:120])
    assert moved[120] < full[120]


def test_no_trade_band_holds_the_weight_while_the_expected_gain_is_below_the_cost():
    # The docstring's numbers: c = 5 bps, gain 4, s = 2% x sqrt(10): half-width 0.0632.
    width = band_width(np.array([0.02 * math.sqrt(10)]), cost_rate=5e-4, gain=4.0)[0]
    assert width == pytest.approx(2 * 5e-4 * 4 / (0.02 * math.sqrt(10)))
    targets = np.array([0.20, 0.25, 0.30, 0.28, -0.1])
    held = no_trade_band(targets, np.full(5, width), np.array([0, 5]))
    np.testing.assert_allclose(held, [0.20, 0.20, 0.30, 0.30, -0.1])
    # An unknown volatility gives no band: every rebalance is made.
    assert band_width(np.array([np.nan, 0.0]), cost_rate=5e-4, gain=4.0).tolist() == [0.0, 0.0]


def test_meta_label_takes_the_primarys_side_only_when_the_secondary_agrees():
    p_up = np.array([0.3, 0.3, 0.7, 0.55, 0.5])
    side = np.array([-1.0, 1.0, 1.0, np.nan, 1.0])
    w = meta_label_weights(p_up, side, is_meta=False, step=0.1)
    # short side, P(correct) = 0.7 -> size 0.337 -> 0.3; long side against p = 0.3 -> no trade;
    # long with p 0.7 -> +0.3; no side -> 0; a coin flip -> 0.
    np.testing.assert_allclose(w, [-0.3, 0.0, 0.3, 0.0, 0.0])
    # On a meta-label target p already is P(the side's trade pays).
    np.testing.assert_allclose(
        meta_label_weights(np.array([0.7, 0.3]), np.array([-1.0, 1.0]), is_meta=True, step=0.1), [-0.3, 0.0]
    )


def _panel(n: int = 60, symbols=("A", "B", "C"), seed: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    stamps = [T0 + timedelta(days=i) for i in range(n)]
    bars, preds = [], []
    for s in symbols:
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        bars.append(pl.DataFrame({"symbol": s, "ts": stamps, "close": close}))
        preds.append(
            pl.DataFrame(
                {"family": "f", "target": "tb_h10", "symbol": s, "ts": stamps, "y_score": rng.uniform(0.2, 0.8, n)}
            )
        )
    cast = {"ts": pl.Datetime("us", "UTC")}
    return pl.concat(bars).cast(cast), pl.concat(preds).cast(cast)


POLICIES = [
    BetSizeParams(),
    TopkDropoutParams(k=1),
    VolTargetParams(min_periods=5, halflife=5),
    NoTradeBandParams(),
    MetaLabelParams(lookback=5),
]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.policy)
def test_every_policy_is_causal_and_within_the_risk_limits(policy):
    bars, preds = _panel()
    limits = RiskLimits(max_symbol_weight=0.3, max_gross=0.8)

    def weights(b: pl.DataFrame, p: pl.DataFrame) -> pl.DataFrame:
        context = sizing_context("tb_h10", b, _labels(), cost_bps=5.0, periods_per_year=252)
        return signals_from_predictions(p, target="tb_h10", limits=limits, policy=policy, context=context)

    full = weights(bars, preds)
    assert full["target_weight"].abs().max() <= 0.3 + 1e-12
    assert full.group_by("ts").agg(pl.col("target_weight").abs().sum())["target_weight"].max() <= 0.8 + 1e-12
    assert set(full["risk_action"]) <= {
        "pass",
        "clipped_symbol_limit",
        "scaled_gross_limit",
        "dead_zone",
        "no_bet",
        "vol_scaled",
        "held_in_band",
    }
    # Everything after the cut changed (prices and forecasts): no weight up to the cut may move.
    cut = T0 + timedelta(days=39)
    later = pl.col("ts") > cut
    rng = np.random.default_rng(9)
    bars2 = bars.with_columns(
        pl.when(later).then(pl.col("close") * rng.uniform(0.5, 2.0, bars.height)).otherwise(pl.col("close"))
    )
    preds2 = preds.with_columns(pl.when(later).then(pl.lit(0.95)).otherwise(pl.col("y_score")).alias("y_score"))
    changed = weights(bars2, preds2)
    before = pl.col("ts") <= cut
    assert full.filter(before).equals(changed.filter(before))
    assert not full.filter(later).equals(changed.filter(later))  # the probe can fail


def _labels():
    from foxml_dagster.labels.config import LabelsConfig

    return LabelsConfig()


def test_a_policy_without_market_data_is_refused_with_what_to_pass():
    _, preds = _panel(n=5)
    with pytest.raises(ValueError, match="needs a SizingContext"):
        signals_from_predictions(preds, target="tb_h10", policy=BetSizeParams())


def test_policies_join_the_grid_as_variants_with_their_own_trial_identity():
    signals = SignalConfig(policy="topk_dropout")
    grid, traded = variants(EvaluationConfig(signal_gains=[4.0], signal_dead_zones=[0.02]), signals)
    names = [v.name for v in grid]
    assert names == ["gain4_dz0.02", "betsize_step0.1", "topk2_drop1_ls", "voltarget0.1_hl20", "band1", "meta_step0.1"]
    assert traded.name == "topk2_drop1_ls" and traded in grid
    # The linear map keeps the identity it always had; book policies carry their base, others do not.
    assert grid[0].identity() == {"gain": 4.0, "dead_zone": 0.02}
    assert set(grid[3].identity()) == {"policy", "gain", "dead_zone"} and set(grid[1].identity()) == {"policy"}
    extra = EvaluationConfig(policies=[], policy_variants=[{"policy": "topk_dropout", "k": 1}])
    assert [v.name for v in variants(extra, SignalConfig())[0]][-1] == "topk1_drop1_ls"
    assert SignalVariant(4.0, 0.02) == grid[0]
