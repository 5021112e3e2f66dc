"""The tearsheet as text: a markdown report of a backtest summary beside its benchmark.

The HTML report with plots is `foxml_dagster.backtest.html`; both read the same summary.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from foxml_dagster.backtest.summary import flags

__all__ = ["HEADLINE", "headline_rows", "measure_rows", "monthly_returns", "num", "pct", "tearsheet_markdown"]

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def num(x: Any) -> str:
    return "n/a" if x is None else f"{x:.2f}"


#: The statistics shown for the strategy and, beside it, the benchmark: (label, key, format).
HEADLINE = [
    ("total return", "total_return", pct),
    ("CAGR", "cagr", pct),
    ("annual volatility", "ann_vol", pct),
    ("Sharpe", "sharpe", num),
    ("Sortino", "sortino", num),
    ("max drawdown", "max_drawdown", pct),
]


def headline_rows(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, strategy, benchmark) per headline statistic, formatted."""
    return [(label, fmt(summary.get(key)), fmt(summary.get("benchmark_" + key))) for label, key, fmt in HEADLINE]


def measure_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of the relative, exposure, trading and significance measures, formatted."""
    rows = [
        ("excess return", pct(summary.get("excess_return"))),
        ("alpha (a year)", f"{pct(summary.get('alpha'))} (t {num(summary.get('alpha_tstat'))})"),
        ("beta", num(summary.get("beta"))),
        ("correlation with benchmark", num(summary.get("correlation"))),
        ("information ratio", num(summary.get("information_ratio"))),
        ("tracking error", pct(summary.get("tracking_error"))),
        ("avg gross exposure", pct(summary.get("avg_gross_exposure"))),
        ("avg net exposure", pct(summary.get("avg_net_exposure"))),
        ("share of periods net long", pct(summary.get("share_net_long"))),
        ("share of periods invested", pct(summary.get("share_invested"))),
        ("hit rate", pct(summary.get("hit_rate"))),
        ("avg turnover / period", pct(summary.get("avg_turnover"))),
        ("total cost", pct(summary.get("total_cost"))),
        ("probabilistic Sharpe (> 0)", num(summary.get("psr"))),
    ]
    if summary.get("dsr") is not None:
        trials = f"{summary['n_trials']:,.0f} trials, {summary.get('n_effective_trials', 0):.1f} independent"
        rows.append(("deflated Sharpe", f"{num(summary['dsr'])} ({trials})"))
    if summary.get("pbo") is not None:
        rows.append(("PBO (CSCV)", f"{num(summary['pbo'])} over {summary.get('pbo_strategies')} strategies"))
    if summary.get("risk_denied") is not None:
        rows.append(("orders denied by the risk engine", f"{summary['risk_denied']:,}"))
    return rows


def _side_by_side(summary: dict[str, Any]) -> list[str]:
    lines = ["| metric | strategy | benchmark |", "|---|---|---|"]
    return lines + [f"| {label} | {mine} | {theirs} |" for label, mine, theirs in headline_rows(summary)]


def _details(summary: dict[str, Any]) -> list[str]:
    return ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in measure_rows(summary))]


def monthly_returns(series: pl.DataFrame, column: str = "net_return") -> pl.DataFrame:
    """year, month, r: the compounded return of `column` per calendar month."""
    growth = (1 + pl.col(column)).product() - 1
    return (
        series.group_by(pl.col("ts").dt.year().alias("year"), pl.col("ts").dt.month().alias("month"))
        .agg(growth.alias("r"))
        .sort("year", "month")
    )


def tearsheet_markdown(
    summary: dict[str, Any], series: pl.DataFrame, *, title: str = "Backtest", min_years: float = 1.0
) -> str:
    """Caveats, the strategy beside its benchmark, relative and significance measures, then net
    returns by month and year (compounded)."""
    caveats = flags(summary, min_years=min_years)
    lines = [
        f"# {title}",
        "",
        f"{summary['start']} to {summary['end']}, {summary['n_periods']} periods "
        f"({summary.get('years', 0):.2f} years at {summary.get('periods_per_year')} a year), net of costs.",
        "",
        *(f"> **Caveat:** {c}" for c in caveats),
        *([""] if caveats else []),
        *_side_by_side(summary),
        "",
        *_details(summary),
        "",
        "## Monthly net returns",
        "",
        "| year | " + " | ".join(_MONTHS) + " | year |",
        "|---|" + "---|" * 13,
    ]
    growth = (1 + pl.col("net_return")).product() - 1
    yearly = series.group_by(pl.col("ts").dt.year().alias("year")).agg(growth.alias("r")).sort("year")
    by_month = {(row["year"], row["month"]): row["r"] for row in monthly_returns(series).iter_rows(named=True)}
    for row in yearly.iter_rows(named=True):
        year = row["year"]
        cells = [pct(by_month[(year, m)]) if (year, m) in by_month else "" for m in range(1, 13)]
        lines.append(f"| {year} | " + " | ".join(cells) + f" | {pct(row['r'])} |")
    return "\n".join(lines) + "\n"
