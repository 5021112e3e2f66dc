"""PSR, DSR and PBO against their formulas on worked examples and on planted cases."""

from math import sqrt

import numpy as np
import pytest
from scipy.stats import norm

from foxml_dagster import stats


def test_psr_matches_the_formula_on_a_worked_example():
    # SR 0.1 per period over 250 periods, normal returns (skew 0, kurtosis 3):
    # z = 0.1 * sqrt(249) / sqrt(1 + 0.5 * 0.01) = 1.5741 -> PSR = 0.9422
    assert stats.probabilistic_sharpe(0.1, 250) == pytest.approx(0.9422, abs=1e-4)
    # Negative skew and fat tails widen the error and lower the PSR.
    fat = stats.probabilistic_sharpe(0.1, 250, skewness=-1.0, kurt=6.0)
    z = 0.1 * sqrt(249) / sqrt(1 + 0.1 + 5 / 4 * 0.01)
    assert fat == pytest.approx(norm.cdf(z)) and fat < 0.9422
    assert stats.probabilistic_sharpe(0.1, 250, benchmark=0.1) == pytest.approx(0.5)


def test_expected_max_sharpe_matches_simulation():
    rng = np.random.default_rng(0)
    for n in (10, 100):
        simulated = rng.standard_normal((4000, n)).max(axis=1).mean()
        assert stats.expected_max_sharpe(n, 1.0) == pytest.approx(simulated, rel=0.03)
    # Worked example: N = 100, V = 0.5 -> sqrt(0.5) * (0.4228 * Z(0.99) + 0.5772 * Z(1 - 1/(100e)))
    #   = 0.70711 * (0.4228 * 2.32635 + 0.5772 * 2.68035) = 1.7894
    assert stats.expected_max_sharpe(100, 0.5) == pytest.approx(1.7894, abs=1e-3)


def test_deflated_sharpe_falls_as_trials_grow():
    rng = np.random.default_rng(1)
    r = rng.normal(0.08, 1.0, 1000)
    one = stats.deflated_sharpe(r, n_trials=1)
    many = stats.deflated_sharpe(r, n_trials=1000)
    assert one == pytest.approx(stats.psr_of_returns(r))
    assert many < one
    expected = stats.psr_of_returns(r, benchmark=stats.expected_max_sharpe(1000, 1 / 999))
    assert many == pytest.approx(expected)


def test_pbo_of_noise_only_strategies_is_near_one_half():
    rng = np.random.default_rng(2)
    values = [stats.pbo_cscv(rng.normal(0, 0.01, (800, 20)), n_blocks=8).pbo for _ in range(6)]
    assert 0.3 < np.mean(values) < 0.7


def test_pbo_with_a_true_edge_is_near_zero():
    rng = np.random.default_rng(3)
    m = rng.normal(0, 0.01, (800, 20))
    m[:, 7] += 0.004  # one strategy really earns
    result = stats.pbo_cscv(m, n_blocks=8)
    assert result.pbo < 0.05 and result.n_splits == 70


def test_pbo_rejects_bad_shapes():
    with pytest.raises(ValueError, match="even"):
        stats.pbo_cscv(np.zeros((10, 3)), n_blocks=3)
    with pytest.raises(ValueError, match="N >= 2"):
        stats.pbo_cscv(np.zeros(10))
