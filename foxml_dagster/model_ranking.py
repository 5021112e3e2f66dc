"""Model ranking: families and ensembles ordered by out-of-fold evidence with its uncertainty.

One row per (target, family or ensemble), from its one prediction per sample (CPCV paths
averaged), the realised returns of the training_frame, the per-fold rows of `model_scores` and
the strategy of the traded signal policy in `trials`:

- auc, ic (Pearson of score and realised return), with a percentile interval at `confidence`
  from a moving-block bootstrap over timestamps: the panel's timestamps are resampled in
  contiguous blocks of `block` timestamps (default: the target's median label span in bars, so
  overlapping labels stay together) and every sample of a drawn timestamp comes with it. All
  models of a target see the same draws, so their intervals are comparable;
- ic_tstat = ic / (bootstrap standard error of ic): how many standard errors the IC is from 0,
  with the serial dependence of overlapping labels kept by the blocks (a plain sqrt(n) t-stat
  would count every overlapping label as independent and overstate it several-fold);
- the spread across folds: mean, standard deviation and minimum of the per-fold AUC and IC;
- dsr, sharpe_annual: the deflated Sharpe and annualised Sharpe of the model's strategy under the
  traded signal policy (`trials`), the tradable evidence;
- rank: within a target, by the lower bound of `rank_by`'s interval, best first: a model ranks
  high when even its pessimistic value is good, not when one lucky number is.

This is the evidence production promotion reads (foxml_dagster.promotion). Statistics describe
the out-of-fold predictions only; production fits are never scored.
"""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl

from foxml_dagster.ensemble import is_ensemble

__all__ = ["RANKING_SCHEMA", "bootstrap_metrics", "rank_models", "weighted_auc", "weighted_ic"]

RANKING_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "family": pl.String(),
    "kind": pl.String(),
    "rank": pl.Int64(),
    "n": pl.Int64(),
    "auc": pl.Float64(),
    "auc_lo": pl.Float64(),
    "auc_hi": pl.Float64(),
    "ic": pl.Float64(),
    "ic_lo": pl.Float64(),
    "ic_hi": pl.Float64(),
    "ic_se": pl.Float64(),
    "ic_tstat": pl.Float64(),
    "auc_fold_mean": pl.Float64(),
    "auc_fold_std": pl.Float64(),
    "auc_fold_min": pl.Float64(),
    "ic_fold_mean": pl.Float64(),
    "ic_fold_std": pl.Float64(),
    "ic_fold_min": pl.Float64(),
    "n_folds": pl.Int64(),
    "log_loss": pl.Float64(),
    "dsr": pl.Float64(),
    "sharpe_annual": pl.Float64(),
    "variant": pl.String(),
    "n_boot": pl.Int64(),
    "block": pl.Int64(),
    "confidence": pl.Float64(),
}


def weighted_auc(y: np.ndarray, score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """ROC AUC with each sample counted counts[..., i] times (ties count half), for one or many
    rows of counts at once: the Mann-Whitney statistic over tie groups of the sorted scores."""
    _, group = np.unique(score, return_inverse=True)
    c = np.atleast_2d(counts).astype(np.float64)
    n_groups = int(group.max()) + 1 if len(group) else 0

    def per_group(rows: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(group[rows], weights=w[rows], minlength=n_groups) for w in c])

    out = _auc_of_counts(per_group(y == 1), per_group(y != 1))
    return out if np.ndim(counts) > 1 else out[0]


def weighted_ic(x: np.ndarray, r: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Pearson correlation of x and r with each sample counted counts[..., i] times."""
    c = np.atleast_2d(counts).astype(np.float64)
    out = _ic_of_moments(c @ np.column_stack([np.ones_like(x), x, r, x * r, x * x, r * r]))
    return out if np.ndim(counts) > 1 else out[0]


#: Bootstrap cells held at once (replicates x timestamps or distinct scores), about 40 MB of float64.
_CHUNK_CELLS = 5_000_000


def _stamp_draws(n_stamps: int, block: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_stamps): how often each timestamp is drawn by a moving-block bootstrap."""
    block = max(1, min(block, n_stamps))
    n_blocks = int(np.ceil(n_stamps / block))
    starts = rng.integers(0, n_stamps - block + 1, size=(n_boot, n_blocks))
    drawn = (starts[:, :, None] + np.arange(block)).reshape(n_boot, -1)[:, :n_stamps]
    flat = (np.arange(n_boot)[:, None] * n_stamps + drawn).ravel()
    return np.bincount(flat, minlength=n_boot * n_stamps).reshape(n_boot, n_stamps).astype(np.float64)


def _by_stamp_and_score(y: np.ndarray, score: np.ndarray, stamp_of_row: np.ndarray, n_stamps: int):
    """(positives, negatives): sparse (timestamps x distinct scores) counts, scores ascending."""
    from scipy import sparse

    _, group = np.unique(score, return_inverse=True)
    shape = (n_stamps, int(group.max()) + 1 if len(group) else 0)
    positive = y == 1

    def counts(rows: np.ndarray):
        ones = np.ones(int(rows.sum()))
        return sparse.csr_matrix((ones, (stamp_of_row[rows], group[rows])), shape=shape).T.tocsr()

    return counts(positive), counts(~positive)


def bootstrap_metrics(
    y: np.ndarray,
    score: np.ndarray,
    ret: np.ndarray,
    stamp_of_row: np.ndarray,
    n_stamps: int,
    *,
    block: int,
    n_boot: int,
    confidence: float,
    seed: int,
) -> dict[str, float]:
    """auc and ic with their bootstrap intervals, the ic's standard error and t-stat.

    A replicate draws whole timestamps, so it weighs every row by its timestamp's draw count:
    the IC's weighted sums are sums over timestamps of per-timestamp sums, and the AUC's counts
    of positives and negatives per distinct score are the draw counts times a fixed timestamps x
    scores table. Each replicate then costs the timestamps and distinct scores, not the rows, and
    gives what `weighted_auc` and `weighted_ic` give on the row weights (up to rounding)."""
    positives, negatives = _by_stamp_and_score(y, score, stamp_of_row, n_stamps)
    columns = (np.ones_like(score), score, ret, score * ret, score * score, ret * ret)
    moments = np.column_stack([np.bincount(stamp_of_row, weights=c, minlength=n_stamps) for c in columns])
    # Replicates in chunks, so memory stays near _CHUNK_CELLS whatever the panel's size.
    chunk = max(1, min(n_boot, _CHUNK_CELLS // max(positives.shape[0], n_stamps, 1)))
    rng = np.random.default_rng(seed)
    aucs, ics = [], []
    for first in range(0, n_boot, chunk):
        draws = _stamp_draws(n_stamps, block, min(chunk, n_boot - first), rng)
        aucs.append(_auc_of_counts((positives @ draws.T).T, (negatives @ draws.T).T))
        ics.append(_ic_of_moments(draws @ moments))
    aucs, ics = np.concatenate(aucs), np.concatenate(ics)
    ones = np.ones(len(y))
    lo, hi = (1 - confidence) / 2, (1 + confidence) / 2

    def interval(values: np.ndarray) -> tuple[float | None, float | None]:
        v = values[np.isfinite(values)]
        return (float(np.quantile(v, lo)), float(np.quantile(v, hi))) if len(v) else (None, None)

    ic = float(weighted_ic(score, ret, ones))
    finite = ics[np.isfinite(ics)]
    se = float(finite.std(ddof=1)) if len(finite) > 1 else None
    auc = float(weighted_auc(y, score, ones))
    return {
        "auc": auc if np.isfinite(auc) else None,
        "auc_lo": interval(aucs)[0],
        "auc_hi": interval(aucs)[1],
        "ic": ic if np.isfinite(ic) else None,
        "ic_lo": interval(ics)[0],
        "ic_hi": interval(ics)[1],
        "ic_se": se,
        "ic_tstat": ic / se if se and np.isfinite(ic) else None,
    }


def _auc_of_counts(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Per row, the AUC of positives and negatives counted per distinct score (ascending): each
    positive beats the negatives of lower scores and ties half of its own score's."""
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _ic_of_moments(m: np.ndarray) -> np.ndarray:
    """Per row, Pearson's correlation from weighted sums (n, x, r, xr, xx, rr)."""
    n = m[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, mr = m[:, 1] / n, m[:, 2] / n
        cov = m[:, 3] / n - mx * mr
        vx, vr = m[:, 4] / n - mx**2, m[:, 5] / n - mr**2
        return np.where((vx > 0) & (vr > 0), cov / np.sqrt(np.clip(vx, 0, None) * np.clip(vr, 0, None)), np.nan)


def _median_span(ts: np.ndarray, t1: np.ndarray, grid: np.ndarray) -> int:
    steps = np.searchsorted(grid, t1, side="right") - np.searchsorted(grid, ts)
    return max(1, int(np.median(steps))) if len(steps) else 1


def rank_models(
    predictions: pl.DataFrame,
    frame: pl.DataFrame,
    scores: pl.DataFrame,
    strategies: pl.DataFrame | None = None,
    *,
    n_boot: int = 200,
    block: int | None = None,
    confidence: float = 0.9,
    rank_by: str = "ic",
    seed: int = 0,
) -> pl.DataFrame:
    """The ranking table (`RANKING_SCHEMA`; see the module docstring).

    Args:
        predictions: one prediction per (family, target, symbol, ts): the families' out-of-fold
            predictions (paths averaged) and the ensembles'.
        frame: the training_frame (target, symbol, ts, t1, ret).
        scores: `model_scores` (per-fold rows fold >= 0 give the spread, pooled rows log loss).
        strategies: family, target, variant, dsr, sharpe_annual of each model's traded-policy
            strategy (this run's `trials` rows); None leaves those columns empty.
    """
    if rank_by not in ("auc", "ic"):
        raise ValueError(f"rank_by must be 'auc' or 'ic', got {rank_by!r}")
    spans = frame.select("target", "symbol", "ts", "t1", "ret")
    joined = predictions.select("family", "target", "symbol", "ts", "y_true", "y_score").join(
        spans, on=["target", "symbol", "ts"], how="inner"
    )
    if joined.height < predictions.height:
        raise ValueError(
            f"{predictions.height - joined.height} predictions have no row in the training_frame; "
            "rank predictions against the frame they were made from"
        )
    folds = (
        scores.filter(pl.col("fold") >= 0)
        .group_by("family", "target")
        .agg(
            pl.col("auc").mean().alias("auc_fold_mean"),
            pl.col("auc").std().alias("auc_fold_std"),
            pl.col("auc").min().alias("auc_fold_min"),
            pl.col("ic").mean().alias("ic_fold_mean"),
            pl.col("ic").std().alias("ic_fold_std"),
            pl.col("ic").min().alias("ic_fold_min"),
            pl.col("fold").n_unique().cast(pl.Int64).alias("n_folds"),
        )
    )
    pooled = scores.filter(pl.col("fold") == -1).select("family", "target", "log_loss")
    rows = []
    for (target,), part in joined.sort("target").group_by("target", maintain_order=True):
        grid = np.unique(part.get_column("ts").to_numpy())
        length = block or _median_span(part["ts"].to_numpy(), part["t1"].to_numpy(), grid)
        # One seed per target: every model of the target is resampled on the same timestamps.
        target_seed = seed + zlib.crc32(str(target).encode())
        for (family,), rows_of in part.sort("family", "symbol", "ts").group_by("family", maintain_order=True):
            metrics = bootstrap_metrics(
                rows_of.get_column("y_true").to_numpy().astype(np.int64),
                rows_of.get_column("y_score").to_numpy().astype(np.float64),
                rows_of.get_column("ret").to_numpy().astype(np.float64),
                np.searchsorted(grid, rows_of.get_column("ts").to_numpy()),
                len(grid),
                block=length,
                n_boot=n_boot,
                confidence=confidence,
                seed=target_seed,
            )
            rows.append(
                {
                    "target": target,
                    "family": family,
                    "kind": "ensemble" if is_ensemble(family) else "family",
                    "n": rows_of.height,
                    **metrics,
                    "n_boot": n_boot,
                    "block": length,
                    "confidence": confidence,
                }
            )
    if not rows:
        return pl.DataFrame(schema=RANKING_SCHEMA)
    table = pl.DataFrame(rows, schema={k: v for k, v in RANKING_SCHEMA.items() if k in rows[0]})
    table = table.join(folds, on=["family", "target"], how="left").join(pooled, on=["family", "target"], how="left")
    if strategies is not None and strategies.height:
        table = table.join(
            strategies.select("family", "target", "variant", "dsr", "sharpe_annual"),
            on=["family", "target"],
            how="left",
        )
    key = pl.col(f"{rank_by}_lo").fill_null(-np.inf)
    ranked = table.sort("target", key, "family", descending=[False, True, False]).with_columns(
        pl.int_range(1, pl.len() + 1).over("target").cast(pl.Int64).alias("rank")
    )
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in RANKING_SCHEMA.items() if name not in ranked.columns]
    return ranked.with_columns(missing).select(list(RANKING_SCHEMA)).cast(RANKING_SCHEMA)  # type: ignore[arg-type]
