"""The leakage report: automatic checks that nothing seen in training can see the future.

Each check yields rows of (check_name, subject, status, value, detail); any `fail` blocks
training, and the detail names the culprit. See `features` (feature columns) and `timing`
(labels and folds) for what each check proves.
"""

from foxml_dagster.leakage.features import (
    feature_lookahead_rows,
    importance_dominance_rows,
    preprocessing_rows,
    rank_auc,
    sample_symbols,
    single_feature_score_rows,
    target_copy_rows,
)
from foxml_dagster.leakage.report import REPORT_SCHEMA, failures, leakage_report
from foxml_dagster.leakage.timing import FOLD_CHECKS, fold_audit_rows, label_lookahead_rows, label_span_rows

__all__ = [
    "FOLD_CHECKS",
    "REPORT_SCHEMA",
    "failures",
    "feature_lookahead_rows",
    "fold_audit_rows",
    "importance_dominance_rows",
    "label_lookahead_rows",
    "label_span_rows",
    "leakage_report",
    "preprocessing_rows",
    "rank_auc",
    "sample_symbols",
    "single_feature_score_rows",
    "target_copy_rows",
]
