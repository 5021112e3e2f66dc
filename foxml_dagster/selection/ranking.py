"""Target ranking: how predictable each candidate target is under the purged folds.

For every target, every ranking family is fitted per fold on training rows and scored on the
fold's test rows (AUC of label == 1). The composite score is

    composite = edge x consistency x agreement

- edge: mean over families and folds of (AUC - 0.5);
- consistency: share of (family, fold) pairs with AUC above 0.5;
- agreement: share of families whose mean AUC is above 0.5.

A target that only one family can predict, or only in a lucky fold, is pushed down.

Each row also says whether trading the target would have paid: the ranking families' test
predictions, averaged per sample, become weights through the experiment's signal setting and
are traded bar to bar by the backtest (`foxml_dagster.strategies`), so the series has one return
per bar, not one per overlapping label. Its Sharpe (per period and annualised), probabilistic
Sharpe and deflated Sharpe (`foxml_dagster.trials`: against every trial run on this data set)
are reported; a target whose strategy is flat (no trade) has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from foxml_dagster.backtest import BacktestConfig, run_backtest
from foxml_dagster.execution.config import ExecutionConfig
from foxml_dagster.models import get_family
from foxml_dagster.selection.importance import fold_arrays
from foxml_dagster.signals import SignalConfig, signals_from_predictions
from foxml_dagster.trials import deflation_basis, series_statistics

#: `family` of the ranking families' averaged predictions, the ones the ranking trades.
RANKING_FAMILY = "ranking"


def rank_targets(
    frame: pl.DataFrame | pl.LazyFrame,
    folds: pl.DataFrame,
    bars: pl.DataFrame,
    *,
    feature_columns: Sequence[str],
    families: Mapping[str, Mapping],
    seed: int,
    signals: SignalConfig,
    backtest: BacktestConfig,
    n_trials: int,
    periods_per_year: int,
    benchmark_equity: pl.DataFrame | None = None,
    dsr_variance: str = "null",
    execution: ExecutionConfig | None = None,
    max_train_rows: int | None = None,
) -> pl.DataFrame:
    """One row per target, best first (see the module docstring).

    `n_trials` is the number of distinct trials run on this data set, these targets included:
    the deflated Sharpe is measured against the best of that many unskilled ones. With
    `execution` the strategies go through the pre-trade risk engine, as every backtest does.
    The families fit at most `max_train_rows` rows of each fold and predict all its test rows.
    """
    from sklearn.metrics import roc_auc_score  # lazy: scikit-learn is slow to import

    feature_columns = list(feature_columns)
    stored = frame.lazy()
    targets = sorted(stored.select(pl.col("target").unique()).collect()["target"])
    rows, series = [], {}
    for target in targets:
        aucs: dict[str, list[float]] = {f: [] for f in families}
        predicted: list[pl.DataFrame] = []
        # One target's rows at a time: a scan of the lake is never read whole.
        own = stored.filter(pl.col("target") == target).collect()
        folded = fold_arrays(own, folds, target, feature_columns, max_train_rows=max_train_rows, seed=seed)
        for fold, xa, ya, wa, xb, yb in folded:
            keys = _test_keys(own, folds, target, fold)
            scores = []
            for family, params in families.items():
                model = get_family(family)(seed=seed, **dict(params)).fit(xa, ya, sample_weight=wa)
                score = model.predict_score(xb)
                aucs[family].append(roc_auc_score(yb, score))
                scores.append(score)
            predicted.append(keys.with_columns(pl.Series("y_score", np.mean(scores, axis=0))))
        rows.append(_row(target, aucs))
        if predicted:
            one = pl.concat(predicted)
            series[target] = _strategy_series(one, target, bars, signals, backtest, benchmark_equity, execution)
    _add_trial_statistics(rows, series, n_trials, periods_per_year, dsr_variance)
    table = pl.DataFrame(rows).sort(["composite", "mean_auc"], descending=True).with_row_index("rank", offset=1)
    return table.with_columns(pl.col("rank").cast(pl.Int64))


def _test_keys(frame: pl.DataFrame, folds: pl.DataFrame, target: str, fold: int) -> pl.DataFrame:
    """symbol, ts of a fold's test rows, in the order `fold_arrays` returns them."""
    keys = folds.filter((pl.col("target") == target) & (pl.col("fold") == fold) & (pl.col("role") == "test"))
    rows = frame.filter(pl.col("target") == target).select("symbol", "ts")
    return rows.join(keys.select("symbol", "ts"), on=["symbol", "ts"], how="inner").sort("symbol", "ts")


def _strategy_series(
    predicted: pl.DataFrame,
    target: str,
    bars: pl.DataFrame,
    signals: SignalConfig,
    backtest: BacktestConfig,
    benchmark_equity: pl.DataFrame | None,
    execution: ExecutionConfig | None,
) -> pl.DataFrame:
    """ts, net_return of trading the averaged test predictions of `target` (one per sample: CPCV
    tests a sample in several folds, whose predictions are averaged too)."""
    one = predicted.group_by("symbol", "ts").agg(pl.col("y_score").mean())
    one = one.with_columns(pl.lit(RANKING_FAMILY).alias("family"), pl.lit(target).alias("target"))
    weights = signals_from_predictions(one, target=target, limits=signals.risk, gain=signals.gain)
    series = run_backtest(weights, bars, backtest, benchmark_equity=benchmark_equity, execution=execution)
    return series.select("ts", "net_return")


def _add_trial_statistics(
    rows: list[dict], series: dict[str, pl.DataFrame], n_trials: int, periods_per_year: int, variance: str
) -> None:
    """Sharpe, PSR and DSR of each target's strategy, deflated against `n_trials`."""
    if series:
        names = sorted(series)
        wide = pl.concat(
            [s.rename({"net_return": name}) for name, s in ((n, series[n]) for n in names)], how="align"
        ).fill_null(0.0)
        basis = deflation_basis(wide.select(names).to_numpy(), n_trials, variance=variance)
    for row in rows:
        target = row["target"]
        returns = series[target]["net_return"].to_numpy() if target in series else np.array([])
        row.update(series_statistics(returns, periods_per_year=periods_per_year))
        row["dsr"] = basis.deflated(returns) if target in series else None
        row["n_trials"] = n_trials
        row["n_effective_trials"] = basis.n_effective if series else None
        if row.get("mean_auc") is not None:
            psr, dsr = row["psr"], row["dsr"]
            row["reason"] += (
                f"; strategy Sharpe {_fmt(row['sharpe_annual'])} a year over {row['n_periods']} periods, "
                f"PSR {_fmt(psr)}, DSR {_fmt(dsr)} after {n_trials} trials"
            )


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _row(target: str, aucs: dict[str, list[float]]) -> dict:
    every = np.array([a for values in aucs.values() for a in values])
    if every.size == 0:
        return {"target": target, "composite": -1.0, "mean_auc": None, "reason": "no fold has both classes"}
    per_family = {f: float(np.mean(v)) for f, v in aucs.items() if v}
    edge = float(np.mean(every - 0.5))
    consistency = float(np.mean(every > 0.5))
    agreement = float(np.mean([m > 0.5 for m in per_family.values()]))
    detail = ", ".join(f"{f} {m:.3f}" for f, m in per_family.items())
    return {
        "target": target,
        "composite": edge * consistency * agreement,
        "mean_auc": float(every.mean()),
        "auc_std": float(every.std()),
        "edge": edge,
        "consistency": consistency,
        "family_agreement": agreement,
        "reason": (
            f"mean AUC {every.mean():.3f} ({detail}); {int((every > 0.5).sum())}/{every.size} "
            f"family-folds above chance; {agreement:.0%} of families agree"
        ),
    }
