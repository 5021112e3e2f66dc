"""Scoring of predictions: each metric on hand-checkable data."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from foxml_dagster.evaluation import POOLED_FOLD, SCORES_SCHEMA, score_predictions

UTC_US = pl.Datetime("us", "UTC")


def case(
    scores: list[float], y_true: list[int], rets: list[float], folds: list[int] | None = None, family: str = "m"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = len(scores)
    ts = [datetime(2022, 1, 1, tzinfo=UTC) + timedelta(days=i) for i in range(n)]
    folds = folds if folds is not None else [0] * n
    preds = pl.DataFrame(
        {
            "model_id": [f"{family}:t:fold{f}" for f in folds],
            "family": family,
            "target": "t",
            "fold": folds,
            "symbol": "X",
            "ts": ts,
            "y_true": y_true,
            "y_score": scores,
        },
        schema_overrides={"fold": pl.Int32, "ts": UTC_US, "y_true": pl.Int8},
    )
    frame = pl.DataFrame({"target": "t", "symbol": "X", "ts": ts, "ret": rets}, schema_overrides={"ts": UTC_US})
    return preds, frame


def test_scores_have_one_row_per_fold_plus_a_pooled_row() -> None:
    preds, frame = case(
        [0.1, 0.9, 0.2, 0.8, 0.3, 0.7], [0, 1, 0, 1, 1, 0], [-1, 1, -1, 1, 1, -1], folds=[0, 0, 1, 1, 2, 2]
    )
    out = score_predictions(preds, frame)
    assert dict(out.schema) == SCORES_SCHEMA
    assert out.get_column("fold").to_list() == [POOLED_FOLD, 0, 1, 2]
    assert out.filter(pl.col("fold") == POOLED_FOLD).get_column("n").item() == 6
    assert out.filter(pl.col("fold") == 0).get_column("auc").item() == 1.0
    assert out.filter(pl.col("fold") == 2).get_column("auc").item() == 0.0


def test_perfect_ranking_scores_auc_one_and_full_accuracy() -> None:
    preds, frame = case([0.1, 0.3, 0.6, 0.9], [0, 0, 1, 1], [-0.02, -0.01, 0.01, 0.03])
    row = score_predictions(preds, frame).filter(pl.col("fold") == 0).row(0, named=True)
    assert row["auc"] == 1.0 and row["accuracy"] == 1.0 and row["rank_ic"] == pytest.approx(1.0)
    assert row["base_rate"] == 0.5
    expected_ll = -np.mean(np.log([0.9, 0.7, 0.6, 0.9]))
    assert row["log_loss"] == pytest.approx(expected_ll)


def test_constant_half_forecast_has_log_loss_ln2_and_no_ic() -> None:
    preds, frame = case([0.5] * 4, [0, 1, 0, 1], [0.01, -0.01, 0.02, 0.0])
    row = score_predictions(preds, frame).row(0, named=True)
    assert row["log_loss"] == pytest.approx(math.log(2))
    assert row["auc"] == 0.5
    assert row["ic"] is None  # constant scores have no rank correlation
    assert row["accuracy"] == 0.5  # 0.5 counts as a "not up" call
    assert row["sign_sharpe"] is None  # never positioned: zero variance


def test_single_class_fold_has_null_auc_but_other_metrics() -> None:
    preds, frame = case([0.2, 0.7, 0.4], [1, 1, 1], [0.01, 0.02, -0.01])
    row = score_predictions(preds, frame).row(0, named=True)
    assert row["auc"] is None
    assert row["accuracy"] == pytest.approx(1 / 3)
    assert row["log_loss"] is not None


def test_confident_misses_give_a_finite_clipped_log_loss() -> None:
    preds, frame = case([0.0, 1.0], [1, 0], [0.01, -0.01])
    row = score_predictions(preds, frame).row(0, named=True)
    assert row["log_loss"] == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_ic_is_spearman_of_score_against_realised_return() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=40)
    rets = scores + rng.normal(scale=0.3, size=40)
    preds, frame = case(scores.tolist(), (rets > 0).astype(int).tolist(), rets.tolist())
    row = score_predictions(preds, frame).row(0, named=True)
    assert row["rank_ic"] == pytest.approx(spearmanr(scores, rets).statistic)
    assert row["ic"] == pytest.approx(np.corrcoef(scores, rets)[0, 1])


def test_sign_strategy_sharpe_by_hand_with_and_without_costs() -> None:
    scores = [0.7, 0.2, 0.6, 0.4]
    rets = [0.02, -0.01, -0.01, 0.03]
    preds, frame = case(scores, [1, 0, 0, 1], rets)
    strat = np.array([0.02, 0.01, -0.01, -0.03])  # sign(score - 0.5) * ret
    row = score_predictions(preds, frame).row(0, named=True)
    assert row["sign_mean_ret"] == pytest.approx(strat.mean())
    # Per bet, never annualised: samples overlap, so no period count would make it a portfolio Sharpe.
    assert row["sign_sharpe"] == pytest.approx(strat.mean() / strat.std(ddof=1))

    costed = score_predictions(preds, frame, cost_bps=10).row(0, named=True)
    assert costed["sign_mean_ret"] == pytest.approx(strat.mean() - 0.001)


def test_families_are_scored_separately() -> None:
    a, frame = case([0.1, 0.9], [0, 1], [-0.01, 0.01], family="a")
    b, _ = case([0.9, 0.1], [0, 1], [-0.01, 0.01], family="b")
    out = score_predictions(pl.concat([a, b]), frame).filter(pl.col("fold") == POOLED_FOLD)
    assert dict(zip(out["family"], out["auc"], strict=True)) == {"a": 1.0, "b": 0.0}


def test_predictions_without_a_matching_return_are_an_error() -> None:
    preds, frame = case([0.1, 0.9], [0, 1], [-0.01, 0.01])
    with pytest.raises(ValueError, match="no matching"):
        score_predictions(preds, frame.head(1))


def test_empty_predictions_give_an_empty_score_table() -> None:
    preds, frame = case([0.1], [0], [0.0])
    out = score_predictions(preds.clear(), frame)
    assert out.height == 0 and dict(out.schema) == SCORES_SCHEMA


def test_classification_metrics_by_hand() -> None:
    # called up: 1 1 0 0 ; truth: 1 0 0 1 -> tp 1, fp 1, fn 1, tn 1
    preds, frame = case([0.9, 0.6, 0.2, 0.4], [1, 0, 0, 1], [0.01, -0.01, -0.02, 0.02])
    row = score_predictions(preds, frame).row(0, named=True)
    assert row["f1"] == pytest.approx(0.5)
    assert row["balanced_accuracy"] == pytest.approx(0.5)
    always_up, frame = case([0.9, 0.9, 0.9, 0.9], [1, 1, 1, 0], [0.01, 0.01, 0.01, -0.01])
    row = score_predictions(always_up, frame).row(0, named=True)
    assert row["accuracy"] == pytest.approx(0.75) and row["balanced_accuracy"] == pytest.approx(0.5)


def test_ic_ir_is_mean_over_std_of_the_per_fold_ic_on_pooled_rows() -> None:
    rng = np.random.default_rng(3)
    scores = rng.uniform(size=60)
    rets = scores * np.repeat([1.0, 0.3, 0.6], 20) + rng.normal(scale=0.3, size=60)
    folds = np.repeat([0, 1, 2], 20).tolist()
    preds, frame = case(scores.tolist(), (rets > 0).astype(int).tolist(), rets.tolist(), folds=folds)
    out = score_predictions(preds, frame)
    per_fold = out.filter(pl.col("fold") >= 0)
    pooled = out.filter(pl.col("fold") == POOLED_FOLD).row(0, named=True)
    ics = per_fold["ic"].to_numpy()
    assert pooled["ic_ir"] == pytest.approx(ics.mean() / ics.std(ddof=1))
    ranks = per_fold["rank_ic"].to_numpy()
    assert pooled["rank_ic_ir"] == pytest.approx(ranks.mean() / ranks.std(ddof=1))
    assert per_fold["ic_ir"].is_null().all()


def test_sign_hit_rate_counts_winning_positions_after_costs() -> None:
    preds, frame = case([0.7, 0.2, 0.6, 0.4], [1, 0, 0, 1], [0.02, -0.01, -0.01, 0.0005])
    row = score_predictions(preds, frame, cost_bps=10).row(0, named=True)
    # strategy after 10 bp: 0.019, 0.009, -0.011, -0.0015 -> 2 of 4 win
    assert row["sign_hit_rate"] == pytest.approx(0.5)


def test_cpcv_paths_are_scored_one_by_one_and_pooled_on_their_mean_by_hand() -> None:
    from foxml_dagster.evaluation import PATH_FOLD, path_summary

    rets = [0.02, -0.01, -0.01, 0.03]
    # Two backtest paths over the same four samples, from folds 0/1 (path 0) and 2/3 (path 1).
    p0, frame = case([0.7, 0.2, 0.6, 0.4], [1, 0, 0, 1], rets, folds=[0, 0, 1, 1])
    p1, _ = case([0.8, 0.4, 0.3, 0.45], [1, 0, 0, 1], rets, folds=[2, 3, 2, 3])
    preds = pl.concat([p0.with_columns(path=pl.lit(0, pl.Int32)), p1.with_columns(path=pl.lit(1, pl.Int32))])
    out = score_predictions(preds, frame)
    assert out.filter(pl.col("fold") >= 0).height == 4
    paths = out.filter(pl.col("fold") == PATH_FOLD).sort("path")
    assert paths["path"].to_list() == [0, 1] and paths["n"].to_list() == [4, 4]
    s0 = np.array([0.02, 0.01, -0.01, -0.03])  # sign(score - 0.5) * ret on path 0
    s1 = np.array([0.02, 0.01, 0.01, -0.03])
    sharpes = [s.mean() / s.std(ddof=1) for s in (s0, s1)]
    assert paths["sign_sharpe"].to_list() == pytest.approx(sharpes)
    pooled = out.filter(pl.col("fold") == POOLED_FOLD).row(0, named=True)
    assert pooled["n"] == 4 and pooled["n_paths"] == 2 and pooled["path"] is None
    assert pooled["path_sharpe_mean"] == pytest.approx(np.mean(sharpes))
    assert pooled["path_sharpe_std"] == pytest.approx(np.std(sharpes, ddof=1))
    assert (pooled["path_sharpe_min"], pooled["path_sharpe_max"]) == pytest.approx((min(sharpes), max(sharpes)))
    # Pooled metrics are those of the mean over paths: 0.75, 0.3, 0.45, 0.425.
    mean = np.array([0.02, 0.01, 0.01, -0.03])
    assert pooled["sign_mean_ret"] == pytest.approx(mean.mean())
    assert path_summary(out)["n_paths"].to_list() == [2]


def test_kfold_pooled_row_describes_its_single_path() -> None:
    preds, frame = case([0.7, 0.2, 0.6, 0.4], [1, 0, 0, 1], [0.02, -0.01, -0.01, 0.03], folds=[0, 0, 1, 1])
    out = score_predictions(preds, frame)
    assert out["path"].null_count() == out.height
    pooled = out.filter(pl.col("fold") == POOLED_FOLD).row(0, named=True)
    assert pooled["n_paths"] == 1 and pooled["path_sharpe_mean"] == pooled["sign_sharpe"]
    assert pooled["path_sharpe_std"] is None
