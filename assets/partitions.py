"""Partitions shared by the per-symbol stages."""

import warnings

import dagster as dg

# Single-run backfill policies are what vectorized stages need; Dagster labels them beta.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")

symbol_partitions = dg.DynamicPartitionsDefinition(name="symbol")

# Vectorized per-symbol stages compute many symbols in one run; a backfill over symbols is one run.
per_symbol = {
    "partitions_def": symbol_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
}


def run_symbols(context: dg.AssetExecutionContext) -> list[str]:
    """The symbols this run covers; a clear error when the run targets no partition."""
    if not context.has_partition_key and not context.has_partition_key_range:
        raise dg.Failure(
            description=(
                "this per-symbol stage needs symbol partitions: launch the job with a partition "
                "range (tags from `foxml register --tags`), materialize selected partitions in the "
                "UI, or run `make run`"
            )
        )
    return list(context.partition_keys)


def range_tags(symbols: list[str]) -> dict[str, str]:
    """Run tags that target every symbol from the first registered to the last, in one run."""
    return {
        "dagster/asset_partition_range_start": symbols[0],
        "dagster/asset_partition_range_end": symbols[-1],
    }
