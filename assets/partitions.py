"""Partitions shared by the per-symbol stages."""

import warnings

import dagster as dg

# Single-run backfill policies are what vectorized stages need, and raw bars read their symbol's
# windows through a multi-to-single-dimension mapping; Dagster labels both beta.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*MultiToSingleDimensionPartitionMapping.*")

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


def contiguous_ranges(selected: set[str], ordered: list[str]) -> list[tuple[str, str]]:
    """The (first, last) of each unbroken stretch of `selected` keys in `ordered`: the fewest
    partition-range runs that cover exactly the selected keys."""
    ranges: list[tuple[str, str]] = []
    first = previous = None
    for key in [*ordered, None]:  # the trailing None closes the last stretch
        if key is not None and key in selected:
            first, previous = first or key, key
        elif first is not None:
            ranges.append((first, previous))
            first = None
    return ranges
