"""Ensembles of out-of-fold predictions across model families, one prediction per sample.

Four ways to combine the families (`EnsembleConfig.methods`; family names in brackets):

- equal weight [`ensemble`]: the mean score; nothing is fitted (`mean_ensemble`);
- score-weighted [`ensemble_weighted`]: weights from each family's out-of-fold IC (or IC IR),
  negative ones set to 0, shrunk towards equal weights (`WeightedCombiner`);
- rank averaging [`ensemble_rank`]: each family's score becomes its rank among that family's
  scores (its empirical quantile), and the ranks are averaged (`RankCombiner`);
- stacking [`ensemble_stacked`]: a logistic meta-learner on the families' log-odds, its
  regularisation chosen by purged CV (`StackedCombiner`).

The last three learn something from the predictions, so they are themselves validated out of
sample, by nested purged CV (`nested_ensemble`): for each outer fold (purged K-fold over the
ensemble's samples, with the experiment's folds and embargo) the combiner is fitted on that
fold's training rows only and predicts its test rows; stacking picks its regularisation by an
inner purged CV inside those training rows. Every ensemble prediction therefore comes from a
combiner that never saw the sample's label or any label overlapping it. The combiners fitted on
every row (`fit_combiner`) are what production uses (foxml_dagster.training.production).

Their inputs must be out-of-fold predictions: `audit_members` re-derives from the folds that every
member prediction is a test row of its fold and that no training label overlaps its test group
(`training.audit_predictions`), and refuses scores too good to be out of sample, so stacking on
in-sample predictions fails loudly instead of learning to trust the most overfitted family.

Downstream stages (signals, backtest) need exactly one prediction per (target, symbol, ts).
With K-fold or walk-forward folds each family already gives one. With CPCV each family gives
one per backtest path (phi = C(N-1, k-1) of them, from phi different splits), so `path_mean`
first averages a family's predictions of a sample over its paths. None of the averaged models
trained on the sample or on any label overlapping its test group, so the mean is as
out-of-sample as each of them; it is a bagged forecast of models that each saw a different
(purged) part of the data. The ensemble then averages families with equal weight, whatever
their number of paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from foxml_dagster.settings import Settings

__all__ = [
    "ENSEMBLE_FAMILY",
    "METHODS",
    "PATHS_MODEL",
    "Combiner",
    "EnsembleConfig",
    "InSamplePredictions",
    "Members",
    "audit_members",
    "combine",
    "combiner_from_state",
    "ensemble_families",
    "ensemble_family",
    "fit_combiner",
    "is_ensemble",
    "mean_ensemble",
    "members",
    "nested_ensemble",
    "path_mean",
]

#: `family` value of ensemble predictions.
ENSEMBLE_FAMILY = "ensemble"

#: model_id suffix of a family's prediction averaged over backtest paths: "<family>:<target>:paths".
PATHS_MODEL = "paths"

_PREDICTION_COLUMNS = ["model_id", "family", "target", "fold", "symbol", "ts", "y_true", "y_score", "path"]
_SAMPLE = ["family", "target", "symbol", "ts"]


def path_mean(predictions: pl.DataFrame) -> pl.DataFrame:
    """One prediction per (family, target, symbol, ts): the mean y_score over backtest paths.

    Only (family, target) groups with more than one `path` (CPCV) change: their rows become one
    per sample with model_id "<family>:<target>:paths", and `fold` and `path` null (the mean
    comes from several folds and belongs to no single path). Other rows pass through as they
    are, so K-fold and walk-forward predictions are returned unchanged. A sample predicted
    twice on one path, or with y_true differing between paths, raises ValueError.
    """
    predictions = _with_path(predictions)
    several = pl.col("path").n_unique().over("family", "target") > 1
    single = predictions.filter(~several)
    multi = predictions.filter(several)
    if multi.is_empty():
        return predictions
    grouped = (
        # A fixed order inside each group keeps the floating-point mean reproducible.
        multi.sort(*_SAMPLE, "path")
        .group_by(_SAMPLE, maintain_order=True)
        .agg(
            pl.col("y_score").mean(),
            pl.col("y_true").min().alias("_y_min"),
            pl.col("y_true").max().alias("_y_max"),
            pl.len().alias("_n"),
            pl.col("path").n_unique().alias("_n_paths"),
        )
    )
    doubled = grouped.filter(pl.col("_n") != pl.col("_n_paths"))
    if doubled.height:
        first = doubled.row(0, named=True)
        raise ValueError(
            f"{doubled.height} samples are predicted twice on one backtest path (first: {first['family']} "
            f"{first['target']} {first['symbol']} {first['ts']}); pass one training run's predictions"
        )
    _refuse_y_disagreement(grouped, "paths")
    collapsed = grouped.with_columns(
        pl.format("{}:{}:{}", "family", "target", pl.lit(PATHS_MODEL)).alias("model_id"),
        pl.lit(None, pl.Int32).alias("fold"),
        pl.col("_y_min").cast(pl.Int8).alias("y_true"),
        pl.lit(None, pl.Int32).alias("path"),
    ).select(_PREDICTION_COLUMNS)
    return pl.concat([single.select(_PREDICTION_COLUMNS), collapsed], how="vertical_relaxed").sort(
        "model_id", "symbol", "ts"
    )


def _with_path(predictions: pl.DataFrame) -> pl.DataFrame:
    """Predictions made before `path` existed are single-path (K-fold): path 0."""
    path = pl.col("path").cast(pl.Int32).fill_null(0) if "path" in predictions.columns else pl.lit(0, pl.Int32)
    return predictions.with_columns(path.alias("path"))


def _refuse_y_disagreement(grouped: pl.DataFrame, between: str) -> None:
    bad_y = grouped.filter(pl.col("_y_min") != pl.col("_y_max"))
    if bad_y.height:
        first = bad_y.row(0, named=True)
        raise ValueError(
            f"{between} disagree on y_true for {bad_y.height} samples "
            f"(first: target={first['target']}, symbol={first['symbol']}, ts={first['ts']}); "
            "were they trained on the same training_frame?"
        )


def mean_ensemble(predictions: pl.DataFrame, *, families: Sequence[str] | None = None) -> pl.DataFrame:
    """Equal-weight mean of y_score across families, per (target, symbol, ts).

    Args:
        predictions: frame in the predictions contract, one row per (family, target, symbol, ts).
        families: the families to average; default every family present except "ensemble".

    Returns a predictions-contract frame with family = "ensemble", model_id = "ensemble:<target>",
    `fold`, `path` and `y_true` copied from the members, sorted by (model_id, symbol, ts).

    CPCV predictions (several `path`s per family) are first averaged over paths (`path_mean`),
    so each family contributes one score per sample; the result then has `fold` and `path` null.
    K-fold and walk-forward predictions keep their fold and path.

    Only samples predicted by *all* chosen families are kept (an inner join across families):
    a mean over a varying subset of models would silently mix different ensembles. Members must
    agree on `y_true` and `fold` for every kept sample (they are out-of-fold predictions of the
    same folds); a disagreement raises ValueError, as does a family predicting a sample twice.
    Because the members are out-of-fold, so is the mean: no weights are fitted here.
    """
    missing = [c for c in _PREDICTION_COLUMNS if c != "path" and c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions: required column(s) {missing} missing")
    present = sorted(set(predictions.get_column("family").unique().to_list()))
    if families is None:
        chosen = [f for f in present if f != ENSEMBLE_FAMILY]
    else:
        chosen = sorted(set(families))
        absent = [f for f in chosen if f not in present]
        if absent:
            raise ValueError(f"family(ies) {absent} not in predictions; present: {present}")
    if not chosen:
        raise ValueError("no families to ensemble")

    members = path_mean(predictions.filter(pl.col("family").is_in(chosen)))
    n_dup = members.height - members.select("family", "target", "symbol", "ts").n_unique()
    if n_dup:
        raise ValueError(
            f"{n_dup} duplicate (family, target, symbol, ts) predictions; each family must predict "
            "each sample once (pass out-of-fold predictions of one variant per family)"
        )

    # Fixed member order inside each group keeps the floating-point mean reproducible.
    grouped = (
        members.sort("target", "symbol", "ts", "family")
        .group_by("target", "symbol", "ts", maintain_order=True)
        .agg(
            pl.col("family").n_unique().alias("_n_families"),
            pl.col("y_score").mean().alias("y_score"),
            pl.col("y_true").min().alias("_y_min"),
            pl.col("y_true").max().alias("_y_max"),
            pl.col("fold").min().alias("fold"),
            pl.col("fold").max().alias("_fold_max"),
            pl.col("path").min().alias("path"),
            pl.col("path").max().alias("_path_max"),
            pl.col("fold").null_count().alias("_fold_nulls"),
        )
        .filter(pl.col("_n_families") == len(chosen))
    )
    _refuse_y_disagreement(grouped, "families")
    # min/max skip nulls, so a fold averaged over paths (null) next to a real one is caught by count.
    mixed = (pl.col("_fold_nulls") > 0) & (pl.col("_fold_nulls") < pl.col("_n_families"))
    bad_fold = grouped.filter(
        mixed | pl.col("fold").ne_missing(pl.col("_fold_max")) | pl.col("path").ne_missing(pl.col("_path_max"))
    )
    if bad_fold.height:
        raise ValueError(
            f"families disagree on fold for {bad_fold.height} samples; ensemble predictions made with the same folds"
        )
    return (
        grouped.with_columns(
            pl.format("{}:{}", pl.lit(ENSEMBLE_FAMILY), pl.col("target")).alias("model_id"),
            pl.lit(ENSEMBLE_FAMILY).alias("family"),
            pl.col("_y_min").cast(pl.Int8).alias("y_true"),
            pl.col("fold").cast(pl.Int32),
            pl.col("y_score").cast(pl.Float64),
            pl.col("path").cast(pl.Int32),
        )
        .select(_PREDICTION_COLUMNS)
        .sort("model_id", "symbol", "ts")
    )


# ---------------------------------------------------------------------------------------------
# Fitted ensembles: weighted, rank, stacked, validated by nested purged CV.

#: Every combining method; "equal" is `mean_ensemble`, the others fit a `Combiner`.
METHODS = ("equal", "weighted", "rank", "stacked")

#: Scores are clipped to [eps, 1 - eps] before log-odds, so a constant 0 or 1 stays finite.
_EPS = 1e-6


class InSamplePredictions(ValueError):
    """Ensemble members that are not out-of-fold predictions (see `audit_members`)."""


class EnsembleConfig(Settings):
    """Which ensembles are built beside the equal-weight mean, and how each is fitted."""

    methods: list[Literal["weighted", "rank", "stacked"]] = Field(
        default_factory=lambda: ["weighted", "rank", "stacked"],
        description="ensembles built beside the equal-weight mean `ensemble`: weighted (out-of-fold IC weights, "
        "shrunk), rank (mean of each family's score rank), stacked (logistic meta-learner on out-of-fold scores)",
    )
    weight_by: Literal["ic", "ic_ir"] = Field(
        "ic", description="weighted: each family's weight from its IC, or its IC IR over time blocks"
    )
    shrinkage: float = Field(
        0.5, ge=0, le=1, description="weighted: share of equal weight mixed in (0: pure IC weights, 1: equal)"
    )
    ic_blocks: int = Field(8, ge=2, description="weighted with ic_ir: contiguous time blocks the IC is measured in")
    stacking_c: list[float] = Field(
        default_factory=lambda: [0.01, 0.1, 1.0],
        min_length=1,
        description="stacked: inverse L2 strengths tried by the inner purged CV (smaller: closer to equal weights)",
    )
    inner_folds: int = Field(3, ge=2, description="stacked: folds of the inner purged CV that picks the strength")
    max_member_auc: float = Field(
        0.8,
        gt=0.5,
        le=1,
        description="a member whose out-of-fold AUC exceeds this (either way) is refused as almost surely "
        "in-sample; raise it for a target known to be that predictable",
    )

    @model_validator(mode="after")
    def _positive_c(self) -> EnsembleConfig:
        if any(c <= 0 for c in self.stacking_c):
            raise ValueError(f"stacking_c must all be > 0, got {self.stacking_c}")
        return self


def ensemble_family(method: str) -> str:
    """The `family` value of an ensemble's predictions: "ensemble" (equal), "ensemble_<method>"."""
    if method not in METHODS:
        raise ValueError(f"ensemble method {method!r} is not one of {', '.join(METHODS)}")
    return ENSEMBLE_FAMILY if method == "equal" else f"{ENSEMBLE_FAMILY}_{method}"


def ensemble_families(config: EnsembleConfig) -> list[str]:
    """The ensembles a run builds: the equal-weight mean, then the configured methods."""
    return [ENSEMBLE_FAMILY, *(ensemble_family(m) for m in config.methods)]


def is_ensemble(family: str) -> bool:
    return family == ENSEMBLE_FAMILY or family.startswith(f"{ENSEMBLE_FAMILY}_")


class Members:
    """One target's samples scored by every member family, aligned: X[:, j] is families[j]'s
    score; y, ret, w the label, realised return and sample weight; spans (symbol, ts, t1)."""

    def __init__(self, target: str, families: list[str], spans: pl.DataFrame, X: np.ndarray, y, ret, w):
        self.target = target
        self.families = families
        self.spans = spans
        self.X = X
        self.y = y
        self.ret = ret
        self.w = w

    def subset(self, rows: np.ndarray) -> Members:
        return Members(
            self.target, self.families, self.spans[rows], self.X[rows], self.y[rows], self.ret[rows], self.w[rows]
        )


def members(
    predictions: pl.DataFrame, frame: pl.DataFrame, target: str, families: Sequence[str] | None = None
) -> Members:
    """The member scores of `target` (one prediction per family and sample: `path_mean` first),
    joined to the training_frame's t1, ret and weight; only samples every family predicted."""
    rows = path_mean(predictions).filter(pl.col("target") == target)
    chosen = sorted(
        set(families) if families is not None else {f for f in rows["family"].unique() if not is_ensemble(f)}
    )
    if not chosen:
        raise ValueError(f"no member families for target {target!r}")
    rows = rows.filter(pl.col("family").is_in(chosen))
    grouped = rows.group_by("symbol", "ts").agg(
        pl.col("family").n_unique().alias("_n"),
        pl.col("y_true").min().alias("_y_min"),
        pl.col("y_true").max().alias("_y_max"),
    )
    _refuse_y_disagreement(grouped.with_columns(pl.lit(target).alias("target")), "families")
    complete = grouped.filter(pl.col("_n") == len(chosen)).select("symbol", "ts", pl.col("_y_min").alias("y_true"))
    wide = rows.pivot(on="family", index=["symbol", "ts"], values="y_score").join(complete, on=["symbol", "ts"])
    spans = frame.filter(pl.col("target") == target).select("symbol", "ts", "t1", "ret", "weight")
    joined = wide.join(spans, on=["symbol", "ts"], how="inner").sort("symbol", "ts")
    if joined.height < wide.height:
        raise ValueError(
            f"{wide.height - joined.height} {target} predictions have no row in the training_frame; "
            "combine predictions with the frame they were made from"
        )
    return Members(
        target,
        chosen,
        joined.select(pl.col("symbol").cast(pl.String), "ts", "t1"),
        np.ascontiguousarray(joined.select(chosen).to_numpy().astype(np.float64)),
        joined.get_column("y_true").to_numpy().astype(np.int8),
        joined.get_column("ret").to_numpy().astype(np.float64),
        joined.get_column("weight").to_numpy().astype(np.float64),
    )


def purged_splits(spans: pl.DataFrame, n_folds: int, embargo_pct: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) of a purged K-fold over `spans` (symbol, ts, t1, one row per
    sample): the project's fold builder (splits.core), so purge and embargo are the same as
    the base models' folds, and with the same samples and settings the same folds."""
    from foxml_dagster.splits.core import build_folds
    from foxml_dagster.splits.methods import kfold_specs

    indexed = spans.with_row_index("_row")
    folds, _ = build_folds(indexed.select("symbol", "ts", "t1"), "_", kfold_specs(n_folds), n_folds, embargo_pct)
    rows = folds.join(indexed.select("symbol", "ts", "_row"), on=["symbol", "ts"])
    out = []
    for k in range(n_folds):
        part = rows.filter(pl.col("fold") == k)
        train = np.sort(part.filter(pl.col("role") == "train")["_row"].to_numpy().astype(np.int64))
        test = np.sort(part.filter(pl.col("role") == "test")["_row"].to_numpy().astype(np.int64))
        out.append((train, test))
    return out


class Combiner:
    """Combines member scores (X: n x families) into one probability; `fit` learns from
    out-of-fold member scores only, `state` / `combiner_from_state` persist it as JSON."""

    method = "equal"

    def __init__(self, families: Sequence[str], config: EnsembleConfig | None = None):
        self.families = list(families)
        self.config = config or EnsembleConfig()

    def fit(self, m: Members, *, embargo_pct: float = 0.0) -> Combiner:
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64).mean(axis=1)

    def state(self) -> dict[str, Any]:
        return {"method": self.method, "families": self.families}

    def _load(self, state: dict[str, Any]) -> None:
        pass


class WeightedCombiner(Combiner):
    """Weights from each family's out-of-fold IC (or IC IR across time blocks): negative ones are
    0, the rest normalised, then shrunk: w = (1 - shrinkage) w_ic + shrinkage / F. No positive
    IC at all gives equal weights. The weighted mean of probabilities is a probability."""

    method = "weighted"

    def fit(self, m: Members, *, embargo_pct: float = 0.0) -> WeightedCombiner:
        stats = np.array([self._stat(m, j) for j in range(m.X.shape[1])])
        self.stats_ = stats
        positive = np.clip(np.nan_to_num(stats, nan=0.0), 0.0, None)
        n = len(positive)
        ic_weights = positive / positive.sum() if positive.sum() > 0 else np.full(n, 1.0 / n)
        lam = self.config.shrinkage
        self.weights_ = (1 - lam) * ic_weights + lam / n
        return self

    def _stat(self, m: Members, j: int) -> float:
        if self.config.weight_by == "ic":
            return _pearson(m.X[:, j], m.ret)
        stamps = m.spans.get_column("ts").to_numpy()
        grid = np.unique(stamps)
        edges = np.linspace(0, len(grid), self.config.ic_blocks + 1).round().astype(int)
        block = np.searchsorted(edges, np.searchsorted(grid, stamps), side="right") - 1
        ics = [_pearson(m.X[block == b, j], m.ret[block == b]) for b in range(self.config.ic_blocks)]
        ics = np.array([v for v in ics if np.isfinite(v)])
        if len(ics) < 2 or ics.std(ddof=1) == 0:
            return float("nan")
        return float(ics.mean() / ics.std(ddof=1))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.weights_

    def state(self) -> dict[str, Any]:
        return {**super().state(), "weights": self.weights_.tolist(), "stats": self.stats_.tolist()}

    def _load(self, state: dict[str, Any]) -> None:
        self.weights_ = np.array(state["weights"], dtype=np.float64)
        self.stats_ = np.array(state["stats"], dtype=np.float64)


class RankCombiner(Combiner):
    """Each family's score becomes its rank among that family's scores on the fitting rows (the
    empirical distribution function, ties at mid-rank, kept as at most 1001 quantiles); the
    ensemble is the mean rank, in [0, 1], 1/2 at each family's median. Families whose scores
    live on different scales (a calibrated booster, a shrunk linear model) count the same."""

    method = "rank"
    _KNOTS = 1001

    def fit(self, m: Members, *, embargo_pct: float = 0.0) -> RankCombiner:
        q = np.linspace(0.0, 1.0, self._KNOTS)
        self.knots_ = [
            np.sort(m.X[:, j]) if len(m.X) <= self._KNOTS else np.quantile(m.X[:, j], q) for j in range(m.X.shape[1])
        ]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        ranks = np.empty_like(X)
        for j, knots in enumerate(self.knots_):
            below = np.searchsorted(knots, X[:, j], side="left")
            upto = np.searchsorted(knots, X[:, j], side="right")
            ranks[:, j] = (below + upto) / (2.0 * len(knots))
        return ranks.mean(axis=1)

    def state(self) -> dict[str, Any]:
        return {**super().state(), "knots": [k.tolist() for k in self.knots_]}

    def _load(self, state: dict[str, Any]) -> None:
        self.knots_ = [np.array(k, dtype=np.float64) for k in state["knots"]]


class StackedCombiner(Combiner):
    """A logistic meta-learner on the families' log-odds, weighted by the sample weights. Its
    L2 strength is chosen among `stacking_c` by an inner purged K-fold over the fitting rows
    (weighted log loss), then it is refitted on all of them."""

    method = "stacked"

    def fit(self, m: Members, *, embargo_pct: float = 0.0) -> StackedCombiner:
        Z = _logit(m.X)
        self.inner_loss_ = {}
        choices = self.config.stacking_c
        best = choices[len(choices) // 2]
        if len(choices) > 1:
            try:
                splits = purged_splits(m.spans, self.config.inner_folds, embargo_pct)
            except ValueError:  # too few timestamps for the inner folds: keep the middle strength
                splits = []
            for c in choices:
                losses = []
                for train, test in splits:
                    if len(train) == 0 or len(test) == 0:
                        continue
                    model = _fit_logistic(Z[train], m.y[train], m.w[train], c)
                    losses.append(_log_loss(m.y[test], model(Z[test]), m.w[test]))
                if losses:
                    self.inner_loss_[c] = float(np.mean(losses))
            if self.inner_loss_:
                best = min(self.inner_loss_, key=lambda c: (self.inner_loss_[c], c))
        self.c_ = float(best)
        model = _fit_logistic(Z, m.y, m.w, self.c_)
        self.coef_, self.intercept_ = model.coef, model.intercept
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(_logit(np.asarray(X, dtype=np.float64)) @ self.coef_ + self.intercept_)

    def state(self) -> dict[str, Any]:
        return {
            **super().state(),
            "c": self.c_,
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
            "inner_log_loss": {str(c): v for c, v in self.inner_loss_.items()},
        }

    def _load(self, state: dict[str, Any]) -> None:
        self.c_ = float(state["c"])
        self.coef_ = np.array(state["coef"], dtype=np.float64)
        self.intercept_ = float(state["intercept"])
        self.inner_loss_ = {}


_COMBINERS: dict[str, type[Combiner]] = {
    "equal": Combiner,
    "weighted": WeightedCombiner,
    "rank": RankCombiner,
    "stacked": StackedCombiner,
}


def make_combiner(method: str, families: Sequence[str], config: EnsembleConfig | None = None) -> Combiner:
    if method not in _COMBINERS:
        raise ValueError(f"ensemble method {method!r} is not one of {', '.join(METHODS)}")
    return _COMBINERS[method](families, config)


def combiner_from_state(state: dict[str, Any], config: EnsembleConfig | None = None) -> Combiner:
    """A fitted combiner back from its `state()`."""
    combiner = make_combiner(state["method"], state["families"], config)
    combiner._load(state)
    return combiner


def fit_combiner(m: Members, method: str, config: EnsembleConfig, *, embargo_pct: float) -> Combiner:
    """A combiner fitted on every row of `m`: the one production applies to live predictions."""
    return make_combiner(method, m.families, config).fit(m, embargo_pct=embargo_pct)


def nested_ensemble(
    m: Members, method: str, config: EnsembleConfig, *, n_folds: int, embargo_pct: float
) -> pl.DataFrame:
    """Out-of-sample predictions of a fitted ensemble: per outer purged fold, the combiner is fitted
    on the fold's training rows and predicts its test rows (`fold` = the outer fold)."""
    family = ensemble_family(method)
    score = np.full(len(m.y), np.nan)
    fold_of = np.full(len(m.y), -1, dtype=np.int32)
    for k, (train, test) in enumerate(purged_splits(m.spans, n_folds, embargo_pct)):
        if len(train) == 0 or len(test) == 0:
            continue
        combiner = make_combiner(method, m.families, config).fit(m.subset(train), embargo_pct=embargo_pct)
        score[test] = combiner.predict(m.X[test])
        fold_of[test] = k
    kept = fold_of >= 0
    keys = m.spans.filter(pl.Series(kept))
    return pl.DataFrame(
        {
            "model_id": f"{family}:{m.target}",
            "family": family,
            "target": m.target,
            "fold": fold_of[kept],
            "symbol": keys.get_column("symbol"),
            "ts": keys.get_column("ts"),
            "y_true": m.y[kept],
            "y_score": np.clip(score[kept], 0.0, 1.0),
            "path": np.zeros(int(kept.sum()), dtype=np.int32),
        }
    ).cast({"fold": pl.Int32, "y_true": pl.Int8, "path": pl.Int32})


def audit_members(predictions: pl.DataFrame, folds: pl.DataFrame, frame: pl.DataFrame, *, max_auc: float) -> None:
    """Refuse members that are not out-of-fold predictions, naming what gives them away:

    - any prediction the fold table does not make a test row of its fold, or whose fold trained
      on a label overlapping its test group (`training.audit_predictions`): in-sample by
      construction;
    - a (family, target) whose AUC is beyond `max_auc` either way: market labels are not that
      predictable out of sample, so such scores almost surely saw their labels.
    """
    from sklearn.metrics import roc_auc_score

    from foxml_dagster.training.cpcv import LEAK_KINDS, audit_predictions

    leaks = [p for p in audit_predictions(predictions, folds, frame) if p.kind in LEAK_KINDS]
    if leaks:
        raise InSamplePredictions(
            "ensemble members are not out-of-fold predictions; combine only oof_predictions:\n"
            + "\n".join(f"- {p}" for p in leaks)
        )
    for (family, target), part in path_mean(predictions).group_by("family", "target", maintain_order=True):
        y = part.get_column("y_true").to_numpy()
        if len(np.unique(y)) < 2:
            continue
        auc = float(roc_auc_score(y, part.get_column("y_score").to_numpy()))
        if abs(auc - 0.5) > max_auc - 0.5:
            raise InSamplePredictions(
                f"{family} {target}: out-of-fold AUC {auc:.3f} is beyond ensemble.max_member_auc {max_auc} either "
                "way; scores this good are almost always predictions of rows the model trained on. Check the "
                "training step's audit, or raise ensemble.max_member_auc for a target known to be this predictable"
            )


def combine(
    predictions: pl.DataFrame,
    frame: pl.DataFrame,
    config: EnsembleConfig,
    *,
    folds: pl.DataFrame | None,
    n_folds: int,
    embargo_pct: float,
) -> pl.DataFrame:
    """Every ensemble of the run, in the predictions contract: the equal-weight mean (folds of its
    members) and each configured method by nested purged CV. With `folds`, the members are
    audited first (`audit_members`)."""
    if folds is not None:
        audit_members(predictions, folds, frame, max_auc=config.max_member_auc)
    parts = [mean_ensemble(predictions)]
    for target in sorted(predictions.get_column("target").unique().to_list()):
        if not config.methods:
            break
        m = members(predictions, frame, target)
        for method in config.methods:
            parts.append(nested_ensemble(m, method, config, n_folds=n_folds, embargo_pct=embargo_pct))
    return pl.concat(parts, how="vertical_relaxed").select(_PREDICTION_COLUMNS).sort("model_id", "symbol", "ts")


class _Logistic:
    def __init__(self, coef: np.ndarray, intercept: float):
        self.coef = coef
        self.intercept = intercept

    def __call__(self, Z: np.ndarray) -> np.ndarray:
        return _sigmoid(Z @ self.coef + self.intercept)


def _fit_logistic(Z: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> _Logistic:
    """Weighted L2 logistic regression, the objective of scikit-learn's LogisticRegression(C=c):
    sum_i w_i logloss_i + |coef|^2 / (2 c), the intercept unpenalised; solved by Newton's method.
    A meta-learner has a handful of inputs, so each Newton step is a tiny linear solve, where
    scikit-learn's general solver costs tens of milliseconds per fit (tests/unit/test_ensembles.py
    checks the two agree)."""
    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if len(np.unique(y)) < 2:  # one class: the base rate, whatever the scores
        rate = float(np.clip(y.mean() if len(y) else 0.5, _EPS, 1 - _EPS))
        return _Logistic(np.zeros(Z.shape[1]), float(np.log(rate / (1 - rate))))
    X = np.column_stack([np.ones(len(y)), Z])
    penalty = np.full(X.shape[1], 1.0 / c)
    penalty[0] = 0.0
    beta = np.zeros(X.shape[1])
    rate = float(np.clip(np.average(y, weights=w), _EPS, 1 - _EPS))
    beta[0] = np.log(rate / (1 - rate))
    for _ in range(100):
        p = _sigmoid(X @ beta)
        gradient = X.T @ (w * (p - y)) + penalty * beta
        hessian = (X * (w * p * (1 - p))[:, None]).T @ X + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-12 * np.eye(len(beta)), gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return _Logistic(beta[1:].copy(), float(beta[0]))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.average(y * np.log(p) + (1 - y) * np.log(1 - p), weights=w))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return float("nan")
    da, db = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((da @ da) * (db @ db)))
    return float(da @ db / denom) if denom > 0 else float("nan")
