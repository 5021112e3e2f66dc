"""Features: every registered feature is causal, and the causality probe catches planted leaks."""

import numpy as np
import polars as pl
import pytest

from foxml_dagster.features import FeatureSpec, compute_features, feature_set, feature_sets
from foxml_dagster.features.causality import find_lookahead


def test_every_registered_feature_is_causal_under_truncation_and_perturbation(make_bars):
    bars = make_bars(n=300)
    for name in feature_sets():
        assert find_lookahead(bars, feature_set(name), n_cuts=5, seed=1) == []


def _next_close(panel):
    # Deliberately non-causal: tomorrow's close.
    return np.concatenate([panel.close[1:], [np.nan]])


def _centered_mean(panel):
    # Deliberately non-causal: a window centred on the bar, so it reads 2 bars ahead.
    return np.convolve(panel.close, np.ones(5) / 5, mode="same")


@pytest.mark.parametrize("leaky", [_next_close, _centered_mean])
def test_the_probe_catches_a_feature_that_reads_future_bars(make_bars, leaky):
    spec = FeatureSpec(name="leaky", compute=leaky, inputs=("close",), warmup=0, description="planted leak")
    findings = find_lookahead(make_bars(n=200), [spec], n_cuts=3)
    assert findings and {f.feature for f in findings} == {"leaky"}


def test_warm_up_is_null_and_no_window_crosses_into_the_next_symbol(make_bars):
    bars = make_bars(symbols=("AAA", "BBB"), n=80)
    specs = feature_set("baseline")
    together = compute_features(bars, specs)
    alone = compute_features(bars.filter(pl.col("symbol") == "BBB"), specs)
    assert together.filter(pl.col("symbol") == "BBB").equals(alone)
    first_rows = together.filter(pl.col("symbol") == "BBB").head(1)
    for spec in specs:
        if spec.warmup > 0:
            assert first_rows[spec.name][0] is None, spec.name


def test_a_symbol_shorter_than_the_warm_up_gets_nulls_not_garbage(make_bars):
    bars = make_bars(symbols=("AAA",), n=10)
    frame = compute_features(bars, feature_set("baseline"))
    assert frame["vol_ret_60"].null_count() == 10
    assert frame["range_hl_1"].null_count() == 0


def test_feature_columns_are_float_and_named_as_registered(make_bars):
    frame = compute_features(make_bars(n=100), feature_set("baseline"))
    names = [s.name for s in feature_set("baseline")]
    assert frame.columns == ["symbol", "ts", *names]
    assert all(frame[n].dtype == pl.Float64 for n in names)


def test_unknown_feature_set_lists_the_known_ones():
    with pytest.raises(KeyError, match="baseline"):
        feature_set("nope")
