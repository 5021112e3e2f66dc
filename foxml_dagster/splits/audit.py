"""An independent audit of any fold table against the label spans it was built from.

It recomputes nothing from the builder: test blocks are read back from the fold table (runs of
consecutive grid timestamps that the fold tests), so a bug in the builder cannot hide itself.
Each problem has a kind, which the leakage report turns into its own check:

- `train_test_overlap`: a training sample contemporaneous with a test block (e.g. another
  symbol at the same time: splitting a panel by symbol instead of by time);
- `label_crosses_boundary`: a training label that starts before a test block and ends inside
  its window, or starts after the block while a test label is still resolving (not purged);
- `missing_embargo`: a training sample starting within the embargo after a test window;
- `trains_on_future`: walk-forward only, a training sample after its fold's test block;
- `test_count`: a sample tested the wrong number of times for the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
import polars as pl

from foxml_dagster.splits.core import embargo_bars


@dataclass(frozen=True)
class FoldProblem:
    kind: str
    detail: str

    def __str__(self) -> str:
        return self.detail


def expected_test_count(method: str, n_groups: int, n_test_groups: int) -> int:
    return comb(n_groups - 1, n_test_groups - 1) if method == "cpcv" else 1


def audit_folds(
    folds: pl.DataFrame,
    samples: pl.DataFrame,
    *,
    embargo_pct: float,
    method: str = "purged_kfold",
    times_tested: int = 1,
) -> list[FoldProblem]:
    """Every violation of purge, embargo and test coverage; empty when the folds are sound.

    `times_tested` is how often each sample must be tested (1, or C(N-1, k-1) for CPCV); with
    `method="walk_forward"` samples before the first test block may stay untested.
    """
    spans = folds.join(samples.select("target", "symbol", "ts", "t1"), on=["target", "symbol", "ts"])
    problems: list[FoldProblem] = []
    grids = {t: g["ts"].unique().sort().to_numpy() for (t,), g in samples.group_by("target", maintain_order=True)}
    for (target, fold), group in spans.group_by("target", "fold", maintain_order=True):
        grid = grids[target]
        test = group.filter(pl.col("role") == "test")
        train = group.filter(pl.col("role") == "train")
        if test.is_empty():
            problems.append(FoldProblem("test_count", f"{target} fold {fold}: no test samples"))
            continue
        train_ts, train_t1 = train["ts"].to_numpy(), train["t1"].to_numpy()
        test_ts, test_t1 = test["ts"].to_numpy(), test["t1"].to_numpy()
        pos = np.searchsorted(grid, test_ts)
        idx = np.unique(pos)
        cuts = np.flatnonzero(np.diff(idx) > 1) + 1
        bars = embargo_bars(embargo_pct, len(grid))
        for block in np.split(idx, cuts):
            first, last = grid[block[0]], grid[block[-1]]
            in_block = (pos >= block[0]) & (pos <= block[-1])
            end = test_t1[in_block].max()
            where = f"{target} fold {fold} block [{first}, {last}] (window to {end})"
            _flag(
                problems,
                "train_test_overlap",
                where,
                train,
                (train_ts >= first) & (train_ts <= last),
                "training samples at the same time as the test block",
            )
            crossing = ((train_ts < first) & (train_t1 >= first)) | ((train_ts > last) & (train_ts <= end))
            _flag(
                problems,
                "label_crosses_boundary",
                where,
                train,
                crossing,
                "training labels crossing the test block's boundary (not purged)",
            )
            if bars:
                after = np.searchsorted(grid, end, side="right") - 1
                limit = grid[min(after + bars, len(grid) - 1)]
                _flag(
                    problems,
                    "missing_embargo",
                    where,
                    train,
                    (train_ts > end) & (train_ts <= limit),
                    f"training samples inside the embargo up to {limit}",
                )
            if method == "walk_forward":
                _flag(
                    problems,
                    "trains_on_future",
                    where,
                    train,
                    train_ts > last,
                    "training samples after the test block in a walk-forward fold",
                )
    problems += _coverage(folds, samples, method, times_tested)
    return problems


def _flag(problems, kind, where, train, mask, what):
    n = int(mask.sum())
    if n:
        row = train.filter(pl.Series(mask)).row(0, named=True)
        problems.append(FoldProblem(kind, f"{where}: {n} {what}, e.g. {row['symbol']} {row['ts']}..{row['t1']}"))


def _coverage(folds, samples, method, times_tested) -> list[FoldProblem]:
    tested = folds.filter(pl.col("role") == "test").group_by("target", "symbol", "ts").len()
    keys = samples.select("target", "symbol", "ts").join(tested, on=["target", "symbol", "ts"], how="left")
    keys = keys.with_columns(pl.col("len").fill_null(0))
    if method == "walk_forward":
        first = (
            tested.join(samples, on=["target", "symbol", "ts"])
            .group_by("target")
            .agg(pl.col("ts").min().alias("first"))
        )
        keys = keys.join(first, on="target", how="left").filter(pl.col("ts") >= pl.col("first"))
    problems = []
    wrong = keys.filter(pl.col("len") != times_tested)
    if wrong.height:
        more = wrong.filter(pl.col("len") > times_tested).height
        never = wrong.filter(pl.col("len") == 0).height
        problems.append(
            FoldProblem(
                "test_count",
                f"{wrong.height} samples are not tested exactly {times_tested} time(s): "
                f"{more} tested more than once, {never} never tested",
            )
        )
    return problems
