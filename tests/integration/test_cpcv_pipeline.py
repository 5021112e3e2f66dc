"""The whole asset graph with `splits.method: cpcv`: training per backtest path through to orders."""

from __future__ import annotations

import dagster as dg
import numpy as np
import polars as pl
import pytest
import yaml

from assets.partitions import range_tags, symbol_partitions
from foxml_dagster.config import load_experiment
from foxml_dagster.splits import cpcv_counts
from foxml_dagster.storage import query_catalog

SYMBOLS = ["AAPL", "IBM", "MSFT"]
N_GROUPS, K_TEST = 4, 2


@pytest.fixture
def cpcv_experiment(small_experiment):
    """The shared small experiment with CPCV splits instead of purged K-fold."""
    config = yaml.safe_load(small_experiment.read_text())
    config["splits"] = {"method": "cpcv", "n_folds": N_GROUPS, "n_test_groups": K_TEST, "embargo_pct": 0.01}
    small_experiment.write_text(yaml.safe_dump(config))
    return small_experiment


def test_full_pipeline_trains_and_scores_every_cpcv_path(cpcv_experiment, home):
    from foxml_dagster.definitions import build_definitions

    defs = build_definitions()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions.name, SYMBOLS)
    result = defs.resolve_job_def("full_pipeline").execute_in_process(instance=instance, tags=range_tags(SYMBOLS))
    assert result.success
    done = {e.asset_key.to_user_string(): e.materialization for e in result.get_asset_materialization_events()}
    assert {"oof_predictions", "model_scores", "ensemble_predictions", "signals", "backtest", "orders"} <= set(done)
    n_splits, n_paths = cpcv_counts(N_GROUPS, K_TEST)
    assert done["model_scores"].metadata["n_paths"].value == n_paths
    assert "path_sharpe_min" in done["model_scores"].metadata["backtest_paths"].value

    catalog = home / "catalog.duckdb"
    q = lambda sql: query_catalog(catalog, sql)  # noqa: E731
    models = q("SELECT family, target, count(*) AS n FROM trained_models GROUP BY ALL")
    assert (models["n"] == n_splits).all()
    # Each (family, target, path) is one full backtest: every labelled sample exactly once.
    coverage = q(
        "WITH per AS (SELECT family, target, path, count(*) AS n, count(DISTINCT (symbol, ts)) AS d "
        "FROM oof_predictions GROUP BY ALL), "
        "samples AS (SELECT target, count(*) AS n FROM training_frame GROUP BY ALL) "
        "SELECT per.*, samples.n AS want FROM per JOIN samples USING (target)"
    )
    assert coverage.height == 2 * 2 * n_paths  # families x targets x paths
    assert (coverage["n"] == coverage["want"]).all() and (coverage["d"] == coverage["want"]).all()
    leaked = q(
        "SELECT count(*) AS n FROM oof_predictions p JOIN folds f ON p.target = f.target "
        "AND p.fold = f.fold AND p.symbol = f.symbol AND p.ts = f.ts WHERE f.role = 'train'"
    )
    assert leaked["n"][0] == 0
    # Downstream sees one prediction per sample: nothing is counted n_paths times.
    ens = q(
        "SELECT family, count(*) AS n, count(DISTINCT (target, symbol, ts)) AS d FROM ensemble_predictions GROUP BY 1"
    )
    assert ens.height == 4  # equal, weighted, rank, stacked: each one prediction per sample
    assert (ens["n"] == ens["d"]).all() and set(ens["n"]) == {q("SELECT count(*) AS n FROM training_frame")["n"][0]}
    signals = q("SELECT count(*) AS n, count(DISTINCT (symbol, ts)) AS d FROM research_signals")
    assert signals["n"][0] == signals["d"][0] > 0
    live = q("SELECT count(DISTINCT ts) AS n, max(ts) AS ts FROM signals")
    assert live["n"][0] == 1 and live["ts"][0] == q("SELECT max(ts) AS ts FROM bars")["ts"][0]
    scores = q("SELECT * FROM model_scores")
    assert scores.filter(scores["fold"] == -2).height == 2 * 2 * n_paths
    pooled = scores.filter(scores["fold"] == -1)
    # Ensembles combine the families' mean over paths, validated by their own nested folds: one path.
    ensembles = pooled["family"].str.starts_with("ensemble")
    assert (pooled.filter(ensembles)["n_paths"] == 1).all() and ensembles.sum() == 4 * 2
    pooled = pooled.filter(~ensembles)
    assert (pooled["n_paths"] == n_paths).all()
    # The spread across paths, recomputed from the predictions themselves: each path's sign
    # strategy r = sign(score - 0.5) * ret, less the cost on every bet, and its per-bet Sharpe.
    cost = load_experiment().backtest.cost_bps / 1e4
    bets = "sign(p.y_score - 0.5)"
    per_path = q(
        f"SELECT p.family, p.target, p.path, avg({bets} * f.ret - {cost} * abs({bets})) "
        f"/ stddev_samp({bets} * f.ret - {cost} * abs({bets})) AS sharpe "
        "FROM oof_predictions p JOIN training_frame f USING (target, symbol, ts) GROUP BY ALL"
    )
    stored = scores.filter(pl.col("fold") == -2).select("family", "target", "path", "sign_sharpe")
    both = per_path.join(stored, on=["family", "target", "path"], how="full", coalesce=True)
    assert both.height == 2 * 2 * n_paths
    np.testing.assert_allclose(both["sign_sharpe"], both["sharpe"], rtol=1e-9)
    spread = per_path.group_by("family", "target").agg(
        pl.col("sharpe").min().alias("lo"),
        pl.col("sharpe").quantile(0.5, interpolation="linear").alias("mid"),
        pl.col("sharpe").max().alias("hi"),
        pl.col("sharpe").std(ddof=1).alias("sd"),
    )
    check = pooled.join(spread, on=["family", "target"])
    assert check.height == 2 * 2 and (check["lo"] < check["hi"]).all()
    for stored_col, recomputed in (
        ("path_sharpe_min", "lo"),
        ("path_sharpe_median", "mid"),
        ("path_sharpe_max", "hi"),
        ("path_sharpe_std", "sd"),
    ):
        np.testing.assert_allclose(check[stored_col], check[recomputed], rtol=1e-9, err_msg=stored_col)
