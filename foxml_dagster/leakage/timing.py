"""Leaks in time: labels that read the future beyond their horizon, and unsound folds.

- `label_reads_future`: the labeller is re-run on bars cut at a time, and on bars changed after
  it; every label already resolved by then (t1 <= cut) must come out the same. A barrier width
  or event threshold from volatility over the whole sample fails this.
- `label_ends_before_start`: a label whose t1 is not after ts.
- Fold checks, from the independent fold audit: `train_test_overlap`, `label_crosses_boundary`,
  `missing_embargo`, `trains_on_future` (walk-forward), `test_count`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from foxml_dagster.leakage.report import row
from foxml_dagster.splits import SplitsConfig, audit_with

FOLD_CHECKS = ("train_test_overlap", "label_crosses_boundary", "missing_embargo", "trains_on_future", "test_count")
_COMPARED = ("symbol", "ts", "target", "t1", "label", "ret", "barrier")


def label_lookahead_rows(
    bars: pl.DataFrame, labeller: Callable[[pl.DataFrame], pl.DataFrame], *, n_cuts: int = 2, seed: int = 0
) -> list[dict]:
    """Weights are left out: uniqueness and time decay legitimately depend on later labels."""
    bars = bars.sort("symbol", "ts")
    stamps = bars["ts"].unique().sort()
    if stamps.len() < 10:
        return [row("label_reads_future", "labels", False, None, "too few bars to probe")]
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(np.arange(stamps.len() // 3, stamps.len() - 1), size=n_cuts, replace=False))
    reference = labeller(bars)
    changed: list[str] = []
    for cut in stamps.gather(picks).to_list():
        before = pl.col("ts") <= cut
        shocked = bars.with_columns(
            pl.when(before).then(pl.col(c)).otherwise(pl.col(c) * 1.5) for c in ("open", "high", "low", "close")
        )
        for probe, data in (("truncated", bars.filter(before)), ("changed", shocked)):
            diff = _resolved_diff(reference, labeller(data), cut)
            if diff:
                changed.append(f"{diff} labels resolved by {cut} changed when later bars were {probe}")
    return [
        row(
            "label_reads_future",
            "labels",
            bool(changed),
            float(len(changed)),
            "; ".join(changed) + " (a barrier width or event threshold uses the whole sample?)"
            if changed
            else "labels resolved before a cut do not depend on bars after it",
        )
    ]


def _resolved_diff(a: pl.DataFrame, b: pl.DataFrame, cut) -> int:
    a = a.filter(pl.col("t1") <= cut).select(_COMPARED)
    b = b.filter(pl.col("t1") <= cut).select(_COMPARED)
    a = a.with_columns(pl.col("ret").round(10))
    b = b.with_columns(pl.col("ret").round(10))
    return a.join(b, on=list(_COMPARED), how="anti").height + b.join(a, on=list(_COMPARED), how="anti").height


def label_span_rows(frame: pl.DataFrame) -> list[dict]:
    backwards = frame.filter(pl.col("t1") <= pl.col("ts"))
    return [
        row(
            "label_ends_before_start",
            "labels",
            backwards.height > 0,
            float(backwards.height),
            f"{backwards.height} labels whose t1 is not after ts",
        )
    ]


def fold_audit_rows(folds: pl.DataFrame, frame: pl.DataFrame, cfg: SplitsConfig) -> list[dict]:
    """One pass row per fold check, or one fail row per problem found."""
    problems = audit_with(folds, frame, cfg)
    rows = []
    for kind in FOLD_CHECKS:
        if kind == "trains_on_future" and cfg.method != "walk_forward":
            continue
        found = [p for p in problems if p.kind == kind]
        rows += [row(kind, "folds", True, float(len(found)), p.detail) for p in found] or [
            row(kind, "folds", False, 0.0, "holds in every fold")
        ]
    return rows
