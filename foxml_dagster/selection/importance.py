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

from collections.abc import Sequence

import numpy as np
import polars as pl


def fold_arrays(frame: pl.DataFrame, folds: pl.DataFrame, target: str, feature_columns: Sequence[str]):
    """Yield (fold, X_train, y_train, w_train, X_test, y_test) for a target."""
    rows = frame.filter(pl.col("target") == target)
    for (fold,), group in folds.filter(pl.col("target") == target).group_by("fold", maintain_order=True):
        parts = []
        for role in ("train", "test"):
            keys = group.filter(pl.col("role") == role).select("symbol", "ts")
            part = rows.join(keys, on=["symbol", "ts"], how="inner").sort("symbol", "ts")
            parts.append(
                (
                    np.ascontiguousarray(part.select(feature_columns).to_numpy().astype(np.float64)),
                    (part["label"] == 1).cast(pl.Int8).to_numpy(),
                    part["weight"].to_numpy(),
                )
            )
        (xa, ya, wa), (xb, yb, _) = parts
        if len(ya) and len(yb) and len(np.unique(ya)) == 2 and len(np.unique(yb)) == 2:
            yield int(fold), xa, ya, wa, xb, yb


def importance_table(
    frame: pl.DataFrame,
    folds: pl.DataFrame,
    feature_columns: Sequence[str],
    clusters: np.ndarray,
    *,
    target: str,
    n_estimators: int,
    seed: int,
) -> pl.DataFrame:
    """One row per feature: mdi, mda, mda_std, clustered_mda, sfi, stability, cluster, n_folds."""
    # scikit-learn is imported where it is used: it costs seconds at code-location load.
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    k = len(feature_columns)
    rng = np.random.default_rng(seed)
    mdi, mda, cmda, sfi = [], [], [], []
    for _, xa, ya, wa, xb, yb in fold_arrays(frame, folds, target, feature_columns):
        forest = RandomForestClassifier(
            n_estimators=n_estimators, max_features=1, min_samples_leaf=20, n_jobs=1, random_state=seed
        ).fit(xa, ya, sample_weight=wa)
        mdi.append(forest.feature_importances_)
        base = roc_auc_score(yb, forest.predict_proba(xb)[:, 1])
        order = rng.permutation(len(yb))
        mda.append([base - _permuted_auc(forest, xb, yb, [j], order) for j in range(k)])
        by_cluster = {
            c: base - _permuted_auc(forest, xb, yb, np.flatnonzero(clusters == c), order) for c in set(clusters)
        }
        cmda.append([by_cluster[c] for c in clusters])
        sfi.append([_single_feature_auc(xa[:, j], ya, wa, xb[:, j], yb, seed) - 0.5 for j in range(k)])
    if not mdi:
        raise ValueError(f"target {target!r}: no fold has both classes in train and test; importance is undefined")
    mda_a = np.array(mda)
    return pl.DataFrame(
        {
            "feature": list(feature_columns),
            "cluster": clusters.astype(np.int64),
            "mdi": np.mean(mdi, axis=0),
            "mda": mda_a.mean(axis=0),
            "mda_std": mda_a.std(axis=0),
            "clustered_mda": np.mean(cmda, axis=0),
            "sfi": np.mean(sfi, axis=0),
            "stability": (mda_a > 0).mean(axis=0),
            "n_folds": np.full(k, len(mdi)),
        }
    )


def _permuted_auc(model, x: np.ndarray, y: np.ndarray, columns, order: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    shuffled = x.copy()
    shuffled[:, columns] = x[order][:, columns]  # one permutation for the whole cluster
    return roc_auc_score(y, model.predict_proba(shuffled)[:, 1])


def _single_feature_auc(xa, ya, wa, xb, yb, seed) -> float:
    from sklearn.metrics import roc_auc_score
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=50, random_state=seed)
    tree.fit(xa.reshape(-1, 1), ya, sample_weight=wa)
    return roc_auc_score(yb, tree.predict_proba(xb.reshape(-1, 1))[:, 1])
