"""The backtest: target weights traded bar to bar (`engine`), the benchmark held beside them
(`benchmark`), their statistics and caveats (`summary`), and the tearsheet (`report`, `html`)."""

from foxml_dagster.backtest.benchmark import hold_equity
from foxml_dagster.backtest.engine import (
    SERIES_COLUMNS,
    BacktestConfig,
    BenchmarkConfig,
    benchmark_prices,
    run_backtest,
    run_backtests,
)
from foxml_dagster.backtest.report import tearsheet_markdown
from foxml_dagster.backtest.summary import flags, infer_periods_per_year, summarize_backtest

__all__ = [
    "SERIES_COLUMNS",
    "BacktestConfig",
    "BenchmarkConfig",
    "benchmark_prices",
    "flags",
    "hold_equity",
    "infer_periods_per_year",
    "run_backtest",
    "run_backtests",
    "summarize_backtest",
    "tearsheet_markdown",
]
