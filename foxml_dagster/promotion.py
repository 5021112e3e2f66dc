"""Promotion: which production models may trade, decided by gates on out-of-fold evidence.

A production model (foxml_dagster.training.production) is a refit on every labelled row, so it
has no honest score of its own. Whether it trades is decided from the evidence its family (or
ensemble) earned out of fold, as `model_ranking` reports it:

| gate (production.gates) | passes when |
|---|---|
| auc_above | pooled out-of-fold AUC > the value |
| auc_lower_above | the lower bound of the AUC's bootstrap interval > the value |
| ic_above | pooled IC (score vs realised return) > the value |
| ic_tstat_above | IC / bootstrap standard error > the value |
| dsr_above | deflated Sharpe of its traded-policy strategy, over every trial on the data set, > the value |

A gate set to null is off. A model passes when every gate that is on passes; a missing statistic
(an AUC undefined on one class, a strategy without a DSR) fails its gate. Each decision carries
its reasons: every gate with its value and threshold.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from pydantic import Field

from foxml_dagster.settings import Settings

__all__ = ["DECISION_SCHEMA", "GATES", "GateConfig", "ProductionConfig", "decide"]

#: gate name -> the model_ranking column it reads.
GATES = {
    "auc_above": "auc",
    "auc_lower_above": "auc_lo",
    "ic_above": "ic",
    "ic_tstat_above": "ic_tstat",
    "dsr_above": "dsr",
}

DECISION_SCHEMA: dict[str, pl.DataType] = {
    "family": pl.String(),
    "target": pl.String(),
    "promoted": pl.Boolean(),
    "reason": pl.String(),
}


class GateConfig(Settings):
    """Out-of-fold evidence a model needs to trade (each null: that gate is off)."""

    auc_above: float | None = Field(0.5, description="pooled out-of-fold AUC must exceed this (0.5: chance)")
    auc_lower_above: float | None = Field(
        None, description="the lower bound of the AUC's bootstrap interval must exceed this"
    )
    ic_above: float | None = Field(0.0, description="pooled out-of-fold IC must exceed this")
    ic_tstat_above: float | None = Field(1.0, description="IC over its block-bootstrap standard error must exceed this")
    dsr_above: float | None = Field(
        None,
        description="deflated Sharpe of the traded-policy strategy must exceed this (0.95 for real money; off by "
        "default because one data set rarely holds that much evidence)",
    )


class ProductionConfig(Settings):
    """Production models: refit on every labelled row, promoted by gates (docs/production.md)."""

    gates: GateConfig = Field(default_factory=GateConfig)


def _gate(name: str, threshold: float, value: Any) -> tuple[bool, str]:
    metric = GATES[name]
    if value is None:
        return False, f"{metric} unknown (gate {name} {threshold:g})"
    passed = value > threshold
    return passed, f"{metric} {value:.4f} {'>' if passed else '<='} {threshold:g}"


def decide(ranking: pl.DataFrame, gates: GateConfig) -> pl.DataFrame:
    """One decision per (family, target) row of `ranking` (`model_ranking`): promoted, and why
    (`reason`: "promoted: ..." or "refused: <failed gates>; passed: ...")."""
    rows = []
    for row in ranking.iter_rows(named=True):
        passed, failed = [], []
        for name in GATES:
            threshold = getattr(gates, name)
            if threshold is None:
                continue
            ok, text = _gate(name, threshold, row.get(GATES[name]))
            (passed if ok else failed).append(text)
        if failed:
            reason = "refused: " + "; ".join(failed) + (f" (passed: {'; '.join(passed)})" if passed else "")
        else:
            reason = "promoted: " + ("; ".join(passed) if passed else "every gate is off")
        rows.append({"family": row["family"], "target": row["target"], "promoted": not failed, "reason": reason})
    return pl.DataFrame(rows, schema=DECISION_SCHEMA)
