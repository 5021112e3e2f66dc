"""backtest: the signals traded bar to bar with costs beside a benchmark, and the tearsheet."""

import dagster as dg
import polars as pl

from assets.metadata import plots_markdown, rounded, table
from foxml_dagster.backtest import BacktestConfig, benchmark_prices, hold_equity, run_backtest, summarize_backtest
from foxml_dagster.backtest.compare import compare_strategies, equity_curves
from foxml_dagster.backtest.html import PLOTS, comparison_plot, tearsheet_html, tearsheet_plots
from foxml_dagster.backtest.report import tearsheet_markdown
from foxml_dagster.backtest.summary import flags, resolve_periods_per_year
from foxml_dagster.storage import write_bytes_atomic, write_text_atomic
from foxml_dagster.strategies import strategy_name, variants
from resources.home import Experiment, FoxmlHome


def benchmark_equity(config: BacktestConfig, home: FoxmlHome, bars: pl.DataFrame) -> pl.DataFrame:
    """ts, equity of the configured benchmark's buy-and-hold (a file benchmark is read here)."""
    if config.benchmark.kind == "file":
        return hold_equity(home.price_series(config.benchmark.path or ""))
    return hold_equity(benchmark_prices(bars, config.benchmark))


@dg.asset(
    group_name="backtest",
    kinds={"polars", "parquet"},
    description="Portfolio returns per bar of the research signals (out-of-fold predictions, never production "
    "fits): weights decided at a bar's close earn the next bar's return; costs charged on weight changes; net, "
    "long and short exposure; and the benchmark's return over the same bar (backtest.benchmark: equal-weight "
    "buy-and-hold of the universe by default).",
)
def backtest(
    experiment: Experiment, home: FoxmlHome, research_signals: pl.DataFrame, bars: pl.DataFrame
) -> pl.DataFrame:
    cfg = experiment.config
    # With backtest.route_through_risk, through the pre-trade risk engine as trading would be.
    equity = benchmark_equity(cfg.backtest, home, bars)
    execution = cfg.backtest.execution_or_none(cfg.execution)
    return run_backtest(research_signals, bars, cfg.backtest, benchmark_equity=equity, execution=execution)


@dg.asset(
    group_name="backtest",
    kinds={"polars", "parquet", "matplotlib"},
    description="The traded strategy beside its benchmark (one row): returns, risk, alpha, beta, "
    "information ratio, exposure, turnover, costs, PSR, the deflated Sharpe over every trial on "
    "the data set, PBO, and the caveats that apply (`flags`). Compares, on the top target, the sizing "
    "policies on the traded source and the families and ensembles under the traded policy, each beside "
    "the benchmark with its deflated Sharpe. Writes reports/tearsheet.html (self-contained, with plots), "
    "reports/tearsheet.md and one PNG per plot.",
)
def tearsheet(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    home: FoxmlHome,
    backtest: pl.DataFrame,
    trials: pl.DataFrame,
    overfitting: pl.DataFrame,
    model_scores: pl.DataFrame,
    selected_features: pl.DataFrame,
    strategy_returns: pl.DataFrame,
    bars: pl.LazyFrame,
) -> pl.DataFrame:
    cfg = experiment.config.backtest
    stamps = bars.select("ts").unique().collect().get_column("ts")
    ppy = resolve_periods_per_year(cfg, stamps)
    summary = summarize_backtest(backtest, cfg, periods_per_year=ppy)
    summary.update(_traded_trial(trials))
    if overfitting.height:
        summary["pbo"] = float((overfitting["logit"] <= 0).mean())
        summary["pbo_strategies"] = int(overfitting["n_strategies"][0])
    caveats = flags(summary, min_years=cfg.min_years)
    summary["flags"] = caveats

    reports = home.layout.reports
    plots = tearsheet_plots(
        backtest, summary, model_scores=model_scores, importance=selected_features, log_scale=cfg.log_scale
    )
    compared = _comparisons(experiment.config, strategy_returns, trials, ppy)
    for key, (names, traded, _) in compared.items():
        if names:
            plots[key] = comparison_plot(equity_curves(strategy_returns, names), highlight=traded)
    for name, png in plots.items():
        write_bytes_atomic(png, reports / f"{name}.png")
    comparison = model_scores.filter(pl.col("fold") == -1).select(
        "family", "target", "n", "auc", "log_loss", "ic", "rank_ic", "ic_ir", "sign_hit_rate"
    )
    strategies = trials.filter(pl.col("in_last_run") & (pl.col("kind") == "strategy")).select(
        "family", "target", "variant", "n_periods", "sharpe_annual", "psr", "dsr", "traded"
    )
    page = tearsheet_html(
        summary,
        plots,
        tables={
            "Out-of-fold model scores (pooled)": comparison.sort("target", "family"),
            "Sizing policies on the traded source (each beside the benchmark over its bars)": compared["policies"][2],
            "Families and ensembles under the traded policy (each beside the benchmark over its bars)": compared[
                "ensembles"
            ][2],
            "Every strategy tried this run (deflated Sharpe over all trials on the data set)": strategies.sort(
                "dsr", descending=True, nulls_last=True
            ),
        },
        min_years=cfg.min_years,
    )
    html_path = write_text_atomic(page, reports / "tearsheet.html")
    report = tearsheet_markdown(summary, backtest, min_years=cfg.min_years)
    write_text_atomic(report, reports / "tearsheet.md")
    context.add_output_metadata(
        {
            "report": dg.MetadataValue.md(report),
            "html": dg.MetadataValue.path(str(html_path)),
            "flags": dg.MetadataValue.md("\n".join(f"- {c}" for c in caveats) or "none"),
            "plots": plots_markdown(plots, PLOTS),
            "model_comparison": table(comparison.sort("target", "family")),
            "strategies": table(strategies.sort("dsr", descending=True, nulls_last=True)),
            "policies": table(compared["policies"][2]),
            "ensembles": table(compared["ensembles"][2]),
            **rounded({k: v for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}),
        }
    )
    return pl.DataFrame([summary]).with_columns(pl.col("flags").cast(pl.List(pl.String)))


def _comparisons(cfg, strategy_returns: pl.DataFrame, trials: pl.DataFrame, ppy: int) -> dict:
    """ "policies" and "ensembles": (names to plot, the traded one, the comparison table) on the
    traded strategy's target: every variant of the traded source (plotted: the traded one and each
    non-linear policy; the linear gains and dead zones are in the table), and every family and
    ensemble under the traded variant."""
    grid, variant = variants(cfg.evaluation, cfg.signals)
    traded_rows = trials.filter(pl.col("in_last_run") & pl.col("traded"))
    if traded_rows.is_empty():
        empty = compare_strategies(strategy_returns, trials, [], traded="", periods_per_year=ppy)
        return {"policies": ([], None, empty), "ensembles": ([], None, empty)}
    target = traded_rows["target"][0]
    source = cfg.signals.source
    traded = strategy_name(source, target, variant)
    policies = [strategy_name(source, target, v) for v in grid]
    shown = [strategy_name(source, target, v) for v in grid if v.sizing is not None or v == variant]
    sources = sorted(strategy_returns.filter(pl.col("target") == target)["family"].unique().to_list())
    ensembles = [strategy_name(f, target, variant) for f in sources]
    out = {}
    for key, names, plotted in (("policies", policies, shown), ("ensembles", ensembles, ensembles)):
        compared = compare_strategies(strategy_returns, trials, names, traded=traded, periods_per_year=ppy)
        out[key] = (plotted, traded, compared)
    return out


def _traded_trial(trials: pl.DataFrame) -> dict:
    """dsr, n_trials, n_effective_trials of the strategy the signals trade (this run's row)."""
    row = trials.filter(pl.col("in_last_run") & pl.col("traded"))
    if row.is_empty():
        return {}
    first = row.row(0, named=True)
    return {k: first[k] for k in ("dsr", "n_trials", "n_effective_trials", "trial_id")}
