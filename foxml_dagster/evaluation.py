"""Scores of out-of-fold (or ensemble) predictions, per fold, per backtest path, and pooled.

Every metric is computed on test rows only (the predictions frame holds nothing else), so these
are out-of-sample numbers. Samples of different symbols at one `ts`, and labels whose horizons
overlap, are not independent: treat the statistics as rankings between models, not as p-values.

With CPCV predictions (several backtest `path`s per family and target) one number hides how
much the backtest depends on which models made it, so each path is scored on its own (rows with
fold = -2 and the path's id) and the pooled row reports the distribution across paths (mean,
std, min, quartiles, max of the sign strategy's Sharpe; mean, std, min of the IC). The pooled
row's own metrics are those of the mean prediction over paths (`ensemble.path_mean`): the one
prediction per sample that the ensemble, signals and backtest use.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from foxml_dagster.ensemble import path_mean

__all__ = [
    "PATH_FOLD",
    "PATH_SUMMARY",
    "POOLED_FOLD",
    "SCORES_SCHEMA",
    "path_summary",
    "score_predictions",
]

#: `fold` value of the rows that pool all folds of a (family, target).
POOLED_FOLD = -1
#: `fold` value of the rows that score one CPCV backtest path (its id in `path`).
PATH_FOLD = -2

#: Probabilities are clipped to [eps, 1 - eps] inside log loss, so one confident miss is finite.
LOG_LOSS_EPS = 1e-7

SCORES_SCHEMA: dict[str, pl.DataType] = {
    "family": pl.String(),
    "target": pl.String(),
    "fold": pl.Int32(),
    "path": pl.Int32(),
    "n": pl.Int64(),
    "base_rate": pl.Float64(),
    "auc": pl.Float64(),
    "log_loss": pl.Float64(),
    "accuracy": pl.Float64(),
    "balanced_accuracy": pl.Float64(),
    "f1": pl.Float64(),
    "ic": pl.Float64(),
    "rank_ic": pl.Float64(),
    "ic_ir": pl.Float64(),
    "rank_ic_ir": pl.Float64(),
    "sign_mean_ret": pl.Float64(),
    "sign_sharpe": pl.Float64(),
    "sign_hit_rate": pl.Float64(),
    "n_paths": pl.Int64(),
    "path_sharpe_mean": pl.Float64(),
    "path_sharpe_std": pl.Float64(),
    "path_sharpe_min": pl.Float64(),
    "path_sharpe_q25": pl.Float64(),
    "path_sharpe_median": pl.Float64(),
    "path_sharpe_q75": pl.Float64(),
    "path_sharpe_max": pl.Float64(),
    "path_ic_mean": pl.Float64(),
    "path_ic_std": pl.Float64(),
    "path_ic_min": pl.Float64(),
}

#: The pooled-row columns that describe the spread of outcomes across backtest paths.
PATH_SUMMARY = [c for c in SCORES_SCHEMA if c == "n_paths" or c.startswith("path_")]


def score_predictions(
    predictions: pl.DataFrame,
    frame: pl.DataFrame,
    *,
    cost_bps: float = 0.0,
) -> pl.DataFrame:
    """One row per (family, target, fold), per CPCV path, and one per (family, target) pooled.

    Row kinds: fold >= 0 scores one fold (split); fold = -2 with `path` = p scores backtest path
    p (CPCV only: each path holds every tested sample once); fold = -1 is the pooled row. For
    K-fold and walk-forward (one path) the pooled row scores every prediction, as before; for
    CPCV it scores the mean prediction over paths (one per sample) and its `n_paths`, `path_*`
    columns give the distribution of the per-path sign Sharpe and IC. `path` is null except on
    path rows; `n_paths` and the `path_*` columns are null except on pooled rows (with one path,
    they describe that single path: std null).

    `predictions` follows the predictions contract; the realised return `ret` of each sample is
    joined from `frame` (the training_frame) on (target, symbol, ts). Columns:

    - n: number of scored samples.
    - base_rate: share of samples with y_true = 1 (the AUC/accuracy baseline to beat).
    - auc: ROC AUC of y_score against y_true (sklearn.roc_auc_score): the probability that a
      random up-sample scores above a random not-up sample. 0.5 is no skill. Null when the
      group holds a single class (AUC undefined).
    - log_loss: mean binary cross-entropy, natural log, probabilities clipped to
      [1e-7, 1 - 1e-7]. A constant 0.5 forecast scores ln 2 ~ 0.693. Lower is better.
    - accuracy: share of samples where (y_score > 0.5) equals y_true; a score of exactly 0.5
      counts as a "not up" call.
    - balanced_accuracy: mean of the recall of each class present (same 0.5 threshold), so a
      model that always says "up" scores 0.5 whatever the base rate.
    - f1: F1 of the "up" class at the 0.5 threshold (0 when nothing is called up).
    - ic: information coefficient as Qlib reports it, the Pearson correlation of y_score with the
      realised return `ret`. rank_ic: the Spearman rank correlation (ties averaged). Null when
      either side is constant or n < 2.
    - ic_ir, rank_ic_ir: on pooled rows only, mean / std (ddof=1) of the per-fold ic (rank_ic)
      across folds, Qlib's ICIR with folds as periods: how steady the edge is, not just how big.
      Null with fewer than two folds or zero spread.
    - sign_mean_ret: mean per-sample return of the sign strategy
      r_i = sign(y_score_i - 0.5) * ret_i - cost_bps / 1e4 * |sign(y_score_i - 0.5)|.
    - sign_sharpe: mean(r) / std(r, ddof=1) of that per-sample strategy: a Sharpe ratio *per
      bet*, not annualised. With the default cost_bps = 0 it is a *gross, cost-free* figure.
      `cost_bps` is charged once per sample with a non-zero position (a round trip per bet).
      Samples overlap across symbols and label horizons, so no period length or count makes it
      a portfolio Sharpe: it ranks models. The tradable numbers, one return per bar with PSR and
      the deflated Sharpe, are in `trials` (and the traded one in `tearsheet`). Null when n < 2
      or std(r) = 0.
    - sign_hit_rate: share of non-zero positions whose cost-adjusted return r_i is > 0.
    """
    if cost_bps < 0:
        raise ValueError(f"cost_bps must be >= 0, got {cost_bps}")
    needed = ["family", "target", "fold", "symbol", "ts", "y_true", "y_score"]
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions: required column(s) {missing} missing")
    missing = [c for c in ("target", "symbol", "ts", "ret") if c not in frame.columns]
    if missing:
        raise ValueError(f"training_frame: required column(s) {missing} missing")

    rets = frame.select("target", "symbol", "ts", "ret").unique(["target", "symbol", "ts"], keep="first")
    joined = predictions.join(rets, on=["target", "symbol", "ts"], how="left")
    n_missing = joined.get_column("ret").null_count()
    if n_missing:
        raise ValueError(
            f"{n_missing} prediction rows have no matching (target, symbol, ts) with a `ret` in the "
            "training_frame; score predictions against the frame they were made from"
        )

    rows: list[dict] = []
    path = pl.col("path").cast(pl.Int32).fill_null(0) if "path" in joined.columns else pl.lit(0, pl.Int32)
    joined = joined.with_columns(path.alias("path")).sort("family", "target", "fold", "path", "symbol", "ts")
    for (family, target), group in joined.group_by(["family", "target"], maintain_order=True):
        rows += _score_group(family, target, group, cost_bps)

    if not rows:
        return pl.DataFrame(schema=SCORES_SCHEMA)
    return pl.DataFrame(rows, schema=SCORES_SCHEMA).sort("family", "target", "fold", "path")


def _score_group(family: str, target: str, group: pl.DataFrame, cost_bps: float) -> list[dict]:
    """Per-fold, per-path and pooled rows of one (family, target); see `score_predictions`."""

    def score(fold: int, part: pl.DataFrame) -> dict:
        return _score(family, target, fold, part, cost_bps)

    folded = group.filter(pl.col("fold").is_not_null())
    per_fold = [score(int(fold), part) for (fold,), part in folded.group_by(["fold"], maintain_order=True)]
    per_path = []
    if group.get_column("path").n_unique() > 1:
        per_path = [
            {**score(PATH_FOLD, part), "path": int(p)} for (p,), part in group.group_by(["path"], maintain_order=True)
        ]
        # The pooled row scores what downstream trades: one prediction per sample.
        realised = group.select("symbol", "ts", "ret").unique(["symbol", "ts"])
        pooled = score(POOLED_FOLD, path_mean(group.drop("ret")).join(realised, on=["symbol", "ts"]))
    else:
        pooled = score(POOLED_FOLD, group)
    pooled["ic_ir"] = _ir([r["ic"] for r in per_fold])
    pooled["rank_ic_ir"] = _ir([r["rank_ic"] for r in per_fold])
    pooled.update(_path_distribution(per_path or [pooled]))
    return [*per_fold, *per_path, pooled]


def path_summary(scores: pl.DataFrame) -> pl.DataFrame:
    """The pooled rows' spread across backtest paths: family, target, n_paths and the path_* columns."""
    return scores.filter(pl.col("fold") == POOLED_FOLD).select("family", "target", *PATH_SUMMARY)


def _path_distribution(per_path: list[dict]) -> dict:
    """n_paths and the spread of the sign Sharpe and IC over the paths' rows (nulls skipped)."""
    sharpe = np.array([r["sign_sharpe"] for r in per_path if r["sign_sharpe"] is not None], dtype=np.float64)
    ic = np.array([r["ic"] for r in per_path if r["ic"] is not None], dtype=np.float64)
    out: dict = {"n_paths": len(per_path)}
    quantiles = {"min": 0.0, "q25": 0.25, "median": 0.5, "q75": 0.75, "max": 1.0}
    for name, q in quantiles.items():
        out[f"path_sharpe_{name}"] = float(np.quantile(sharpe, q)) if len(sharpe) else None
    out["path_sharpe_mean"] = float(sharpe.mean()) if len(sharpe) else None
    out["path_sharpe_std"] = float(sharpe.std(ddof=1)) if len(sharpe) > 1 else None
    out["path_ic_mean"] = float(ic.mean()) if len(ic) else None
    out["path_ic_std"] = float(ic.std(ddof=1)) if len(ic) > 1 else None
    out["path_ic_min"] = float(ic.min()) if len(ic) else None
    return out


def _score(family: str, target: str, fold: int, group: pl.DataFrame, cost_bps: float) -> dict:
    from sklearn.metrics import roc_auc_score  # lazy: keeps the code location quick to load

    y = group.get_column("y_true").to_numpy().astype(np.int64)
    p = group.get_column("y_score").to_numpy().astype(np.float64)
    ret = group.get_column("ret").to_numpy().astype(np.float64)
    n = len(y)

    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None
    pc = np.clip(p, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    log_loss = float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))
    called = (p > 0.5).astype(np.int64)
    accuracy = float(np.mean(called == y))
    recalls = [float(np.mean(called[y == c] == c)) for c in (0, 1) if (y == c).any()]
    tp = int(((called == 1) & (y == 1)).sum())
    denom = int(called.sum()) + int(y.sum())
    f1 = 2 * tp / denom if denom else 0.0

    position = np.sign(p - 0.5)
    strat = position * ret - cost_bps / 1e4 * np.abs(position)
    sharpe = None
    if n >= 2:
        sd = float(np.std(strat, ddof=1))
        if sd > 0:
            sharpe = float(np.mean(strat) / sd)

    return {
        "family": family,
        "target": target,
        "fold": fold,
        "path": None,
        "n": n,
        "base_rate": float(np.mean(y)),
        "auc": auc,
        "log_loss": log_loss,
        "accuracy": accuracy,
        "balanced_accuracy": float(np.mean(recalls)),
        "f1": float(f1),
        "ic": _pearson(p, ret),
        "rank_ic": _spearman(p, ret),
        "ic_ir": None,
        "rank_ic_ir": None,
        "sign_mean_ret": float(np.mean(strat)),
        "sign_sharpe": sharpe,
        "sign_hit_rate": float(np.mean(strat[position != 0] > 0)) if (position != 0).any() else None,
    }


def _ir(values: list[float | None]) -> float | None:
    """mean / std (ddof=1) of the defined values; None with fewer than two or zero spread."""
    xs = np.array([v for v in values if v is not None], dtype=np.float64)
    if len(xs) < 2:
        return None
    sd = float(np.std(xs, ddof=1))
    return float(np.mean(xs) / sd) if sd > 0 else None


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2:
        return None
    da, db = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(da @ da) * float(db @ db))
    return float(da @ db / denom) if denom > 0 else None


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation (average ranks for ties); None when undefined."""
    from scipy.stats import rankdata

    if len(a) < 2:
        return None
    ra = rankdata(a)
    rb = rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = math.sqrt(float(ra @ ra) * float(rb @ rb))
    if denom == 0:
        return None
    return float(ra @ rb / denom)
