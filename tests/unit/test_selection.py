"""Feature selection under purged folds and target ranking with two families."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from foxml_dagster.selection import SelectionConfig, drop_redundant_features, rank_targets, select_features
from foxml_dagster.splits import purged_kfold


def synthetic_frame(n=1500, seed=0):
    """Two symbols; `signal` drives the label of target `tb_h1`, `twin` copies signal, the rest is noise.
    Target `noise_t` is independent of every feature."""
    rng = np.random.default_rng(seed)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    frames = []
    for symbol in ("AAA", "BBB"):
        signal = rng.normal(size=n)
        features = {
            "signal": signal,
            "twin": signal + rng.normal(0, 0.05, n),
            "noise_a": rng.normal(size=n),
            "noise_b": rng.normal(size=n),
            "noise_c": rng.normal(size=n),
        }
        ts = [start + timedelta(days=i) for i in range(n)]
        for target, driver in (("tb_h1", signal), ("noise_t", rng.normal(size=n))):
            ret = 0.01 * (0.8 * driver + rng.normal(size=n))
            frames.append(
                pl.DataFrame(
                    {
                        "symbol": symbol,
                        "ts": ts,
                        "target": target,
                        "t1": [t + timedelta(days=1) for t in ts],
                        "label": np.sign(ret).astype(np.int8),
                        "ret": ret,
                        "barrier": np.zeros(n, dtype=np.int8),
                        "weight": np.ones(n),
                        **features,
                    }
                )
            )
    frame = pl.concat(frames).with_columns(pl.col("ts", "t1").cast(pl.Datetime("us", "UTC")))
    return frame, ["signal", "twin", "noise_a", "noise_b", "noise_c"]


@pytest.fixture(scope="module")
def data():
    frame, names = synthetic_frame()
    folds, _ = purged_kfold(frame.select("target", "symbol", "ts", "t1"), n_folds=4, embargo_pct=0.01)
    return frame, names, folds


def test_redundancy_filter_is_label_free_and_drops_the_twin(data):
    frame, names, _ = data
    table = drop_redundant_features(frame, names, max_abs_corr=0.95)
    assert table.filter(~pl.col("selected"))["feature"].to_list() == ["twin"]


def test_selection_keeps_the_informative_feature_and_explains_every_choice(data):
    frame, names, folds = data
    table = select_features(frame, folds, names, SelectionConfig(min_features=1), seed=0)
    assert set(table.columns) >= {"feature", "selected", "reason", "mdi", "mda", "clustered_mda", "sfi", "stability"}
    chosen = table.filter(pl.col("selected"))["feature"].to_list()
    assert "signal" in chosen and "twin" not in chosen
    signal = table.filter(pl.col("feature") == "signal").row(0, named=True)
    noise = table.filter(pl.col("feature").str.starts_with("noise"))
    assert signal["mda"] > noise["mda"].max() and signal["sfi"] > noise["sfi"].max()
    assert signal["mdi"] > noise["mdi"].max() and signal["stability"] == 1.0
    assert table["reason"].null_count() == 0 and table["importance_target"][0] == "tb_h1"


def test_clustered_mda_sees_through_substitutes(data):
    frame, names, folds = data
    # Keep the twin: plain MDA splits the credit (permuting one twin, the other still carries it),
    # the clustered MDA permutes both together and gives the full drop.
    table = select_features(frame, folds, names, SelectionConfig(max_abs_corr=1.0, min_features=1), seed=0)
    twins = table.filter(pl.col("feature").is_in(["signal", "twin"]))
    assert twins["cluster"].n_unique() == 1
    assert (twins["clustered_mda"] > 2 * twins["mda"]).all()


def test_target_ranking_with_two_families_puts_the_predictable_target_first(data):
    frame, names, folds = data
    table = rank_targets(
        frame,
        folds,
        feature_columns=names,
        families={"logistic": {}, "lightgbm": {"n_estimators": 30, "num_leaves": 7}},
        seed=0,
        prior_trials=10,
    )
    assert table["target"].to_list() == ["tb_h1", "noise_t"]
    top = table.row(0, named=True)
    assert top["family_agreement"] == 1.0 and top["consistency"] == 1.0 and top["mean_auc"] > 0.65
    assert top["n_trials"] == 14 and 0 <= top["dsr"] <= top["psr"] <= 1
    assert "logistic" in top["reason"] and "lightgbm" in top["reason"]
