"""Returns, close relative to moving averages, EMA crosses, z-scores and the volatility of returns."""

from __future__ import annotations

import math

import numpy as np

from foxml_dagster import native
from foxml_dagster.features.library._common import _ratio, feature, log_return
from foxml_dagster.features.panel import Panel


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
