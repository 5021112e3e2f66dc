"""Target ranking: how predictable each candidate target is under the purged folds.

For every target, every ranking family is fitted per fold on training rows and scored on the
fold's test rows (AUC of label == 1). The composite score is

    composite = edge x consistency x agreement

- edge: mean over families and folds of (AUC - 0.5);
- consistency: share of (family, fold) pairs with AUC above 0.5;
- agreement: share of families whose mean AUC is above 0.5.

A target that only one family can predict, or only in a lucky fold, is pushed down. Each row also
carries the out-of-fold sign strategy's Sharpe (per sample), its probabilistic Sharpe, and the
deflated Sharpe against the number of trials (targets x families x configurations run so far).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from foxml_dagster import stats
from foxml_dagster.models import get_family
from foxml_dagster.selection.importance import fold_arrays


def rank_targets(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    *,
    feature_columns: Sequence[str],
    families: Mapping[str, Mapping],
    seed: int,
    prior_trials: int = 0,
) -> pl.DataFrame:
    from sklearn.metrics import roc_auc_score  # lazy: scikit-learn is slow to import

    feature_columns = list(feature_columns)
    targets = sorted(frame["target"].unique())
    n_trials = prior_trials + len(targets) * len(families)
    rows = []
    for target in targets:
        aucs: dict[str, list[float]] = {f: [] for f in families}
        strategy: list[np.ndarray] = []
        rets = frame.filter(pl.col("target") == target)
        for fold, xa, ya, wa, xb, yb in fold_arrays(frame, folds, target, feature_columns):
            test_ret = _test_returns(rets, folds, target, fold)
            for family, params in families.items():
                model = get_family(family)(seed=seed, **dict(params)).fit(xa, ya, sample_weight=wa)
                score = model.predict_score(xb)
                aucs[family].append(roc_auc_score(yb, score))
                strategy.append(np.sign(score - 0.5) * test_ret)
        rows.append(_row(target, aucs, strategy, n_trials))
    table = pl.DataFrame(rows).sort(["composite", "mean_auc"], descending=True).with_row_index("rank", offset=1)
    return table.with_columns(pl.col("rank").cast(pl.Int64))


def _test_returns(rets: pl.DataFrame, folds: pl.DataFrame, target: str, fold: int) -> np.ndarray:
    keys = folds.filter((pl.col("target") == target) & (pl.col("fold") == fold) & (pl.col("role") == "test"))
    return rets.join(keys.select("symbol", "ts"), on=["symbol", "ts"]).sort("symbol", "ts")["ret"].to_numpy()


def _row(target: str, aucs: dict[str, list[float]], strategy: list[np.ndarray], n_trials: int) -> dict:
    every = np.array([a for values in aucs.values() for a in values])
    if every.size == 0:
        return {"target": target, "composite": -1.0, "mean_auc": None, "reason": "no fold has both classes"}
    per_family = {f: float(np.mean(v)) for f, v in aucs.items() if v}
    edge = float(np.mean(every - 0.5))
    consistency = float(np.mean(every > 0.5))
    agreement = float(np.mean([m > 0.5 for m in per_family.values()]))
    returns = np.concatenate(strategy)
    sr = stats.sharpe(returns)
    psr = stats.psr_of_returns(returns)
    dsr = stats.deflated_sharpe(returns, n_trials=n_trials)
    detail = ", ".join(f"{f} {m:.3f}" for f, m in per_family.items())
    return {
        "target": target,
        "composite": edge * consistency * agreement,
        "mean_auc": float(every.mean()),
        "auc_std": float(every.std()),
        "edge": edge,
        "consistency": consistency,
        "family_agreement": agreement,
        "sharpe": sr,
        "psr": psr,
        "dsr": dsr,
        "n_trials": n_trials,
        "reason": (
            f"mean AUC {every.mean():.3f} ({detail}); {int((every > 0.5).sum())}/{every.size} "
            f"family-folds above chance; {agreement:.0%} of families agree; PSR {psr:.2f}, "
            f"DSR {dsr:.2f} after {n_trials} trials"
        ),
    }
