"""Training and evaluation on combinatorial purged CV folds: paths, leaks planted and caught."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from foxml_dagster.ensemble import mean_ensemble, path_mean
from foxml_dagster.evaluation import PATH_FOLD, POOLED_FOLD, score_predictions
from foxml_dagster.signals import signals_from_predictions
from foxml_dagster.splits import combinatorial_purged, cpcv_counts, purged_kfold
from foxml_dagster.training import PREDICTIONS_SCHEMA, audit_predictions, train_out_of_fold

FEATURES = ["f_signal", "f_noise"]
N_GROUPS, K_TEST = 6, 2
HORIZON = 5
FAMILIES = {"logistic": {}}
SAMPLE = ["target", "symbol", "ts"]


def make_frame(n_bars: int = 240, symbols=("AAA", "BBB", "CCC"), seed: int = 0) -> pl.DataFrame:
    """A training_frame whose labels span HORIZON days and follow f_signal (a planted edge)."""
    rng = np.random.default_rng(seed)
    start = datetime(2021, 1, 1, tzinfo=UTC)
    ts = [start + timedelta(days=i) for i in range(n_bars)]
    parts = []
    for symbol in symbols:
        f = rng.normal(size=(n_bars, 2))
        ret = 0.01 * f[:, 0] + 0.01 * rng.normal(size=n_bars)
        parts.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "ts": ts,
                    "target": "tb_h5",
                    "t1": [t + timedelta(days=HORIZON) for t in ts],
                    "label": np.where(ret > 0, 1, -1).astype(np.int8),
                    "ret": ret,
                    "weight": np.ones(n_bars),
                    "f_signal": f[:, 0],
                    "f_noise": f[:, 1],
                }
            )
        )
    return pl.concat(parts).with_columns(pl.col("ts", "t1").cast(pl.Datetime("us", "UTC")))


def cpcv_folds(frame: pl.DataFrame) -> pl.DataFrame:
    folds, _ = combinatorial_purged(
        frame.select("target", "symbol", "ts", "t1"), n_groups=N_GROUPS, n_test_groups=K_TEST, embargo_pct=0.02
    )
    return folds


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def folds(frame) -> pl.DataFrame:
    return cpcv_folds(frame)


@pytest.fixture(scope="module")
def result(frame, folds):
    return train_out_of_fold(frame, folds, feature_columns=FEATURES, families=FAMILIES, seed=0)


# ------------------------------------------------------------------------------ paths


def test_cpcv_trains_one_model_per_split_and_predicts_phi_paths(result) -> None:
    n_splits, n_paths = cpcv_counts(N_GROUPS, K_TEST)
    assert (n_splits, n_paths) == (15, 5)  # phi[6, 2] = 2/6 * C(6, 2)
    assert len(result.models) == n_splits and result.skipped == []
    assert result.n_paths == {"tb_h5": n_paths}
    assert dict(result.oof.schema) == PREDICTIONS_SCHEMA
    assert sorted(result.oof["path"].unique().to_list()) == list(range(n_paths))


def test_every_path_covers_every_sample_exactly_once(result, frame) -> None:
    samples = frame.select(SAMPLE).sort(SAMPLE)
    for (path,), part in result.oof.group_by(["path"]):
        assert part.height == samples.height, f"path {path}"
        assert part.select(SAMPLE).sort(SAMPLE).equals(samples), f"path {path}"
    # ...and so each sample is predicted C(N-1, k-1) times in all, once per path.
    per_sample = result.oof.group_by(SAMPLE).agg(pl.col("path").n_unique().alias("paths"), pl.len().alias("n"))
    assert (per_sample["paths"] == 5).all() and (per_sample["n"] == 5).all()


def test_path_p_of_a_group_is_the_p_th_split_in_lexicographic_order_that_tests_it(result, frame) -> None:
    # Independent of the fold builder: recompute which groups each split tests, in order.
    splits = list(combinations(range(N_GROUPS), K_TEST))
    grid = frame["ts"].unique().sort()
    assert grid.len() % N_GROUPS == 0  # equal groups: group = position // group size
    positions = grid.to_frame().with_row_index("pos")
    rows = result.oof.join(positions, on="ts").with_columns((pl.col("pos") // (grid.len() // N_GROUPS)).alias("g"))
    for (g, fold, path), _ in rows.group_by(["g", "fold", "path"]):
        testing_g = [i for i, chosen in enumerate(splits) if g in chosen]
        assert testing_g[path] == fold, f"group {g} path {path} came from split {fold}, expected {testing_g[path]}"


# ------------------------------------------------------------------------------ leaks


def test_no_prediction_comes_from_a_model_whose_training_labels_overlap_its_test_group(result, folds, frame) -> None:
    assert audit_predictions(result.oof, folds, frame) == []
    # Brute force, the plain definition: for every predicted sample, every training label of its
    # model ends before the sample's test group starts or starts after its last label ends.
    spans = frame.select(*SAMPLE, "t1")
    for (fold,), test in folds.filter(pl.col("role") == "test").join(spans, on=SAMPLE).group_by(["fold"]):
        train = folds.filter((pl.col("fold") == fold) & (pl.col("role") == "train")).join(spans, on=SAMPLE)
        for block in _runs(test, frame):
            start, end = block["ts"].min(), block["t1"].max()
            assert train.filter((pl.col("ts") <= end) & (pl.col("t1") >= start)).is_empty(), f"fold {fold}"


def _runs(test: pl.DataFrame, frame: pl.DataFrame) -> list[pl.DataFrame]:
    """The fold's test rows split into runs of consecutive timestamps of the grid."""
    grid = frame["ts"].unique().sort()
    pos = test.join(grid.to_frame().with_row_index("pos"), on="ts").sort("pos")
    run = (pos["pos"].diff().fill_null(1) != 1).cum_sum()
    return [part for _, part in pos.with_columns(run.alias("run")).group_by("run")]


def leaky_folds(folds: pl.DataFrame, frame: pl.DataFrame, fold: int) -> pl.DataFrame:
    """Put back, as training rows of `fold`, every sample its purge and embargo removed."""
    present = folds.filter(pl.col("fold") == fold).select(SAMPLE)
    removed = frame.select(SAMPLE).join(present, on=SAMPLE, how="anti")
    assert removed.height > 0
    back = removed.with_columns(pl.lit(fold, pl.Int32).alias("fold"), pl.lit("train").alias("role"))
    return pl.concat([folds, back.with_columns(pl.lit(None, pl.Int32).alias("path")).select(folds.columns)])


def test_a_planted_model_trained_on_overlapping_labels_is_caught(folds, frame) -> None:
    leaky = leaky_folds(folds, frame, fold=3)
    trained = train_out_of_fold(frame, leaky, feature_columns=FEATURES, families=FAMILIES, seed=0)
    problems = audit_predictions(trained.oof, leaky, frame)
    assert problems, "the leak was planted in fold 3's training rows and must be found"
    assert {p.kind for p in problems} == {"train_overlaps_test_group"}
    assert all("fold 3:" in p.detail for p in problems)
    # The leaky model did learn from those rows: its predictions differ from the clean run's.
    clean = train_out_of_fold(frame, folds, feature_columns=FEATURES, families=FAMILIES, seed=0)
    fold3 = pl.col("fold") == 3
    assert not trained.oof.filter(fold3).equals(clean.oof.filter(fold3))


def test_predictions_filed_under_the_wrong_path_or_fold_are_caught(result, folds, frame) -> None:
    swapped = result.oof.with_columns(
        pl.when(pl.col("fold") == 0).then((pl.col("path") + 1) % 5).otherwise(pl.col("path")).alias("path")
    )
    kinds = {p.kind for p in audit_predictions(swapped, folds, frame)}
    assert {"path_mismatch", "path_duplicate", "path_incomplete"} <= kinds
    refiled = result.oof.with_columns(pl.when(pl.col("fold") == 0).then(1).otherwise(pl.col("fold")).alias("fold"))
    assert "not_a_test_row" in {p.kind for p in audit_predictions(refiled, folds, frame)}
    dropped = result.oof.filter(pl.col("fold") != 7)
    assert {p.kind for p in audit_predictions(dropped, folds, frame)} == {"path_incomplete"}


def test_the_labels_of_a_group_never_reach_the_models_that_predict_it(result, folds, frame) -> None:
    """Flip the labels of group 0 (tested by splits 0 and 1 together): none of its predictions move."""
    tested = folds.filter(pl.col("role") == "test")
    group0 = tested.filter(pl.col("fold") == 0).join(tested.filter(pl.col("fold") == 1), on=SAMPLE).select(SAMPLE)
    flipped = (
        frame.join(group0.with_columns(pl.lit(True).alias("g0")), on=SAMPLE, how="left")
        .with_columns(
            pl.when(pl.col("g0")).then(-pl.col("label")).otherwise(pl.col("label")).cast(pl.Int8).alias("label")
        )
        .drop("g0")
    )
    again = train_out_of_fold(flipped, folds, feature_columns=FEATURES, families=FAMILIES, seed=0)
    mine = lambda oof: oof.join(group0, on=SAMPLE).drop("y_true").sort("fold", "symbol", "ts")  # noqa: E731
    assert mine(again.oof).equals(mine(result.oof))
    assert not again.oof.drop("y_true").equals(result.oof.drop("y_true"))  # the flip did reach other models


# ------------------------------------------------------------------------------ contract


def test_folds_that_test_a_sample_twice_on_one_path_are_refused(folds, frame) -> None:
    broken = folds.with_columns(pl.when(pl.col("role") == "test").then(0).otherwise(None).alias("path"))
    with pytest.raises(ValueError, match="tested twice in one path"):
        train_out_of_fold(frame, broken, feature_columns=FEATURES, families=FAMILIES)


def test_kfold_training_is_unchanged_and_labels_every_prediction_path_zero(frame) -> None:
    folds, _ = purged_kfold(frame.select("target", "symbol", "ts", "t1"), n_folds=4, embargo_pct=0.02)
    out = train_out_of_fold(frame, folds, feature_columns=FEATURES, families=FAMILIES, seed=0)
    assert out.n_paths == {"tb_h5": 1} and (out.oof["path"] == 0).all()
    assert out.oof.height == frame.height == out.oof.select(SAMPLE).n_unique()
    assert audit_predictions(out.oof, folds, frame) == []
    assert path_mean(out.oof).equals(out.oof)


# ------------------------------------------------------------------------------ evaluation and downstream


def test_scores_report_each_path_and_their_spread(result, frame) -> None:
    scores = score_predictions(result.oof, frame)
    per_path = scores.filter(pl.col("fold") == PATH_FOLD).sort("path")
    assert per_path["path"].to_list() == list(range(5))
    assert (per_path["n"] == frame.height).all()
    assert scores.filter(pl.col("fold") >= 0).height == 15
    pooled = scores.filter(pl.col("fold") == POOLED_FOLD).row(0, named=True)
    sharpes = per_path["sign_sharpe"].to_numpy()
    assert pooled["n_paths"] == 5
    assert pooled["path_sharpe_mean"] == pytest.approx(sharpes.mean())
    assert pooled["path_sharpe_std"] == pytest.approx(sharpes.std(ddof=1))
    assert pooled["path_sharpe_min"] == pytest.approx(sharpes.min())
    assert pooled["path_sharpe_median"] == pytest.approx(np.median(sharpes))
    assert pooled["path_ic_min"] == pytest.approx(per_path["ic"].min())
    assert pooled["path_sharpe_std"] > 0  # different models per path give different backtests
    # The pooled row scores one prediction per sample: the mean over paths, computed here by hand.
    mean = result.oof.group_by(SAMPLE).agg(pl.col("y_score").mean(), pl.col("y_true").first())
    assert pooled["n"] == frame.height
    assert pooled["auc"] == pytest.approx(roc_auc_score(mean["y_true"], mean["y_score"]))
    # Each path on its own beats chance on the planted signal.
    assert (per_path["auc"] > 0.6).all()


def test_downstream_gets_one_prediction_per_sample_with_no_row_counted_twice(result, frame) -> None:
    two = pl.concat(
        [
            result.oof,
            result.oof.with_columns(
                pl.lit("other").alias("family"),
                pl.format("other:{}", pl.col("model_id")).alias("model_id"),
                (1 - pl.col("y_score")).alias("y_score"),
            ),
        ]
    )
    ens = mean_ensemble(two)
    assert dict(ens.schema) == PREDICTIONS_SCHEMA
    assert ens.height == frame.height == ens.select(SAMPLE).n_unique()
    assert ens["fold"].null_count() == ens.height and ens["path"].null_count() == ens.height
    # mean over families of (mean over paths): the two families mirror each other, so exactly 0.5.
    np.testing.assert_allclose(ens["y_score"].to_numpy(), 0.5, atol=1e-12)
    single = mean_ensemble(result.oof)
    by_hand = result.oof.group_by(SAMPLE).agg(pl.col("y_score").mean().alias("expected"))
    joined = single.join(by_hand, on=SAMPLE)
    assert joined.height == frame.height
    np.testing.assert_allclose(joined["y_score"].to_numpy(), joined["expected"].to_numpy(), atol=1e-12)
    signals = signals_from_predictions(single, target="tb_h5")
    assert signals.height == frame.height


def test_path_mean_refuses_a_sample_predicted_twice_on_one_path(result) -> None:
    doubled = pl.concat([result.oof, result.oof.filter(pl.col("fold") == 0)])
    with pytest.raises(ValueError, match="twice on one backtest path"):
        path_mean(doubled)
