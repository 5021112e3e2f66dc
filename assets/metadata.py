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
    "ts": "Bar open time, UTC (raw_bars and bars_quarantine: the source's text; fills: when the fill happened).",
    "open": "First traded price of the bar.",
    "high": "Highest traded price of the bar.",
    "low": "Lowest traded price of the bar.",
    "close": "Last traded price of the bar.",
    "volume": "Traded volume in the bar.",
    "vwap": "Volume-weighted average price of the bar.",
    "trades": "Number of trades in the bar.",
    "t1": "When the label's outcome is known: barrier touch or horizon end.",
    "target": "Label name (a triple-barrier or forward-return target).",
    "family": "Model family (lightgbm, logistic, ...) or ensemble method (ensemble, ensemble_weighted, ...).",
    "variant": "Parameter variant of the family (conservative, balanced, aggressive) or signal variant.",
    "model_id": "Identifier of one model: family:target:fold<k> for a fold fit, family:target for an ensemble's "
    "out-of-fold predictions, family:target@version for a production model.",
    "fold": "Cross-validation fold; -1 pools every fold, -2 scores one CPCV path (model_scores).",
    "role": "The sample's role in its fold: train or test (purged and embargoed samples have no row).",
    # Two meanings (reported): a CPCV path id, or where a fitted model is saved.
    "path": "CPCV backtest path (0 unless combinatorial purged CV; null where none applies); in trained_models "
    "and production_models, the saved model's file.",
    "y_true": "Realised class: 1 when label == 1, else 0.",
    "y_score": "Predicted probability of the positive class (label == 1): out of fold in research, from the "
    "production model in live_predictions.",
    "n": "Number of samples.",
    "auc": "Area under the ROC curve (0.5 is no skill).",
    "log_loss": "Binary cross-entropy of the predicted probabilities (lower is better).",
    "accuracy": "Share of correct class predictions.",
    "ic": "Information coefficient: Pearson correlation of score and realised return.",
    "rank_ic": "Spearman correlation of score and realised return.",
    "ic_ir": "IC mean over its standard deviation across folds.",
    "sign_hit_rate": "Share of bets on the predicted sign (y_score != 0.5) whose return after costs is positive.",
    "feature": "Feature column name, <name>_<params> (e.g. rsi_14).",
    "selected": "Whether the feature is kept for training.",
    "importance": "Importance of the feature (higher is more important).",
    "mdi": "Mean decrease in impurity of the importance forest (in-sample, training rows), mean over folds.",
    "mda": "Mean decrease in accuracy: drop in out-of-fold AUC when the feature alone is permuted, mean over "
    "purged folds.",
    "stability": "Share of purged folds in which the feature's MDA is positive.",
    # Two meanings (reported): a label's sample weight, or a position's share of equity.
    "weight": "Sample weight, scaled to mean 1: label uniqueness or return attribution (labels.weights.scheme) "
    "times time decay; in positions, the position's market value over account equity.",
    "target_weight": "Portfolio weight the signal asks for, in [-1, 1].",
    # Two scales (reported): annualised in the tearsheet, per period where sharpe_annual sits beside it.
    "sharpe": "Sharpe ratio: annualised in the tearsheet; per period (not annualised) in trials and target_ranking.",
    "sharpe_annual": "Annualised Sharpe ratio.",
    "psr": "Probabilistic Sharpe ratio: P(true Sharpe > 0).",
    "dsr": "Deflated Sharpe ratio: PSR against the best of this many unskilled trials.",
    "n_periods": "Number of bars traded.",
    "traded": "Whether this strategy drives the signals.",
    "kind": "What the row is: family or ensemble (models); strategy, ranking or selection (trials); check, mark, "
    "trip, state, kill_switch or reconcile (risk_events).",
    "status": "Outcome of the row: pass or fail (checks); the order's state after this transition (orders).",
    "reason": "Why the row came out as it did, in words: kept or dropped, promoted or refused, denied, or what "
    "changed an order's state.",
    "rows": "Number of rows.",
    "fit_seconds": "Wall-clock seconds spent fitting.",
    "missing_bars": "Bars expected on the session grid but absent.",
    "rule": "Validation rule the row broke.",
    "detail": "What was found, in words (bars_quarantine: the rule's source column and value).",
    "client_order_id": "Deterministic order id: a hash of what the order is for.",
    "side": "buy or sell.",
    "qty": "Quantity in shares (units): unsigned beside side in orders and fills; signed in positions and "
    "reconcile events.",
    # The tearsheet's summary (foxml_dagster/backtest/summary.py); benchmark_<x> is the same for the benchmark.
    "benchmark_sharpe": "Benchmark: annualised Sharpe ratio.",
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
    "n_trials": "Distinct trials of every kind run on this data set so far (the deflated Sharpe's N).",
    "n_effective_trials": "Independent trials after correlation deflation.",
    "trial_id": "Hash of the trial's configuration.",
    "pbo": "Probability of backtest overfitting (CSCV).",
    "pbo_strategies": "Strategies in the PBO grid.",
    "flags": "Caveats that apply (short sample, not significant, tracks the benchmark).",
    # raw_bars and bars_quarantine: the source's values as text (foxml_dagster/data/raw.py).
    "adj_close": "Adjusted close from the source, as text; when a symbol has one, prices are scaled by "
    "adj_close / close.",
    "split_ratio": "Split on its ex-date, new shares per old (2 for a 2-for-1), as text; null on other bars.",
    "dividend": "Cash dividend per share on its ex-date, as text; null on other bars.",
    "origin": "Where the row came from: the source file, URL or request.",
    "source_row": "1-based data row of the row in its origin.",
    # bars_coverage (foxml_dagster/data/gaps.py).
    "calendar": "Trading calendar of the session grid: an exchange_calendars code, 24/7 or FX.",
    "interval": "Bar interval of the session grid (1d, 5min, ...).",
    # Two meanings (reported): the missing-bar policy, or the traded signal variant.
    "policy": "Policy applied: the missing-bar policy leave, ffill or drop_session (bars_coverage); the traded "
    "signal variant, a sizing policy and its parameters such as gain4_dz0.02 (signals).",
    "first_ts": "First grid slot owed to the symbol (its first bar), UTC.",
    "last_ts": "Last grid slot owed to the symbol (its last bar), UTC.",
    "expected_bars": "Bars the session grid expects from the symbol's first bar to its last.",
    "present_bars": "Expected bars present in the data.",
    "filled_bars": "Missing bars added flat at the previous close with volume 0 (policy ffill).",
    "dropped_bars": "Bars removed to quarantine with their incomplete session (policy drop_session).",
    "incomplete_sessions": "Sessions with at least one missing bar.",
    # labels (foxml_dagster/labels/make.py).
    "label": "Class of the outcome: sign of ret (-1, 0, 1); meta-labels 1 or 0; quantile targets 1 top, "
    "-1 bottom, 0 between.",
    "ret": "Realised return from ts to t1: log return of the close (side-adjusted for meta-labels); for "
    "forward-return targets as configured (log or simple, raw or excess).",
    "barrier": "Barrier touched first: 1 profit-taking, -1 stop-loss, 0 vertical (horizon); 0 for forward returns.",
    # fold_audit (foxml_dagster/splits/core.py).
    "test_groups": "Time groups the fold tests, comma-separated indices (CPCV tests several).",
    # Two meanings (reported): a fold's test blocks, or the CSCV's time blocks.
    "n_blocks": "Contiguous time blocks: the fold's test blocks, adjacent groups merged (fold_audit); the blocks "
    "CSCV cuts the return series into (overfitting).",
    "n_train": "Training samples: the fold's after purging and embargo, or every row known at a production "
    "model's cutoff.",
    "n_test": "Test samples of the fold.",
    "n_purged": "Training candidates dropped because their label span overlaps a test window.",
    "n_embargoed": "Training candidates dropped by the embargo after a test window.",
    "test_start": "First ts of the fold's first test block, UTC.",
    "test_end": "Last ts of the fold's last test block, UTC.",
    "window_end": "Latest label end (t1) of the fold's test samples, where its test window closes, UTC.",
    "embargo_end": "Last ts inside the embargo after the fold's test windows, UTC (the window's end if none).",
    "train_start": "First ts of the samples the fold or model trained on, UTC.",
    "train_end": "Last ts of the samples the fold or model trained on, UTC.",
    # leakage_report (foxml_dagster/leakage).
    "check_name": "Leakage check the row reports (feature_reads_future, train_test_overlap, ...).",
    "subject": "What the check examined: a feature, feature -> target, labels or folds.",
    "value": "The number the check compares with its limit (an AUC, a share, a count); null when it has none.",
    # trained_models and production_models (foxml_dagster/training).
    "n_fit": "Rows the model was fitted on: n_train less the validation slice and its purge.",
    "n_val": "Rows held out for early stopping (0 when the family uses none).",
    "params": "The fitted model as JSON: family, parameters, seed and fit info (e.g. best iteration).",
    "features": "Feature columns the model was fitted on, as a JSON list.",
    "config_hash": "sha256 of the model's configuration: family, variant, parameters, seed, features, validation "
    "share (an ensemble's: its combiner).",
    "data_hash": "sha256 of the data the model was fitted on: features, labels, weights and keys, plus the folds "
    "for fold models (an ensemble's: its members' versions).",
    "version": "Production model version: a 12-hex hash of its configuration, data and code.",
    "code_version": "Package version and git describe of the code that fitted the model.",
    "members": "An ensemble's member models as family@version, comma-separated; null for a family.",
    "knowledge_end": "Last label outcome (t1) the model saw, UTC.",
    "promoted": "Whether the model's out-of-fold evidence passed production.gates; only promoted models trade.",
    # model_scores (foxml_dagster/evaluation.py).
    "base_rate": "Share of samples with y_true = 1: the baseline to beat.",
    "balanced_accuracy": "Mean recall of the classes present at the 0.5 threshold (0.5 for a constant call).",
    "f1": "F1 score of the up class (label == 1) at the 0.5 threshold.",
    "rank_ic_ir": "Rank IC mean over its standard deviation across folds.",
    "sign_mean_ret": "Mean per-sample return of trading the predicted sign, less backtest.cost_bps per bet.",
    "sign_sharpe": "Per-bet Sharpe of trading the predicted sign (not annualised): ranks models.",
    "n_paths": "CPCV backtest paths scored (1 unless CPCV).",
    "path_sharpe_mean": "Mean of the sign strategy's Sharpe across CPCV paths.",
    "path_sharpe_std": "Standard deviation of the sign strategy's Sharpe across CPCV paths.",
    "path_sharpe_min": "Lowest sign-strategy Sharpe of the CPCV paths.",
    "path_sharpe_q25": "25th percentile of the sign strategy's Sharpe across CPCV paths.",
    "path_sharpe_median": "Median of the sign strategy's Sharpe across CPCV paths.",
    "path_sharpe_q75": "75th percentile of the sign strategy's Sharpe across CPCV paths.",
    "path_sharpe_max": "Highest sign-strategy Sharpe of the CPCV paths.",
    "path_ic_mean": "Mean of the IC across CPCV paths.",
    "path_ic_std": "Standard deviation of the IC across CPCV paths.",
    "path_ic_min": "Lowest IC of the CPCV paths.",
    # model_ranking (foxml_dagster/model_ranking.py).
    "rank": "Rank, 1 = best: of a model within its target (model_ranking), of a target (target_ranking), of a "
    "feature by clustered MDA (rank__<target>).",
    "auc_lo": "Lower bound of the AUC's block-bootstrap interval at `confidence`.",
    "auc_hi": "Upper bound of the AUC's block-bootstrap interval at `confidence`.",
    "ic_lo": "Lower bound of the IC's block-bootstrap interval at `confidence`.",
    "ic_hi": "Upper bound of the IC's block-bootstrap interval at `confidence`.",
    "ic_se": "Block-bootstrap standard error of the IC.",
    "ic_tstat": "IC over its block-bootstrap standard error.",
    "auc_fold_mean": "Mean of the per-fold AUC.",
    "auc_fold_std": "Standard deviation of the per-fold AUC.",
    "auc_fold_min": "Lowest per-fold AUC.",
    "ic_fold_mean": "Mean of the per-fold IC.",
    "ic_fold_std": "Standard deviation of the per-fold IC.",
    "ic_fold_min": "Lowest per-fold IC.",
    "n_folds": "Folds the statistics were computed over.",
    "n_boot": "Block-bootstrap replicates behind the intervals.",
    "block": "Timestamps per bootstrap block (default: the target's median label span in bars).",
    "confidence": "Coverage of the bootstrap intervals.",
    # target_ranking (foxml_dagster/selection/ranking.py).
    "composite": "edge x consistency x family_agreement: how predictable the target is (higher is better).",
    "edge": "Mean out-of-fold AUC minus 0.5, over ranking families and folds.",
    "consistency": "Share of (family, fold) pairs with out-of-fold AUC above 0.5.",
    "family_agreement": "Share of ranking families whose mean out-of-fold AUC is above 0.5.",
    "mean_auc": "Mean out-of-fold AUC over ranking families and folds.",
    "auc_std": "Standard deviation of the out-of-fold AUC over ranking families and folds.",
    # selected_features (foxml_dagster/selection); clustered_mda, stability and rank also per target.
    "cluster": "Correlation cluster (average linkage on |Spearman|, cut at selection.cluster_corr); its features "
    "are permuted together.",
    "clustered_mda": "Clustered MDA: drop in out-of-fold AUC when the feature's whole cluster is permuted, mean "
    "over purged folds.",
    "mda_std": "Standard deviation of the feature's MDA across folds.",
    "sfi": "Single-feature importance: out-of-fold AUC of a depth-3 tree on the feature alone, minus 0.5, mean "
    "over folds.",
    "mean_rank": "Mean over targets of the feature's rank by clustered MDA (1 = best).",
    "rank_std": "Standard deviation of the feature's rank across targets (0: every target agrees).",
    "combined_rank": "Position in the combined ranking: by mean_rank, ties by larger clustered MDA.",
    "target_support": "Share of targets the feature helps (positive clustered MDA in enough folds).",
    "n_targets": "Targets importance was measured on.",
    "importance_target": "Target(s) importance was measured on, comma-separated.",
    "twin": "The kept feature this one nearly duplicates (|Spearman| above selection.max_abs_corr); null unless "
    "dropped as redundant.",
    # backtest and strategy_returns (foxml_dagster/backtest/engine.py): one row per bar ts, simple
    # returns as fractions of equity, earned by the weights set at ts over the next bar.
    "strategy": "Strategy name: family:target:variant.",
    "gross_return": "Return of the weights set at ts over the next bar, before costs.",
    "cost": "Trading cost charged at ts, as a return: turnover x backtest.cost_bps / 10,000.",
    "net_return": "gross_return minus cost.",
    "turnover": "Sum over symbols of |weight change| at ts.",
    "gross_exposure": "Sum of |weight| over symbols.",
    "net_exposure": "Sum of signed weights over symbols.",
    "long_exposure": "Sum of positive weights.",
    "short_exposure": "Sum of negative weights (zero or negative).",
    "n_positions": "Symbols with a non-zero weight.",
    # Two meanings (reported): the backtest's growth of 1, or the account's equity in currency.
    "equity": "Equity: growth of 1 compounded at net_return (backtest); cash plus positions at reference prices, "
    "in account currency (risk_events).",
    "benchmark_return": "The benchmark's return over the same interval as the row's.",
    "benchmark_equity": "The benchmark's growth of 1 compounded at benchmark_return.",
    "risk_denied": "Symbols whose order the pre-trade risk engine denied at ts (routed backtests only).",
    # trials (foxml_dagster/trials.py) and overfitting (stats.pbo_cscv).
    "data_key": "Hash of the data settings: the data set trials are counted on.",
    "config": "The trial: family:target:variant for a strategy, selection for feature selection; null for a "
    "target's ranking.",
    "first_run": "Dagster run that first ran the trial.",
    "last_run": "Dagster run that last ran the trial.",
    "first_seen": "When the trial was first run, UTC.",
    "last_seen": "When the trial was last run, UTC.",
    "runs": "Runs that included the trial.",
    "in_last_run": "Whether the latest run included the trial (its statistics are that run's).",
    "skew": "Skewness of the strategy's per-period net returns.",
    "kurtosis": "Kurtosis of the strategy's per-period net returns (not excess: 3 for a normal).",
    "sharpe_variance": "Variance of the Sharpe estimate the deflated Sharpe assumes (evaluation.dsr_variance).",
    "split": "CSCV split: one choice of half the blocks as in-sample.",
    "best_strategy": "Strategy with the best in-sample Sharpe in this split.",
    "is_sharpe": "In-sample per-period Sharpe of the split's best strategy.",
    "oos_sharpe": "Out-of-sample per-period Sharpe of the split's best strategy.",
    "logit": "Logit of the best strategy's out-of-sample rank among all: <= 0 is at or below the median.",
    "n_strategies": "Strategies in the grid.",
    # research_signals and signals (foxml_dagster/signals.py).
    "raw_weight": "Weight before the dead zone, the risk limits and any book reshaping: the linear map's, or a "
    "bet-sizing policy's.",
    "risk_action": "Last check that changed the weight (pass: none): dead_zone, no_bet, clipped_symbol_limit, "
    "scaled_gross_limit, vol_scaled, held_in_band, not_promoted.",
    "source": "Whose predictions are traded: an ensemble or a family (signals.source).",
    "model_version": "Version of the production model the live signal came from.",
    # The execution journal: orders, fills, positions, risk_events (foxml_dagster/execution).
    "account": "Account the row belongs to (execution.account).",
    "cycle_id": "Execution cycle that wrote the row: its Dagster run id.",
    "event_id": "Journal row id: client_order_id:seq (orders), cycle_id:seq (risk_events).",
    "seq": "Row number within its order (orders, 0 = planned) or its cycle (risk_events).",
    "event_ts": "Market time of the event (the bar time the cycle acts at), UTC.",
    "recorded_at": "Wall-clock time the row was journaled, UTC.",
    "broker_order_id": "The broker's id of the order; null until submitted.",
    "order_type": "market, limit or stop.",
    "limit_price": "Limit price of a limit order; null otherwise.",
    "stop_price": "Stop price of a stop order; null otherwise.",
    "time_in_force": "day or gtc.",
    "ref_price": "Reference price the order was planned at: the symbol's last close at or before the decision.",
    "notional": "Order value when planned: qty x limit or stop price (market: ref_price), in account currency.",
    "target_qty": "Position the target weight asks for: target_weight x equity / ref_price, before lot rounding.",
    "signal_ts": "Bar time of the signal the order was planned from, UTC.",
    "filled_qty": "Quantity filled so far (cumulative).",
    "avg_fill_price": "Average price of the fills so far.",
    "risk_decision": "The pre-trade risk engine's decision on the planned order: accept or deny.",
    "risk_reason": "The risk engine's reason code name (accepted, or why it denied).",
    "fill_id": "Id of the fill (adjust:... for a reconciliation adjustment).",
    "price": "Fill price per share (unit).",
    "fee": "Fee charged on the fill, in account currency.",
    "slippage_bps": "Paper broker: fill price moved against the order, in basis points; null otherwise.",
    "participation": "Paper broker: the fill's share of the bar's volume; null otherwise.",
    "as_of": "Market time of the snapshot, UTC.",
    "broker_qty": "Quantity the broker reports holding (signed).",
    "reconciled": "Whether the journal's quantity matches the broker's.",
    "avg_price": "Average cost of the open position; null when flat.",
    "mark_price": "Price the position is valued at: the last close at or before as_of.",
    "market_value": "qty x mark_price, in account currency.",
    "realized_pnl": "P&L realised by closing trades, net of fees, in account currency.",
    "unrealized_pnl": "(mark_price - avg_price) x qty, in account currency.",
    "decision": "The risk check's decision: accept or deny.",
    "code": "The risk engine's reason code (0: accepted).",
    "state": "Trading state after the event: active, reducing or halted.",
    "cause": "What put trading in its state: none, manual, kill_switch, daily_loss, drawdown or reconciliation.",
    "day_start_equity": "Account equity at the start of the day: the daily-loss limit's base.",
    "peak_equity": "Highest account equity seen: the drawdown limit's base.",
    "gross": "Gross exposure: sum of |position| x reference price, working orders included, in account currency.",
    "net": "Net exposure: sum of position x reference price, in account currency.",
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


# Cross-sectional features `<prefix><feature>` (foxml_dagster/features/cross_section.py), each
# compared with the whole universe at the same timestamp; {base} is the feature and its meaning.
CROSS_SECTIONAL = {
    "xs_rank_": "Percentile rank in (0, 1) of {base} across symbols at the same ts.",
    "xs_z_": "Z-score of {base} across symbols at the same ts (sample std; 0 for a lone symbol).",
    "rel_": "{base} minus its mean across symbols at the same ts.",
}


def describe_column(name: str, features: Mapping[str, str] | None = None) -> str:
    """The column's description: from COLUMNS, the feature registry (`features`), or a rule for
    generated names: benchmark_<x>, a cross-sectional feature, <metric>__<target>; "" if none."""
    if name in COLUMNS:
        return COLUMNS[name]
    if name.startswith("benchmark_") and name.removeprefix("benchmark_") in COLUMNS:
        return f"Benchmark: {COLUMNS[name.removeprefix('benchmark_')]}"
    if features and name in features:
        return features[name]
    for prefix, template in CROSS_SECTIONAL.items():
        base = name.removeprefix(prefix)
        if base != name and features and base in features:
            return template.format(base=f"{base} ({features[base]})")
    metric, _, target = name.partition("__")
    if target and metric in COLUMNS:  # per-target columns, e.g. selected_features' stability__<target>
        return f"{COLUMNS[metric].removesuffix('.')}; target {target} only."
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
