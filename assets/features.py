"""features: the configured causal feature set, per symbol, through the native kernels."""

import time

import dagster as dg
import polars as pl

from assets.partitions import per_symbol, run_symbols
from foxml_dagster.features import compute_features, feature_set
from resources.home import Experiment


@dg.asset(
    group_name="features",
    kinds={"polars", "rust", "parquet"},
    description="Causal features named <name>_<params>: the value at ts uses bars up to and "
    "including ts; warm-up values are null.",
    **per_symbol,
)
def features(context: dg.AssetExecutionContext, experiment: Experiment, bars: pl.DataFrame) -> pl.DataFrame:
    run_symbols(context)
    specs = feature_set(experiment.config.features.set)
    started = time.perf_counter()
    frame = compute_features(bars, specs)
    seconds = time.perf_counter() - started
    context.add_output_metadata(
        {
            "feature_set": experiment.config.features.set,
            "n_features": len(specs),
            "seconds": round(seconds, 3),
            "catalog": dg.MetadataValue.md(
                "\n".join(f"- `{s.name}` (warm-up {s.warmup}): {s.description}" for s in specs)
            ),
        }
    )
    return frame
