"""The standard, minimal and cross-sectional feature sets: size, declared warm-ups, causality."""

import numpy as np
import polars as pl
import pytest

from foxml_dagster.features import compute_features, feature_set, feature_sets
from foxml_dagster.features.causality import find_lookahead
from foxml_dagster.features.cross_section import compute_cross_sectional, cross_sectional_set


def test_standard_has_over_200_features_and_contains_minimal_and_baseline():
    sets = feature_sets()
    assert len(sets["standard"]) >= 200
    assert set(sets["minimal"]) <= set(sets["standard"])
    assert set(sets["baseline"]) <= set(sets["standard"])
    assert len(set(sets["standard"])) == len(sets["standard"])


def test_every_feature_declares_its_exact_warm_up(make_bars):
    bars = make_bars(symbols=("AAA", "BBB"), n=700)
    specs = feature_set("standard")
    frame = compute_features(bars, specs)
    wrong = {}
    for symbol in ("AAA", "BBB"):
        part = frame.filter(pl.col("symbol") == symbol)
        for spec in specs:
            valid = part[spec.name].is_not_null().to_numpy()
            first = int(np.argmax(valid)) if valid.any() else None
            if first != spec.warmup:
                wrong[spec.name] = (first, spec.warmup)
    assert wrong == {}


def test_cross_sectional_features_rank_and_standardize_across_symbols_at_each_ts(make_bars):
    bars = make_bars(symbols=("AAA", "BBB", "CCC", "DDD"), n=120)
    frame = compute_cross_sectional(bars, cross_sectional_set("cross_sectional"))
    at = frame.filter(pl.col("ts") == frame["ts"].max())
    ranks = at["xs_rank_ret_log_5"].sort().to_list()
    assert ranks == pytest.approx([0.125, 0.375, 0.625, 0.875])
    assert at["xs_z_ret_log_5"].sum() == pytest.approx(0.0, abs=1e-12)
    assert at["rel_ret_log_5"].sum() == pytest.approx(0.0, abs=1e-12)


def test_cross_sectional_features_are_causal(make_bars):
    bars = make_bars(symbols=("AAA", "BBB", "CCC"), n=200)
    specs = cross_sectional_set("cross_sectional")
    assert find_lookahead(bars, specs, n_cuts=4, seed=3, compute=compute_cross_sectional) == []


def test_a_single_symbol_universe_gets_neutral_cross_sectional_values(make_bars):
    frame = compute_cross_sectional(make_bars(symbols=("AAA",), n=60), cross_sectional_set("cross_sectional"))
    last = frame.tail(1)
    assert last["xs_rank_ret_log_5"][0] == 0.5 and last["xs_z_ret_log_5"][0] == 0.0


def test_symbol_batches_from_a_memory_budget_give_the_same_frame(make_bars):
    from foxml_dagster.features.compute import feature_batches

    bars = make_bars(symbols=("AAA", "BBB", "CCC"), n=200)
    specs = feature_set("minimal")
    whole = compute_features(bars, specs)
    tiny_budget_mb = 200 * 8 * (len(specs) + 24) / 2**20  # about one symbol per batch
    batches = list(feature_batches(bars, specs, memory_budget_mb=tiny_budget_mb))
    assert len(batches) == 3
    assert compute_features(bars, specs, memory_budget_mb=tiny_budget_mb).equals(whole)
