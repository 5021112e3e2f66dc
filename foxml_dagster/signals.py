"""Target weights from predicted probabilities, with pre-trade risk checks and reason codes.

Pipeline per row (symbol, ts), in this order:

1. raw_weight = clip(gain * 2 * (y_score - 0.5), -1, 1): a probability edge mapped to a weight.
2. Dead zone: |y_score - 0.5| < dead_zone -> weight 0, risk_action "dead_zone". Tiny edges are
   mostly noise and would only pay costs.
3. Symbol limit: |weight| > max_symbol_weight -> sign * max_symbol_weight,
   risk_action "clipped_symbol_limit".
4. Gross limit, per ts: if sum |weight| over symbols > max_gross, every weight at that ts is
   scaled by max_gross / sum |weight|; the non-zero rows get risk_action "scaled_gross_limit".

risk_action names the *last* check that changed the row's weight, so a row clipped at the symbol
limit and then scaled reads "scaled_gross_limit"; "pass" means the weight is the raw weight.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "RISK_ACTIONS",
    "SIGNALS_SCHEMA",
    "RiskLimits",
    "SignalConfig",
    "signals_from_predictions",
]

RISK_ACTIONS = ("pass", "clipped_symbol_limit", "scaled_gross_limit", "dead_zone")

SIGNALS_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "target_weight": pl.Float64(),
    "target": pl.String(),
    "source": pl.String(),
    "raw_weight": pl.Float64(),
    "risk_action": pl.String(),
}


class RiskLimits(BaseModel):
    """Pre-trade limits on target weights (fractions of equity)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_symbol_weight: float = Field(0.25, gt=0, le=1, description="max |weight| of one symbol")
    max_gross: float = Field(1.0, gt=0, description="max sum of |weight| across symbols at one ts")
    dead_zone: float = Field(0.02, ge=0, lt=0.5, description="|y_score - 0.5| below this gives weight 0")


class SignalConfig(BaseModel):
    """How predictions become signals: the gain of the probability-to-weight map and the limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gain: float = Field(4.0, gt=0, description="weight = clip(gain * 2 * (y_score - 0.5), -1, 1)")
    risk: RiskLimits = Field(default_factory=RiskLimits)


def signals_from_predictions(
    predictions: pl.DataFrame,
    *,
    target: str,
    limits: RiskLimits | None = None,
    gain: float = 4.0,
    family: str | None = None,
) -> pl.DataFrame:
    """Signals (symbol, ts, target_weight, target, source, raw_weight, risk_action) for `target`.

    Args:
        predictions: predictions-contract frame, typically the ensemble's.
        target: the target whose predictions drive the signal.
        limits: the risk limits (default `RiskLimits()`).
        gain: see the module docstring; must be > 0.
        family: which family to use when `predictions` holds several (default: the only one).

    `source` is the family the signal came from. Sorted by (symbol, ts). See the module
    docstring for the order of the checks and the meaning of each risk_action.
    """
    config = SignalConfig(gain=gain, risk=limits if limits is not None else RiskLimits())
    lim = config.risk
    needed = ["family", "target", "symbol", "ts", "y_score"]
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions: required column(s) {missing} missing")

    rows = predictions.filter(pl.col("target") == target)
    if family is not None:
        rows = rows.filter(pl.col("family") == family)
    present = sorted(set(rows.get_column("family").unique().to_list()))
    if not present:
        raise ValueError(
            f"no predictions for target {target!r}" + (f" and family {family!r}" if family is not None else "")
        )
    if len(present) > 1:
        raise ValueError(
            f"predictions for target {target!r} come from several families {present}; pass family=... (e.g. 'ensemble')"
        )
    n_dup = rows.height - rows.select("symbol", "ts").n_unique()
    if n_dup:
        raise ValueError(f"{n_dup} duplicate (symbol, ts) predictions for target {target!r}")
    if rows.get_column("y_score").is_null().any() or not rows.get_column("y_score").is_between(0, 1).all():
        raise ValueError("y_score must be a probability in [0, 1] with no nulls")

    edge = pl.col("y_score") - 0.5
    raw = (config.gain * 2 * edge).clip(-1.0, 1.0)
    in_dead_zone = edge.abs() < lim.dead_zone
    over_symbol = raw.abs() > lim.max_symbol_weight

    staged = rows.select(
        pl.col("symbol").cast(pl.String),
        "ts",
        raw.alias("raw_weight"),
        pl.when(in_dead_zone)
        .then(0.0)
        .when(over_symbol)
        .then(raw.sign() * lim.max_symbol_weight)
        .otherwise(raw)
        .alias("_w"),
        pl.when(in_dead_zone)
        .then(pl.lit("dead_zone"))
        .when(over_symbol)
        .then(pl.lit("clipped_symbol_limit"))
        .otherwise(pl.lit("pass"))
        .alias("_action"),
    )
    gross = pl.col("_w").abs().sum().over("ts")
    scale = pl.when(gross > lim.max_gross).then(lim.max_gross / gross).otherwise(1.0)
    scaled = staged.with_columns(
        (pl.col("_w") * scale).alias("target_weight"),
        pl.when((gross > lim.max_gross) & (pl.col("_w") != 0))
        .then(pl.lit("scaled_gross_limit"))
        .otherwise(pl.col("_action"))
        .alias("risk_action"),
    )
    return (
        scaled.with_columns(
            pl.lit(target).alias("target"),
            pl.lit(present[0]).alias("source"),
        )
        .select(list(SIGNALS_SCHEMA))
        .cast(SIGNALS_SCHEMA)  # type: ignore[arg-type]
        .sort("symbol", "ts")
    )
