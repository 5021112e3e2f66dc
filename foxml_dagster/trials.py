"""Trials: every configuration tried on a data set, counted once, and the Sharpe statistics that
account for them (Bailey & López de Prado, 2014).

A trial is one look at the out-of-sample evidence that could have been kept or thrown away:

- strategy: a (family or ensemble, target, signal variant) backtested on its out-of-fold
  predictions (`foxml_dagster.strategies`); a variant is a sizing policy and its parameters,
  and an ensemble's identity holds its members' parameters and its combining settings;
- ranking: a target scored by `target_ranking`'s families under the folds;
- selection: a feature-selection configuration scored under the same folds.

Each has a `trial_id`, the hash of everything that defines it (data, features, labels, splits,
selection, the family's resolved parameters, the target, the signal variant, costs), so running
the same configuration again adds nothing, and changing any of it adds a trial. The run history
(`trials` asset) keeps every trial ever run on a data set (`data_key`: the data settings) and
the deflated Sharpe of a strategy counts all of them.

Deflated Sharpe of a strategy with per-period returns r (T periods):

- M: distinct trials in the history on the same data (all kinds, this run included);
- rho: mean pairwise correlation of this run's strategy return series; N = rho + (1 - rho) M,
  the number of independent trials M correlated ones are worth;
- V: the variance of a Sharpe estimate that luck alone produces, 1 / (T - 1) (`evaluation.
  dsr_variance: null`, the default), or, as in the paper, the variance of the per-period Sharpe
  across this run's strategies (`trials`). The paper's choice assumes every trial is unskilled:
  a grid holding one real edge and its mirror image (a momentum rule and its reversal) has a
  wide spread of Sharpe ratios from skill, not luck, and would deflate the real edge away;
  with few strategies the spread is also a noisy estimate. The null variance asks the question
  the DSR is for: could the best of N unskilled trials have done this well by chance?
- SR0 = E[max SR of N unskilled trials] (stats.expected_max_sharpe); DSR = PSR(r; SR0).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from foxml_dagster import stats

__all__ = [
    "HISTORY_SCHEMA",
    "DeflationBasis",
    "TrialSpace",
    "data_key",
    "deflation_basis",
    "merge_history",
    "series_statistics",
    "trial_id",
    "trial_rows",
    "trials_on",
]

HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "trial_id": pl.String(),
    "data_key": pl.String(),
    "kind": pl.String(),
    "family": pl.String(),
    "target": pl.String(),
    "variant": pl.String(),
    "config": pl.String(),
    "first_run": pl.String(),
    "last_run": pl.String(),
    "first_seen": pl.Datetime("us", "UTC"),
    "last_seen": pl.Datetime("us", "UTC"),
    "runs": pl.Int64(),
    "n_periods": pl.Int64(),
    "sharpe": pl.Float64(),
    "sharpe_annual": pl.Float64(),
    "skew": pl.Float64(),
    "kurtosis": pl.Float64(),
    "psr": pl.Float64(),
    "dsr": pl.Float64(),
    "n_trials": pl.Int64(),
    "n_effective_trials": pl.Float64(),
    "sharpe_variance": pl.Float64(),
    "traded": pl.Boolean(),
    "in_last_run": pl.Boolean(),
}

# Settings that change how a run executes, not what it tries.
_EXECUTION_ONLY = {"memory_budget_mb", "memory_mb"}


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items()) if k not in _EXECUTION_ONLY}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def _digest(payload: Mapping[str, Any]) -> str:
    blob = json.dumps(_canonical(payload), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def data_key(data_settings: Mapping[str, Any]) -> str:
    """The data set trials are counted on: a hash of the data settings (source, universe, dates,
    sessions, adjustment...), without the ones that only change how ingest runs."""
    return _digest({"data": data_settings})


def trial_id(kind: str, **parts: Any) -> str:
    """Hash of a trial's kind and defining settings (see the module docstring)."""
    return _digest({"kind": kind, **parts})


def trials_on(history: pl.DataFrame | None, key: str) -> set[str]:
    """The trial ids a history holds for data set `key`."""
    if history is None or history.is_empty():
        return set()
    return set(history.filter(pl.col("data_key") == key).get_column("trial_id").to_list())


def series_statistics(returns: np.ndarray, *, periods_per_year: int) -> dict[str, Any]:
    """n_periods, sharpe (per period), sharpe_annual, skew, kurtosis and psr of one return series."""
    r = np.asarray(returns, dtype=np.float64)
    n = len(r)
    sd = float(r.std(ddof=1)) if n > 1 else 0.0
    if n < 3 or sd == 0:
        return {"n_periods": n, "sharpe": None, "sharpe_annual": None, "skew": None, "kurtosis": None, "psr": None}
    sr = stats.sharpe(r)
    skew, kurt = stats.sample_moments(r)
    return {
        "n_periods": n,
        "sharpe": sr,
        "sharpe_annual": sr * np.sqrt(periods_per_year),
        "skew": skew,
        "kurtosis": kurt,
        "psr": stats.probabilistic_sharpe(sr, n, skewness=skew, kurt=kurt),
    }


class DeflationBasis:
    """What every strategy of a run is deflated against: M trials worth N independent ones, and
    the variance V of their Sharpe estimates (see the module docstring)."""

    def __init__(self, n_trials: int, n_effective: float, sharpe_variance: float):
        self.n_trials = n_trials
        self.n_effective = n_effective
        self.sharpe_variance = sharpe_variance

    @property
    def expected_max_sharpe(self) -> float:
        return stats.expected_max_sharpe(self.n_effective, self.sharpe_variance)

    def deflated(self, returns: np.ndarray) -> float | None:
        r = np.asarray(returns, dtype=np.float64)
        if len(r) < 3 or r.std(ddof=1) == 0:
            return None
        return stats.psr_of_returns(r, benchmark=self.expected_max_sharpe)


def deflation_basis(matrix: np.ndarray, n_trials: int, *, variance: str = "null") -> DeflationBasis:
    """The basis for a run whose strategies are the columns of `matrix` (T x K), counted among
    `n_trials` distinct trials in all (at least K); `variance` "null" or "trials" (see above)."""
    if variance not in ("null", "trials"):
        raise ValueError(f"variance must be 'null' or 'trials', got {variance!r}")
    m = np.asarray(matrix, dtype=np.float64)
    k = m.shape[1]
    n_trials = max(n_trials, k, 1)
    rho = stats.mean_correlation(m) if k >= 2 else 0.0
    n_effective = stats.effective_trials(n_trials, rho)
    null = 1.0 / max(m.shape[0] - 1, 1)
    if variance == "null" or k < 2:
        return DeflationBasis(n_trials, float(n_effective), null)
    sds = m.std(axis=0, ddof=1)
    sharpes = np.divide(m.mean(axis=0), sds, out=np.zeros(k), where=sds > 0)
    return DeflationBasis(n_trials, float(n_effective), float(np.var(sharpes, ddof=1)))


def merge_history(
    previous: pl.DataFrame | None, current: pl.DataFrame, *, run_id: str, now: datetime | None = None
) -> pl.DataFrame:
    """The run history after this run: `previous` with `current` (this run's trials) merged in.

    A trial seen before keeps its first_run and first_seen and gets this run's statistics; a
    new one is added. Rows not in this run keep their last statistics, with in_last_run false.
    """
    now = now or datetime.now(UTC)
    current = current.drop("first_run", "first_seen", "runs", strict=False).with_columns(
        pl.lit(run_id).alias("last_run"),
        pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("last_seen"),
        pl.lit(True).alias("in_last_run"),
    )
    if previous is None or previous.is_empty():
        merged = current.with_columns(
            pl.lit(run_id).alias("first_run"),
            pl.col("last_seen").alias("first_seen"),
            pl.lit(1, pl.Int64).alias("runs"),
        )
    else:
        previous = _conform(previous)
        before = previous.select("trial_id", "first_run", "first_seen", "runs")
        merged = current.join(before, on="trial_id", how="left").with_columns(
            pl.col("first_run").fill_null(run_id),
            pl.col("first_seen").fill_null(pl.col("last_seen")),
            (pl.col("runs").fill_null(0) + 1).cast(pl.Int64),
        )
        stale = previous.filter(~pl.col("trial_id").is_in(current.get_column("trial_id").implode())).with_columns(
            pl.lit(False).alias("in_last_run"), pl.lit(False).alias("traded")
        )
        merged = pl.concat([_conform(merged), stale], how="vertical")
    return _conform(merged).sort("data_key", "kind", "target", "family", "variant", nulls_last=True)


def _conform(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in HISTORY_SCHEMA.items() if name not in frame.columns]
    return frame.with_columns(missing).select(list(HISTORY_SCHEMA)).cast(HISTORY_SCHEMA)  # type: ignore[arg-type]


def trial_rows(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """This run's trials (dicts with HISTORY_SCHEMA keys, any subset) as a conforming frame."""
    return _conform(pl.DataFrame(list(rows), infer_schema_length=None))


class TrialSpace:
    """Trial ids of one experiment: what defines each kind of trial, hashed.

    `experiment` is an `ExperimentConfig`; everything upstream of a trial's evidence is part of
    its identity (data, features, labels, splits, selection, and the seed the fits use).
    """

    def __init__(self, experiment: Any):
        self.experiment = experiment
        self.data_key = data_key(experiment.data.model_dump(mode="json"))
        self._base = {
            "data": self.data_key,
            "features": experiment.features.model_dump(mode="json"),
            "labels": experiment.labels.model_dump(mode="json"),
            "splits": experiment.splits.model_dump(mode="json"),
            "seed": experiment.training.seed,
        }

    def _execution(self) -> dict[str, Any]:
        """What shapes a backtest's positions: the risk engine's limits, capital and order rules
        (not which broker, account or mode runs the live loop)."""
        if not self.experiment.backtest.route_through_risk:
            return {}
        execution = self.experiment.execution.model_dump(mode="json")
        return {k: v for k, v in execution.items() if k in ("capital", "risk", "orders")}

    def _selection(self) -> dict[str, Any]:
        return self.experiment.selection.model_dump(mode="json")

    def selection(self) -> str:
        """Feature selection scored under the folds (importance is out of fold)."""
        return trial_id("selection", **self._base, selection=self._selection())

    def ranking(self, target: str) -> str:
        """A target traded on the ranking families' out-of-fold predictions, configured signal."""
        # Only what the ranking's backtest reads (the linear map and the limits), so adding
        # sizing policies to the signals section does not rename earlier ranking trials.
        signals = self.experiment.signals.model_dump(mode="json", include={"gain", "risk"})
        costs = self.experiment.backtest.cost_bps
        return trial_id(
            "ranking",
            **self._base,
            selection=self._selection(),
            target=target,
            signals=signals,
            cost=costs,
            execution=self._execution(),
        )

    def strategy(self, family: str, target: str, variant: Any, family_params: Mapping[str, Any]) -> str:
        """A family's (or the ensemble's) out-of-fold predictions for `target`, traded by `variant`.

        `family_params`: the resolved parameters of every family the predictions depend on (an
        ensemble passes its members' and, unless it is the equal-weight mean, its combining
        settings under "ensemble"). `variant`: a `strategies.SignalVariant`; the linear map's
        identity is (gain, dead_zone) as it always was, so earlier trials keep their ids.
        """
        training = self.experiment.training
        return trial_id(
            "strategy",
            **self._base,
            selection=self._selection(),
            val_fraction=training.val_fraction,
            family=family,
            params=family_params,
            target=target,
            **variant.identity(),
            limits=self.experiment.signals.risk.model_dump(mode="json", exclude={"dead_zone"}),
            cost=self.experiment.backtest.cost_bps,
            execution=self._execution(),
        )
