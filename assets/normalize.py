"""normalize: clean, typed, adjusted bars; rejected rows go to bars_quarantine with a reason.

Symbols are normalized in batches sized from what data.memory_budget_mb leaves once the process
is loaded, and each batch is written before the next is read, so the step's memory does not grow
with the universe.
"""

import time

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from assets.partitions import per_symbol, run_symbols
from foxml_dagster.data.gaps import COVERAGE_SCHEMA
from foxml_dagster.data.normalize import QUARANTINE_SCHEMA, normalize_bars
from foxml_dagster.data.quality import nothing_clean_left, volume_spikes
from foxml_dagster.memory import budget_left_mb, peak_rss_mb, rows_within, whole_group_batches
from resources.home import Experiment
from resources.lake import FrameBatches

# Peak bytes per raw row while a batch is normalized: the text columns, their parsed copies,
# the rule and detail columns and the clean output (measured on synthetic minute bars, x2 margin).
RAW_ROW_WORKING_BYTES = 1200


@dg.multi_asset(
    group_name="normalize",
    outs={
        "bars": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="OHLCV bars: UTC bar-open timestamps, unique and sorted per symbol, aligned to "
            "the session grid when data.sessions sets one, prices adjusted for splits/dividends.",
        ),
        "bars_quarantine": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="Raw rows that failed validation, with the rule they broke and details.",
        ),
        "bars_coverage": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="Per symbol: expected, present, missing, filled and dropped bars against the "
            "session grid, and the missing-bar policy applied (empty without data.sessions.interval).",
        ),
    },
    ins={"raw_bars": dg.AssetIn(dagster_type=pl.LazyFrame)},
    check_specs=[
        dg.AssetCheckSpec(
            "bars_contract",
            asset="bars",
            blocking=True,
            description="pandera schema of the bars contract, and at least one clean bar (else it names the "
            "top quarantine reasons)",
        ),
        dg.AssetCheckSpec(
            "volume_spikes",
            asset="bars",
            description="bars whose volume exceeds data.volume_spike_factor x the trailing median (kept; a warning)",
        ),
    ],
    **per_symbol,
)
def normalize(context: dg.AssetExecutionContext, experiment: Experiment, raw_bars: pl.LazyFrame):
    # pandera costs seconds to import: only the steps that check a contract pay it.
    from foxml_dagster.data.schema import contract_failures

    data = experiment.config.data
    symbols = run_symbols(context)
    started = time.perf_counter()
    quarantine, coverage, failures, spikes = [], [], [], []
    totals = {"rows": 0, "outside_window": 0, "realigned": 0}

    counts = raw_bars.group_by("symbol").len().collect()
    rows_of = dict(zip(counts["symbol"].to_list(), counts["len"].to_list(), strict=True))
    max_rows = rows_within(budget_left_mb(data.memory_budget_mb), RAW_ROW_WORKING_BYTES)
    # Only sources that read the user's own layout have user column names to quote in details.
    user_columns = data.columns if data.source in ("files", "sample") else None

    def normalized_batches():
        remaining = list(symbols)
        for n_symbols in whole_group_batches([rows_of.get(s, 0) for s in symbols], max_rows):
            batch, remaining[:] = remaining[:n_symbols], remaining[n_symbols:]
            raw = raw_bars.filter(pl.col("symbol").is_in(batch)).collect()
            result = normalize_bars(
                raw,
                timezone=data.timezone,
                adjust_prices=data.adjust_prices,
                start=data.start,
                end=data.end,
                sessions=data.sessions,
                timestamp_format=data.timestamp_format,
                plausibility=data.plausibility,
                columns=user_columns,
            )
            del raw
            quarantine.append(result.quarantine)
            coverage.append(result.coverage)
            failures.extend(contract_failures(result.bars))
            spikes.append(volume_spikes(result.bars, data.volume_spike_factor))
            totals["rows"] += result.bars.height
            totals["outside_window"] += result.outside_window
            totals["realigned"] += result.realigned
            yield result.bars

    # The IO manager writes each batch as it is made; the totals are complete once it returns.
    yield dg.Output(FrameBatches(normalized_batches()), output_name="bars")
    rejected = pl.concat([pl.DataFrame(schema=QUARANTINE_SCHEMA), *quarantine])
    by_rule = dict(rejected.group_by("rule").len().sort("rule").iter_rows())
    yield dg.Output(
        rejected,
        output_name="bars_quarantine",
        metadata={
            "by_rule": dg.MetadataValue.json(by_rule),
            **{f"quarantined/{rule}": n for rule, n in by_rule.items()},
            "clean_rows": totals["rows"],
            "outside_window_rows": totals["outside_window"],
            "realigned_bars": totals["realigned"],
            "seconds": round(time.perf_counter() - started, 3),
            "peak_rss_mb": peak_rss_mb(),
            "memory_budget_mb": data.memory_budget_mb,
        },
    )
    gaps = pl.concat([pl.DataFrame(schema=COVERAGE_SCHEMA), *coverage]).sort("symbol")
    yield dg.Output(
        gaps,
        output_name="bars_coverage",
        metadata={"missing_bars": int(gaps["missing_bars"].sum()), "coverage": markdown_table(gaps)},
    )
    # Nothing clean would only fail later and far away (an empty training frame); stop here instead.
    empty = nothing_clean_left(rejected, totals["outside_window"]) if totals["rows"] == 0 else None
    yield dg.AssetCheckResult(
        check_name="bars_contract",
        asset_key="bars",
        passed=not failures and empty is None,
        description=empty,
        metadata={
            "failures": dg.MetadataValue.md(
                "\n".join(f"- {f}" for f in [*failures[:50], *([empty] if empty else [])]) or "none"
            )
        },
    )
    flagged = pl.concat(spikes) if spikes else pl.DataFrame()
    yield dg.AssetCheckResult(
        check_name="volume_spikes",
        asset_key="bars",
        passed=flagged.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"spikes": flagged.height, "largest": markdown_table(flagged.head(20)) if flagged.height else "none"},
    )
