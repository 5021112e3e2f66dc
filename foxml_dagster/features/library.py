"""The `standard` feature set (with `minimal` as a subset): ~200 causal features over the native
kernels, generated from parameter grids so each family reads as one table.

Conventions: every feature is scale-free (ratios, returns, oscillators scaled to about [-1, 1] or
[0, 1], volatilities per bar), so one model can pool symbols at different price levels. The
declared warm-up is exact: the first non-null row of a clean series (tests check it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from foxml_dagster import native
from foxml_dagster.features.panel import Panel
from foxml_dagster.features.registry import FeatureSpec, register_feature

STANDARD = ("standard",)
MINIMAL = ("standard", "minimal")
OHLC = ("open", "high", "low", "close")
HLC = ("high", "low", "close")
HLCV = ("high", "low", "close", "volume")


def feature(name, compute: Callable[[Panel], np.ndarray], inputs, warmup, description, sets=STANDARD, **params):
    register_feature(
        FeatureSpec(
            name=name, compute=compute, inputs=tuple(inputs), warmup=warmup, params=params, description=description
        ),
        sets=sets,
    )


def _ratio(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def log_return(p: Panel, n: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p.close / p.lag(p.close, n))


def _hull_warmup(n: int) -> int:
    return n - 1 + math.isqrt(n) - 1


# --- returns ---------------------------------------------------------------------------------
for n in (2, 3, 10, 40, 60, 120, 250):
    feature(f"ret_log_{n}", lambda p, n=n: log_return(p, n), ["close"], n, f"log return over {n} bars", periods=n)

# --- trend: close relative to moving averages --------------------------------------------------
MOVING_AVERAGES = {
    "sma": (native.sma, (5, 10, 20, 50, 100, 150, 200), lambda n: n - 1),
    "ema": (native.ema, (5, 20, 100, 200), lambda n: n - 1),
    "wma": (native.wma, (10, 20, 50), lambda n: n - 1),
    "dema": (native.dema, (10, 20, 50), lambda n: 2 * (n - 1)),
    "tema": (native.tema, (10, 20), lambda n: 3 * (n - 1)),
    "kama": (native.kama, (10, 30), lambda n: n),
    "hma": (native.hma, (9, 16, 25, 49), _hull_warmup),
}
for kind, (kernel, periods, warm) in MOVING_AVERAGES.items():
    for n in periods:
        feature(
            f"{kind}_gap_{n}",
            lambda p, k=kernel, n=n: _ratio(p.close, k(p.close, timeperiod=n, offsets=p.offsets)) - 1,
            ["close"],
            warm(n),
            f"close relative to its {n}-bar {kind.upper()}, minus one",
            timeperiod=n,
        )

for fast, slow in ((3, 10), (5, 20), (10, 50), (20, 100), (50, 200)):
    feature(
        f"ema_cross_{fast}_{slow}",
        lambda p, f=fast, s=slow: (
            _ratio(
                native.ema(p.close, timeperiod=f, offsets=p.offsets),
                native.ema(p.close, timeperiod=s, offsets=p.offsets),
            )
            - 1
        ),
        ["close"],
        slow - 1,
        f"{fast}-bar EMA relative to the {slow}-bar EMA, minus one",
        fast=fast,
        slow=slow,
    )

for n in (10, 50, 100, 200):
    feature(
        f"zscore_{n}",
        lambda p, n=n: native.zscore(p.close, timeperiod=n, offsets=p.offsets),
        ["close"],
        n - 1,
        f"close's distance from its {n}-bar mean in population standard deviations",
        timeperiod=n,
    )

# --- volatility of returns and its shape -----------------------------------------------------


def ret_vol(p: Panel, n: int) -> np.ndarray:
    return native.rolling_std(log_return(p, 1), window=n, offsets=p.offsets)


for n in (5, 10, 120, 250):
    feature(
        f"vol_ret_{n}", lambda p, n=n: ret_vol(p, n), ["close"], n, f"sample std of log returns over {n} bars", window=n
    )
for a, b in ((5, 60), (20, 120), (10, 250)):
    feature(
        f"vol_ratio_{a}_{b}",
        lambda p, a=a, b=b: _ratio(ret_vol(p, a), ret_vol(p, b)),
        ["close"],
        b,
        f"{a}-bar return volatility over {b}-bar return volatility",
        fast=a,
        slow=b,
    )
for n in (20, 60, 120):
    feature(
        f"skew_ret_{n}",
        lambda p, n=n: native.skew(log_return(p, 1), timeperiod=n, offsets=p.offsets),
        ["close"],
        n,
        f"skewness of log returns over {n} bars",
        timeperiod=n,
    )
    feature(
        f"kurt_ret_{n}",
        lambda p, n=n: native.kurt(log_return(p, 1), timeperiod=n, offsets=p.offsets),
        ["close"],
        n,
        f"excess kurtosis of log returns over {n} bars",
        timeperiod=n,
    )

# --- oscillators -----------------------------------------------------------------------------
for n in (2, 5, 7, 21, 28):
    feature(
        f"rsi_{n}",
        lambda p, n=n: native.rsi(p.close, timeperiod=n, offsets=p.offsets) / 100,
        ["close"],
        n,
        f"Wilder RSI over {n} bars, in [0, 1]",
        timeperiod=n,
    )
for n in (5, 14, 21):
    feature(
        f"stoch_k_{n}",
        lambda p, n=n: native.stoch(p.high, p.low, p.close, fastk_period=n, offsets=p.offsets)[0] / 100,
        HLC,
        n + 1,
        f"slow stochastic %K ({n}, 3), in [0, 1]",
        fastk_period=n,
    )
    feature(
        f"stoch_d_{n}",
        lambda p, n=n: native.stoch(p.high, p.low, p.close, fastk_period=n, offsets=p.offsets)[1] / 100,
        HLC,
        n + 3,
        f"slow stochastic %D ({n}, 3, 3), in [0, 1]",
        fastk_period=n,
    )
for n in (7, 14, 28):
    feature(
        f"willr_{n}",
        lambda p, n=n: native.willr(p.high, p.low, p.close, timeperiod=n, offsets=p.offsets) / 100,
        HLC,
        n - 1,
        f"Williams %R over {n} bars, in [-1, 0]",
        timeperiod=n,
    )
    feature(
        f"mfi_{n}",
        lambda p, n=n: native.mfi(p.high, p.low, p.close, p.volume, timeperiod=n, offsets=p.offsets) / 100,
        HLCV,
        n,
        f"money flow index over {n} bars, in [0, 1]",
        timeperiod=n,
    )
for n in (14, 20, 40):
    feature(
        f"cci_{n}",
        lambda p, n=n: native.cci(p.high, p.low, p.close, timeperiod=n, offsets=p.offsets) / 100,
        HLC,
        n - 1,
        f"commodity channel index over {n} bars, divided by 100",
        timeperiod=n,
    )
for n in (3, 12, 25, 60):
    feature(
        f"roc_{n}",
        lambda p, n=n: native.roc(p.close, timeperiod=n, offsets=p.offsets) / 100,
        ["close"],
        n,
        f"rate of change over {n} bars (a fraction)",
        timeperiod=n,
    )
for n in (9, 15, 30):
    feature(
        f"trix_{n}",
        lambda p, n=n: native.trix(p.close, timeperiod=n, offsets=p.offsets),
        ["close"],
        3 * (n - 1) + 1,
        f"TRIX over {n} bars (percent change of a triple EMA)",
        timeperiod=n,
    )
feature(
    "ultosc_7_14_28",
    lambda p: native.ultosc(p.high, p.low, p.close, offsets=p.offsets) / 100,
    HLC,
    28,
    "ultimate oscillator (7, 14, 28), in [0, 1]",
)

for fast, slow, sig in ((12, 26, 9), (5, 35, 5)):
    for k, part in enumerate(("line", "signal", "hist")):
        feature(
            f"macd_{part}_{fast}_{slow}_{sig}",
            lambda p, f=fast, s=slow, g=sig, k=k: _ratio(
                native.macd(p.close, fastperiod=f, slowperiod=s, signalperiod=g, offsets=p.offsets)[k], p.close
            ),
            ["close"],
            slow - 1 if part == "line" else slow + sig - 2,
            f"MACD {part} ({fast}, {slow}, {sig}) relative to the close",
            sets=MINIMAL if (part == "hist" and fast == 12) else STANDARD,
            fastperiod=fast,
            slowperiod=slow,
            signalperiod=sig,
        )

# --- trend strength --------------------------------------------------------------------------
for n in (7, 14, 28):
    for k, (part, warm) in enumerate((("plus_di", n), ("minus_di", n), ("adx", 2 * n - 1))):
        feature(
            f"{part}_{n}",
            lambda p, n=n, k=k: native.dmi(p.high, p.low, p.close, timeperiod=n, offsets=p.offsets)[k] / 100,
            HLC,
            warm,
            f"{part.upper().replace('_', ' ')} over {n} bars, in [0, 1]",
            timeperiod=n,
        )
for n in (14, 25):
    feature(
        f"aroon_up_{n}",
        lambda p, n=n: native.aroon(p.high, p.low, timeperiod=n, offsets=p.offsets)[1] / 100,
        ["high", "low"],
        n,
        f"Aroon up over {n} bars, in [0, 1]",
        timeperiod=n,
    )
    feature(
        f"aroon_down_{n}",
        lambda p, n=n: native.aroon(p.high, p.low, timeperiod=n, offsets=p.offsets)[0] / 100,
        ["high", "low"],
        n,
        f"Aroon down over {n} bars, in [0, 1]",
        timeperiod=n,
    )
    feature(
        f"aroon_osc_{n}",
        lambda p, n=n: native.aroonosc(p.high, p.low, timeperiod=n, offsets=p.offsets) / 100,
        ["high", "low"],
        n,
        f"Aroon oscillator over {n} bars, in [-1, 1]",
        timeperiod=n,
    )

# --- volatility and range --------------------------------------------------------------------
for n in (7, 14, 28):
    feature(
        f"natr_{n}",
        lambda p, n=n: native.natr(p.high, p.low, p.close, timeperiod=n, offsets=p.offsets) / 100,
        HLC,
        n,
        f"ATR over {n} bars relative to the close",
        sets=MINIMAL if n == 14 else STANDARD,
        timeperiod=n,
    )
feature(
    "trange_pct_1",
    lambda p: _ratio(native.trange(p.high, p.low, p.close, offsets=p.offsets), p.close),
    HLC,
    1,
    "true range relative to the close",
)
for n in (10, 20, 50):
    feature(
        f"bb_pctb_{n}",
        lambda p, n=n: _percent_b(p, n),
        ["close"],
        n - 1,
        f"Bollinger %b ({n}, 2 std): 0 at the lower band, 1 at the upper",
        sets=MINIMAL if n == 20 else STANDARD,
        timeperiod=n,
    )
    feature(
        f"bb_width_{n}",
        lambda p, n=n: _ratio(4 * native.stddev(p.close, timeperiod=n, offsets=p.offsets), p.close),
        ["close"],
        n - 1,
        f"Bollinger band width ({n}, 2 std) relative to the close",
        timeperiod=n,
    )
    feature(
        f"keltner_pos_{n}",
        lambda p, n=n: _keltner_position(p, n),
        HLC,
        max(n - 1, 10),
        f"close's position in the Keltner channel (EMA {n} +- 2 ATR 10), in about [-1, 1]",
        timeperiod=n,
    )


def _percent_b(p: Panel, n: int) -> np.ndarray:
    upper, _, lower = native.bbands(p.close, timeperiod=n, offsets=p.offsets)
    width = upper - lower
    return np.where(width == 0, 0.5, _ratio(p.close - lower, width))


def _keltner_position(p: Panel, n: int) -> np.ndarray:
    upper, middle, _ = native.keltner(p.high, p.low, p.close, timeperiod=n, offsets=p.offsets)
    half = upper - middle
    return np.where(half == 0, 0.0, _ratio(p.close - middle, half))


for n in (10, 20, 55, 100):
    feature(
        f"donchian_pos_{n}",
        lambda p, n=n: _donchian_position(p, n),
        HLC,
        n - 1,
        f"close's position between the {n}-bar lowest low (0) and highest high (1)",
        timeperiod=n,
    )
    feature(
        f"donchian_width_{n}",
        lambda p, n=n: _ratio(*_donchian_span(p, n)),
        HLC,
        n - 1,
        f"{n}-bar highest high minus lowest low, relative to the close",
        timeperiod=n,
    )


def _donchian_position(p: Panel, n: int) -> np.ndarray:
    upper, _, lower = native.donchian(p.high, p.low, timeperiod=n, offsets=p.offsets)
    span = upper - lower
    return np.where(span == 0, 0.5, _ratio(p.close - lower, span))


def _donchian_span(p: Panel, n: int) -> tuple[np.ndarray, np.ndarray]:
    upper, _, lower = native.donchian(p.high, p.low, timeperiod=n, offsets=p.offsets)
    return upper - lower, p.close


ESTIMATORS = {
    "parkinson": native.parkinson,
    "garman_klass": native.garman_klass,
    "rogers_satchell": native.rogers_satchell,
}
for est, kernel in ESTIMATORS.items():
    for n in (5, 10, 20, 60):
        feature(
            f"vol_{est}_{n}",
            lambda p, k=kernel, n=n: k(p.open, p.high, p.low, p.close, timeperiod=n, offsets=p.offsets),
            OHLC,
            n - 1,
            f"{est.replace('_', '-').title()} volatility per bar over {n} bars",
            timeperiod=n,
        )
for n in (10, 20, 60):
    feature(
        f"vol_yang_zhang_{n}",
        lambda p, n=n: native.yang_zhang(p.open, p.high, p.low, p.close, timeperiod=n, offsets=p.offsets),
        OHLC,
        n,
        f"Yang-Zhang volatility per bar over {n} bars",
        timeperiod=n,
    )

# --- position in the recent range ------------------------------------------------------------
for n in (20, 60, 120, 250):
    feature(
        f"dist_max_{n}",
        lambda p, n=n: _ratio(p.close, native.rolling_max(p.close, timeperiod=n, offsets=p.offsets)) - 1,
        ["close"],
        n - 1,
        f"close relative to its {n}-bar highest close, minus one",
        timeperiod=n,
    )
    feature(
        f"dist_min_{n}",
        lambda p, n=n: _ratio(p.close, native.rolling_min(p.close, timeperiod=n, offsets=p.offsets)) - 1,
        ["close"],
        n - 1,
        f"close relative to its {n}-bar lowest close, minus one",
        timeperiod=n,
    )
    feature(
        f"since_max_{n}",
        lambda p, n=n: native.bars_since_max(p.close, timeperiod=n, offsets=p.offsets) / n,
        ["close"],
        n - 1,
        f"bars since the {n}-bar highest close, as a fraction of the window",
        timeperiod=n,
    )
    feature(
        f"since_min_{n}",
        lambda p, n=n: native.bars_since_min(p.close, timeperiod=n, offsets=p.offsets) / n,
        ["close"],
        n - 1,
        f"bars since the {n}-bar lowest close, as a fraction of the window",
        timeperiod=n,
    )
for n in (20, 60, 250):
    feature(
        f"rank_close_{n}",
        lambda p, n=n: native.rank(p.close, timeperiod=n, offsets=p.offsets),
        ["close"],
        n - 1,
        f"percentile rank of the close within its last {n} closes",
        timeperiod=n,
    )
for n in (20, 60):
    feature(
        f"median_gap_{n}",
        lambda p, n=n: _ratio(p.close, native.quantile(p.close, timeperiod=n, q=0.5, offsets=p.offsets)) - 1,
        ["close"],
        n - 1,
        f"close relative to its {n}-bar median, minus one",
        timeperiod=n,
    )
    feature(
        f"ret_q90_{n}",
        lambda p, n=n: native.quantile(log_return(p, 1), timeperiod=n, q=0.9, offsets=p.offsets),
        ["close"],
        n,
        f"90th percentile of log returns over {n} bars",
        timeperiod=n,
    )

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
