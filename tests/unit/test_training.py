"""Out-of-fold training and the mean ensemble."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from foxml_dagster.ensemble import mean_ensemble
from foxml_dagster.training import PREDICTIONS_SCHEMA, fold_matrix, train_out_of_fold

FEATURES = ["f_signal", "f_noise_a", "f_noise_b"]
FAST = {"lightgbm": {"n_estimators": 40, "min_child_samples": 20}, "logistic": {}}
UTC_US = pl.Datetime("us", "UTC")


def make_frame(n_bars: int = 300, symbols: tuple[str, ...] = ("AAA", "BBB", "CCC"), seed: int = 0) -> pl.DataFrame:
    """training_frame with a planted signal: f_signal drives the label of both targets."""
    rng = np.random.default_rng(seed)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    parts = []
    for target, horizon in (("tb_h5", 5), ("fwd_ret_1", 1)):
        for sym in symbols:
            ts = [start + timedelta(days=i) for i in range(n_bars)]
            f = rng.normal(size=(n_bars, 3))
            ret = 0.01 * f[:, 0] + 0.01 * rng.normal(size=n_bars)
            label = np.where(ret > 0.003, 1, np.where(ret < -0.003, -1, 0)).astype(np.int8)
            parts.append(
                pl.DataFrame(
                    {
                        "symbol": sym,
                        "ts": ts,
                        "target": target,
                        "t1": [t + timedelta(days=horizon) for t in ts],
                        "label": label,
                        "ret": ret,
                        "weight": rng.uniform(0.5, 1.5, size=n_bars),
                        **{name: f[:, i] for i, name in enumerate(FEATURES)},
                    }
                ).with_columns(pl.col("ts").cast(UTC_US), pl.col("t1").cast(UTC_US), pl.col("label").cast(pl.Int8))
            )
    return pl.concat(parts)


def make_folds(frame: pl.DataFrame, n_folds: int = 3, gap_days: int = 5) -> pl.DataFrame:
    """Contiguous time blocks as test folds; training drops `gap_days` either side (purge/embargo)."""
    keys = frame.select("target", "symbol", "ts")
    ts_sorted = keys.get_column("ts").unique().sort()
    edges = [ts_sorted[int(i * len(ts_sorted) / n_folds)] for i in range(n_folds)] + [ts_sorted[-1] + timedelta(days=1)]
    gap = timedelta(days=gap_days)
    parts = []
    for k in range(n_folds):
        lo, hi = edges[k], edges[k + 1]
        test = keys.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi)).with_columns(role=pl.lit("test"))
        train = keys.filter((pl.col("ts") < lo - gap) | (pl.col("ts") >= hi + gap)).with_columns(role=pl.lit("train"))
        parts.append(pl.concat([train, test]).with_columns(fold=pl.lit(k, dtype=pl.Int32)))
    return pl.concat(parts).select("target", "fold", "symbol", "ts", "role")


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def folds(frame: pl.DataFrame) -> pl.DataFrame:
    return make_folds(frame)


@pytest.fixture(scope="module")
def result(frame: pl.DataFrame, folds: pl.DataFrame):
    return train_out_of_fold(frame, folds, feature_columns=FEATURES, families=FAST, targets=["tb_h5"], seed=0)


def test_oof_follows_the_predictions_contract_and_is_sorted(result) -> None:
    oof = result.oof
    assert dict(oof.schema) == PREDICTIONS_SCHEMA
    assert oof.equals(oof.sort("model_id", "symbol", "ts"))
    assert set(oof.get_column("model_id").unique()) == {f"{fam}:tb_h5:fold{k}" for fam in FAST for k in range(3)}


def test_every_test_sample_is_predicted_once_per_family(result, frame, folds) -> None:
    n_samples = frame.filter(pl.col("target") == "tb_h5").height
    for fam in FAST:
        preds = result.oof.filter(pl.col("family") == fam)
        assert preds.height == n_samples
        assert preds.select("symbol", "ts").n_unique() == n_samples
    tests = folds.filter((pl.col("role") == "test") & (pl.col("target") == "tb_h5"))
    joined = result.oof.join(tests, on=["target", "symbol", "ts"], how="left", suffix="_folds")
    assert joined.filter(pl.col("fold") != pl.col("fold_folds")).height == 0


def test_y_true_is_one_exactly_where_the_label_is_an_up_move(result, frame) -> None:
    joined = result.oof.join(frame, on=["target", "symbol", "ts"])
    assert (joined.get_column("y_true") == (joined.get_column("label") == 1).cast(pl.Int8)).all()


@pytest.mark.parametrize("family", list(FAST))
def test_both_families_beat_chance_out_of_fold_on_a_planted_signal(result, family: str) -> None:
    preds = result.oof.filter(pl.col("family") == family)
    assert roc_auc_score(preds["y_true"].to_numpy(), preds["y_score"].to_numpy()) > 0.7


def test_fitted_models_record_their_fit(result, folds) -> None:
    assert len(result.models) == 6 and result.skipped == []
    for m in result.models:
        assert m.model_id == f"{m.family}:{m.target}:fold{m.fold}"
        roles = folds.filter((pl.col("target") == m.target) & (pl.col("fold") == m.fold))
        assert m.n_train == roles.filter(pl.col("role") == "train").height
        assert m.n_test == roles.filter(pl.col("role") == "test").height
        train_ts = roles.filter(pl.col("role") == "train").get_column("ts")
        assert (m.train_start, m.train_end) == (train_ts.min(), train_ts.max())
        assert m.fit_seconds >= 0
        assert m.model.describe()["family"] == m.family


def test_same_inputs_and_seed_give_identical_oof_regardless_of_row_order(frame, folds, result) -> None:
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=11)
    again = train_out_of_fold(
        shuffled, folds.reverse(), feature_columns=FEATURES, families=FAST, targets=["tb_h5"], seed=0
    )
    assert again.oof.equals(result.oof)


def test_a_lazy_scan_of_the_stored_frame_trains_exactly_as_the_frame_in_memory(frame, folds, result, tmp_path) -> None:
    path = tmp_path / "training_frame.parquet"
    frame.with_columns(pl.lit(0.0).alias("unused_feature")).write_parquet(path)
    scanned = train_out_of_fold(
        pl.scan_parquet(path), folds, feature_columns=FEATURES, families=FAST, targets=["tb_h5"], seed=0
    )
    assert scanned.oof.equals(result.oof)
    assert scanned.data_hashes == result.data_hashes


def test_test_labels_never_reach_the_fit(frame, folds, result) -> None:
    """Scrambling the labels of fold 0's test rows leaves fold 0's predictions unchanged."""
    test0 = folds.filter((pl.col("fold") == 0) & (pl.col("role") == "test")).select("target", "symbol", "ts")
    scrambled = (
        frame.join(test0.with_columns(in_test=pl.lit(True)), on=["target", "symbol", "ts"], how="left")
        .with_columns(
            pl.when(pl.col("in_test")).then(-pl.col("label")).otherwise(pl.col("label")).alias("label"),
            pl.when(pl.col("in_test")).then(pl.col("weight") * 3).otherwise(pl.col("weight")).alias("weight"),
        )
        .drop("in_test")
    )
    again = train_out_of_fold(scrambled, folds, feature_columns=FEATURES, families=FAST, targets=["tb_h5"], seed=0)
    fold0 = pl.col("fold") == 0
    assert again.oof.filter(fold0).drop("y_true").equals(result.oof.filter(fold0).drop("y_true"))
    # ...while the folds that train on those rows do change, so the scramble did reach training.
    assert not again.oof.filter(~fold0).equals(result.oof.filter(~fold0))


def test_fold_matrix_returns_exactly_the_rows_of_the_role(frame, folds) -> None:
    X, y, w, keys = fold_matrix(frame, folds, "tb_h5", 1, "train", FEATURES)
    expected = folds.filter((pl.col("target") == "tb_h5") & (pl.col("fold") == 1) & (pl.col("role") == "train"))
    assert X.shape == (expected.height, len(FEATURES)) and X.dtype == np.float64
    assert len(y) == len(w) == keys.height == expected.height
    assert keys.select("symbol", "ts").equals(expected.select("symbol", "ts").sort("symbol", "ts"))
    assert set(np.unique(y)) <= {0, 1}


def test_missing_feature_column_is_named(frame, folds) -> None:
    with pytest.raises(ValueError, match="f_missing"):
        train_out_of_fold(frame, folds, feature_columns=[*FEATURES, "f_missing"], families=FAST)


def test_target_absent_from_folds_is_an_error(frame, folds) -> None:
    with pytest.raises(ValueError, match="fwd_ret_1"):
        train_out_of_fold(frame, folds.filter(pl.col("target") == "tb_h5"), feature_columns=FEATURES, families=FAST)


def test_unknown_family_or_parameter_fails_before_training(frame, folds) -> None:
    with pytest.raises(KeyError, match="registered families"):
        train_out_of_fold(frame, folds, feature_columns=FEATURES, families={"catboost": {}})
    with pytest.raises(TypeError, match="bogus"):
        train_out_of_fold(frame, folds, feature_columns=FEATURES, families={"logistic": {"bogus": 1}})


def test_null_features_are_rejected_with_the_column_named(frame, folds) -> None:
    broken = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("f_noise_a")).alias("f_noise_a")
    )
    with pytest.raises(ValueError, match="f_noise_a"):
        train_out_of_fold(broken, folds, feature_columns=FEATURES, families=FAST)


def test_a_fold_without_train_rows_is_skipped_not_fatal(frame, folds) -> None:
    no_train = folds.filter(~((pl.col("fold") == 2) & (pl.col("role") == "train")))
    out = train_out_of_fold(frame, no_train, feature_columns=FEATURES, families={"logistic": {}}, targets=["tb_h5"])
    assert out.skipped == [("tb_h5", "logistic", 2, "no train rows")]
    assert sorted(m.fold for m in out.models) == [0, 1]
    assert set(out.oof.get_column("fold").unique()) == {0, 1}


def test_a_single_class_training_fold_gives_constant_predictions(frame, folds) -> None:
    train0 = folds.filter((pl.col("fold") == 0) & (pl.col("role") == "train")).select("target", "symbol", "ts")
    all_down = (
        frame.join(train0.with_columns(t=pl.lit(True)), on=["target", "symbol", "ts"], how="left")
        .with_columns(pl.when(pl.col("t")).then(pl.lit(-1, dtype=pl.Int8)).otherwise(pl.col("label")).alias("label"))
        .drop("t")
    )
    out = train_out_of_fold(all_down, folds, feature_columns=FEATURES, families=FAST, targets=["tb_h5"])
    for fam in FAST:
        fold0 = out.oof.filter((pl.col("family") == fam) & (pl.col("fold") == 0))
        assert fold0.height > 0 and (fold0.get_column("y_score") == 0.0).all()


def test_default_targets_are_all_targets_of_the_frame(frame, folds) -> None:
    out = train_out_of_fold(frame, folds, feature_columns=FEATURES, families={"logistic": {}})
    assert sorted(out.oof.get_column("target").unique()) == ["fwd_ret_1", "tb_h5"]


# ------------------------------------------------------------------------------ ensemble


def test_mean_ensemble_averages_families_per_sample(result) -> None:
    ens = mean_ensemble(result.oof)
    assert dict(ens.schema) == PREDICTIONS_SCHEMA
    assert set(ens.get_column("family")) == {"ensemble"}
    assert set(ens.get_column("model_id")) == {"ensemble:tb_h5"}
    wide = result.oof.pivot(on="family", index=["symbol", "ts"], values="y_score")
    expected = wide.with_columns(((pl.col("lightgbm") + pl.col("logistic")) / 2).alias("mean"))
    joined = ens.join(expected, on=["symbol", "ts"])
    assert joined.height == ens.height == wide.height
    np.testing.assert_allclose(joined["y_score"].to_numpy(), joined["mean"].to_numpy(), rtol=0, atol=1e-15)


def _two_family_predictions() -> pl.DataFrame:
    ts = [datetime(2021, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    rows = []
    for fam, scores in (("a", [0.2, 0.4, 0.9]), ("b", [0.4, 0.8, None])):
        for t, s, y in zip(ts, scores, [0, 1, 1], strict=True):
            if s is not None:
                rows.append(
                    {
                        "model_id": f"{fam}:t:fold0",
                        "family": fam,
                        "target": "t",
                        "fold": 0,
                        "symbol": "X",
                        "ts": t,
                        "y_true": y,
                        "y_score": s,
                    }
                )
    return pl.DataFrame(rows, schema=PREDICTIONS_SCHEMA)


def test_mean_ensemble_keeps_only_samples_every_family_predicted() -> None:
    ens = mean_ensemble(_two_family_predictions())
    assert ens.get_column("y_score").to_list() == pytest.approx([0.3, 0.6])
    assert ens.get_column("y_true").to_list() == [0, 1]
    only_a = mean_ensemble(_two_family_predictions(), families=["a"])
    assert only_a.get_column("y_score").to_list() == [0.2, 0.4, 0.9]


def test_mean_ensemble_ignores_existing_ensemble_rows_by_default() -> None:
    preds = _two_family_predictions()
    twice = pl.concat([preds, mean_ensemble(preds)])
    assert mean_ensemble(twice).equals(mean_ensemble(preds))


def test_mean_ensemble_refuses_families_that_disagree_on_y_true() -> None:
    preds = _two_family_predictions().with_columns(
        pl.when(pl.col("family") == "b")
        .then(1 - pl.col("y_true"))
        .otherwise(pl.col("y_true"))
        .cast(pl.Int8)
        .alias("y_true")
    )
    with pytest.raises(ValueError, match="disagree on y_true"):
        mean_ensemble(preds)


def test_mean_ensemble_refuses_an_unknown_family() -> None:
    with pytest.raises(ValueError, match="'c'"):
        mean_ensemble(_two_family_predictions(), families=["a", "c"])


# ---------------------------------------------------------------- validation slice, all families


def test_validation_slice_is_the_end_of_the_training_fold_purged_by_label_span(frame, folds) -> None:
    from foxml_dagster.training.data import build_panel, carve_validation, fold_rows

    panel = build_panel(frame, "tb_h5", FEATURES)
    train = fold_rows(panel, folds, 1, "train")
    fit, val = carve_validation(panel.ts, panel.t1, train, 0.2)
    assert len(val) > 0 and len(fit) > 0
    assert set(fit) | set(val) <= set(train) and not set(fit) & set(val)
    # Val is a block at the end of the fold's timeline, not a shuffled sample...
    assert panel.ts[val].min() > panel.ts[fit].max()
    assert (panel.ts[train][panel.ts[train] >= panel.ts[val].min()].size) == len(val)
    # ...and no fit label is still open when the val block starts.
    assert panel.t1[fit].max() < panel.ts[val].min()
    purged = set(train) - set(fit) - set(val)
    assert purged and all(panel.t1[r] >= panel.ts[val].min() for r in purged)


def test_no_validation_slice_when_the_fraction_is_zero(frame, folds) -> None:
    from foxml_dagster.training.data import build_panel, carve_validation, fold_rows

    panel = build_panel(frame, "tb_h5", FEATURES)
    train = fold_rows(panel, folds, 0, "train")
    fit, val = carve_validation(panel.ts, panel.t1, train, 0.0)
    assert np.array_equal(fit, train) and len(val) == 0


TINY = {
    "lightgbm": {"n_estimators": 20, "min_child_samples": 10},
    "xgboost": {"n_estimators": 20},
    "logistic": {},
    "ridge": {},
    "random_forest": {"n_estimators": 10},
    "extra_trees": {"n_estimators": 10},
    "mlp": {"hidden_size": 8, "max_epochs": 2},
    "lstm": {"hidden_size": 8, "max_epochs": 2, "window": 4},
    "gru": {"hidden_size": 8, "max_epochs": 2, "window": 4},
    "cnn1d": {"hidden_size": 8, "max_epochs": 2, "window": 4},
    "tcn": {"hidden_size": 8, "max_epochs": 2, "window": 4, "num_layers": 2},
    "transformer": {"hidden_size": 8, "max_epochs": 2, "window": 4, "num_heads": 2},
}


@pytest.fixture(scope="module")
def small() -> tuple[pl.DataFrame, pl.DataFrame]:
    f = make_frame(n_bars=200, symbols=("AAA", "BBB"))
    return f, make_folds(f, n_folds=2)


def test_every_family_trains_out_of_fold_and_reloads_from_disk(small, tmp_path) -> None:
    from foxml_dagster.models import ModelFamily
    from foxml_dagster.training.data import build_panel, fold_rows
    from foxml_dagster.training.manifest import save_family

    f, fo = small
    result = train_out_of_fold(f, fo, feature_columns=FEATURES, families=TINY, targets=["tb_h5"], seed=1)
    assert set(result.oof["family"].unique()) == set(TINY)
    n = f.filter(pl.col("target") == "tb_h5").height
    panel = build_panel(f, "tb_h5", FEATURES)
    for family in TINY:
        preds = result.oof.filter(pl.col("family") == family)
        assert preds.height == n and preds["y_score"].is_between(0, 1).all(), family
        rows, manifest = save_family(result, family, tmp_path, seed=1, feature_columns=FEATURES, val_fraction=0.2)
        assert len(rows) == 2 and manifest["config_hash"] and manifest["data_hashes"]["tb_h5"]
        for row in rows:
            model = ModelFamily.load(row["path"])
            test = fold_rows(panel, fo, row["fold"], "test")
            again = model.predict_score(panel.inputs(test, model.window, model.input_kind))
            expected = preds.filter(pl.col("fold") == row["fold"]).sort("symbol", "ts")["y_score"].to_numpy()
            np.testing.assert_array_equal(again, expected)
    boosted = next(m for m in result.models if m.family == "lightgbm")
    assert boosted.n_val > 0 and boosted.n_fit + boosted.n_val < boosted.n_train  # purged rows dropped
    assert next(m for m in result.models if m.family == "logistic").n_val == 0  # no early stopping


def test_rerunning_gives_identical_predictions_and_the_same_manifest_hashes(small, tmp_path) -> None:
    from foxml_dagster.training.manifest import save_family

    f, fo = small
    families = {k: TINY[k] for k in ("lightgbm", "xgboost", "mlp", "gru")}
    runs = []
    for i in range(2):
        result = train_out_of_fold(f, fo, feature_columns=FEATURES, families=families, targets=["tb_h5"], seed=5)
        manifests = [
            save_family(result, fam, tmp_path / str(i), seed=5, feature_columns=FEATURES, val_fraction=0.2)[1]
            for fam in families
        ]
        runs.append((result.oof, manifests))
    assert runs[0][0].equals(runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        assert (a["config_hash"], a["data_hashes"], a["code_version"]) == (
            b["config_hash"],
            b["data_hashes"],
            b["code_version"],
        )
