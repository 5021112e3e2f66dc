"""The baseline feature set: returns, trend, volatility, momentum, range and volume activity."""

from __future__ import annotations

import numpy as np

from foxml_dagster import native
from foxml_dagster.features.panel import Panel
from foxml_dagster.features.registry import FeatureSpec, register_feature

BASELINE = ("baseline", "standard")  # the standard set builds on the baseline
MINIMAL = ("baseline", "standard", "minimal")


def _log_return(panel: Panel, periods: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(panel.close / panel.lag(panel.close, periods))


for _n in (1, 5, 20):
    register_feature(
        FeatureSpec(
            name=f"ret_log_{_n}",
            compute=lambda p, n=_n: _log_return(p, n),
            inputs=("close",),
            warmup=_n,
            params={"periods": _n},
            description=f"log return of the close over the last {_n} bars",
        ),
        sets=MINIMAL,
    )

for _n in (10, 50):
    register_feature(
        FeatureSpec(
            name=f"ema_gap_{_n}",
            compute=lambda p, n=_n: p.close / native.ema(p.close, timeperiod=n, offsets=p.offsets) - 1.0,
            inputs=("close",),
            warmup=_n - 1,
            params={"timeperiod": _n},
            description=f"close relative to its {_n}-bar EMA, minus one",
        ),
        sets=MINIMAL,
    )


def _standardized(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std; 0 where the window is flat (std 0), NaN during warm-up."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - mean) / std
    return np.where(std == 0, 0.0, z)


def _zscore(panel: Panel, n: int) -> np.ndarray:
    mean = native.sma(panel.close, timeperiod=n, offsets=panel.offsets)
    std = native.stddev(panel.close, timeperiod=n, offsets=panel.offsets)
    return _standardized(panel.close, mean, std)


register_feature(
    FeatureSpec(
        name="zscore_20",
        compute=lambda p: _zscore(p, 20),
        inputs=("close",),
        warmup=19,
        params={"timeperiod": 20},
        description="distance of the close from its 20-bar mean, in 20-bar standard deviations",
    ),
    sets=MINIMAL,
)

for _n in (20, 60):
    register_feature(
        FeatureSpec(
            name=f"vol_ret_{_n}",
            compute=lambda p, n=_n: native.rolling_std(_log_return(p, 1), window=n, offsets=p.offsets),
            inputs=("close",),
            warmup=_n,
            params={"window": _n},
            description=f"sample standard deviation of daily log returns over {_n} bars",
        ),
        sets=MINIMAL if _n == 20 else BASELINE,
    )

register_feature(
    FeatureSpec(
        name="rsi_14",
        compute=lambda p: native.rsi(p.close, timeperiod=14, offsets=p.offsets) / 100.0,
        inputs=("close",),
        warmup=14,
        params={"timeperiod": 14},
        description="Wilder's relative strength index over 14 bars, scaled to [0, 1]",
        bounds=(0.0, 1.0),
    ),
    sets=MINIMAL,
)

register_feature(
    FeatureSpec(
        name="range_hl_1",
        compute=lambda p: (p.high - p.low) / p.close,
        inputs=("high", "low", "close"),
        warmup=0,
        description="the bar's high-low range relative to its close",
    ),
    sets=BASELINE,
)

register_feature(
    FeatureSpec(
        name="body_oc_1",
        compute=lambda p: (p.close - p.open) / (p.high - p.low + 1e-12 * p.close),
        inputs=("open", "high", "low", "close"),
        warmup=0,
        description="the bar's close-minus-open as a fraction of its range (candle body)",
    ),
    sets=BASELINE,
)


def _volume_z(panel: Panel, n: int) -> np.ndarray:
    log_volume = np.log1p(panel.volume)
    mean = native.sma(log_volume, timeperiod=n, offsets=panel.offsets)
    std = native.stddev(log_volume, timeperiod=n, offsets=panel.offsets)
    return _standardized(log_volume, mean, std)


register_feature(
    FeatureSpec(
        name="volume_z_20",
        compute=lambda p: _volume_z(p, 20),
        inputs=("volume",),
        warmup=19,
        params={"window": 20},
        description="log volume's z-score against its own last 20 bars",
    ),
    sets=MINIMAL,
)
