"""The training frame: labels joined to the features known at their timestamp."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

KEYS = ("symbol", "ts")
LABEL_COLUMNS = ("target", "t1", "label", "ret", "barrier", "weight")


@dataclass(frozen=True)
class TrainingFrame:
    frame: pl.DataFrame
    feature_columns: list[str]
    rows_in_warmup: int  # labelled rows left out because a feature was still warming up


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """The feature columns of a features or training frame: all but keys and label columns."""
    return [c for c in frame.columns if c not in KEYS and c not in LABEL_COLUMNS]


def build_training_frame(
    features: pl.DataFrame, labels: pl.DataFrame, *, cross_sectional: pl.DataFrame | None = None
) -> TrainingFrame:
    """Inner-join labels to features on (symbol, ts), plus the cross-sectional features when
    given; rows with any null feature are left out (and counted): models see only samples
    whose every feature is defined."""
    if cross_sectional is not None:
        features = features.join(cross_sectional, on=list(KEYS), how="left")
    names = feature_columns(features)
    joined = labels.join(features, on=list(KEYS), how="inner")
    complete = joined.drop_nulls(subset=names)
    frame = complete.select(*KEYS, *LABEL_COLUMNS, *names).sort("target", "symbol", "ts")
    return TrainingFrame(frame, names, rows_in_warmup=joined.height - complete.height)
