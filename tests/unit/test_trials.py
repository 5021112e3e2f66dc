"""Trials and the deflated Sharpe: no-edge seed sweeps, planted edges, worked examples, the history."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
import polars as pl
import pytest
from scipy.stats import kurtosis, norm, skew

from foxml_dagster import stats
from foxml_dagster.backtest import BacktestConfig, hold_equity
from foxml_dagster.config import ExperimentConfig
from foxml_dagster.signals import SignalConfig
from foxml_dagster.strategies import EvaluationConfig, strategy_matrix, strategy_returns, variants
from foxml_dagster.trials import DeflationBasis, TrialSpace, deflation_basis, merge_history, trial_rows, trials_on

SEEDS = range(20)


def ar1_panel(seed: int, phi: float, n_symbols: int = 8, n: int = 500) -> pl.DataFrame:
    """Log returns r_t = phi r_{t-1} + e_t per symbol; phi = 0 is a random walk (no edge)."""
    rng = np.random.default_rng(seed)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    stamps = [start + timedelta(days=i) for i in range(n)]
    parts = []
    for s in range(n_symbols):
        e = rng.normal(0, 0.01, n)
        r = np.empty(n)
        r[0] = e[0]
        for t in range(1, n):
            r[t] = phi * r[t - 1] + e[t]
        parts.append(pl.DataFrame({"symbol": f"S{s}", "ts": stamps, "close": 100 * np.exp(np.cumsum(r))}))
    return pl.concat(parts).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


def rule_predictions(bars: pl.DataFrame) -> pl.DataFrame:
    """Three "families" of causal rules: 1- and 5-bar momentum and 1-bar reversal, as probabilities."""
    parts = []
    for family, lag, sign in (("mom1", 1, 1.0), ("mom5", 5, 1.0), ("rev1", 1, -1.0)):
        z = sign * pl.col("close").log().diff(lag).over("symbol") / (0.01 * math.sqrt(lag))
        scored = bars.with_columns(z.alias("z")).drop_nulls("z")
        parts.append(
            scored.select(
                pl.lit(family).alias("family"),
                pl.lit("t").alias("target"),
                "symbol",
                "ts",
                (1 / (1 + (-pl.col("z")).exp())).alias("y_score"),
            )
        )
    return pl.concat(parts)


@cache
def sweep(phi: float, cost_bps: float) -> tuple[list[float], list[float]]:
    """Per seed: the DSR of the best strategy of the grid (the one a researcher would pick), and PBO."""
    evaluation = EvaluationConfig(signal_gains=[1.0, 8.0], signal_dead_zones=[0.0, 0.05], pbo_blocks=8)
    signals = SignalConfig()
    grid, _ = variants(evaluation, signals)
    costs = BacktestConfig(cost_bps=cost_bps, periods_per_year=252)
    dsrs, pbos = [], []
    for seed in SEEDS:
        bars = ar1_panel(seed, phi)
        series = strategy_returns(
            rule_predictions(bars),
            bars,
            grid=grid,
            signals=signals,
            backtest=costs,
            benchmark_equity=hold_equity(bars),
        )
        _, matrix = strategy_matrix(series)
        basis = deflation_basis(matrix, matrix.shape[1])
        best = int(np.argmax([stats.sharpe(matrix[:, j]) for j in range(matrix.shape[1])]))
        dsrs.append(basis.deflated(matrix[:, best]))
        pbos.append(stats.pbo_cscv(matrix, n_blocks=evaluation.pbo_blocks).pbo)
    return dsrs, pbos


def test_on_no_edge_data_the_best_strategy_is_almost_never_significant():
    dsrs, _ = sweep(0.0, 5.0)
    assert sum(d > 0.95 for d in dsrs) <= 1, dsrs


def test_on_no_edge_data_pbo_averages_near_one_half():
    # Without costs every strategy of the grid expects the same (zero) return; with costs the
    # low-turnover variants really are better, which PBO would rightly see as persistent.
    _, pbos = sweep(0.0, 0.0)
    assert 0.35 < np.mean(pbos) < 0.65, pbos


def test_a_planted_ar1_edge_is_significant_in_nearly_every_seed():
    # phi = 0.15: a lag-1 edge strong enough to survive 5 bps of costs at daily turnover.
    dsrs, pbos = sweep(0.15, 5.0)
    assert sum(d > 0.95 for d in dsrs) >= 18, dsrs
    assert np.mean(pbos) < 0.2


def test_deflated_sharpe_matches_an_independent_implementation():
    rng = np.random.default_rng(11)
    r = rng.standard_t(5, 750) * 0.01 + 0.0015
    m, rho = 40, 0.3
    basis = DeflationBasis(m, stats.effective_trials(m, rho), 1 / (len(r) - 1))
    # Bailey & Lopez de Prado (2014), eq. for E[max SR] and the PSR, written out with scipy.
    n_eff = rho + (1 - rho) * m
    gamma = 0.5772156649015329
    sr0 = math.sqrt(1 / (len(r) - 1)) * (
        (1 - gamma) * norm.ppf(1 - 1 / n_eff) + gamma * norm.ppf(1 - 1 / (n_eff * math.e))
    )
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = skew(r), kurtosis(r, fisher=False)
    expected = norm.cdf((sr - sr0) * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
    assert basis.deflated(r) == pytest.approx(expected, rel=1e-12)


def test_psr_is_calibrated_under_the_null():
    # Independent check of the PSR by simulation: with no edge, P(PSR > 0.95) is about 5 %.
    rng = np.random.default_rng(5)
    values = [stats.psr_of_returns(rng.standard_t(6, 500)) for _ in range(2000)]
    assert np.mean(np.array(values) > 0.95) == pytest.approx(0.05, abs=0.015)


def test_correlated_trials_are_worth_fewer_independent_ones():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(500, 1))
    copies = np.repeat(base, 10, axis=1)
    assert stats.mean_correlation(copies) == pytest.approx(1.0)
    assert stats.effective_trials(10, stats.mean_correlation(copies)) == pytest.approx(1.0)
    independent = rng.normal(size=(500, 10))
    assert stats.effective_trials(10, stats.mean_correlation(independent)) == pytest.approx(10, abs=0.5)
    # Half signal shared: pairwise correlation 0.5 -> 0.5 + 0.5 * 10 = 5.5 trials.
    half = (base + rng.normal(size=(500, 10))) / math.sqrt(2)
    assert stats.effective_trials(10, stats.mean_correlation(half)) == pytest.approx(5.5, abs=0.6)


def test_the_paper_variance_choice_uses_the_spread_across_trials():
    rng = np.random.default_rng(4)
    m = rng.normal(0, 0.01, (400, 6)) + np.linspace(-0.002, 0.002, 6)
    sharpes = m.mean(axis=0) / m.std(axis=0, ddof=1)
    assert deflation_basis(m, 6, variance="trials").sharpe_variance == pytest.approx(np.var(sharpes, ddof=1))
    assert deflation_basis(m, 6).sharpe_variance == pytest.approx(1 / 399)
    with pytest.raises(ValueError, match="variance"):
        deflation_basis(m, 6, variance="cross")


def _strategy_rows(space: TrialSpace, params: dict) -> list[dict]:
    grid, _ = variants(space.experiment.evaluation, space.experiment.signals)
    return [
        {"trial_id": space.strategy(f, "tb_h10", v, {f: params[f]}), "kind": "strategy", "family": f}
        for f in params
        for v in grid
    ]


def test_trial_ids_change_with_what_was_tried_and_nothing_else():
    base = ExperimentConfig()
    space = TrialSpace(base)
    params = {"lightgbm": {"n_estimators": 100}, "logistic": {"C": 1.0}}
    ids = {r["trial_id"] for r in _strategy_rows(space, params)}
    assert len(ids) == 2 * len(variants(base.evaluation, base.signals)[0])
    assert ids == {r["trial_id"] for r in _strategy_rows(TrialSpace(ExperimentConfig()), params)}
    # Running with another memory budget is the same experiment.
    roomier = ExperimentConfig.model_validate(
        {"data": {"memory_budget_mb": 8192}, "features": {"memory_budget_mb": 64}}
    )
    assert TrialSpace(roomier).data_key == space.data_key
    assert {r["trial_id"] for r in _strategy_rows(TrialSpace(roomier), params)} == ids
    # Another family parameter is a new trial for that family only.
    tuned = {**params, "lightgbm": {"n_estimators": 200}}
    changed = {r["trial_id"] for r in _strategy_rows(space, tuned)} - ids
    assert len(changed) == len(variants(base.evaluation, base.signals)[0])
    # Other features or folds change every trial; other data is another data set.
    wider = TrialSpace(ExperimentConfig.model_validate({"splits": {"n_folds": 6}}))
    assert not {r["trial_id"] for r in _strategy_rows(wider, params)} & ids
    assert wider.selection() != space.selection()
    other = TrialSpace(ExperimentConfig.model_validate({"data": {"symbols": ["AAPL"]}}))
    assert other.data_key != space.data_key


def test_the_history_counts_each_configuration_once_across_runs():
    space = TrialSpace(ExperimentConfig())
    params = {"lightgbm": {"n_estimators": 100}, "logistic": {"C": 1.0}}
    rows = [{**r, "data_key": space.data_key} for r in _strategy_rows(space, params)]
    first = merge_history(None, trial_rows(rows), run_id="run-1")
    again = merge_history(first, trial_rows(rows), run_id="run-2")
    assert len(trials_on(again, space.data_key)) == len(rows)
    assert set(again["runs"]) == {2} and set(again["first_run"]) == {"run-1"} and set(again["last_run"]) == {"run-2"}
    tuned = {**params, "lightgbm": {"n_estimators": 200}}
    rows3 = [{**r, "data_key": space.data_key} for r in _strategy_rows(space, tuned)]
    third = merge_history(again, trial_rows(rows3), run_id="run-3")
    n_variants = len(variants(ExperimentConfig().evaluation, ExperimentConfig().signals)[0])
    assert len(trials_on(third, space.data_key)) == len(rows) + n_variants
    assert third.filter(~pl.col("in_last_run")).height == n_variants  # the old lightgbm trials
    assert trials_on(third, "another data set") == set()


def test_risk_routing_and_its_limits_are_part_of_a_trial_only_when_on():
    grid, _ = variants(ExperimentConfig().evaluation, ExperimentConfig().signals)
    params = {"lightgbm": {"n_estimators": 100}}

    def ids(raw: dict) -> set[str]:
        space = TrialSpace(ExperimentConfig.model_validate(raw))
        return {space.strategy("lightgbm", "t", v, params) for v in grid} | {space.ranking("t")}

    tight = {"execution": {"risk": {"max_position_weight": 0.1}}}
    assert ids({}) == ids(tight)  # not routed: the live limits do not shape the backtests
    routed = {"backtest": {"route_through_risk": True}}
    assert ids(routed).isdisjoint(ids({}))
    assert ids(routed).isdisjoint(ids({**routed, **tight}))


def test_a_routed_strategy_holds_what_the_risk_engine_allows():
    from foxml_dagster.execution.config import ExecutionConfig

    bars = ar1_panel(0, 0.0, n_symbols=4, n=120)
    predictions = rule_predictions(bars)
    grid = variants(EvaluationConfig(signal_gains=[16.0], signal_dead_zones=[0.0]), SignalConfig())[0]
    costs = BacktestConfig(cost_bps=0, periods_per_year=252)
    free = strategy_returns(predictions, bars, grid=grid, signals=SignalConfig(), backtest=costs)
    capped = ExecutionConfig.model_validate({"risk": {"max_position_weight": 0.05, "lot_size": 0}})
    routed = strategy_returns(predictions, bars, grid=grid, signals=SignalConfig(), backtest=costs, execution=capped)
    assert routed.columns == free.columns and routed.height == free.height
    # Signals ask for up to 25 % a symbol; the engine lets each position grow to 5 % of equity only.
    assert free["gross_exposure"].max() > 0.5 and routed["gross_exposure"].max() <= 4 * 0.05 + 1e-9
