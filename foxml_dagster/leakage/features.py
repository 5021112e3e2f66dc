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

from foxml_dagster.features.causality import find_lookahead
from foxml_dagster.features.registry import FeatureSpec
from foxml_dagster.leakage.report import row
from foxml_dagster.runner import Runner

FINGERPRINT_TOL = 1e-6
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


def target_copy_rows(frame: pl.DataFrame, feature_columns: Sequence[str], *, max_abs_corr: float) -> list[dict]:
    """Honest features explain a few percent of future returns, never most of them."""
    rows = []
    for (target,), group in frame.group_by("target", maintain_order=True):
        ranks = group.select(pl.col("ret").rank(), *(pl.col(c).rank() for c in feature_columns))
        for name in feature_columns:
            value = ranks.select(pl.corr("ret", name)).item()
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


def single_feature_score_rows(frame: pl.DataFrame, feature_columns: Sequence[str], *, max_auc: float) -> list[dict]:
    """A monotone score needs no fit, so this check cannot itself overfit or leak."""
    rows = []
    for (target,), group in frame.group_by("target", maintain_order=True):
        positive = (group["label"] == 1).to_numpy()
        for name in feature_columns:
            auc = rank_auc(group[name].to_numpy(), positive)
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
    frame: pl.DataFrame, feature_columns: Sequence[str], *, max_share: float, seed: int = 0
) -> list[dict]:
    """Gain share of the top feature in a small boosted model per target (diagnostic fit only)."""
    from foxml_dagster.models import get_family

    if len(feature_columns) < 3:  # with one or two features, dominance means nothing
        return [row("importance_dominance", "all", False, None, "fewer than 3 features: not checked")]
    rows = []
    for (target,), group in frame.group_by("target", maintain_order=True):
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


def preprocessing_rows(
    frame: pl.DataFrame,
    feature_columns: Sequence[str],
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> list[dict]:
    """One row per feature; `bounds`: the declared range of bounded features (by name)."""
    bounds = bounds or {}
    samples = frame.unique(subset=["symbol", "ts"]).sort("symbol", "ts")
    rows = []
    for name in feature_columns:
        unit = bounds.get(name) == (0.0, 1.0)
        scopes = [("whole sample", samples[name].to_numpy())]
        scopes += [(f"symbol {s}", g[name].to_numpy()) for (s,), g in samples.group_by("symbol", maintain_order=True)]
        found = next(((where, kind) for where, x in scopes if (kind := _fingerprint(x, unit_bounded=unit))), None)
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


def _fingerprint(x: np.ndarray, *, unit_bounded: bool = False) -> str | None:
    x = x[np.isfinite(x)]
    if len(x) < 20 or x.std() == 0:
        return None
    tol = FINGERPRINT_TOL
    if abs(x.mean()) < tol and (abs(x.std() - 1) < tol or abs(x.std(ddof=1) - 1) < tol):
        return "mean 0 and std 1 exactly (z-score)"
    if not unit_bounded and abs(x.min()) < tol and abs(x.max() - 1) < tol:
        return "min 0 and max 1 exactly (min-max scaling)"
    ordered = np.sort(x)
    steps = np.diff(ordered)
    if len(np.unique(x)) > 0.9 * len(x) and np.ptp(steps) < tol * max(np.ptp(x), 1e-12) * 10:
        return "evenly spaced values (full-sample rank/quantile transform)"
    return None
