"""The planted-leak suite: each planted leak is caught and named; a clean pipeline raises no alarm."""

import numpy as np
import polars as pl
import pytest

from foxml_dagster import leakage
from foxml_dagster.dataset import build_training_frame, sample_per_target
from foxml_dagster.features import FeatureSpec, compute_features, feature_set
from foxml_dagster.labels import LabelsConfig, make_labels
from foxml_dagster.splits import SplitsConfig, make_folds, purged_kfold

SPLITS = SplitsConfig(n_folds=4, embargo_pct=0.01)


def clean_frame(bars, cfg=None):
    built = build_training_frame(
        compute_features(bars, feature_set("baseline")), make_labels(bars, cfg or LabelsConfig())
    )
    return built.frame, built.feature_columns


def full_report(bars, frame, names, folds, *, specs=None, labeller=None, splits=SPLITS):
    return leakage.leakage_report(
        [
            *leakage.feature_lookahead_rows(bars, specs or feature_set("baseline")),
            *leakage.target_copy_rows(frame, names, max_abs_corr=0.5),
            *leakage.single_feature_score_rows(frame, names, max_auc=0.7),
            *leakage.importance_dominance_rows(frame, names, max_share=0.6),
            *leakage.preprocessing_rows(frame, names),
            *leakage.label_lookahead_rows(bars, labeller or (lambda b: make_labels(b, LabelsConfig()))),
            *leakage.label_span_rows(frame),
            *leakage.fold_audit_rows(folds, frame, splits),
        ]
    )


def failed(rows_or_report, check=None):
    report = rows_or_report if isinstance(rows_or_report, pl.DataFrame) else leakage.leakage_report(rows_or_report)
    bad = report.filter(pl.col("status") == "fail")
    if check:
        bad = bad.filter(pl.col("check_name") == check)
    return bad


@pytest.fixture(scope="module")
def synthetic(request):
    from tests.conftest import random_walk_bars

    bars = random_walk_bars(n=300)
    frame, names = clean_frame(bars)
    return bars, frame, names


def test_a_clean_pipeline_on_the_real_sample_raises_no_alarm(sample_bars):
    bars = sample_bars.filter(pl.col("ts").dt.year() >= 2011)
    frame, names = clean_frame(bars)
    folds, _ = make_folds(frame.select("target", "symbol", "ts", "t1"), SPLITS)
    report = full_report(bars, frame, names, folds)
    assert leakage.failures(report) == []
    assert set(report["check_name"]) >= {
        "feature_reads_future",
        "feature_copies_target",
        "single_feature_score",
        "importance_dominance",
        "preprocessing_outside_fold",
        "label_reads_future",
        "label_ends_before_start",
        "train_test_overlap",
        "label_crosses_boundary",
        "missing_embargo",
        "test_count",
    }


def test_a_clean_walk_forward_and_cpcv_raise_no_alarm(synthetic):
    _, frame, _ = synthetic
    samples = frame.select("target", "symbol", "ts", "t1")
    for cfg in (SplitsConfig(method="walk_forward", n_folds=4), SplitsConfig(method="cpcv", n_folds=5)):
        folds, _ = make_folds(samples, cfg)
        assert failed(leakage.fold_audit_rows(folds, frame, cfg)).is_empty()


def test_a_feature_reading_the_next_bar_is_named_as_the_culprit(make_bars):
    bars = make_bars(n=150)
    peek = FeatureSpec("peek_close", lambda p: np.r_[p.close[1:], np.nan], ("close",), 0, "planted: next close")
    rows = leakage.feature_lookahead_rows(bars, [*feature_set("baseline"), peek])
    assert failed(rows)["subject"].to_list() == ["peek_close"]


def test_a_feature_that_copies_the_realised_return_is_caught(synthetic):
    _, frame, names = synthetic
    noise = np.random.default_rng(0).normal(0, 0.002, frame.height)
    planted = frame.with_columns((pl.col("ret") + noise).alias("future_ret"))
    rows = leakage.target_copy_rows(planted, [*names, "future_ret"], max_abs_corr=0.5)
    assert {s.split(" ")[0] for s in failed(rows)["subject"]} == {"future_ret"}


def test_a_feature_with_an_extreme_single_feature_score_is_caught(synthetic):
    _, frame, names = synthetic
    # Mostly the label, a third of the time noise: a rank correlation that still looks "moderate".
    rng = np.random.default_rng(1)
    noisy = np.where(rng.uniform(size=frame.height) < 0.3, rng.normal(size=frame.height), frame["label"].to_numpy())
    planted = frame.with_columns(pl.Series("label_echo", noisy.astype(float)))
    rows = leakage.single_feature_score_rows(planted, [*names, "label_echo"], max_auc=0.7)
    assert {s.split(" ")[0] for s in failed(rows)["subject"]} == {"label_echo"}


def test_importance_dominated_by_one_feature_is_caught(synthetic):
    _, frame, names = synthetic
    noise = np.random.default_rng(2).normal(0, 0.01, frame.height)
    planted = frame.with_columns((pl.col("ret") + noise).alias("future_ret"))
    rows = leakage.importance_dominance_rows(planted, [*names, "future_ret"], max_share=0.6)
    assert set(failed(rows)["subject"].str.split(" ").list.first()) == {"future_ret"}
    assert failed(leakage.importance_dominance_rows(frame, names, max_share=0.6)).is_empty()


@pytest.mark.parametrize(
    "scaler",
    [
        lambda c: (c - c.mean()) / c.std(),
        lambda c: (c - c.min()) / (c.max() - c.min()),
        lambda c: c.rank() / c.len(),
        lambda c: ((c - c.mean()) / c.std()).over("symbol"),
    ],
    ids=["zscore", "minmax", "rank", "per_symbol_zscore"],
)
def test_preprocessing_fitted_on_the_whole_sample_is_caught(synthetic, scaler):
    _, frame, names = synthetic
    scaled = frame.filter(pl.col("target") == frame["target"][0]).with_columns(scaler(pl.col(names[0])).alias(names[0]))
    assert failed(leakage.preprocessing_rows(scaled, names))["subject"].to_list() == [names[0]]
    assert failed(leakage.preprocessing_rows(frame, names)).is_empty()


def test_overlapping_train_and_test_spans_are_caught(synthetic):
    _, frame, _ = synthetic
    by_symbol = frame.select("target", "symbol", "ts").with_columns(
        pl.lit(0, pl.Int32).alias("fold"),
        pl.when(pl.col("symbol") == "AAA").then(pl.lit("test")).otherwise(pl.lit("train")).alias("role"),
    )
    cfg = SplitsConfig(n_folds=2, embargo_pct=0.0)
    assert "train_test_overlap" in set(failed(leakage.fold_audit_rows(by_symbol, frame, cfg))["check_name"])


def test_labels_crossing_the_split_boundary_are_caught(synthetic):
    _, frame, _ = synthetic
    grid = frame["ts"].unique().sort()
    edges = [grid[len(grid) // 3], grid[2 * len(grid) // 3]]
    naive = (
        frame.select("target", "symbol", "ts")
        .with_columns(
            pl.when(pl.col("ts") < edges[0]).then(0).when(pl.col("ts") < edges[1]).then(1).otherwise(2).alias("block")
        )
        .join(pl.DataFrame({"fold": [0, 1, 2]}, schema={"fold": pl.Int32}), how="cross")
        .with_columns(
            pl.when(pl.col("block") == pl.col("fold")).then(pl.lit("test")).otherwise(pl.lit("train")).alias("role")
        )
        .drop("block")
    )
    cfg = SplitsConfig(n_folds=3, embargo_pct=0.0)
    assert set(failed(leakage.fold_audit_rows(naive, frame, cfg))["check_name"]) == {"label_crosses_boundary"}


def test_a_missing_embargo_is_caught(synthetic):
    _, frame, _ = synthetic
    samples = frame.select("target", "symbol", "ts", "t1")
    purged_only, _ = purged_kfold(samples, n_folds=4, embargo_pct=0.0)
    cfg = SplitsConfig(n_folds=4, embargo_pct=0.03)
    assert set(failed(leakage.fold_audit_rows(purged_only, frame, cfg))["check_name"]) == {"missing_embargo"}


def test_a_barrier_width_from_whole_sample_volatility_is_caught(synthetic):
    bars, _, _ = synthetic

    def whole_sample_vol(b):
        # planted: one volatility for the whole history sets every barrier (uses the future)
        labels = make_labels(b, LabelsConfig(forward_returns={"horizons": []}))
        sigma = float(np.log(b["close"]).diff().std())
        return labels.with_columns(pl.when(pl.col("ret").abs() > 2 * sigma).then(1).otherwise(0).alias("barrier"))

    caught = failed(leakage.label_lookahead_rows(bars, whole_sample_vol))
    assert caught["check_name"].to_list() == ["label_reads_future"]
    assert failed(leakage.label_lookahead_rows(bars, lambda b: make_labels(b, LabelsConfig()))).is_empty()


def test_a_label_ending_before_it_starts_is_caught(synthetic):
    _, frame, _ = synthetic
    broken = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("ts")).otherwise(pl.col("t1")).alias("t1")
    )
    assert leakage.failures(leakage.leakage_report(leakage.label_span_rows(broken)))


def test_every_failure_names_its_check_and_culprit(synthetic):
    bars, frame, names = synthetic
    planted = frame.with_columns((pl.col("ret") * 1.01).alias("future_ret"))
    folds, _ = purged_kfold(frame.select("target", "symbol", "ts", "t1"), n_folds=4, embargo_pct=0.01)
    lines = leakage.failures(full_report(bars, planted, [*names, "future_ret"], folds))
    assert lines and all("future_ret" in line for line in lines)


def test_every_label_option_stays_causal(synthetic):
    bars, _, _ = synthetic
    cfg = LabelsConfig(
        triple_barrier={"touch": "high_low", "side": "momentum"},
        events={"method": "cusum", "threshold": 1.5},
        forward_returns={"horizons": [3], "excess": "universe", "classes": "quantile"},
        weights={"scheme": "return_attribution", "time_decay": 0.5},
    )
    assert failed(leakage.label_lookahead_rows(bars, lambda b: make_labels(b, cfg))).is_empty()
    timed = LabelsConfig(triple_barrier={"horizon_time": "P7D"})
    assert failed(leakage.label_lookahead_rows(bars, lambda b: make_labels(b, timed))).is_empty()


def test_a_cusum_threshold_from_whole_sample_volatility_is_caught(synthetic):
    from foxml_dagster import native

    bars, _, _ = synthetic

    def whole_sample_events(b):
        # planted: one CUSUM threshold from the volatility of the whole history (uses the future)
        labels = make_labels(b, LabelsConfig(forward_returns={"horizons": []}))
        b = b.sort("symbol", "ts")
        log_close = np.log(b["close"].to_numpy())
        threshold = 2 * float(np.nanstd(np.diff(log_close)))
        events = native.cusum_filter(log_close, threshold, offsets=native.group_offsets(b["symbol"].to_numpy()))
        keys = b.select("symbol", "ts")[events.index]
        return labels.join(keys, on=["symbol", "ts"], how="inner")

    assert failed(leakage.label_lookahead_rows(bars, whole_sample_events))["check_name"].to_list() == [
        "label_reads_future"
    ]


# ------------------------------------------------------------------------ the standard set


@pytest.fixture(scope="module")
def standard(sample_bars):
    """The 207-feature standard set on the five sample stocks, with the default labels."""
    specs = feature_set("standard")
    built = build_training_frame(compute_features(sample_bars, specs), make_labels(sample_bars, LabelsConfig()))
    folds, _ = make_folds(built.frame.select("target", "symbol", "ts", "t1"), SPLITS)
    bounds = {s.name: s.bounds for s in specs if s.bounds is not None}
    return sample_bars, built.frame, built.feature_columns, folds, specs, bounds


def standard_report(bars, frame, names, folds, specs, bounds):
    return leakage.leakage_report(
        [
            *leakage.feature_lookahead_rows(bars, specs),
            *leakage.target_copy_rows(frame, names, max_abs_corr=0.5),
            *leakage.single_feature_score_rows(frame, names, max_auc=0.7),
            *leakage.importance_dominance_rows(frame, names, max_share=0.6),
            *leakage.preprocessing_rows(frame, names, bounds=bounds),
            *leakage.label_span_rows(frame),
            *leakage.fold_audit_rows(folds, frame, SPLITS),
        ]
    )


def test_the_standard_set_raises_no_alarm_on_real_bars(standard):
    bars, frame, names, folds, specs, bounds = standard
    assert len(names) >= 200
    assert failed(standard_report(bars, frame, names, folds, specs, bounds)).is_empty()


def test_bounded_features_touching_both_ends_are_not_taken_for_a_scaler(standard):
    _, frame, names, _, _, bounds = standard
    # Without their declared bounds, Donchian positions, rolling ranks, Aroon and MFI span exactly
    # [0, 1] on real bars and would read as a whole-sample min-max scaler.
    undeclared = set(failed(leakage.preprocessing_rows(frame, names))["subject"])
    assert {"donchian_pos_20", "rank_close_20", "aroon_up_14", "close_location_1"} <= undeclared
    assert undeclared <= {name for name, b in bounds.items() if b == (0.0, 1.0)}
    assert failed(leakage.preprocessing_rows(frame, names, bounds=bounds)).is_empty()


@pytest.mark.parametrize(
    ("feature", "scaler"),
    [
        ("rsi_14", lambda c: (c - c.mean()) / c.std()),  # a bounded feature, z-scored on the whole sample
        ("ret_log_5", lambda c: (c - c.min()) / (c.max() - c.min())),  # an unbounded one, min-max scaled
        ("donchian_pos_20", lambda c: ((c - c.mean()) / c.std()).over("symbol")),
    ],
)
def test_a_whole_sample_scaler_on_a_standard_feature_is_still_caught(standard, feature, scaler):
    _, frame, names, _, _, bounds = standard
    one = frame.filter(pl.col("target") == frame["target"][0])
    scaled = one.with_columns(scaler(pl.col(feature)).alias(feature))
    assert failed(leakage.preprocessing_rows(scaled, names, bounds=bounds))["subject"].to_list() == [feature]


def test_planted_leaks_among_the_standard_set_are_caught_and_named(standard):
    bars, frame, names, folds, specs, bounds = standard
    peek = FeatureSpec("peek_next_close", lambda p: np.r_[p.close[1:], np.nan] / p.close - 1, ("close",), 0, "leak")
    noise = np.random.default_rng(8).normal(0, 0.002, frame.height)
    planted = frame.with_columns((pl.col("ret") + noise).alias("label_copy"))
    report = standard_report(bars, planted, [*names, "label_copy"], folds, [*specs, peek], bounds)
    culprits = {(r["check_name"], r["subject"].split(" ")[0]) for r in failed(report).iter_rows(named=True)}
    assert ("feature_reads_future", "peek_next_close") in culprits
    assert ("feature_copies_target", "label_copy") in culprits
    assert {name for _, name in culprits} == {"peek_next_close", "label_copy"}


def test_declared_bounds_hold_on_real_bars(standard):
    bars, *_ = standard
    specs = [s for s in feature_set("standard") if s.bounds is not None]
    values = compute_features(bars, specs)
    for spec in specs:
        column = values[spec.name].drop_nulls().drop_nans()
        low, high = spec.bounds
        assert column.min() >= low - 1e-12 and column.max() <= high + 1e-12, spec.name


def test_fingerprints_hold_at_size_no_alarm_on_continuous_values_and_a_rank_transform_caught():
    # 300,000 rows: continuous values pack densely, which must not pass for an evenly spaced grid.
    rng = np.random.default_rng(4)
    n = 300_000
    x = rng.standard_t(4, n)
    frame = pl.DataFrame(
        {
            "symbol": np.where(np.arange(n) % 2 == 0, "AAA", "BBB"),
            "ts": np.arange(n) // 2,
            "honest": x,
            "ranked": pl.Series(x).rank().to_numpy() / n,
            "zscored": (x - x.mean()) / x.std(),
        }
    )
    flagged = {
        r["subject"]: r["detail"]
        for r in failed(leakage.preprocessing_rows(frame, ["honest", "ranked", "zscored"])).iter_rows(named=True)
    }
    assert set(flagged) == {"ranked", "zscored"}
    assert "evenly spaced" in flagged["ranked"] and "z-score" in flagged["zscored"]


def test_sampled_row_checks_still_catch_a_partial_copy_of_the_target(synthetic):
    _, frame, names = synthetic
    big = pl.concat([frame] * 20)  # enough rows for the cap to bite
    copy = big.with_columns(pl.when(pl.int_range(pl.len()) % 10 < 8).then(pl.col("ret")).otherwise(0.0).alias("copy"))
    for check in (leakage.target_copy_rows, leakage.single_feature_score_rows):
        limit = {"max_abs_corr": 0.5} if check is leakage.target_copy_rows else {"max_auc": 0.7}
        rows = check(copy, [*names, "copy"], max_rows=5_000, seed=1, **limit)
        assert {r["subject"].split(" ")[0] for r in rows if r["status"] == "fail"} == {"copy"}


def test_checks_read_from_the_lake_agree_with_the_whole_frame_in_memory(synthetic, tmp_path):
    """The pipeline reads the training frame lazily: per-target samples and the preprocessing
    pass in column batches must give exactly the rows the in-memory checks give."""
    _, frame, names = synthetic
    big = pl.concat([frame] * 20).sort("target", "symbol", "ts", maintain_order=True)
    x = pl.col(names[0])
    scaled = frame.unique(["symbol", "ts"]).select("symbol", "ts", ((x - x.mean()) / x.std(ddof=0)).alias("z"))
    planted = big.join(scaled, on=["symbol", "ts"], how="left", maintain_order="left")
    planted.write_parquet(tmp_path / "frame.parquet")
    stored = pl.scan_parquet(tmp_path / "frame.parquet")
    columns = [*names, "z"]
    sampled = sample_per_target(stored, 5_000, seed=3)
    assert sampled.group_by("target").len()["len"].to_list() == [5_000, 5_000]
    for check, limit in (
        (leakage.target_copy_rows, {"max_abs_corr": 0.5}),
        (leakage.single_feature_score_rows, {"max_auc": 0.7}),
    ):
        assert check(sampled, columns, max_rows=5_000, seed=3, **limit) == check(
            planted, columns, max_rows=5_000, seed=3, **limit
        )
    lazy_rows = leakage.preprocessing_rows(stored, columns)
    assert lazy_rows == leakage.preprocessing_rows(planted, columns)
    assert failed(lazy_rows)["subject"].to_list() == ["z"]


def test_the_lookahead_probe_on_a_sample_of_symbols_still_catches_a_peek(make_bars):
    bars = make_bars(symbols=tuple(f"S{i:02d}" for i in range(30)), n=120, seed=3)
    probed = leakage.sample_symbols(bars, 5, seed=1)
    assert probed["symbol"].n_unique() == 5 and leakage.sample_symbols(bars, 40, seed=1).equals(bars)
    peek = FeatureSpec("peek", lambda p: np.r_[p.close[1:], np.nan] / p.close - 1, ("close",), 0, "leak")
    rows = leakage.feature_lookahead_rows(probed, [*feature_set("baseline"), peek])
    assert failed(rows)["subject"].to_list() == ["peek"]
