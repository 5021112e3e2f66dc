"""Model ranking: weighted metrics against independent implementations, block-bootstrap intervals
that respect overlapping labels, and a planted edge ranked first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from foxml_dagster.evaluation import score_predictions
from foxml_dagster.model_ranking import bootstrap_metrics, rank_models, weighted_auc, weighted_ic


def test_weighted_auc_and_ic_equal_the_plain_metrics_on_repeated_rows():
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 2, n)
    score = np.round(rng.uniform(size=n), 2)  # ties on purpose: they count half
    ret = rng.normal(size=n) + 0.3 * score
    counts = rng.integers(0, 4, size=(5, n))
    for row in counts:
        rows = np.repeat(np.arange(n), row)
        assert weighted_auc(y, score, row) == pytest.approx(roc_auc_score(y[rows], score[rows]), abs=1e-12)
        assert weighted_ic(score, ret, row) == pytest.approx(np.corrcoef(score[rows], ret[rows])[0, 1], abs=1e-12)
    np.testing.assert_allclose(
        weighted_auc(y, score, counts),
        [roc_auc_score(y[np.repeat(np.arange(n), c)], score[np.repeat(np.arange(n), c)]) for c in counts],
    )


def test_block_bootstrap_widens_the_error_of_overlapping_labels():
    # Scores and returns that stay correlated over 20-bar spans (overlapping labels): rows within a
    # span are one observation, so resampling single rows understates the IC's standard error.
    rng = np.random.default_rng(1)
    n = 2000
    persistent = np.repeat(rng.normal(size=n // 20), 20)
    score = 0.5 + 0.1 * (persistent + 0.3 * rng.normal(size=n))
    ret = persistent + rng.normal(size=n)
    y = (ret > 0).astype(np.int64)
    kwargs = dict(n_boot=300, confidence=0.9, seed=0)
    rows = bootstrap_metrics(y, score, ret, np.arange(n), n, block=1, **kwargs)
    blocks = bootstrap_metrics(y, score, ret, np.arange(n), n, block=20, **kwargs)
    assert blocks["ic_se"] > 2 * rows["ic_se"]
    assert blocks["ic_lo"] < blocks["ic"] < blocks["ic_hi"] and blocks["auc_lo"] < blocks["auc"] < blocks["auc_hi"]
    assert blocks["ic_tstat"] == pytest.approx(blocks["ic"] / blocks["ic_se"])


def _predictions(seed: int = 2) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    n, symbols = 400, ("A", "B", "C")
    rows, preds = [], []
    for symbol in symbols:
        ts = [start + timedelta(days=i) for i in range(n)]
        ret = rng.normal(size=n)
        rows.append(
            pl.DataFrame(
                {"target": "t", "symbol": symbol, "ts": ts, "t1": [t + timedelta(days=3) for t in ts], "ret": ret}
            )
        )
        y = (ret > 0).astype(np.int8)
        for family, score in (
            ("edge", 0.5 + 0.05 * ret + 0.05 * rng.normal(size=n)),
            ("noise", 0.5 + 0.05 * rng.normal(size=n)),
        ):
            fold = np.repeat(np.arange(4), n // 4).astype(np.int32)
            preds.append(
                pl.DataFrame(
                    {
                        "model_id": f"{family}:t",
                        "family": family,
                        "target": "t",
                        "fold": fold,
                        "symbol": symbol,
                        "ts": ts,
                        "y_true": y,
                        "y_score": np.clip(score, 0, 1),
                        "path": np.zeros(n, np.int32),
                    }
                )
            )
    cast = {"ts": pl.Datetime("us", "UTC")}
    frame = pl.concat(rows).cast(cast).with_columns(pl.col("t1").cast(pl.Datetime("us", "UTC")))
    return pl.concat(preds).cast(cast), frame


def test_the_planted_edge_ranks_first_with_a_significant_ic_and_fold_spread():
    preds, frame = _predictions()
    scores = score_predictions(preds, frame)
    strategies = pl.DataFrame(
        {
            "family": ["edge", "noise"],
            "target": ["t", "t"],
            "variant": ["v", "v"],
            "dsr": [0.99, 0.2],
            "sharpe_annual": [2.0, 0.1],
        }
    )
    table = rank_models(preds, frame, scores, strategies, n_boot=200, seed=0)
    assert table["family"].to_list() == ["edge", "noise"] and table["rank"].to_list() == [1, 2]
    edge, noise = table.row(0, named=True), table.row(1, named=True)
    assert edge["ic_tstat"] > 5 and abs(noise["ic_tstat"]) < 3
    assert edge["ic_lo"] > 0 > noise["ic_lo"] and edge["auc_lo"] > 0.5
    assert edge["n_folds"] == 4 and edge["ic_fold_std"] > 0 and edge["dsr"] == 0.99
    assert edge["block"] == 4  # the median label span: 3 days ahead, 4 timestamps
    pooled = scores.filter((pl.col("fold") == -1) & (pl.col("family") == "edge")).row(0, named=True)
    assert edge["auc"] == pytest.approx(pooled["auc"]) and edge["ic"] == pytest.approx(pooled["ic"])
    # Ranking by the AUC's lower bound agrees here; an unknown metric is refused.
    assert rank_models(preds, frame, scores, rank_by="auc", n_boot=50)["family"][0] == "edge"
    with pytest.raises(ValueError, match="rank_by"):
        rank_models(preds, frame, scores, rank_by="sharpe")


def test_ranking_refuses_predictions_without_a_row_in_the_frame():
    preds, frame = _predictions()
    with pytest.raises(ValueError, match="no row in the training_frame"):
        rank_models(preds, frame.filter(pl.col("symbol") != "C"), score_predictions(preds, frame))
