"""The leakage report: automatic checks that the data seen in training cannot see the future.

Each check yields rows of (check, subject, status, value, detail). Any `fail` blocks training.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from foxml_dagster.features.causality import find_lookahead
from foxml_dagster.features.registry import FeatureSpec
from foxml_dagster.splits import audit_folds

REPORT_SCHEMA = {"check_name": pl.Utf8, "subject": pl.Utf8, "status": pl.Utf8, "value": pl.Float64, "detail": pl.Utf8}


def _row(check, subject, failed, value=None, detail=""):
    return {
        "check_name": check,
        "subject": subject,
        "status": "fail" if failed else "pass",
        "value": value,
        "detail": detail,
    }


def feature_lookahead_rows(bars: pl.DataFrame, specs: Sequence[FeatureSpec], *, seed: int = 0) -> list[dict]:
    findings = {f.feature: f for f in find_lookahead(bars, specs, seed=seed)}
    return [
        _row(
            "feature_reads_future",
            spec.name,
            spec.name in findings,
            detail=(
                f"{findings[spec.name].changed_rows} values up to {findings[spec.name].cut} changed "
                f"when later bars were {findings[spec.name].probe}d"
                if spec.name in findings
                else "unchanged under truncation and perturbation of later bars"
            ),
        )
        for spec in specs
    ]


def target_copy_rows(frame: pl.DataFrame, feature_columns: Sequence[str], *, max_abs_corr: float) -> list[dict]:
    """A feature whose rank correlation with the realised label return is extreme is a leak:
    honest features explain a few percent of future returns, never most of them."""
    rows = []
    for (target,), group in frame.group_by("target", maintain_order=True):
        ranks = group.select(pl.col("ret").rank(), *(pl.col(c).rank() for c in feature_columns))
        for name in feature_columns:
            value = ranks.select(pl.corr("ret", name)).item()
            value = 0.0 if value is None or value != value else abs(value)
            rows.append(
                _row(
                    "feature_copies_target",
                    f"{name} -> {target}",
                    value > max_abs_corr,
                    value,
                    f"|spearman| with realised return {value:.3f} (limit {max_abs_corr})",
                )
            )
    return rows


def label_span_rows(frame: pl.DataFrame) -> list[dict]:
    backwards = frame.filter(pl.col("t1") <= pl.col("ts"))
    return [
        _row(
            "label_ends_before_start",
            "labels",
            backwards.height > 0,
            float(backwards.height),
            f"{backwards.height} labels whose t1 is not after ts",
        )
    ]


def fold_audit_rows(folds: pl.DataFrame, frame: pl.DataFrame, *, embargo_pct: float) -> list[dict]:
    problems = audit_folds(folds, frame, embargo_pct=embargo_pct)
    if not problems:
        return [
            _row(
                "folds_purged_and_embargoed", "folds", False, 0.0, "no overlap, embargo holds, each sample tested once"
            )
        ]
    return [_row("folds_purged_and_embargoed", "folds", True, float(len(problems)), p) for p in problems]


def leakage_report(rows: Sequence[dict]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=REPORT_SCHEMA)


def failures(report: pl.DataFrame) -> list[str]:
    return [
        f"{r['check_name']} [{r['subject']}]: {r['detail']}"
        for r in report.filter(pl.col("status") == "fail").iter_rows(named=True)
    ]
