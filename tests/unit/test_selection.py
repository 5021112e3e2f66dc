"""Feature selection under purged folds and target ranking with two families."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from foxml_dagster.selection import SelectionConfig, drop_redundant_features, rank_targets, select_features
from foxml_dagster.splits import purged_kfold


def synthetic_frame(n=1500, seed=0, drivers=("signal", None), names=("tb_h1", "noise_t")):
    """Two symbols; `signal` drives the label of target `tb_h1`, `twin` copies signal, the rest is noise.
    Target `noise_t` is independent of every feature. `drivers` names the feature behind each
    target of `names` (None: independent of every feature)."""
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
        for target, name in zip(names, drivers, strict=True):
            driver = features[name] if name else rng.normal(size=n)
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
    table = select_features(frame, folds, names, SelectionConfig(importance="single_target", min_features=1), seed=0)
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
    cfg = SelectionConfig(importance="single_target", max_abs_corr=1.0, min_features=1)
    table = select_features(frame, folds, names, cfg, seed=0)
    twins = table.filter(pl.col("feature").is_in(["signal", "twin"]))
    assert twins["cluster"].n_unique() == 1
    assert (twins["clustered_mda"] > 2 * twins["mda"]).all()


def bars_of(frame: pl.DataFrame, target: str) -> pl.DataFrame:
    """Close prices whose next-bar return is `target`'s realised return (its label horizon is one bar)."""
    rows = frame.filter(pl.col("target") == target).sort("symbol", "ts")
    return rows.select(
        "symbol", "ts", (100 * (pl.col("ret").shift(1).fill_null(0.0).cum_sum().exp())).over("symbol").alias("close")
    )


def test_target_ranking_with_two_families_puts_the_predictable_target_first(data):
    from foxml_dagster.backtest import BacktestConfig
    from foxml_dagster.signals import SignalConfig

    frame, names, folds = data
    table = rank_targets(
        frame,
        folds,
        bars_of(frame, "tb_h1"),
        feature_columns=names,
        families={"logistic": {}, "lightgbm": {"n_estimators": 30, "num_leaves": 7}},
        seed=0,
        signals=SignalConfig(),
        backtest=BacktestConfig(cost_bps=0),
        n_trials=14,
        periods_per_year=252,
    )
    assert table["target"].to_list() == ["tb_h1", "noise_t"]
    top, noise = table.row(0, named=True), table.row(1, named=True)
    assert top["family_agreement"] == 1.0 and top["consistency"] == 1.0 and top["mean_auc"] > 0.65
    # The prices follow tb_h1: trading its predictions pays, trading the noise target's does not.
    assert top["n_trials"] == 14 and top["dsr"] > 0.99 and noise["dsr"] < 0.95
    # One return per bar of the test blocks (2 symbols share each bar), not one per sample.
    assert top["n_periods"] <= frame.filter(pl.col("target") == "tb_h1")["ts"].n_unique()
    assert top["sharpe_annual"] == pytest.approx(top["sharpe"] * 252**0.5)
    assert "logistic" in top["reason"] and "lightgbm" in top["reason"] and "DSR" in top["reason"]


# ------------------------------------------------------------------------------ every target


@pytest.fixture(scope="module")
def two_targets():
    """tb_a follows `signal`, tb_b follows `noise_a`; noise_b and noise_c drive nothing."""
    frame, names = synthetic_frame(drivers=("signal", "noise_a"), names=("tb_a", "tb_b"))
    folds, _ = purged_kfold(frame.select("target", "symbol", "ts", "t1"), n_folds=4, embargo_pct=0.01)
    return frame, names, folds


def test_importance_is_measured_on_every_target_and_combined_by_mean_rank(two_targets):
    frame, names, folds = two_targets
    table = select_features(frame, folds, names, SelectionConfig(min_features=1), seed=0)
    assert table["importance_target"][0] == "tb_a,tb_b"
    scored = table.filter(pl.col("mean_rank").is_not_null())
    for t in ("tb_a", "tb_b"):
        assert {f"clustered_mda__{t}", f"stability__{t}", f"rank__{t}"} <= set(table.columns)
    # The combined rank is the mean of the per-target ranks by clustered MDA (1 = best).
    by_hand = (scored["rank__tb_a"] + scored["rank__tb_b"]) / 2
    assert scored["mean_rank"].to_list() == pytest.approx(by_hand.to_list())
    per_target_mean = (scored["clustered_mda__tb_a"] + scored["clustered_mda__tb_b"]) / 2
    assert scored["clustered_mda"].to_list() == pytest.approx(per_target_mean.to_list())
    row = {r["feature"]: r for r in table.iter_rows(named=True)}
    assert row["signal"]["rank__tb_a"] == 1 and row["noise_a"]["rank__tb_b"] == 1
    assert row["signal"]["stability__tb_a"] == 1.0 and row["noise_a"]["stability__tb_b"] == 1.0
    # Each driver tops the combined ranking and is kept, whichever target it drives.
    assert {row["signal"]["combined_rank"], row["noise_a"]["combined_rank"]} == {1, 2}
    assert row["signal"]["selected"] and row["noise_a"]["selected"] and not row["twin"]["selected"]
    assert row["signal"]["target_support"] == 0.5 and "helps on 1 of 2 targets (tb_a)" in row["signal"]["reason"]
    assert "tb_b" in row["noise_a"]["reason"]
    assert table["reason"].null_count() == 0
    # Support and selection follow the documented rule, recomputed here from the per-target columns.
    helps = [(pl.col(f"clustered_mda__{t}") > 0) & (pl.col(f"stability__{t}") >= 0.5) for t in ("tb_a", "tb_b")]
    support = scored.select(((helps[0].cast(pl.Float64) + helps[1].cast(pl.Float64)) / 2).alias("s"))["s"]
    assert scored["target_support"].to_list() == support.to_list()
    rule = (scored["target_support"] >= 0.5) | (scored["combined_rank"] <= 1)
    assert scored["selected"].to_list() == rule.to_list()


def test_the_single_target_rule_stays_selectable_and_scores_that_target_alone(two_targets):
    frame, names, folds = two_targets
    single = select_features(
        frame, folds, names, SelectionConfig(importance="single_target", target="tb_a", min_features=1), seed=0
    )
    assert single["importance_target"][0] == "tb_a"
    assert not any(c.startswith("rank__") for c in single.columns)
    every = select_features(frame, folds, names, SelectionConfig(min_features=1), seed=0)
    # The same forests per fold: single-target scores are the all-target table's tb_a columns.
    joined = single.join(every, on="feature", suffix="_all").filter(pl.col("clustered_mda").is_not_null())
    assert joined["clustered_mda"].to_list() == joined["clustered_mda__tb_a"].to_list()
    assert joined["stability"].to_list() == joined["stability__tb_a"].to_list()
    rule = ((joined["clustered_mda"] > 0) & (joined["stability"] >= 0.5)) | (joined["feature"] == "signal")
    assert joined["selected"].to_list() == rule.to_list()
    assert "cluster" in single.filter(pl.col("feature") == "signal")["reason"][0]


def test_requiring_every_target_keeps_only_what_min_features_asks(two_targets):
    frame, names, folds = two_targets
    cfg = SelectionConfig(min_target_support=1.0, min_features=1)
    table = select_features(frame, folds, names, cfg, seed=0)
    scored = table.filter(pl.col("combined_rank").is_not_null())
    rule = (scored["target_support"] >= 1.0) | (scored["combined_rank"] <= 1)
    assert scored["selected"].to_list() == rule.to_list()
    signal = table.filter(pl.col("feature") == "signal").row(0, named=True)
    assert signal["target_support"] == 0.5 and signal["combined_rank"] > 1 and not signal["selected"]
    assert "below min_target_support 1.0" in signal["reason"]


def test_importance_targets_restrict_the_targets_and_unknown_ones_are_named(two_targets):
    frame, names, folds = two_targets
    table = select_features(frame, folds, names, SelectionConfig(importance_targets=["tb_b"], min_features=1), seed=0)
    assert table["importance_target"][0] == "tb_b" and "rank__tb_a" not in table.columns
    with pytest.raises(ValueError, match="tb_zz"):
        select_features(frame, folds, names, SelectionConfig(importance_targets=["tb_zz"]), seed=0)
    with pytest.raises(ValueError, match="importance_targets is empty"):
        SelectionConfig(importance_targets=[])


def test_a_target_without_both_classes_is_skipped_and_named(two_targets):
    frame, names, folds = two_targets
    flat = frame.filter(pl.col("target") == "tb_b").with_columns(
        pl.lit("flat").alias("target"), pl.lit(1, pl.Int8).alias("label")
    )
    flat_folds = folds.filter(pl.col("target") == "tb_b").with_columns(pl.lit("flat").alias("target"))
    table = select_features(
        pl.concat([frame, flat]), pl.concat([folds, flat_folds]), names, SelectionConfig(min_features=1), seed=0
    )
    assert table["importance_target"][0] == "tb_a,tb_b"
    assert all("skipped flat" in r for r in table.filter(pl.col("feature") != "twin")["reason"])


def test_importance_on_capped_rows_keeps_the_signal_and_is_reproducible(data):
    frame, names, folds = data
    from foxml_dagster.selection import importance_table
    from foxml_dagster.selection.redundancy import correlation_clusters

    clusters = correlation_clusters(frame, names, min_corr=0.7)
    kwargs = dict(target="tb_h1", n_estimators=16, seed=0)
    full = importance_table(frame, folds, names, clusters, **kwargs)
    # The folds here hold ~2,200 training and ~750 test rows: caps above that change nothing.
    assert importance_table(frame, folds, names, clusters, max_train_rows=5000, max_test_rows=5000, **kwargs).equals(
        full
    )
    capped = importance_table(frame, folds, names, clusters, max_train_rows=1000, max_test_rows=1000, **kwargs)
    assert not capped.equals(full)
    assert capped.equals(
        importance_table(frame, folds, names, clusters, max_train_rows=1000, max_test_rows=1000, **kwargs)
    )
    best = capped.sort("clustered_mda", descending=True)["feature"][0]
    assert best in ("signal", "twin") and capped.filter(pl.col("feature") == "noise_a")["mda"][0] < 0.05


def test_the_correlation_matrix_on_a_row_sample_is_within_its_standard_error(data):
    from foxml_dagster.selection.redundancy import rank_correlation

    frame, names, _ = data
    full, _ = rank_correlation(frame, names)
    sampled, _ = rank_correlation(frame, names, max_rows=2000, seed=1)
    assert np.abs(full - sampled).max() < 4 / np.sqrt(2000)  # 4 standard errors
    assert full[0, 1] > 0.95 and sampled[0, 1] > 0.95  # signal and its twin stay twins
