"""Ensembles done right: each combiner's rule, nested purged CV that never reads a fold's own labels,
and stacking on in-sample predictions caught."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from foxml_dagster.ensemble import (
    EnsembleConfig,
    InSamplePredictions,
    Members,
    RankCombiner,
    StackedCombiner,
    WeightedCombiner,
    combine,
    combiner_from_state,
    fit_combiner,
    mean_ensemble,
    members,
    nested_ensemble,
    purged_splits,
)
from foxml_dagster.evaluation import score_predictions
from foxml_dagster.splits import purged_kfold
from foxml_dagster.training import fold_matrix, train_out_of_fold
from tests.unit.test_cpcv_training import FEATURES, make_frame

N_FOLDS, EMBARGO = 4, 0.02
CONFIG = EnsembleConfig()


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    # make_frame's edge (AUC ~0.8) is more than markets give; dilute it to an AUC near 0.65.
    base = make_frame(n_bars=200, seed=3)
    rng = np.random.default_rng(4)
    ret = base["ret"] + 0.02 * rng.normal(size=base.height)
    return base.with_columns(ret.alias("ret"), pl.when(ret > 0).then(1).otherwise(-1).cast(pl.Int8).alias("label"))


@pytest.fixture(scope="module")
def folds(frame) -> pl.DataFrame:
    return purged_kfold(frame.select("target", "symbol", "ts", "t1"), n_folds=N_FOLDS, embargo_pct=EMBARGO)[0]


@pytest.fixture(scope="module")
def trained(frame, folds):
    # logistic sees the planted edge (f_signal); ridge is fitted on noise alone.
    signal = train_out_of_fold(frame, folds, feature_columns=FEATURES, families={"logistic": {}}, seed=0)
    noise = train_out_of_fold(frame, folds, feature_columns=["f_noise"], families={"ridge": {}}, seed=0)
    return signal, noise


@pytest.fixture(scope="module")
def oof(trained) -> pl.DataFrame:
    return pl.concat([trained[0].oof, trained[1].oof])


def _members(X: np.ndarray, ret: np.ndarray) -> Members:
    n = len(ret)
    spans = pl.DataFrame(
        {
            "symbol": ["A"] * n,
            "ts": pl.datetime_range(
                pl.datetime(2021, 1, 1),
                pl.datetime(2021, 1, 1) + pl.duration(days=n - 1),
                "1d",
                eager=True,
                time_zone="UTC",
            ),
        }
    )
    spans = spans.with_columns((pl.col("ts") + pl.duration(days=1)).alias("t1"))
    return Members("t", ["a", "b"], spans, X, (ret > 0).astype(np.int8), ret, np.ones(n))


def test_weighted_ensemble_weights_positive_ics_shrunk_towards_equal():
    rng = np.random.default_rng(0)
    ret = rng.normal(size=500)
    X = np.column_stack([0.5 + 0.1 * ret + 0.01 * rng.normal(size=500), 0.5 - 0.1 * ret])  # IC > 0, IC < 0
    fitted = WeightedCombiner(["a", "b"], EnsembleConfig(shrinkage=0.5)).fit(_members(X, ret))
    # IC weights (1, 0): the negative IC gets nothing; half shrunk to equal (0.5, 0.5) -> (0.75, 0.25).
    np.testing.assert_allclose(fitted.weights_, [0.75, 0.25])
    np.testing.assert_allclose(fitted.predict(np.array([[0.8, 0.4]])), [0.7])
    pure = WeightedCombiner(["a", "b"], EnsembleConfig(shrinkage=0.0)).fit(_members(X, ret))
    np.testing.assert_allclose(pure.weights_, [1.0, 0.0])
    flat = WeightedCombiner(["a", "b"], EnsembleConfig(shrinkage=0.0)).fit(_members(X[:, ::-1] * 0 + 0.5, ret))
    np.testing.assert_allclose(flat.weights_, [0.5, 0.5])  # no positive IC at all: equal weights


def test_rank_ensemble_averages_each_familys_rank_among_its_own_scores():
    X = np.array([[0.1, 10.0], [0.2, 30.0], [0.3, 20.0], [0.4, 40.0]])
    fitted = RankCombiner(["a", "b"]).fit(_members(X, np.array([1.0, -1.0, 1.0, -1.0])))
    # a's 0.3 is its 3rd of 4 (mid-rank 2.5/4), b's 40 its 4th (3.5/4): mean 0.75; the scales never mix.
    np.testing.assert_allclose(fitted.predict(np.array([[0.3, 40.0]])), [0.75])
    np.testing.assert_allclose(fitted.predict(np.array([[0.0, 100.0]])), [0.5])  # below all / above all


def test_stacking_learns_to_trust_the_family_with_the_edge(frame, oof):
    m = members(oof, frame, "tb_h5")
    stacked = StackedCombiner(m.families, CONFIG).fit(m, embargo_pct=EMBARGO)
    # What each family moves the meta-learner's log-odds by: coefficient x spread of its log-odds.
    spread = np.log(m.X / (1 - m.X)).std(axis=0)
    effect = dict(zip(m.families, np.abs(stacked.coef_) * spread, strict=True))
    assert effect["logistic"] > 0.1 and effect["ridge"] < effect["logistic"] / 3
    assert set(stacked.inner_loss_) == set(CONFIG.stacking_c)  # each strength scored by the inner purged CV
    again = combiner_from_state(stacked.state(), CONFIG)
    np.testing.assert_array_equal(again.predict(m.X), stacked.predict(m.X))


@pytest.mark.parametrize("method", ["weighted", "stacked"])
def test_nested_ensemble_never_reads_the_labels_of_the_fold_it_predicts(frame, oof, method):
    m = members(oof, frame, "tb_h5")
    splits = purged_splits(m.spans, N_FOLDS, EMBARGO)
    base = nested_ensemble(m, method, CONFIG, n_folds=N_FOLDS, embargo_pct=EMBARGO)
    # Scramble the outcome of every row of fold 0's test block and of the rows purged around it.
    train0, test0 = splits[0]
    touched = np.setdiff1d(np.arange(len(m.y)), train0)
    rng = np.random.default_rng(1)
    flipped = Members(m.target, m.families, m.spans, m.X, 1 - m.y, m.ret.copy(), m.w)
    flipped.ret[touched] = rng.normal(size=len(touched))
    flipped.y = m.y.copy()
    flipped.y[touched] = 1 - m.y[touched]
    again = nested_ensemble(flipped, method, CONFIG, n_folds=N_FOLDS, embargo_pct=EMBARGO)
    fold0 = pl.col("fold") == 0
    assert base.filter(fold0)["y_score"].equals(again.filter(fold0)["y_score"])
    assert not base.filter(~fold0)["y_score"].equals(again.filter(~fold0)["y_score"])  # the probe has teeth
    assert base.height == len(m.y) and base["fold"].n_unique() == N_FOLDS


def test_every_ensemble_is_one_prediction_per_sample_and_scored_like_a_family(frame, folds, oof):
    ensembles = combine(oof, frame, CONFIG, folds=folds, n_folds=N_FOLDS, embargo_pct=EMBARGO)
    families = set(ensembles["family"])
    assert families == {"ensemble", "ensemble_weighted", "ensemble_rank", "ensemble_stacked"}
    for _, part in ensembles.group_by("family"):
        assert part.select("symbol", "ts").is_unique().all() and part["y_score"].is_between(0, 1).all()
    # The equal-weight mean is what it always was.
    equal = ensembles.filter(pl.col("family") == "ensemble")
    assert equal.equals(mean_ensemble(oof).select(equal.columns))
    scores = score_predictions(ensembles, frame)
    per_fold = scores.filter((pl.col("family") == "ensemble_stacked") & (pl.col("fold") >= 0))
    assert per_fold.height == N_FOLDS
    pooled = scores.filter(pl.col("fold") == -1).sort("auc", descending=True)
    assert pooled["auc"][0] > 0.6  # the planted edge survives combining


def test_stacking_on_in_sample_predictions_is_refused(frame, folds, trained, oof):
    # Each fold's own model scoring the rows it trained on, filed under that fold: in-sample.
    signal = trained[0]
    leaked = []
    for fitted in signal.models:
        X, y, _, keys = fold_matrix(frame, folds, "tb_h5", fitted.fold, "train", FEATURES)
        leaked.append(
            keys.select("symbol", "ts").with_columns(
                pl.lit(fitted.model_id).alias("model_id"),
                pl.lit("logistic").alias("family"),
                pl.lit("tb_h5").alias("target"),
                pl.lit(fitted.fold, pl.Int32).alias("fold"),
                pl.Series("y_true", y, dtype=pl.Int8),
                pl.Series("y_score", fitted.model.predict_score(X)),
                pl.lit(0, pl.Int32).alias("path"),
            )
        )
    in_sample = pl.concat([pl.concat(leaked).select(oof.columns), trained[1].oof])
    with pytest.raises(InSamplePredictions, match="not_a_test_row"):
        combine(in_sample, frame, CONFIG, folds=folds, n_folds=N_FOLDS, embargo_pct=EMBARGO)


def test_in_sample_scores_disguised_as_out_of_fold_are_refused_by_their_implausible_auc(frame, folds, oof):
    # Right folds and rows, but scores that have seen the labels (a memorising model's).
    rng = np.random.default_rng(2)
    disguised = oof.with_columns(
        pl.when(pl.col("family") == "ridge")
        .then(pl.col("y_true").cast(pl.Float64) * 0.6 + pl.lit(rng.uniform(0, 0.4, oof.height)))
        .otherwise(pl.col("y_score"))
        .alias("y_score")
    )
    with pytest.raises(InSamplePredictions, match="ridge tb_h5: out-of-fold AUC"):
        combine(disguised, frame, CONFIG, folds=folds, n_folds=N_FOLDS, embargo_pct=EMBARGO)
    # The honest predictions pass the same audit.
    combine(oof, frame, EnsembleConfig(methods=[]), folds=folds, n_folds=N_FOLDS, embargo_pct=EMBARGO)


def test_production_combiner_is_fitted_on_every_row_and_round_trips(frame, oof):
    m = members(oof, frame, "tb_h5")
    for method in ("equal", "weighted", "rank", "stacked"):
        fitted = fit_combiner(m, method, CONFIG, embargo_pct=EMBARGO)
        restored = combiner_from_state(fitted.state(), CONFIG)
        np.testing.assert_allclose(restored.predict(m.X), fitted.predict(m.X))


@pytest.mark.parametrize("c", [0.01, 0.1, 1.0, 100.0])
def test_the_meta_learners_solver_matches_scikit_learns_logistic_regression(c):
    from sklearn.linear_model import LogisticRegression

    from foxml_dagster.ensemble import _fit_logistic

    rng = np.random.default_rng(7)
    Z = rng.normal(size=(800, 3)) * np.array([0.2, 1.0, 3.0])
    y = (Z @ np.array([1.5, -0.5, 0.1]) + rng.logistic(size=800) > 0.3).astype(np.int8)
    w = rng.uniform(0.2, 2.0, 800)
    mine = _fit_logistic(Z, y, w, c)
    reference = LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(Z, y, sample_weight=w)
    np.testing.assert_allclose(mine.coef, reference.coef_[0], rtol=1e-4, atol=1e-6)
    assert mine.intercept == pytest.approx(reference.intercept_[0], rel=1e-4, abs=1e-6)
