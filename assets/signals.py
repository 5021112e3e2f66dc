"""signals: target weights of the top-ranked target, through the configured sizing policy and the
pre-trade risk checks; for research from out-of-fold predictions (what the backtest trades), and
live for the newest bar from the promoted production models (what orders are planned from)."""

import dagster as dg
import polars as pl

from foxml_dagster.backtest.summary import resolve_periods_per_year
from foxml_dagster.ensemble import is_ensemble, path_mean
from foxml_dagster.signals import SIGNALS_SCHEMA
from foxml_dagster.sizing import sizing_context
from foxml_dagster.strategies import variant_signals, variants
from resources.home import Experiment

_KEYS = ["family", "target", "symbol", "ts", "y_score"]


def _research_scores(source: str, oof_predictions: pl.DataFrame, ensemble_predictions: pl.DataFrame) -> pl.DataFrame:
    """The traded source's out-of-fold predictions, one per sample (CPCV paths averaged)."""
    if is_ensemble(source):
        return ensemble_predictions.filter(pl.col("family") == source).select(_KEYS)
    return path_mean(oof_predictions.filter(pl.col("family") == source)).select(_KEYS)


def _context(cfg, target: str, bars: pl.DataFrame):
    return sizing_context(
        target,
        bars,
        cfg.labels,
        cost_bps=cfg.backtest.cost_bps,
        periods_per_year=resolve_periods_per_year(cfg.backtest, bars.get_column("ts")),
    )


@dg.asset(
    group_name="signals",
    kinds={"polars", "parquet"},
    description="Research signals: symbol, ts, target_weight in [-1, 1] for every out-of-fold prediction of the "
    "traded source (signals.source) on the top-ranked target, sized by the traded policy (signals.policy), "
    "with the raw weight and the risk action that shaped it. What the backtest trades; never orders.",
)
def research_signals(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    oof_predictions: pl.DataFrame,
    ensemble_predictions: pl.DataFrame,
    target_ranking: pl.DataFrame,
    bars: pl.DataFrame,
) -> pl.DataFrame:
    cfg = experiment.config
    target = target_ranking.sort("rank")["target"][0]
    _, traded = variants(cfg.evaluation, cfg.signals)
    scores = _research_scores(cfg.signals.source, oof_predictions, ensemble_predictions)
    # The very function the strategy grid uses, so the backtest is the traded trial's series.
    frame = variant_signals(
        scores, target, cfg.signals.source, traded, cfg.signals, _context(cfg, target, bars)
    ).with_columns(pl.lit(traded.name).alias("policy"))
    actions = frame.group_by("risk_action").len()
    context.add_output_metadata(
        {"target": target, "source": cfg.signals.source, "policy": traded.name}
        | {f"risk/{a}": n for a, n in actions.iter_rows()}
    )
    return frame


@dg.asset(
    group_name="signals",
    kinds={"polars", "parquet"},
    description="Live signals for the newest bar: the traded source's live predictions (promoted production "
    "models only) sized by the traded policy and the risk checks; symbol, ts, target_weight, raw_weight, "
    "risk_action, policy, model_version. Path-dependent policies (averaged bets, top-k holdings, the book's "
    "volatility, the band's held weight) continue from the research history: out-of-fold predictions up to "
    "the models' training cutoff, never production fits of the rows they trained on. When the traded source "
    "is not promoted, every symbol gets weight 0 (risk_action not_promoted) and the reason is in the metadata. "
    "Orders are planned from these.",
)
def signals(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    live_predictions: pl.DataFrame,
    oof_predictions: pl.DataFrame,
    ensemble_predictions: pl.DataFrame,
    target_ranking: pl.DataFrame,
    production_models: pl.DataFrame,
    bars: pl.DataFrame,
) -> pl.DataFrame:
    cfg = experiment.config
    source = cfg.signals.source
    target = target_ranking.sort("rank")["target"][0]
    _, traded = variants(cfg.evaluation, cfg.signals)
    newest_bar = bars.get_column("ts").max()
    model = production_models.filter((pl.col("family") == source) & (pl.col("target") == target))
    live = live_predictions.filter((pl.col("family") == source) & (pl.col("target") == target))
    promoted = model.height == 1 and bool(model["promoted"][0])
    version = model["version"][0] if model.height else None
    if not promoted or live.is_empty():
        why = model["reason"][0] if model.height else f"no production model of {source} for {target}"
        if promoted:
            why = f"{source} {target} has no live prediction (features of the bars after its cutoff still warming up?)"
        frame = _flat(bars, newest_bar, target, source, traded.name, version)
        context.log.warning(f"signals: {source} {target} does not trade: {why}; every weight is 0")
        context.add_output_metadata({"target": target, "source": source, "trades": False, "reason": why})
        return frame
    cutoff = model["train_end"][0]
    history = _research_scores(source, oof_predictions, ensemble_predictions).filter(
        (pl.col("target") == target) & (pl.col("ts") <= cutoff)
    )
    scores = pl.concat([history, live.with_columns(pl.lit(source).alias("family")).select(_KEYS)])
    sized = variant_signals(scores, target, source, traded, cfg.signals, _context(cfg, target, bars))
    decided = live.get_column("ts").max()
    frame = sized.filter(pl.col("ts") == decided).with_columns(
        pl.lit(traded.name).alias("policy"), pl.lit(version).alias("model_version")
    )
    context.add_output_metadata(
        {
            "target": target,
            "source": source,
            "policy": traded.name,
            "model_version": version,
            "trades": True,
            "decision_ts": str(decided),
            "newest_bar": str(newest_bar),
            "gross": float(frame["target_weight"].abs().sum()),
            "weights": dg.MetadataValue.md(
                "\n".join(
                    f"- {r['symbol']}: {r['target_weight']:+.4f} ({r['risk_action']})"
                    for r in frame.iter_rows(named=True)
                )
            ),
        }
    )
    return frame


def _flat(bars: pl.DataFrame, ts, target: str, source: str, policy: str, version: str | None) -> pl.DataFrame:
    """Weight 0 for every symbol with a bar at `ts`: the book is closed rather than left to drift."""
    at = bars.filter(pl.col("ts") == ts).select(pl.col("symbol").cast(pl.String), "ts").unique().sort("symbol")
    return (
        at.with_columns(
            pl.lit(0.0).alias("target_weight"),
            pl.lit(target).alias("target"),
            pl.lit(source).alias("source"),
            pl.lit(0.0).alias("raw_weight"),
            pl.lit("not_promoted").alias("risk_action"),
        )
        .select(list(SIGNALS_SCHEMA))
        .cast(SIGNALS_SCHEMA)  # type: ignore[arg-type]
        .with_columns(pl.lit(policy).alias("policy"), pl.lit(version, pl.String).alias("model_version"))
    )


@dg.asset_check(
    asset=signals,
    blocking=True,
    additional_ins={"bars": dg.AssetIn("bars")},
    description="Fails when the newest signal is older than the newest bar by one bar interval or more (a bar "
    "exists after it): orders would act on a stale decision, so the execution step does not run.",
)
def signals_current(signals: pl.DataFrame, bars: pl.DataFrame) -> dg.AssetCheckResult:
    from foxml_dagster.signals import signal_lag

    lag = signal_lag(signals, bars)
    return dg.AssetCheckResult(
        passed=lag.current,
        severity=dg.AssetCheckSeverity.ERROR,
        description=lag.describe(),
        metadata={
            "newest_signal": str(lag.newest_signal),
            "newest_bar": str(lag.newest_bar),
            "bars_behind": lag.bars_behind,
        },
    )
