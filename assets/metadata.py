"""Helpers that turn frames, numbers and plots into typed Dagster metadata the UI renders well.

- `table`: a `MetadataValue.table` with a typed schema (column descriptions where known), floats
  rounded, so wide comparisons scroll in the UI instead of being cut off like markdown.
- `column_schema`: the `dagster/column_schema` of a stored frame, each column described.
- `rounded`: numbers rounded for display (`1.5608643332421281` -> `1.5609`).
- `plots_markdown`: PNG plots inlined as data-URI images; the UI's markdown renderer allows the
  `data:` scheme for images, so plots show on the asset page with no file server.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping

import dagster as dg
import polars as pl

DIGITS = 4

# One description per column name, the same name meaning the same thing in every asset (STYLE.md).
COLUMNS: dict[str, str] = {
    "symbol": "Instrument identifier; also the partition key of per-symbol stages.",
    "ts": "Bar open time, UTC.",
    "open": "First traded price of the bar.",
    "high": "Highest traded price of the bar.",
    "low": "Lowest traded price of the bar.",
    "close": "Last traded price of the bar.",
    "volume": "Traded volume in the bar.",
    "vwap": "Volume-weighted average price of the bar.",
    "trades": "Number of trades in the bar.",
    "t1": "When the label's outcome is known: barrier touch or horizon end.",
    "target": "Label name (a triple-barrier or forward-return target).",
    "family": "Model family (lightgbm, logistic, ...).",
    "variant": "Parameter variant of the family (conservative, balanced, aggressive) or signal variant.",
    "model_id": "Identifier of one fitted model: family, target and fold.",
    "fold": "Cross-validation fold; -1 pools every fold.",
    "role": "The sample's role in its fold: train, val or test.",
    "path": "CPCV backtest path (0 unless combinatorial purged CV).",
    "y_true": "Realised label.",
    "y_score": "Out-of-fold predicted probability of the positive class.",
    "n": "Number of samples.",
    "auc": "Area under the ROC curve (0.5 is no skill).",
    "log_loss": "Binary cross-entropy of the predicted probabilities (lower is better).",
    "accuracy": "Share of correct class predictions.",
    "ic": "Information coefficient: Pearson correlation of score and realised return.",
    "rank_ic": "Spearman correlation of score and realised return.",
    "ic_ir": "IC mean over its standard deviation across folds.",
    "sign_hit_rate": "Share of samples whose predicted side matched the realised return's sign.",
    "feature": "Feature column name, <name>_<params> (e.g. rsi_14).",
    "selected": "Whether the feature is kept for training.",
    "importance": "Importance of the feature (higher is more important).",
    "mdi": "Mean decrease in impurity importance.",
    "mda": "Mean decrease in accuracy (permutation) importance under the purged folds.",
    "stability": "Share of folds in which the feature ranks among the selected.",
    "weight": "Sample weight (uniqueness x return attribution x time decay).",
    "target_weight": "Portfolio weight the signal asks for, in [-1, 1].",
    "sharpe": "Sharpe ratio.",
    "sharpe_annual": "Annualised Sharpe ratio.",
    "psr": "Probabilistic Sharpe ratio: P(true Sharpe > 0).",
    "dsr": "Deflated Sharpe ratio: PSR against the best of this many unskilled trials.",
    "n_periods": "Number of bars traded.",
    "traded": "Whether this strategy drives the signals.",
    "kind": "What the row is (strategy, ensemble, ...).",
    "status": "Outcome of the step for this row.",
    "reason": "Why the row was left out or denied.",
    "rows": "Number of rows.",
    "fit_seconds": "Wall-clock seconds spent fitting.",
    "missing_bars": "Bars expected on the session grid but absent.",
    "rule": "Validation rule the row broke.",
    "detail": "What the rule found, naming the source column and value.",
    "client_order_id": "Deterministic order id: a hash of what the order is for.",
    "side": "buy or sell.",
    "qty": "Quantity.",
    # The tearsheet's summary (foxml_dagster/backtest/summary.py); benchmark_<x> is the same for the benchmark.
    "total_return": "Compounded net return over the period.",
    "cagr": "Compound annual growth rate.",
    "ann_vol": "Annualised volatility of period returns.",
    "sortino": "Annualised mean return over downside deviation.",
    "max_drawdown": "Largest fall from a running peak of equity (negative).",
    "avg_gross_exposure": "Mean sum of absolute weights.",
    "avg_net_exposure": "Mean sum of signed weights.",
    "share_invested": "Share of periods with any position.",
    "share_net_long": "Share of periods with net exposure above zero.",
    "share_net_short": "Share of periods with net exposure below zero.",
    "hit_rate": "Share of invested periods with a positive return.",
    "avg_turnover": "Mean sum of absolute weight changes per period.",
    "total_cost": "Sum of costs charged, as a return.",
    "tracking_error": "Annualised volatility of the return in excess of the benchmark.",
    "information_ratio": "Annualised excess return over tracking error.",
    "beta": "Regression slope of strategy on benchmark returns.",
    "alpha": "Annualised regression intercept against the benchmark.",
    "alpha_tstat": "t-statistic of alpha.",
    "correlation": "Correlation of strategy and benchmark returns.",
    "excess_return": "Total return minus the benchmark's.",
    "periods_per_year": "Bars per year used to annualise (inferred or backtest.periods_per_year).",
    "years": "Length of the period in years.",
    "start": "First bar of the period.",
    "end": "Last bar of the period.",
    "n_trials": "Strategies tried on this data set so far (the deflated Sharpe's N).",
    "n_effective_trials": "Independent trials after correlation deflation.",
    "trial_id": "Hash of the trial's configuration.",
    "pbo": "Probability of backtest overfitting (CSCV).",
    "pbo_strategies": "Strategies in the PBO grid.",
    "flags": "Caveats that apply (short sample, not significant, tracks the benchmark).",
}


def _round(value):
    if isinstance(value, float) and math.isfinite(value):
        return round(value, DIGITS)
    return value


def rounded(values: Mapping[str, object]) -> dict[str, object]:
    """Every float rounded to DIGITS places; other values unchanged."""
    return {key: _round(value) for key, value in values.items()}


def _column_type(dtype: pl.DataType) -> str:
    return str(dtype).lower()


def _feature_descriptions() -> dict[str, str]:
    """Descriptions of every registered feature, by column name (features are `<name>_<params>`)."""
    from foxml_dagster.features import feature_set, feature_sets

    return {spec.name: spec.description for name in feature_sets() for spec in feature_set(name)}


def describe_column(name: str, features: Mapping[str, str] | None = None) -> str:
    if name in COLUMNS:
        return COLUMNS[name]
    if name.startswith("benchmark_") and name.removeprefix("benchmark_") in COLUMNS:
        return f"Benchmark: {COLUMNS[name.removeprefix('benchmark_')]}"
    if features and name in features:
        return features[name]
    return ""


def column_schema(schema: Mapping[str, pl.DataType]) -> dg.TableSchema:
    """A typed column schema, each column described from COLUMNS or the feature registry."""
    features = _feature_descriptions() if any(name not in COLUMNS for name in schema) else {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, _column_type(dtype), description=describe_column(name, features) or None)
            for name, dtype in schema.items()
        ]
    )


def table(frame: pl.DataFrame, *, max_rows: int = 50) -> dg.MetadataValue:
    """The first rows as a typed table (sortable, scrollable in the UI), floats rounded."""
    shown = frame.head(max_rows).with_columns(pl.selectors.float().round(DIGITS))
    records = [dg.TableRecord({k: _scalar(v) for k, v in row.items()}) for row in shown.iter_rows(named=True)]
    return dg.MetadataValue.table(records, schema=column_schema(shown.schema))


def _scalar(value):
    """Records hold plain values: dates, lists and structs as text, so every row serializes."""
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def markdown_table(frame: pl.DataFrame, *, max_rows: int = 30, digits: int = DIGITS) -> dg.MetadataValue:
    """A markdown table of the first rows, floats rounded: for short tables read as text (a
    check's metadata that `foxml run` prints); `table` for anything wide."""
    shown = frame.head(max_rows).with_columns(pl.selectors.float().round(digits))
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in shown.iter_rows()]
    more = [f"\n_{frame.height - max_rows} more rows_"] if frame.height > max_rows else []
    return dg.MetadataValue.md("\n".join([header, rule, *rows, *more]))


def plots_markdown(plots: Mapping[str, bytes], titles: Mapping[str, str] | None = None) -> dg.MetadataValue:
    """PNG plots as markdown images with data URIs, each under its title, in the given order."""
    parts = []
    for name, png in plots.items():
        encoded = base64.b64encode(png).decode("ascii")
        title = (titles or {}).get(name, name)
        parts.append(f"**{title}**\n\n![{name}](data:image/png;base64,{encoded})")
    return dg.MetadataValue.md("\n\n".join(parts) or "no plots")
