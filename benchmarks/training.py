"""Training benchmarks -> benchmarks/results_training.md.

1. The platform's LightGBM path (LightGBMFamily.fit: input checks + lgb.train) against a raw
   `lgb.train` call with the same native parameters on the same matrix. Target: ratio <= 1.10.
2. Every registered family over 5 purged folds: Ray fan-out (one task per family and fold, local
   Ray using every core) against sequential in-process training. Predictions must be identical.

Run: .venv/bin/python benchmarks/training.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.test_training import FEATURES, make_folds, make_frame  # noqa: E402


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def lightgbm_overhead(n_rows: int, repeats: int) -> dict:
    import lightgbm as lgb

    from foxml_dagster.models import LightGBMFamily

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_rows, 30))
    y = (X[:, 0] + rng.normal(size=n_rows) > 0).astype(np.int8)
    w = rng.uniform(0.5, 1.5, size=n_rows)
    model = LightGBMFamily(seed=0, n_estimators=200, early_stopping_rounds=0)
    params = model._native_params()

    def raw():
        data = lgb.Dataset(X, label=y, weight=w, params={"verbose": -1}, free_raw_data=True)
        return lgb.train(params, data, num_boost_round=200)

    def ours():
        return LightGBMFamily(seed=0, n_estimators=200, early_stopping_rounds=0).fit(X, y, sample_weight=w)

    raw(), ours()  # warm-up
    t_raw, t_ours = best_of(raw, repeats), best_of(ours, repeats)
    same = np.array_equal(raw().predict(X[:1000]), ours().predict_score(X[:1000]))
    return {"rows": n_rows, "raw_s": t_raw, "ours_s": t_ours, "ratio": t_ours / t_raw, "identical": same}


FAMILIES = {
    "lightgbm": {"n_estimators": 100},
    "xgboost": {"n_estimators": 100},
    "logistic": {},
    "ridge": {},
    "random_forest": {"n_estimators": 100},
    "extra_trees": {"n_estimators": 100},
    "mlp": {"max_epochs": 5},
    "lstm": {"max_epochs": 3, "window": 10, "hidden_size": 16},
    "gru": {"max_epochs": 3, "window": 10, "hidden_size": 16},
    "cnn1d": {"max_epochs": 3, "window": 10, "hidden_size": 16},
    "tcn": {"max_epochs": 3, "window": 10, "hidden_size": 16},
    "transformer": {"max_epochs": 3, "window": 10, "hidden_size": 16, "num_heads": 2},
}


def fan_out(n_bars: int) -> dict:
    import ray

    from foxml_dagster.training import InProcessRunner, RayRunner, train_out_of_fold

    frame = make_frame(n_bars=n_bars, symbols=("AAA", "BBB", "CCC"))
    folds = make_folds(frame, n_folds=5)
    kwargs = {"feature_columns": FEATURES, "families": FAMILIES, "targets": ["tb_h5"], "seed": 0}
    started = time.perf_counter()
    local = train_out_of_fold(frame, folds, runner=InProcessRunner(), **kwargs)
    t_seq = time.perf_counter() - started
    cores = os.cpu_count() or 1
    ray.init(include_dashboard=False, num_cpus=cores, log_to_driver=False)
    try:
        started = time.perf_counter()
        fanned = train_out_of_fold(frame, folds, runner=RayRunner(), **kwargs)
        t_ray = time.perf_counter() - started
    finally:
        ray.shutdown()
    return {
        "tasks": len(local.models),
        "rows": frame.filter(frame["target"] == "tb_h5").height,
        "sequential_s": t_seq,
        "ray_s": t_ray,
        "speedup": t_seq / t_ray,
        "cores": cores,
        "identical": fanned.oof.equals(local.oof),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller inputs (CI smoke run)")
    args = parser.parse_args()
    lgbm = lightgbm_overhead(20_000 if args.quick else 100_000, 3)
    fan = fan_out(300 if args.quick else 800)
    lines = [
        "# Training benchmarks",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. Written by `benchmarks/training.py`.",
        "",
        "## LightGBM: platform path vs raw `lgb.train` (same matrix, params, 200 rounds, 1 thread)",
        "",
        "| rows | raw lgb.train (s) | LightGBMFamily.fit (s) | ratio | identical predictions |",
        "|---:|---:|---:|---:|---|",
        f"| {lgbm['rows']:,} | {lgbm['raw_s']:.3f} | {lgbm['ours_s']:.3f} | {lgbm['ratio']:.3f} "
        f"| {lgbm['identical']} |",
        "",
        "Target: ratio <= 1.10 " + ("(met)" if lgbm["ratio"] <= 1.10 else "(NOT met)"),
        "",
        "## All families x 5 folds: Ray fan-out vs sequential in-process",
        "",
        "| tasks | rows | sequential (s) | Ray (s) | speed-up | cores | identical predictions |",
        "|---:|---:|---:|---:|---:|---:|---|",
        f"| {fan['tasks']} | {fan['rows']:,} | {fan['sequential_s']:.1f} | {fan['ray_s']:.1f} | "
        f"{fan['speedup']:.2f}x | {fan['cores']} | {fan['identical']} |",
        "",
        "Ray time includes shipping the panel to the object store but not `ray.init` (~5 s, once",
        "per process). The speed-up is bounded by the core count and by the slowest task.",
        "",
        "GPU vs CPU for a Lightning family: not measured (no GPU machine was available).",
        "",
    ]
    out = ROOT / "benchmarks" / "results_training.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if lgbm["ratio"] <= 1.10 and fan["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
