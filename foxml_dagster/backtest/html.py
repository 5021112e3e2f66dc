"""The tearsheet as pictures: PNG plots and one self-contained HTML report.

`tearsheet_plots` draws, from a backtest series and its summary: the equity curve beside the
benchmark's (log scale optional), drawdowns, rolling Sharpe and beta, monthly returns as a
heatmap, exposure and turnover; and, when given, the out-of-fold model comparison and feature
importance. `tearsheet_html` puts the caveats, the headline tables and every plot (inlined as
base64, so the file can be mailed or opened offline) into one page. Both return bytes/text: the
caller decides where they are written.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import numpy as np
import polars as pl

from foxml_dagster.backtest.report import headline_rows, measure_rows, monthly_returns
from foxml_dagster.backtest.summary import flags

__all__ = ["PLOTS", "comparison_plot", "tearsheet_html", "tearsheet_plots"]

#: Plot names in report order, with their captions.
PLOTS = {
    "equity": "Equity: strategy and benchmark (net of costs)",
    "drawdown": "Drawdown from the running peak",
    "rolling": "Rolling Sharpe (annualised) and rolling beta to the benchmark",
    "monthly": "Monthly net returns",
    "exposure": "Exposure and turnover",
    "models": "Out-of-fold model comparison",
    "features": "Feature importance (clustered MDA, mean over targets)",
    "policies": "Sizing policies on the traded source: equity net of costs, beside the benchmark",
    "ensembles": "Families and ensembles under the traded policy: equity net of costs, beside the benchmark",
}

_STRATEGY, _BENCHMARK = "#1f5fa8", "#9a9a9a"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display: reports are rendered in workers and CI
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def tearsheet_plots(
    series: pl.DataFrame,
    summary: dict[str, Any],
    *,
    model_scores: pl.DataFrame | None = None,
    importance: pl.DataFrame | None = None,
    log_scale: bool = False,
) -> dict[str, bytes]:
    """name -> PNG bytes for every plot of `PLOTS` the inputs allow."""
    ts = series.get_column("ts").to_numpy()
    out = {
        "equity": _equity(series, ts, log_scale),
        "drawdown": _drawdown(series, ts),
        "rolling": _rolling(series, ts, summary),
        "monthly": _monthly(series),
        "exposure": _exposure(series, ts),
    }
    if model_scores is not None and not model_scores.is_empty():
        out["models"] = _models(model_scores)
    if importance is not None and "clustered_mda" in importance.columns and not importance.is_empty():
        out["features"] = _features(importance)
    return out


def _equity(series: pl.DataFrame, ts: np.ndarray, log_scale: bool) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(ts, series["equity"].to_numpy(), color=_STRATEGY, lw=1.3, label="strategy")
    if "benchmark_equity" in series.columns:
        ax.plot(ts, series["benchmark_equity"].to_numpy(), color=_BENCHMARK, lw=1.1, label="benchmark")
    if log_scale:
        ax.set_yscale("log")
    ax.axhline(1.0, color="black", lw=0.5)
    ax.set_ylabel("growth of 1" + (" (log)" if log_scale else ""))
    ax.legend(loc="upper left", frameon=False)
    ax.grid(alpha=0.3)
    return _png(fig)


def _drawdown_of(equity: np.ndarray) -> np.ndarray:
    path = np.concatenate([[1.0], equity])
    return (path / np.maximum.accumulate(path) - 1)[1:]


def _drawdown(series: pl.DataFrame, ts: np.ndarray) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 2.6))
    ax.fill_between(ts, _drawdown_of(series["equity"].to_numpy()), 0, color=_STRATEGY, alpha=0.5, label="strategy")
    if "benchmark_equity" in series.columns:
        ax.plot(ts, _drawdown_of(series["benchmark_equity"].to_numpy()), color=_BENCHMARK, lw=1, label="benchmark")
    ax.set_ylabel("drawdown")
    ax.legend(loc="lower left", frameon=False)
    ax.grid(alpha=0.3)
    return _png(fig)


def _rolling(series: pl.DataFrame, ts: np.ndarray, summary: dict[str, Any]) -> bytes:
    plt = _pyplot()
    ppy = int(summary.get("periods_per_year") or 252)
    window = max(10, min(ppy, series.height // 4))
    r = pl.col("net_return")
    frame = series.with_columns(
        (r.rolling_mean(window) / r.rolling_std(window) * math.sqrt(ppy)).alias("sharpe"),
    )
    fig, axes = plt.subplots(2, 1, figsize=(9, 4.4), sharex=True)
    axes[0].plot(ts, frame["sharpe"].to_numpy(), color=_STRATEGY, lw=1)
    axes[0].axhline(0, color="black", lw=0.5)
    axes[0].set_ylabel(f"Sharpe ({window} bars)")
    if "benchmark_return" in series.columns:
        b = pl.col("benchmark_return")
        cov = (r * b).rolling_mean(window) - r.rolling_mean(window) * b.rolling_mean(window)
        var = (b * b).rolling_mean(window) - b.rolling_mean(window) ** 2
        beta = series.select(pl.when(var > 0).then(cov / var).otherwise(None)).to_series().to_numpy()
        axes[1].plot(ts, beta, color=_STRATEGY, lw=1)
    axes[1].axhline(0, color="black", lw=0.5)
    axes[1].set_ylabel(f"beta ({window} bars)")
    for ax in axes:
        ax.grid(alpha=0.3)
    return _png(fig)


def _monthly(series: pl.DataFrame) -> bytes:
    plt = _pyplot()
    monthly = monthly_returns(series)
    years = sorted(monthly["year"].unique().to_list())
    grid = np.full((len(years), 12), np.nan)
    for row in monthly.iter_rows(named=True):
        grid[years.index(row["year"]), row["month"] - 1] = row["r"]
    bound = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 0.01
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(years) + 1.2))
    image = ax.imshow(grid * 100, cmap="RdYlGn", vmin=-bound * 100, vmax=bound * 100, aspect="auto")
    ax.set_xticks(range(12), ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"])
    ax.set_yticks(range(len(years)), [str(y) for y in years])
    if len(years) * 12 <= 240:
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, f"{100 * value:.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="%")
    return _png(fig)


def _exposure(series: pl.DataFrame, ts: np.ndarray) -> bytes:
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(9, 4.0), sharex=True)
    axes[0].plot(ts, series["gross_exposure"].to_numpy(), color=_BENCHMARK, lw=1, label="gross")
    if "net_exposure" in series.columns:
        axes[0].plot(ts, series["net_exposure"].to_numpy(), color=_STRATEGY, lw=1, label="net")
    axes[0].axhline(0, color="black", lw=0.5)
    axes[0].set_ylabel("exposure")
    axes[0].legend(loc="upper left", frameon=False)
    axes[1].plot(ts, series["turnover"].to_numpy(), color=_STRATEGY, lw=0.8)
    axes[1].set_ylabel("turnover")
    for ax in axes:
        ax.grid(alpha=0.3)
    return _png(fig)


def _models(scores: pl.DataFrame) -> bytes:
    plt = _pyplot()
    pooled = scores.filter(pl.col("fold") == -1).sort("target", "family")
    labels = [f"{f}\n{t}" for f, t in zip(pooled["family"], pooled["target"], strict=True)]
    x = np.arange(len(labels))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    auc = pooled["auc"].fill_null(0.5).to_numpy() - 0.5
    axes[0].bar(x, auc, color=np.where(auc > 0, _STRATEGY, "#c0392b"))
    axes[0].set_title("AUC - 0.5", fontsize=9)
    ic = pooled["ic"].fill_null(0.0).to_numpy()
    axes[1].bar(x, ic, color=np.where(ic > 0, _STRATEGY, "#c0392b"))
    axes[1].set_title("IC", fontsize=9)
    for ax in axes:
        ax.set_xticks(x, labels, fontsize=7, rotation=45, ha="right")
        ax.axhline(0, color="black", lw=0.5)
        ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def _features(importance: pl.DataFrame, top: int = 20) -> bytes:
    plt = _pyplot()
    shown = importance.drop_nulls("clustered_mda").sort("clustered_mda", descending=True).head(top)
    fig, ax = plt.subplots(figsize=(9, 0.28 * shown.height + 1))
    values = shown["clustered_mda"].to_numpy()[::-1]
    names = shown["feature"].to_list()[::-1]
    chosen = shown["selected"].to_list()[::-1] if "selected" in shown.columns else [True] * len(names)
    ax.barh(names, values, color=[_STRATEGY if c else _BENCHMARK for c in chosen])
    ax.axvline(0, color="black", lw=0.5)
    ax.set_xlabel("AUC drop when the feature's cluster is permuted (blue: selected)")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def comparison_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, highlight: str | None = None) -> bytes:
    """Equity curves of several strategies (`compare.equity_curves`): the benchmark in grey, the
    traded strategy (`highlight`) thick, every other one thin, labelled by its last part."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for name, (ts, equity) in curves.items():
        if name == "benchmark":
            ax.plot(ts, equity, color=_BENCHMARK, lw=1.2, label="benchmark")
            continue
        label = name.split(":")[0] + " " + name.split(":")[-1] if ":" in name else name
        ax.plot(
            ts, equity, lw=2.0 if name == highlight else 0.9, label=label + (" (traded)" if name == highlight else "")
        )
    ax.axhline(1.0, color="black", lw=0.5)
    ax.set_ylabel("growth of 1")
    ax.legend(loc="upper left", frameon=False, fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _png(fig)


def _table(frame: pl.DataFrame, digits: int = 4) -> str:
    shown = frame.with_columns(pl.selectors.float().round(digits))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{'' if v is None else html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in shown.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _headline(summary: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(headline_rows(summary), schema=["metric", "strategy", "benchmark"], orient="row")


def _measures(summary: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(measure_rows(summary), schema=["measure", "value"], orient="row")


_STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 980px;
       color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f3f5f8; }
td:first-child, th:first-child { text-align: left; }
.caveat { background: #fff4e5; border-left: 4px solid #e67e22; padding: 6px 10px; margin: 4px 0; }
.grid { display: flex; gap: 2em; flex-wrap: wrap; } img { max-width: 100%; }
.scroll { overflow-x: auto; }
"""


def tearsheet_html(
    summary: dict[str, Any],
    plots: dict[str, bytes],
    *,
    title: str = "Backtest",
    tables: dict[str, pl.DataFrame] | None = None,
    min_years: float = 1.0,
) -> str:
    """One self-contained HTML page: caveats, headline and relative tables, every plot, then
    `tables` (title -> frame), e.g. the model comparison and the trials."""
    caveats = "".join(f'<div class="caveat">{html.escape(c)}</div>' for c in flags(summary, min_years=min_years))
    period = (
        f"{summary['start']} to {summary['end']}: {summary['n_periods']} periods "
        f"({summary.get('years', 0):.2f} years at {summary.get('periods_per_year')} a year), net of costs"
    )
    figures = "".join(
        f"<h2>{html.escape(PLOTS[name])}</h2><img alt='{name}' src='data:image/png;base64,"
        f"{base64.b64encode(plots[name]).decode()}'>"
        for name in PLOTS
        if name in plots
    )
    extra = "".join(
        f"<h2>{html.escape(name)}</h2><div class='scroll'>{_table(frame)}</div>"
        for name, frame in (tables or {}).items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(period)}</p>{caveats}"
        f"<div class='grid'><div>{_table(_headline(summary))}</div><div>{_table(_measures(summary))}</div></div>"
        f"{figures}{extra}</body></html>"
    )
