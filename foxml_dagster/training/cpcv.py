"""Backtest paths of out-of-fold predictions, and an audit that predictions never saw their sample.

With purged K-fold and walk-forward each sample is tested once, so it has one out-of-fold
prediction per family and `path` is 0. With combinatorial purged CV (CPCV: N groups, k test
groups per split, C(N, k) splits) each group is tested in phi = C(N-1, k-1) splits. The folds
table already names, on every test row, the backtest path it belongs to (the standard
assignment, López de Prado AFML 12.4: path p takes, for every group, the p-th split in
lexicographic order that tests it; see `foxml_dagster.splits.methods`). Training copies that
`path` onto each prediction, so every (family, target, path) is one complete out-of-sample
history covering each tested sample exactly once.

`check_test_paths` refuses, before any training, a fold table whose repeated tests do not form
complete paths (a sample tested twice in one path would be double-counted by every path metric).
`audit_predictions` re-checks a finished run from its predictions, the folds and the label spans:
it can fail, and tests/unit/test_cpcv_training.py plants a leaking model to prove it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["LEAK_KINDS", "PredictionProblem", "audit_predictions", "check_test_paths", "with_test_paths"]

#: Problems that mean a prediction may have seen its own outcome, or counts twice: never ignorable.
LEAK_KINDS = ("not_a_test_row", "path_mismatch", "train_overlaps_test_group", "path_duplicate")
#: Every kind; `path_incomplete` alone is expected when training skipped a fold (no train rows).
PROBLEM_KINDS = (*LEAK_KINDS, "path_incomplete")

_SAMPLE = ["target", "symbol", "ts"]


@dataclass(frozen=True)
class PredictionProblem:
    kind: str  # one of PROBLEM_KINDS
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def with_test_paths(folds: pl.DataFrame) -> pl.DataFrame:
    """The folds with a `path` on every test row: 0 when the table has no path (one test per sample)."""
    if "path" not in folds.columns:
        folds = folds.with_columns(pl.lit(None, pl.Int32).alias("path"))
    is_test = pl.col("role") == "test"
    return folds.with_columns(
        pl.when(is_test).then(pl.col("path").cast(pl.Int32).fill_null(0)).otherwise(None).alias("path")
    )


def check_test_paths(folds: pl.DataFrame) -> dict[str, int]:
    """Number of backtest paths per target; raise when repeated tests do not form complete paths.

    A target whose samples are each tested once has one path. Otherwise every tested sample must
    be tested once in each of the target's paths (the CPCV shape): same count for every sample,
    and no two tests of one sample in the same path.
    """
    test = with_test_paths(folds).filter(pl.col("role") == "test")
    per_sample = test.group_by(_SAMPLE).agg(pl.len().alias("n"), pl.col("path").n_unique().alias("n_paths"))
    counts: dict[str, int] = {}
    for (target,), group in per_sample.group_by("target", maintain_order=True):
        n_tests = group.get_column("n")
        if n_tests.max() == 1:
            counts[target] = 1
            continue
        paths = test.filter(pl.col("target") == target).get_column("path").n_unique()
        repeated_in_path = group.filter(pl.col("n") != pl.col("n_paths")).height
        incomplete = group.filter(pl.col("n") != paths).height
        if repeated_in_path or incomplete:
            raise ValueError(
                f"folds: target {target!r} tests samples {n_tests.min()} to {n_tests.max()} times across "
                f"{paths} backtest paths: {repeated_in_path} samples are tested twice in one path and "
                f"{incomplete} are missing from some path. Out-of-fold training needs each sample tested "
                "once (splits.method: purged_kfold or walk_forward) or once per path (cpcv, whose folds "
                "carry `path`); rebuild the folds asset rather than editing its table"
            )
        counts[target] = paths
    return dict(sorted(counts.items()))


def audit_predictions(predictions: pl.DataFrame, folds: pl.DataFrame, frame: pl.DataFrame) -> list[PredictionProblem]:
    """Every way a prediction could have seen its own sample; empty when the run is clean.

    Checks, from the predictions, the folds the models were trained on, and the label spans
    (ts, t1) of `frame` (the training_frame):

    - not_a_test_row: a prediction for a sample its fold does not test;
    - path_mismatch: a prediction filed under another path than its fold's test row;
    - train_overlaps_test_group: the fold's training rows include a label whose span [ts, t1]
      overlaps the window of the test group holding a predicted sample (window = first ts of
      the group to the last t1 of its labels). Test groups are read back from the fold itself
      as runs of consecutive timestamps of the target, so no builder code is trusted;
    - path_duplicate: a (family, target, path) that predicts some sample twice;
    - path_incomplete: a (family, target, path) that misses samples its folds test (as when
      training skipped a fold without training rows).
    """
    folds = with_test_paths(folds)
    problems: list[PredictionProblem] = []
    test = folds.filter(pl.col("role") == "test").select(*_SAMPLE, "fold", pl.col("path").alias("_fold_path"))
    preds = predictions.select("family", *_SAMPLE, "fold", "path").join(test, on=[*_SAMPLE, "fold"], how="left")
    stray = preds.filter(pl.col("_fold_path").is_null())
    if stray.height:
        row = stray.row(0, named=True)
        problems.append(
            PredictionProblem(
                "not_a_test_row",
                f"{stray.height} predictions are not test rows of their fold, e.g. {row['family']} "
                f"{row['target']} fold {row['fold']} {row['symbol']} {row['ts']}",
            )
        )
    moved = preds.filter(pl.col("_fold_path").is_not_null() & (pl.col("path") != pl.col("_fold_path")))
    if moved.height:
        problems.append(
            PredictionProblem(
                "path_mismatch", f"{moved.height} predictions carry another path than their fold's test row"
            )
        )
    problems += _overlaps(predictions, folds, frame)
    problems += _coverage(predictions, test)
    return problems


def _overlaps(predictions: pl.DataFrame, folds: pl.DataFrame, frame: pl.DataFrame) -> list[PredictionProblem]:
    spans = frame.select(*_SAMPLE, "t1").unique(_SAMPLE)
    problems = []
    used = predictions.select("target", "fold").unique().sort("target", "fold")
    for target, fold in used.iter_rows():
        rows = folds.filter((pl.col("target") == target) & (pl.col("fold") == fold)).join(spans, on=_SAMPLE)
        grid = spans.filter(pl.col("target") == target).get_column("ts").unique().sort().to_numpy()
        test = rows.filter(pl.col("role") == "test")
        train = rows.filter(pl.col("role") == "train")
        if test.is_empty() or train.is_empty():
            continue
        pos = np.searchsorted(grid, test.get_column("ts").to_numpy())
        test_t1 = test.get_column("t1").to_numpy()
        train_ts, train_t1 = train.get_column("ts").to_numpy(), train.get_column("t1").to_numpy()
        stamps = np.unique(pos)
        for run in np.split(stamps, np.flatnonzero(np.diff(stamps) > 1) + 1):
            start, end = grid[run[0]], test_t1[(pos >= run[0]) & (pos <= run[-1])].max()
            overlap = (train_ts <= end) & (train_t1 >= start)
            if overlap.any():
                first = train.filter(pl.Series(overlap)).row(0, named=True)
                problems.append(
                    PredictionProblem(
                        "train_overlaps_test_group",
                        f"{target} fold {fold}: {int(overlap.sum())} training labels overlap the test group "
                        f"[{start}, {end}], e.g. {first['symbol']} {first['ts']}..{first['t1']}; every "
                        "prediction of that group comes from a model that saw its outcome",
                    )
                )
    return problems


def _coverage(predictions: pl.DataFrame, test: pl.DataFrame) -> list[PredictionProblem]:
    """Each (family, target, path) predicts each sample its folds test on that path exactly once."""
    problems = []
    expected = test.group_by("target", "_fold_path").agg(pl.len().alias("expected")).rename({"_fold_path": "path"})
    per_sample = predictions.group_by("family", *_SAMPLE, "path").len()
    doubled = per_sample.filter(pl.col("len") > 1)
    if doubled.height:
        row = doubled.row(0, named=True)
        problems.append(
            PredictionProblem(
                "path_duplicate",
                f"{doubled.height} samples are predicted more than once within one path, e.g. "
                f"{row['family']} {row['target']} path {row['path']} {row['symbol']} {row['ts']}",
            )
        )
    got = per_sample.group_by("family", "target", "path").agg(pl.len().alias("got"))
    # Every path of a predicted target is owed by every family, so a path missing entirely counts too.
    owed = predictions.select("family", "target").unique().join(expected, on="target")
    short = (
        owed.join(got, on=["family", "target", "path"], how="full", coalesce=True)
        .with_columns(pl.col("got", "expected").fill_null(0))
        .filter(pl.col("got") != pl.col("expected"))
        .sort("family", "target", "path")
    )
    for row in short.iter_rows(named=True):
        problems.append(
            PredictionProblem(
                "path_incomplete",
                f"{row['family']} {row['target']} path {row['path']}: {row['got']} samples predicted, "
                f"the folds test {row['expected']} on that path (a skipped fold leaves the path incomplete)",
            )
        )
    return problems
