"""What storing features as float32 (features.dtype) changes -> benchmarks/results_precision.md.

Every kernel computes in float64; `features.dtype: float32` rounds the stored values to float32,
halving the training frame. This measures what that rounding does downstream, on the bundled
real sample with the standard set (plus the cross-sectional set), the default labels and purged
5-fold: the training frame's size, the largest relative rounding of a feature value, and, for
LightGBM and logistic trained out of fold on each frame with the same seed, how far the
predictions move, how many sign calls flip, and the pooled AUC and IC of each.

Run: .venv/bin/python benchmarks/precision.py
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).resolve().parent / "results_precision.md"
FAMILIES = {"lightgbm": {"n_estimators": 100}, "logistic": {}}


def frames() -> tuple[dict[str, pl.DataFrame], list[str], pl.DataFrame]:
    from foxml_dagster.config import ColumnMap
    from foxml_dagster.data.normalize import normalize_bars
    from foxml_dagster.dataset import build_training_frame
    from foxml_dagster.features import compute_features, feature_set
    from foxml_dagster.features.cross_section import compute_cross_sectional, cross_sectional_set
    from foxml_dagster.features.registry import FeaturesConfig
    from foxml_dagster.labels import LabelsConfig, make_labels
    from foxml_dagster.splits import SplitsConfig, make_folds
    from resources.sources import SampleSource

    columns = ColumnMap(symbol="Ticker", ts="Date", open="Open", high="High", low="Low", close="Close", volume="Volume")
    source = SampleSource(columns.model_copy(update={"adj_close": "Adj Close"}), [])
    bars = normalize_bars(pl.concat([source.read_raw(s) for s in source.symbols()]), timezone="UTC").bars
    features = compute_features(bars, feature_set("standard"))
    cross = compute_cross_sectional(bars, cross_sectional_set())
    labels = make_labels(bars, LabelsConfig())
    out = {}
    for dtype in ("float64", "float32"):
        cfg = FeaturesConfig(set="standard", dtype=dtype)
        built = build_training_frame(cfg.stored(features), labels, cross_sectional=cfg.stored(cross))
        out[dtype] = built.frame
    names = build_training_frame(features, labels, cross_sectional=cross).feature_columns
    folds, _ = make_folds(out["float64"].select("target", "symbol", "ts", "t1"), SplitsConfig())
    return out, names, folds


def main() -> int:
    from foxml_dagster.evaluation import score_predictions
    from foxml_dagster.training import train_out_of_fold

    started = time.perf_counter()
    by_dtype, names, folds = frames()
    wide, narrow = by_dtype["float64"], by_dtype["float32"]
    exact = wide.select(names).to_numpy()
    rounded = narrow.select(names).to_numpy().astype(np.float64)
    scale = np.maximum(np.abs(exact), np.finfo(np.float32).tiny)
    max_rel = float(np.max(np.abs(rounded - exact) / scale))

    results = {}
    for dtype, frame in by_dtype.items():
        result = train_out_of_fold(frame, folds, feature_columns=names, families=FAMILIES, seed=7)
        scores = score_predictions(result.oof, frame).filter(pl.col("fold") == -1)
        results[dtype] = (result.oof.sort("family", "target", "symbol", "ts"), scores.sort("family", "target"))
    (oof64, s64), (oof32, s32) = results["float64"], results["float32"]
    rows = []
    for (family, target), part in oof64.group_by("family", "target", maintain_order=True):
        other = oof32.filter((pl.col("family") == family) & (pl.col("target") == target))
        a, b = part["y_score"].to_numpy(), other["y_score"].to_numpy()
        flips = float(np.mean((a > 0.5) != (b > 0.5)))
        x64 = s64.filter((pl.col("family") == family) & (pl.col("target") == target)).row(0, named=True)
        x32 = s32.filter((pl.col("family") == family) & (pl.col("target") == target)).row(0, named=True)
        rows.append(
            f"| {family} | {target} | {np.max(np.abs(a - b)):.2e} | {flips:.4%} | {x64['auc']:.4f} | "
            f"{x32['auc']:.4f} | {x64['ic']:.4f} | {x32['ic']:.4f} |"
        )
    lines = [
        "# float32 feature storage: what it changes",
        "",
        "Written by `benchmarks/precision.py`; every number below was measured by that run.",
        "",
        f"Bundled sample (5 stocks, daily), standard + cross-sectional features ({len(names)} columns), default "
        f"labels, purged 5-fold, {', '.join(FAMILIES)} with seed 7. Machine: {platform.machine()}, "
        f"Python {platform.python_version()}; {time.perf_counter() - started:.0f} s.",
        "",
        "| | float64 | float32 |",
        "|---|---|---|",
        f"| training frame | {wide.estimated_size() / 2**20:.1f} MB | {narrow.estimated_size() / 2**20:.1f} MB |",
        "",
        f"Largest relative rounding of a feature value: {max_rel:.2e}.",
        "",
        "| family | target | max abs change of y_score | sign calls flipped | AUC float64 | AUC float32 | "
        "IC float64 | IC float32 |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
