"""Detect features that read the future, by recomputing them on truncated and perturbed bars.

A causal feature's value at ts depends only on bars at or before ts. So (1) cutting the data at
any time must not change any value before the cut, and (2) changing bars after a time must not
change any value up to it. Both are checked for every spec; either failure names the feature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from foxml_dagster.features.compute import compute_features
from foxml_dagster.features.registry import FeatureSpec
from foxml_dagster.runner import Call, InProcessRunner, Runner


@dataclass(frozen=True)
class LookaheadFinding:
    feature: str
    probe: str  # "truncate" or "perturb"
    cut: object  # the timestamp after which the data was cut or changed
    changed_rows: int


def find_lookahead(
    bars: pl.DataFrame,
    specs: Sequence[FeatureSpec],
    *,
    n_cuts: int = 3,
    seed: int = 0,
    compute: Callable[[pl.DataFrame, Sequence], pl.DataFrame] = compute_features,
    runner: Runner | None = None,
) -> list[LookaheadFinding]:
    """Every (feature, probe, cut) where values up to the cut changed; empty for causal specs.

    `compute(bars, specs)` computes the features (default: per-symbol `compute_features`; the
    cross-sectional set passes its own; a module-level function when `runner` is a Ray runner).
    `runner` runs the recomputations: the reference first, then one task per (cut, probe), each
    diffing its values against the shared reference where it runs (default: here, in order)."""
    bars = bars.sort("symbol", "ts")
    stamps = bars["ts"].unique().sort()
    if stamps.len() < 3:
        return []
    rng = np.random.default_rng(seed)
    picks = rng.choice(np.arange(1, stamps.len() - 1), size=min(n_cuts, stamps.len() - 2), replace=False)
    runner = runner or InProcessRunner()
    (reference,) = runner.map(compute, [Call((bars, specs), name="lookahead:reference")])
    shared_bars, shared_reference = runner.put(bars), runner.put(reference)
    calls = [
        Call((shared_bars, shared_reference, specs, cut, probe, compute), name=f"lookahead:{probe}:{cut}")
        for cut in stamps.gather(np.sort(picks)).to_list()
        for probe in ("truncate", "perturb")
    ]
    return [finding for found in runner.map(_probe, calls) for finding in found]


def _probe(bars: pl.DataFrame, reference: pl.DataFrame, specs, cut, probe: str, compute) -> list[LookaheadFinding]:
    """Recompute with the bars after `cut` removed ("truncate") or changed ("perturb")."""
    before = pl.col("ts") <= cut
    expected = reference.filter(before)
    if probe == "truncate":
        return _diff(expected, compute(bars.filter(before), specs), specs, probe, cut)
    shocked = bars.with_columns(
        pl.when(~before).then(pl.col(c) * 1.5).otherwise(pl.col(c)) for c in ("open", "high", "low", "close", "volume")
    )
    return _diff(expected, compute(shocked, specs).filter(before), specs, probe, cut)


def _diff(expected: pl.DataFrame, actual: pl.DataFrame, specs, probe: str, cut) -> list[LookaheadFinding]:
    found = []
    for spec in specs:
        a = expected[spec.name].to_numpy()
        b = actual[spec.name].to_numpy()
        same = (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-9, atol=1e-12)
        if not same.all():
            found.append(LookaheadFinding(spec.name, probe, cut, int((~same).sum())))
    return found
