"""Co-movement, volume and money flow, fractional differencing, and candle shape."""

from __future__ import annotations

import numpy as np

from foxml_dagster import native
from foxml_dagster.features.library._common import HLC, HLCV, OHLC, UNIT, _ratio, feature, log_return
from foxml_dagster.features.panel import Panel

# --- co-movement -----------------------------------------------------------------------------


def _log_volume_change(p: Panel) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log1p(p.volume) - np.log1p(p.lag(p.volume, 1))


for n in (20, 60):
    feature(
        f"corr_ret_volume_{n}",
        lambda p, n=n: native.correl(log_return(p, 1), _log_volume_change(p), timeperiod=n, offsets=p.offsets),
        ["close", "volume"],
        n,
        f"correlation of log returns with log volume changes over {n} bars",
        timeperiod=n,
    )
    feature(
        f"autocorr_ret_{n}",
        lambda p, n=n: native.correl(log_return(p, 1), p.lag(log_return(p, 1), 1), timeperiod=n, offsets=p.offsets),
        ["close"],
        n + 1,
        f"lag-1 autocorrelation of log returns over {n} bars",
        timeperiod=n,
    )
    feature(
        f"beta_ret_lag_{n}",
        lambda p, n=n: native.rolling_beta(
            log_return(p, 1), p.lag(log_return(p, 1), 1), timeperiod=n, offsets=p.offsets
        ),
        ["close"],
        n + 1,
        f"OLS slope of log returns on their previous value over {n} bars",
        timeperiod=n,
    )

# --- volume ----------------------------------------------------------------------------------


def _flow_slope(p: Panel, line: np.ndarray, n: int) -> np.ndarray:
    traded = native.rolling_sum(p.volume, timeperiod=n, offsets=p.offsets)
    return np.where(traded == 0, 0.0, _ratio(line - p.lag(line, n), traded))


for n in (10, 20, 60):
    feature(
        f"obv_slope_{n}",
        lambda p, n=n: _flow_slope(p, native.obv(p.close, p.volume, offsets=p.offsets), n),
        ["close", "volume"],
        n,
        f"change of on-balance volume over {n} bars per unit of volume traded",
        timeperiod=n,
    )
for n in (10, 20):
    feature(
        f"ad_slope_{n}",
        lambda p, n=n: _flow_slope(p, native.ad(p.high, p.low, p.close, p.volume, offsets=p.offsets), n),
        HLCV,
        n,
        f"change of the accumulation/distribution line over {n} bars per unit of volume",
        timeperiod=n,
    )
feature(
    "adosc_3_10",
    lambda p: _ratio(
        native.adosc(p.high, p.low, p.close, p.volume, offsets=p.offsets),
        native.sma(p.volume, timeperiod=10, offsets=p.offsets),
    ),
    HLCV,
    9,
    "Chaikin A/D oscillator (3, 10) per unit of average volume",
)
for n in (5, 10, 20, 60):
    feature(
        f"vwap_gap_{n}",
        lambda p, n=n: (
            _ratio(p.close, native.vwap(p.high, p.low, p.close, p.volume, timeperiod=n, offsets=p.offsets)) - 1
        ),
        HLCV,
        n - 1,
        f"close relative to the {n}-bar VWAP, minus one",
        timeperiod=n,
    )
for n in (5, 10, 60):
    feature(
        f"volume_z_{n}",
        lambda p, n=n: native.zscore(np.log1p(p.volume), timeperiod=n, offsets=p.offsets),
        ["volume"],
        n - 1,
        f"log volume's z-score against its own last {n} bars",
        window=n,
    )
for n in (5, 20, 60):
    feature(
        f"volume_ratio_{n}",
        lambda p, n=n: _ratio(p.volume, native.sma(p.volume, timeperiod=n, offsets=p.offsets)),
        ["volume"],
        n - 1,
        f"volume relative to its {n}-bar mean",
        timeperiod=n,
    )
feature(
    "log_dollar_volume_1",
    lambda p: np.log1p(p.close * p.volume),
    ["close", "volume"],
    0,
    "log of close times volume",
)

# --- memory-preserving stationarity ----------------------------------------------------------
FFD_THRESHOLD = 1e-3
for d in (0.2, 0.3, 0.4, 0.5):
    width = len(native.ffd_weights(d, threshold=FFD_THRESHOLD))
    feature(
        f"ffd_{int(d * 10):02d}",
        lambda p, d=d: native.frac_diff(np.log(p.close), d=d, threshold=FFD_THRESHOLD, offsets=p.offsets),
        ["close"],
        width - 1,
        f"log close fractionally differenced with d={d} (fixed width {width}, weights >= {FFD_THRESHOLD})",
        d=d,
    )

# --- candles ---------------------------------------------------------------------------------
feature(
    "upper_shadow_1",
    lambda p: _ratio(p.high - np.maximum(p.open, p.close), p.close),
    OHLC,
    0,
    "upper shadow of the bar relative to the close",
)
feature(
    "lower_shadow_1",
    lambda p: _ratio(np.minimum(p.open, p.close) - p.low, p.close),
    OHLC,
    0,
    "lower shadow of the bar relative to the close",
)
feature(
    "gap_open_1",
    lambda p: np.log(_ratio(p.open, p.lag(p.close, 1))),
    ["open", "close"],
    1,
    "log of the open over the previous close (the overnight gap)",
)
feature(
    "close_location_1",
    lambda p: np.where(p.high == p.low, 0.5, _ratio(p.close - p.low, p.high - p.low)),
    HLC,
    0,
    "where the close sits in the bar's range: 0 at the low, 1 at the high",
    bounds=UNIT,
)
for n in (5, 20):
    feature(
        f"range_mean_{n}",
        lambda p, n=n: native.sma(_ratio(p.high - p.low, p.close), timeperiod=n, offsets=p.offsets),
        HLC,
        n - 1,
        f"mean high-low range relative to the close over {n} bars",
        timeperiod=n,
    )
