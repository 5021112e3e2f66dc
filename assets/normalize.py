"""normalize: clean, typed, adjusted bars; rejected rows go to bars_quarantine with a reason."""

import dagster as dg
import polars as pl

from assets.partitions import per_symbol, run_symbols
from foxml_dagster.data.normalize import normalize_bars
from foxml_dagster.data.schema import contract_failures
from resources.home import Experiment


@dg.multi_asset(
    group_name="normalize",
    outs={
        "bars": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="OHLCV bars: UTC bar-open timestamps, unique and sorted per symbol, prices "
            "adjusted for splits/dividends when the source gives an adjusted close.",
        ),
        "bars_quarantine": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="Raw rows that failed validation, with the rule they broke and details.",
        ),
    },
    ins={"raw_bars": dg.AssetIn()},
    check_specs=[
        dg.AssetCheckSpec(
            "bars_contract", asset="bars", blocking=True, description="pandera schema of the bars contract"
        )
    ],
    **per_symbol,
)
def normalize(context: dg.AssetExecutionContext, experiment: Experiment, raw_bars: pl.DataFrame):
    data = experiment.config.data
    run_symbols(context)
    result = normalize_bars(
        raw_bars, timezone=data.timezone, adjust_prices=data.adjust_prices, start=data.start, end=data.end
    )
    failures = contract_failures(result.bars)
    counts = result.quarantine_counts()
    yield dg.Output(
        result.bars,
        output_name="bars",
        metadata={
            "quarantined_rows": result.quarantine.height,
            "outside_window_rows": result.outside_window,
            **{f"quarantined/{rule}": n for rule, n in counts.items()},
            "first_ts": str(result.bars["ts"].min()),
            "last_ts": str(result.bars["ts"].max()),
        },
    )
    yield dg.Output(
        result.quarantine, output_name="bars_quarantine", metadata={"by_rule": dg.MetadataValue.json(counts)}
    )
    yield dg.AssetCheckResult(
        check_name="bars_contract",
        asset_key="bars",
        passed=not failures,
        metadata={"failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures) or "none")},
    )
