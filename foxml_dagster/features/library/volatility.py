"""Volatility and range: ATR, true range, Bollinger/Keltner/Donchian positions, range-based volatility
estimators, and the close's position in its recent range."""

from __future__ import annotations

import numpy as np

from foxml_dagster import native
from foxml_dagster.features.library._common import HLC, MINIMAL, OHLC, STANDARD, UNIT, _ratio, feature, log_return
from foxml_dagster.features.panel import Panel

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
        bounds=UNIT,
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
        bounds=UNIT,
        timeperiod=n,
    )
    feature(
        f"since_min_{n}",
        lambda p, n=n: native.bars_since_min(p.close, timeperiod=n, offsets=p.offsets) / n,
        ["close"],
        n - 1,
        f"bars since the {n}-bar lowest close, as a fraction of the window",
        bounds=UNIT,
        timeperiod=n,
    )
for n in (20, 60, 250):
    feature(
        f"rank_close_{n}",
        lambda p, n=n: native.rank(p.close, timeperiod=n, offsets=p.offsets),
        ["close"],
        n - 1,
        f"percentile rank of the close within its last {n} closes",
        bounds=UNIT,
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
