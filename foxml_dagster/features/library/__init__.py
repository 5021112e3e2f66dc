"""The `standard` feature set (with `minimal` as a subset): ~200 causal features over the native
kernels, generated from parameter grids so each family reads as one table.

Conventions: every feature is scale-free (ratios, returns, oscillators scaled to about [-1, 1] or
[0, 1], volatilities per bar), so one model can pool symbols at different price levels. The
declared warm-up is exact: the first non-null row of a clean series (tests check it).

Importing this package registers the features. The families live in submodules, imported below in
a fixed order: registration order is the feature column order of the set, so keep it.
"""

from __future__ import annotations

from foxml_dagster.features.library._common import HLC, HLCV, MINIMAL, OHLC, STANDARD, feature, log_return

# isort: off
from foxml_dagster.features.library import trend  # returns, moving averages, return volatility
from foxml_dagster.features.library import oscillators  # oscillators, trend strength
from foxml_dagster.features.library import volatility  # volatility, range, position in the range
from foxml_dagster.features.library import volume  # co-movement, volume, fractional diff, candles
# isort: on

from foxml_dagster.features.library.trend import MOVING_AVERAGES, ret_vol
from foxml_dagster.features.library.volatility import ESTIMATORS
from foxml_dagster.features.library.volume import FFD_THRESHOLD

__all__ = [
    "ESTIMATORS",
    "FFD_THRESHOLD",
    "HLC",
    "HLCV",
    "MINIMAL",
    "MOVING_AVERAGES",
    "OHLC",
    "STANDARD",
    "feature",
    "log_return",
    "oscillators",
    "ret_vol",
    "trend",
    "volatility",
    "volume",
]
