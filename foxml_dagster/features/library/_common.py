"""Shared helpers of the `standard` feature definitions: registration, input tuples, safe ratios."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from foxml_dagster.features.panel import Panel
from foxml_dagster.features.registry import FeatureSpec, register_feature

STANDARD = ("standard",)
MINIMAL = ("standard", "minimal")
OHLC = ("open", "high", "low", "close")
HLC = ("high", "low", "close")
HLCV = ("high", "low", "close", "volume")


UNIT = (0.0, 1.0)  # bounds of an oscillator or position scaled to [0, 1]


def feature(
    name,
    compute: Callable[[Panel], np.ndarray],
    inputs,
    warmup,
    description,
    sets=STANDARD,
    bounds: tuple[float, float] | None = None,
    **params,
):
    register_feature(
        FeatureSpec(
            name=name,
            compute=compute,
            inputs=tuple(inputs),
            warmup=warmup,
            params=params,
            description=description,
            bounds=bounds,
        ),
        sets=sets,
    )


def _ratio(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def log_return(p: Panel, n: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p.close / p.lag(p.close, n))
