"""Feature importance under the purged folds: MDI, MDA, clustered MDA, SFI, and their stability.

Per fold, a random forest (max_features=1, as López de Prado advises, so correlated features
cannot mask each other in MDI) is fitted on the fold's training rows only, and:

- MDI: the forest's mean decrease in impurity (in-sample, training rows);
- MDA: the drop in out-of-fold AUC when one feature is permuted in the test rows;
- clustered MDA: the same with every feature of a correlation cluster permuted together;
- SFI: the out-of-fold AUC of a depth-3 tree fitted on that feature alone (no substitution
  effects at all), reported as AUC - 0.5;
- stability: the share of folds whose MDA is positive.

Nothing here sees a test row while fitting; test rows are only scored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from foxml_dagster.runner import Call, InProcessRunner, Runner


def fold_arrays(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    target: str,
    feature_columns: Sequence[str],
    *,
    max_train_rows: int | None = None,
    seed: int = 0,
):
    """Yield (fold, X_train, y_train, w_train, X_test, y_test) for a target; at most
    `max_train_rows` training rows per fold (uniform, seeded by (seed, fold)), every test row."""
    rows = frame.filter(pl.col("target") == target)
    for (fold,), group in folds.filter(pl.col("target") == target).group_by("fold", maintain_order=True):
        rng = np.random.default_rng([seed, int(fold), 3])
        arrays = _fold_xy(rows, group, feature_columns, (max_train_rows, None), rng)
        if arrays is not None:
            yield int(fold), *arrays


def _fold_xy(
    rows: pl.DataFrame,
    group: pl.DataFrame,
    feature_columns: Sequence[str],
    caps: tuple[int | None, int | None] = (None, None),
    rng: np.random.Generator | None = None,
):
    """(X_train, y_train, w_train, X_test, y_test) of one fold, or None unless both sides hold
    both classes. `caps` (train, test) keep at most that many rows of each side, drawn uniformly
    from the fold's keys before any feature is read, so a capped fold costs its cap, not its size."""
    parts = []
    for role, cap in zip(("train", "test"), caps, strict=True):
        on = ["target", "symbol", "ts"] if "target" in group.columns else ["symbol", "ts"]
        keys = group.filter(pl.col("role") == role).select(on)
        if cap is not None and keys.height > cap:
            keys = keys[np.sort((rng or np.random.default_rng()).choice(keys.height, size=cap, replace=False))]
        # Joining on the target too reads only this target's rows, without copying them out first.
        part = rows.join(keys, on=on, how="inner").sort("symbol", "ts")
        parts.append(
            (
                np.ascontiguousarray(part.select(feature_columns).to_numpy().astype(np.float64)),
                (part["label"] == 1).cast(pl.Int8).to_numpy(),
                part["weight"].to_numpy(),
            )
        )
    (xa, ya, wa), (xb, yb, _) = parts
    if len(ya) and len(yb) and len(np.unique(ya)) == 2 and len(np.unique(yb)) == 2:
        return xa, ya, wa, xb, yb
    return None


def importance_table(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    feature_columns: Sequence[str],
    clusters: np.ndarray,
    *,
    target: str,
    n_estimators: int,
    seed: int,
    runner: Runner | None = None,
    max_train_rows: int | None = None,
    max_test_rows: int | None = None,
) -> pl.DataFrame:
    """One row per feature: mdi, mda, mda_std, clustered_mda, sfi, stability, cluster, n_folds."""
    table = importance_tables(
        frame,
        folds,
        feature_columns,
        clusters,
        targets=[target],
        n_estimators=n_estimators,
        seed=seed,
        runner=runner,
        max_train_rows=max_train_rows,
        max_test_rows=max_test_rows,
    )[target]
    if isinstance(table, str):
        raise ValueError(table)
    return table


def importance_tables(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    feature_columns: Sequence[str],
    clusters: np.ndarray,
    *,
    targets: Sequence[str],
    n_estimators: int,
    seed: int,
    runner: Runner | None = None,
    max_train_rows: int | None = None,
    max_test_rows: int | None = None,
) -> dict[str, pl.DataFrame | str]:
    """Per target: its `importance_table`, or why importance is undefined on it (no fold with both
    classes in train and test). `runner` runs one task per (target, fold) (default: here, in
    order); the tables are the same whichever runs them."""
    runner = runner or InProcessRunner()
    feature_columns = list(feature_columns)
    # Only what the tasks read is shipped; select shares the columns' memory, it copies nothing.
    shared_frame = runner.put(frame.select("target", "symbol", "ts", "label", "weight", *feature_columns))
    shared_folds = runner.put(folds.select("target", "fold", "role", "symbol", "ts"))
    plan = [
        (target, int(fold))
        for target in targets
        for fold in folds.filter(pl.col("target") == target)["fold"].unique(maintain_order=True).to_list()
    ]
    calls = [
        Call(
            (
                shared_frame,
                shared_folds,
                target,
                fold,
                feature_columns,
                clusters,
                n_estimators,
                seed,
                max_train_rows,
                max_test_rows,
            ),
            name=f"importance:{target}:fold{fold}",
        )
        for target, fold in plan
    ]
    per_fold = runner.map(fold_importance, calls)
    tables: dict[str, pl.DataFrame | str] = {}
    for target in targets:
        scores = [s for (t, _), s in zip(plan, per_fold, strict=True) if t == target and s is not None]
        tables[target] = (
            _table(feature_columns, clusters, scores)
            if scores
            else f"target {target!r}: no fold has both classes in train and test; importance is undefined"
        )
    return tables


def fold_importance(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    target: str,
    fold: int,
    feature_columns: list[str],
    clusters: np.ndarray,
    n_estimators: int,
    seed: int,
    max_train_rows: int | None = None,
    max_test_rows: int | None = None,
) -> tuple[np.ndarray, ...] | None:
    """(mdi, mda, clustered_mda, sfi) of one (target, fold), one value per feature; None when the
    fold lacks a class in train or test.

    The forest and the single-feature trees fit at most `max_train_rows` training rows and are
    scored on at most `max_test_rows` test rows (uniform draws, seeded by (seed, fold)): the
    permutation work is test rows x trees x features, so a cap keeps selection's cost flat in the
    panel's size, at the price of noisier AUC drops (standard error ~0.5 / sqrt(test rows))."""
    # scikit-learn is imported where it is used: it costs seconds at code-location load.
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    group = folds.filter((pl.col("target") == target) & (pl.col("fold") == fold))
    caps = (max_train_rows, max_test_rows)
    arrays = _fold_xy(frame, group, feature_columns, caps, np.random.default_rng([seed, fold, 1]))
    if arrays is None:
        return None
    xa, ya, wa, xb, yb = arrays
    k = len(feature_columns)
    # Trees are grown on every core (each from its own seed drawn up front: the same forest
    # whatever the thread count); each prediction then sums its trees in order on one thread,
    # and the permutations run side by side, so the scores do not depend on the thread count.
    forest = RandomForestClassifier(
        n_estimators=n_estimators, max_features=1, min_samples_leaf=20, n_jobs=-1, random_state=seed
    ).fit(xa, ya, sample_weight=wa)
    score = _ForestScore(forest)
    xb = np.ascontiguousarray(xb, dtype=np.float32)  # the trees' own dtype, converted once
    base = roc_auc_score(yb, score(xb))
    # Seeded by (seed, fold), not drawn from one stream across folds: a fold's permutation must not
    # depend on which folds ran before it, so any task order on any node gives the same scores.
    order = np.random.default_rng([seed, fold]).permutation(len(yb))
    members = {c: np.flatnonzero(clusters == c) for c in set(clusters)}
    # A feature alone in its cluster is permuted alone there already: its MDA is the cluster's.
    alone = [j for j, c in enumerate(clusters) if len(members[c]) > 1]
    permuted = [*members.values(), *([j] for j in alone)]
    # A depth-3 tree on one feature has at most 8 leaves: a few thousand rows fit it as well as
    # a hundred thousand, and there is one fit per feature.
    sa, sy, sw = _capped(np.random.default_rng([seed, fold, 2]), SFI_ROWS, xa, ya, wa)
    with ThreadPoolExecutor(_cores()) as pool:  # scikit-learn's trees release the GIL
        drops = [base - auc for auc in pool.map(lambda cols: _permuted_auc(score, xb, yb, cols, order), permuted)]
        sfi = [
            auc - 0.5 for auc in pool.map(lambda j: _single_feature_auc(sa[:, j], sy, sw, xb[:, j], yb, seed), range(k))
        ]
    by_cluster = dict(zip(members, drops[: len(members)], strict=True))
    by_feature = dict(zip(alone, drops[len(members) :], strict=True))
    cmda = [by_cluster[c] for c in clusters]
    mda = [by_feature.get(j, by_cluster[c]) for j, c in enumerate(clusters)]
    return forest.feature_importances_, np.array(mda), np.array(cmda), np.array(sfi)


def _cores() -> int:
    """Cores this process may run on (its affinity, e.g. a container's or a Ray worker's share)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


#: Training rows each single-feature tree (SFI) fits on, at most.
SFI_ROWS = 20_000


def _capped(rng: np.random.Generator, cap: int | None, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The same uniform draw of at most `cap` rows from each array (in row order)."""
    n = len(arrays[0])
    if cap is None or n <= cap:
        return arrays
    keep = np.sort(rng.choice(n, size=cap, replace=False))
    return tuple(np.ascontiguousarray(a[keep]) for a in arrays)


def _table(feature_columns: list[str], clusters: np.ndarray, scores: list[tuple[np.ndarray, ...]]) -> pl.DataFrame:
    mdi, mda, cmda, sfi = (np.array(part) for part in zip(*scores, strict=True))
    k = len(feature_columns)
    return pl.DataFrame(
        {
            "feature": feature_columns,
            "cluster": clusters.astype(np.int64),
            "mdi": mdi.mean(axis=0),
            "mda": mda.mean(axis=0),
            "mda_std": mda.std(axis=0),
            "clustered_mda": cmda.mean(axis=0),
            "sfi": sfi.mean(axis=0),
            "stability": (mda > 0).mean(axis=0),
            "n_folds": np.full(k, len(scores)),
        }
    )


class _ForestScore:
    """A fitted forest's probability of class 1, as `predict_proba` computes it (each tree's class
    share at the row's leaf, summed in tree order, over the number of trees), but from leaf
    indices with the leaf shares worked out once: the same numbers without scikit-learn's
    per-tree, per-call overhead, which was most of the permutation loop's time."""

    def __init__(self, forest) -> None:
        column = list(forest.classes_).index(1)
        self._trees = []
        for estimator in forest.estimators_:
            counts = estimator.tree_.value[:, 0, :]
            total = counts.sum(axis=1)
            total[total == 0] = 1.0
            self._trees.append((estimator.tree_, counts[:, column] / total))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """`x`: float32, C-contiguous (what the trees read)."""
        out = np.zeros(len(x), dtype=np.float64)
        for tree, share in self._trees:
            out += share[tree.apply(x)]
        return out / len(self._trees)


def _permuted_auc(score: _ForestScore, x: np.ndarray, y: np.ndarray, columns, order: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    shuffled = x.copy()
    shuffled[:, columns] = x[np.ix_(order, columns)]  # one permutation for the whole cluster
    return roc_auc_score(y, score(shuffled))


def _single_feature_auc(xa, ya, wa, xb, yb, seed) -> float:
    from sklearn.metrics import roc_auc_score
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=50, random_state=seed)
    tree.fit(xa.reshape(-1, 1), ya, sample_weight=wa)
    return roc_auc_score(yb, tree.predict_proba(xb.reshape(-1, 1))[:, 1])
