"""Leaks that live in the feature columns of the training frame.

- `feature_reads_future`: the feature changes when later bars are cut or changed.
- `feature_copies_target`: |Spearman| with the realised label return is extreme.
- `single_feature_score`: the raw feature alone ranks the label far too well (AUC far from ½).
  Honest features on market data score AUC 0.5 ± a few hundredths; a near-copy scores 0.8+.
- `importance_dominance`: one feature takes most of a boosted model's gain: the model found a
  shortcut, which on market data is almost always the label seen through a leak.
- `preprocessing_outside_fold`: the column bears the fingerprint of a scaler fitted on the whole
  sample (mean exactly 0 and std exactly 1, min 0 and max 1, or uniform full-sample ranks),
  globally or per symbol. Fitted inside each training fold, those identities cannot hold on the
  whole frame, so a match means the test rows were part of the fit. A feature whose definition
  bounds it to [0, 1] (RSI, Donchian position, rolling rank: `FeatureSpec.bounds`) touches both
  ends on any long enough sample by itself, so min 0 and max 1 is no fingerprint for it; a
  min-max scaler on such a feature would be the identity, and leak nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from foxml_dagster.dataset import uniform_draw
from foxml_dagster.features.causality import find_lookahead
from foxml_dagster.features.registry import FeatureSpec
from foxml_dagster.leakage.report import row
from foxml_dagster.runner import Runner

FINGERPRINT_TOL = 1e-6
#: Largest distance from the grid, in grid steps, of an evenly spaced column: a rank transform is
#: on it up to rounding; continuous values sit anywhere, up to half a step (~0.5) away.
GRID_TOL = 0.01
_PAST_TENSE = {"truncate": "truncated", "perturb": "perturbed"}  # probe names (features/causality.py)


def feature_lookahead_rows(
    bars: pl.DataFrame, specs: Sequence[FeatureSpec], *, seed: int = 0, runner: Runner | None = None
) -> list[dict]:
    """One row per spec; `runner` runs the recomputations (see `find_lookahead`)."""
    findings = {f.feature: f for f in find_lookahead(bars, specs, seed=seed, runner=runner)}
    return [
        row(
            "feature_reads_future",
            spec.name,
            spec.name in findings,
            detail=(
                f"{findings[spec.name].changed_rows} values up to {findings[spec.name].cut} changed "
                f"when later bars were {_PAST_TENSE[findings[spec.name].probe]}"
                if spec.name in findings
                else "unchanged under truncation and perturbation of later bars"
            ),
        )
        for spec in specs
    ]


def sample_symbols(bars: pl.DataFrame, max_symbols: int | None, seed: int) -> pl.DataFrame:
    """The bars of at most `max_symbols` symbols drawn uniformly (all of them when fewer)."""
    symbols = bars.get_column("symbol").unique().sort()
    if max_symbols is None or symbols.len() <= max_symbols:
        return bars
    chosen = symbols.sample(n=max_symbols, seed=seed)
    return bars.filter(pl.col("symbol").is_in(chosen.implode()))


def sample_rows(frame: pl.DataFrame, max_rows: int | None, seed: int) -> pl.DataFrame:
    """At most `max_rows` rows drawn uniformly without replacement, in their original order."""
    keep = uniform_draw(frame.height, max_rows, seed)
    return frame if keep is None else frame[keep]


def target_copy_rows(
    frame: pl.DataFrame,
    feature_columns: Sequence[str],
    *,
    max_abs_corr: float,
    max_rows: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """Honest features explain a few percent of future returns, never most of them.

    On at most `max_rows` rows per target: a Spearman correlation's standard error is about
    1 / sqrt(n) (0.002 at 200,000 rows), so the sample moves no feature across the limit."""
    rows = []
    for (target,), group in frame.group_by("target", maintain_order=True):
        group = sample_rows(group, max_rows, seed)
        ret = pl.col("ret").rank()
        values = group.select(pl.corr(pl.col(c).rank(), ret).alias(c) for c in feature_columns).row(0)
        for name, value in zip(feature_columns, values, strict=True):
            value = 0.0 if value is None or value != value else abs(value)
            rows.append(
                row(
                    "feature_copies_target",
                    f"{name} -> {target}",
                    value > max_abs_corr,
                    value,
                    f"|spearman| with realised return {value:.3f} (limit {max_abs_corr})",
                )
            )
    return rows


def rank_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """AUC of a raw score against a boolean outcome (Mann-Whitney, ties averaged); ½ if undefined."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    ranks = pl.Series(score).rank().to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def single_feature_score_rows(
    frame: pl.DataFrame,
    feature_columns: Sequence[str],
    *,
    max_auc: float,
    max_rows: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """A monotone score needs no fit, so this check cannot itself overfit or leak.

    On at most `max_rows` rows per target (an AUC's standard error is under 0.0015 at 200,000)."""
    rows = []
    for (target,), group in frame.group_by("target", maintain_order=True):
        group = sample_rows(group, max_rows, seed)
        positive = pl.col("label") == 1
        n_pos = int(group.select(positive.sum()).item())
        n_neg = group.height - n_pos
        if n_pos and n_neg:
            sums = group.select(pl.col(c).rank().filter(positive).sum().alias(c) for c in feature_columns).row(0)
            aucs = [(total - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg) for total in sums]
        else:
            aucs = [0.5] * len(feature_columns)
        for name, auc in zip(feature_columns, aucs, strict=True):
            strength = max(auc, 1 - auc)
            rows.append(
                row(
                    "single_feature_score",
                    f"{name} -> {target}",
                    strength > max_auc,
                    strength,
                    f"the raw feature alone has AUC {auc:.3f} for label == 1 (limit {max_auc} either way)",
                )
            )
    return rows


def importance_dominance_rows(
    frame: pl.DataFrame,
    feature_columns: Sequence[str],
    *,
    max_share: float,
    seed: int = 0,
    max_rows: int | None = None,
) -> list[dict]:
    """Gain share of the top feature in a small boosted model per target (diagnostic fit only),
    fitted on at most `max_rows` rows per target: a shortcut to the label dominates any sample."""
    from foxml_dagster.models import get_family

    if len(feature_columns) < 3:  # with one or two features, dominance means nothing
        return [row("importance_dominance", "all", False, None, "fewer than 3 features: not checked")]
    rows = []
    for (target,), group in frame.group_by("target", maintain_order=True):
        group = sample_rows(group, max_rows, seed)
        model = get_family("lightgbm")(seed=seed, n_estimators=40, num_leaves=15)
        X = np.ascontiguousarray(group.select(feature_columns).to_numpy().astype(np.float64))
        model.fit(X, (group["label"] == 1).cast(pl.Int8).to_numpy(), sample_weight=group["weight"].to_numpy())
        gain = model.feature_importance("gain")
        total = gain.sum()
        share = gain / total if total > 0 else np.zeros_like(gain)
        top = int(np.argmax(share))
        rows.append(
            row(
                "importance_dominance",
                f"{feature_columns[top]} -> {target}",
                share[top] > max_share,
                float(share[top]),
                f"{share[top]:.0%} of the boosted model's gain on one feature (limit {max_share:.0%})",
            )
        )
    return rows


#: Feature columns read at once by `preprocessing_rows`: every row of a batch is in memory.
PREPROCESSING_BATCH = 24


def preprocessing_rows(
    frame: pl.DataFrame | pl.LazyFrame,
    feature_columns: Sequence[str],
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> list[dict]:
    """One row per feature; `bounds`: the declared range of bounded features (by name).

    A fingerprint is an exact identity of the whole sample (or of one symbol's rows), so this
    check reads every row, never a sample: it computes each column's moments, extremes and
    distinct count in one pass (over the sample and per symbol), and tests the evenly spaced
    grid of a rank transform in a second pass only where the count allows one. The columns are
    read `PREPROCESSING_BATCH` at a time from a lazy frame, so memory stays at one batch's rows."""
    bounds = bounds or {}
    names = list(feature_columns)
    scopes: dict[str, dict] = {}
    for first in range(0, len(names), PREPROCESSING_BATCH):
        batch = names[first : first + PREPROCESSING_BATCH]
        samples = (
            frame.lazy()
            .select("symbol", "ts", *batch)
            .filter(pl.struct("symbol", "ts").is_first_distinct())
            .drop("ts")
            .collect()
        )
        scopes.setdefault("whole sample", {}).update(_scope_stats(samples, batch))
        for (symbol,), part in samples.group_by("symbol", maintain_order=True):
            scopes.setdefault(f"symbol {symbol}", {}).update(_scope_stats(part, batch))
        del samples
    rows = []
    for name in names:
        unit = bounds.get(name) == (0.0, 1.0)
        found = next(
            (
                (where, kind)
                for where, stats in scopes.items()
                if (kind := _fingerprint(stats[name], unit_bounded=unit))
            ),
            None,
        )
        rows.append(
            row(
                "preprocessing_outside_fold",
                name,
                found is not None,
                detail=(
                    f"{found[1]} over the {found[0]}: a scaler was fitted on test rows too; "
                    "fit it inside each training fold (in the model) instead"
                    if found
                    else "no whole-sample scaler fingerprint"
                ),
            )
        )
    return rows


def _scope_stats(part: pl.DataFrame, names: list[str]) -> dict[str, dict]:
    """Per column, over its finite values: count, mean, population and sample std, min, max,
    distinct count, and (when the values could be an evenly spaced grid) the largest distance of
    a value from the grid min + k (max - min) / (distinct - 1), in grid steps."""

    def finite(c: str) -> pl.Expr:
        return pl.col(c).filter(pl.col(c).is_finite())

    aggs = []
    for c in names:
        x = finite(c)
        aggs += [
            x.count().alias(f"{c}|n"),
            x.mean().alias(f"{c}|mean"),
            x.std(ddof=0).alias(f"{c}|std0"),
            x.std(ddof=1).alias(f"{c}|std1"),
            x.min().alias(f"{c}|min"),
            x.max().alias(f"{c}|max"),
            x.n_unique().alias(f"{c}|unique"),
        ]
    flat = part.select(aggs).row(0, named=True)
    stats = {c: {k: flat[f"{c}|{k}"] for k in ("n", "mean", "std0", "std1", "min", "max", "unique")} for c in names}
    gridded = [c for c, v in stats.items() if v["n"] >= 20 and v["unique"] > max(0.9 * v["n"], 1)]
    if gridded:
        off = part.select(
            ((finite(c) - stats[c]["min"]) / _step(stats[c])).pipe(lambda k: (k - k.round()).abs().max()).alias(c)
            for c in gridded
        ).row(0, named=True)
        for c in gridded:
            stats[c]["off_grid"] = off[c]
    return stats


def _step(v: dict) -> float:
    span = (v["max"] or 0.0) - (v["min"] or 0.0)
    return span / (v["unique"] - 1) if span > 0 else 1.0


def _fingerprint(v: dict, *, unit_bounded: bool = False) -> str | None:
    if v["n"] < 20 or not v["std0"]:
        return None
    tol = FINGERPRINT_TOL
    if abs(v["mean"]) < tol and (abs(v["std0"] - 1) < tol or abs(v["std1"] - 1) < tol):
        return "mean 0 and std 1 exactly (z-score)"
    if not unit_bounded and abs(v["min"]) < tol and abs(v["max"] - 1) < tol:
        return "min 0 and max 1 exactly (min-max scaling)"
    # Every distinct value on the grid of (distinct - 1) equal steps between min and max: the
    # values are that grid, evenly spaced, as a full-sample rank or quantile transform leaves them.
    off = v.get("off_grid")
    if off is not None and off < GRID_TOL:
        return "evenly spaced values (full-sample rank/quantile transform)"
    return None
