"""backtest: the signals traded bar to bar with costs, and the tearsheet."""

import dagster as dg
import polars as pl

from foxml_dagster.backtest import run_backtest, summarize_backtest, tearsheet_markdown
from foxml_dagster.storage import write_text_atomic
from resources.home import Experiment, FoxmlHome


@dg.asset(
    group_name="backtest",
    kinds={"polars", "parquet"},
    description="Portfolio returns per bar: weights decided at a bar's close earn the next bar's "
    "return; costs charged on weight changes.",
)
def backtest(experiment: Experiment, signals: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    return run_backtest(signals, bars, experiment.config.backtest)


@dg.asset(
    group_name="backtest",
    kinds={"polars", "parquet"},
    description="Headline statistics of the backtest (one row) and a markdown report in reports/.",
)
def tearsheet(
    context: dg.AssetExecutionContext, experiment: Experiment, home: FoxmlHome, backtest: pl.DataFrame
) -> pl.DataFrame:
    summary = summarize_backtest(backtest, experiment.config.backtest)
    report = tearsheet_markdown(summary, backtest)
    path = write_text_atomic(report, home.layout.reports / "tearsheet.md")
    context.add_output_metadata(
        {
            "report": dg.MetadataValue.md(report),
            "path": dg.MetadataValue.path(str(path)),
            **{k: v for k, v in summary.items() if isinstance(v, (int, float))},
        }
    )
    return pl.DataFrame([summary])
