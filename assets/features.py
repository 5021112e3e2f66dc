"""features: the configured causal feature set, per symbol, through the native kernels."""

import time

import dagster as dg
import polars as pl

from assets.partitions import per_symbol, run_symbols
from foxml_dagster.features import feature_set
from foxml_dagster.features.compute import feature_batches
from foxml_dagster.features.cross_section import compute_cross_sectional, cross_sectional_set
from foxml_dagster.memory import peak_rss_mb
from resources.home import Experiment
from resources.lake import FrameBatches
from resources.ray import RayResource


@dg.asset(
    group_name="features",
    kinds={"polars", "rust", "parquet"},
    description="Causal features, one column each, named `<name>_<params>` (`rsi_14`): the value "
    "at ts uses bars up to and including ts; warm-up values are null.",
    **per_symbol,
)
def features(context: dg.AssetExecutionContext, experiment: Experiment, ray: RayResource, bars: pl.DataFrame):
    run_symbols(context)
    config = experiment.config.features
    specs = feature_set(config.set)
    started = time.perf_counter()
    runner = ray.stage_runner()  # in-process unless a Ray cluster is configured
    # Each symbol batch is written to the lake as soon as it is computed: a 200-feature panel is
    # many times the size of its bars, so it is never held whole.
    yield dg.Output(
        FrameBatches(
            config.stored(batch)
            for batch in feature_batches(bars, specs, memory_budget_mb=config.memory_budget_mb, runner=runner)
        ),
        metadata={
            "runner": runner.name,
            "feature_set": config.set,
            "n_features": len(specs),
            "dtype": config.dtype,
            "catalog": dg.MetadataValue.md(
                "\n".join(f"- `{s.name}` (warm-up {s.warmup}): {s.description}" for s in specs)
            ),
        },
    )
    nodes = {node for _, node in getattr(runner, "placements", [])}
    context.log.info(
        f"features: {len(specs)} features in {time.perf_counter() - started:.1f}s, peak RSS {peak_rss_mb()} MB"
        + (f", on {len(nodes)} Ray node(s)" if nodes else "")
    )


@dg.asset(
    group_name="features",
    kinds={"polars", "parquet"},
    description="Cross-sectional features: each symbol ranked and z-scored against the whole "
    "universe at the same ts, and returns relative to the universe mean. Needs every symbol, so "
    "it is unpartitioned; only keys when features.cross_sectional is null.",
)
def cross_sectional_features(
    context: dg.AssetExecutionContext, experiment: Experiment, bars: pl.DataFrame
) -> pl.DataFrame:
    config = experiment.config.features
    name = config.cross_sectional
    if name is None:
        return bars.select("symbol", "ts").sort("symbol", "ts")
    specs = cross_sectional_set(name)
    started = time.perf_counter()
    frame = config.stored(compute_cross_sectional(bars, specs))
    context.add_output_metadata(
        {
            "feature_set": name,
            "n_features": len(specs),
            "symbols": frame["symbol"].n_unique(),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
    return frame
