"""Headline statistics of a backtest series, beside its benchmark, and the caveats that go with them.

Every statistic is computed on the series it describes: the per-period net returns of the book
(`run_backtest`), and the benchmark's returns over the same periods. Conventions (risk-free
rate 0, simple returns, P = periods per year):

- total_return: final equity - 1; cagr: final equity ** (P / n) - 1 (-1 if equity hit <= 0).
- ann_vol: std(r, ddof=1) sqrt(P); sharpe: mean(r) / std(r, ddof=1) sqrt(P); sortino: mean(r) /
  sqrt(mean(min(r, 0)^2)) sqrt(P); max_drawdown: min(equity / running peak) - 1, the peak
  including the starting 1.0.
- psr: probability that the true per-period Sharpe exceeds 0 (stats.psr_of_returns).
- beta, alpha: OLS of r on the benchmark's b: beta = cov(r, b) / var(b), per-period alpha =
  mean(r) - beta mean(b), annualised by compounding ((1 + alpha) ** P - 1); alpha_tstat its
  OLS t statistic. correlation: Pearson of r and b.
- excess_return: total_return - benchmark_total_return; tracking_error: std(r - b, ddof=1)
  sqrt(P); information_ratio: mean(r - b) / std(r - b, ddof=1) sqrt(P).
- exposure: avg_gross_exposure, avg_net_exposure, share_net_long / share_net_short (share of
  periods with net exposure above / below 0), share_invested (gross exposure above 0).
- hit_rate: share of invested periods with r > 0; avg_turnover; total_cost; risk_denied: the
  orders the pre-trade risk engine denied (a routed backtest).
- periods_per_year: as configured, else inferred from the timestamps (`infer_periods_per_year`);
  years = n / P.

`flags` turns the numbers into the caveats a reader needs: a sample too short to annualise, a
Sharpe that is not significant after the trials that were run, a book that mostly rides the
market.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from foxml_dagster import stats
from foxml_dagster.backtest.engine import BacktestConfig

__all__ = ["flags", "infer_periods_per_year", "resolve_periods_per_year", "summarize_backtest"]

#: Significance level of PSR / DSR below which a Sharpe ratio is called not significant.
SIGNIFICANCE = 0.95
#: Correlation with the benchmark above which the book is said to track it.
TRACKING_CORRELATION = 0.5
#: Share of periods net long (or short) above which the book is said to be directional.
DIRECTIONAL_SHARE = 0.9
#: Fewer periods than this and no statistic of the series means much.
MIN_PERIODS = 30


def infer_periods_per_year(stamps: pl.Series) -> int:
    """Bars per year of a timestamp grid.

    Over a year or more: bars per year actually observed. Shorter: bars per active day (median)
    times active days per year, 252 when no bar falls on a weekend (an exchange calendar), else
    365.25 times the share of calendar days that have bars.
    """
    ts = stamps.drop_nulls().unique().sort()
    if ts.len() < 2:
        return 252
    span = ts[-1] - ts[0]
    if span >= timedelta(days=365):
        return max(1, round((ts.len() - 1) / (span.total_seconds() / (365.25 * 86400))))
    dates = ts.dt.date()
    per_day = float(dates.value_counts().get_column("count").median())
    weekend = bool((ts.dt.weekday() >= 6).any())
    if not weekend:
        return max(1, round(per_day * 252))
    days_spanned = (dates.max() - dates.min()).days + 1
    return max(1, round(per_day * 365.25 * dates.n_unique() / days_spanned))


def summarize_backtest(
    series: pl.DataFrame, config: BacktestConfig | None = None, *, periods_per_year: int | None = None
) -> dict[str, Any]:
    """Headline statistics of a `run_backtest` series (see the module docstring for each).

    A series without benchmark or exposure columns (an older one) is summarised without them.
    """
    config = config if config is not None else BacktestConfig()
    if series.height == 0:
        raise ValueError("empty backtest series")
    ppy = periods_per_year or config.periods_per_year or infer_periods_per_year(series.get_column("ts"))
    net = _column(series, "net_return")
    out: dict[str, Any] = {**_absolute(net, ppy), **_exposure(series, net)}
    out["avg_turnover"] = float(series.get_column("turnover").mean())
    out["total_cost"] = float(series.get_column("cost").sum())
    if "risk_denied" in series.columns:
        out["risk_denied"] = int(series.get_column("risk_denied").sum())
    if "benchmark_return" in series.columns:
        bench = _column(series, "benchmark_return")
        out.update({f"benchmark_{k}": v for k, v in _absolute(bench, ppy).items() if k != "psr"})
        out.update(_relative(net, bench, ppy))
        out["excess_return"] = out["total_return"] - out["benchmark_total_return"]
    out["n_periods"] = len(net)
    out["periods_per_year"] = int(ppy)
    out["years"] = len(net) / ppy
    out["start"] = series.get_column("ts").min()
    out["end"] = series.get_column("ts").max()
    return out


def _column(series: pl.DataFrame, name: str) -> np.ndarray:
    return series.get_column(name).fill_null(0.0).to_numpy().astype(np.float64)


def _absolute(r: np.ndarray, ppy: int) -> dict[str, Any]:
    n = len(r)
    equity = np.cumprod(1 + r)
    final = float(equity[-1])
    sd = float(np.std(r, ddof=1)) if n > 1 else 0.0
    mean = float(np.mean(r))
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    path = np.concatenate([[1.0], equity])
    drawdown = path / np.maximum.accumulate(path) - 1
    return {
        "total_return": final - 1,
        "cagr": float(final ** (ppy / n) - 1) if final > 0 else -1.0,
        "ann_vol": sd * math.sqrt(ppy),
        "sharpe": mean / sd * math.sqrt(ppy) if sd > 0 else None,
        "sortino": mean / downside * math.sqrt(ppy) if downside > 0 else None,
        "max_drawdown": float(drawdown.min()),
        "psr": stats.psr_of_returns(r) if n > 2 and sd > 0 else None,
    }


def _relative(r: np.ndarray, b: np.ndarray, ppy: int) -> dict[str, Any]:
    n = len(r)
    active = r - b
    te = float(np.std(active, ddof=1)) if n > 1 else 0.0
    out: dict[str, Any] = {
        "tracking_error": te * math.sqrt(ppy),
        "information_ratio": float(np.mean(active)) / te * math.sqrt(ppy) if te > 0 else None,
        "beta": None,
        "alpha": None,
        "alpha_tstat": None,
        "correlation": None,
    }
    var_b = float(np.var(b, ddof=1)) if n > 1 else 0.0
    if var_b <= 0:
        return out
    beta = float(np.cov(r, b, ddof=1)[0, 1] / var_b)
    alpha = float(np.mean(r) - beta * np.mean(b))
    out["beta"] = beta
    out["alpha"] = float((1 + alpha) ** ppy - 1)
    sd_r = float(np.std(r, ddof=1))
    out["correlation"] = float(np.corrcoef(r, b)[0, 1]) if sd_r > 0 else None
    if n > 2:
        resid = r - alpha - beta * b
        s2 = float(resid @ resid) / (n - 2)
        se = math.sqrt(s2 * (1 / n + np.mean(b) ** 2 / (var_b * (n - 1))))
        out["alpha_tstat"] = alpha / se if se > 0 else None
    return out


def _exposure(series: pl.DataFrame, net: np.ndarray) -> dict[str, Any]:
    gross = _column(series, "gross_exposure")
    invested = gross > 0
    out: dict[str, Any] = {
        "avg_gross_exposure": float(gross.mean()),
        "share_invested": float(invested.mean()),
        "hit_rate": float(np.mean(net[invested] > 0)) if invested.any() else None,
    }
    if "net_exposure" in series.columns:
        book = _column(series, "net_exposure")
        out["avg_net_exposure"] = float(book.mean())
        out["share_net_long"] = float(np.mean(book > 0))
        out["share_net_short"] = float(np.mean(book < 0))
    return out


def flags(summary: dict[str, Any], *, min_years: float = 1.0) -> list[str]:
    """Caveats a reader must see beside the numbers, most serious first; empty when none apply.

    Reads the keys `summarize_backtest` writes, plus `dsr`, `n_trials` and `pbo` when the
    trial statistics have been added.
    """
    out = []
    n, years = summary["n_periods"], summary["years"]
    if n < MIN_PERIODS:
        out.append(f"too short: {n} periods; no statistic of so few periods is meaningful")
    elif years < min_years:
        out.append(
            f"short sample: {n} periods = {years:.2f} years (< {min_years:g}); annualised figures "
            "extrapolate it to a year and overstate what is known"
        )
    dsr, psr = summary.get("dsr"), summary.get("psr")
    if dsr is not None and dsr < SIGNIFICANCE:
        trials = summary.get("n_trials")
        after = f" after {trials:,.0f} trials" if trials is not None else ""
        out.append(f"not significant: deflated Sharpe {dsr:.2f}{after} (< {SIGNIFICANCE}); no evidence of skill")
    elif dsr is None and psr is not None and psr < SIGNIFICANCE:
        out.append(f"not significant: probabilistic Sharpe {psr:.2f} (< {SIGNIFICANCE})")
    pbo = summary.get("pbo")
    if pbo is not None and pbo > 0.5:
        out.append(f"likely overfit: PBO {pbo:.2f}: the in-sample best strategy is usually below median out of sample")
    corr, beta = summary.get("correlation"), summary.get("beta")
    if corr is not None and beta is not None and abs(corr) >= TRACKING_CORRELATION:
        out.append(
            f"tracks the benchmark: correlation {corr:.2f}, beta {beta:.2f}; judge it by alpha "
            f"({_pct(summary.get('alpha'))} a year, t {_num(summary.get('alpha_tstat'))}) and excess return "
            f"({_pct(summary.get('excess_return'))})"
        )
    denied = summary.get("risk_denied")
    if denied:
        out.append(
            f"risk limits bit: the pre-trade risk engine denied {denied:,} orders, so the book held less than "
            "the signals asked (execution.risk in the experiment; docs/execution.md)"
        )
    for side in ("long", "short"):
        share = summary.get(f"share_net_{side}")
        if share is not None and share >= DIRECTIONAL_SHARE:
            out.append(f"directional: net {side} in {share:.0%} of periods")
    return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}%"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def resolve_periods_per_year(config: BacktestConfig, stamps: pl.Series) -> int:
    """The configured periods per year, else inferred from the bar timestamps."""
    return config.periods_per_year or infer_periods_per_year(stamps)
