"""Oscillators (RSI, stochastics, Williams %R, MFI, CCI, ROC, TRIX, ultimate, MACD) and trend strength
(DMI/ADX, Aroon)."""

from __future__ import annotations

from foxml_dagster import native
from foxml_dagster.features.library._common import HLC, HLCV, MINIMAL, STANDARD, UNIT, _ratio, feature

# --- oscillators -----------------------------------------------------------------------------
for n in (2, 5, 7, 21, 28):
    feature(
        f"rsi_{n}",
        lambda p, n=n: native.rsi(p.close, timeperiod=n, offsets=p.offsets) / 100,
        ["close"],
        n,
        f"Wilder RSI over {n} bars, in [0, 1]",
        bounds=UNIT,
        timeperiod=n,
    )
for n in (5, 14, 21):
    feature(
        f"stoch_k_{n}",
        lambda p, n=n: native.stoch(p.high, p.low, p.close, fastk_period=n, offsets=p.offsets)[0] / 100,
        HLC,
        n + 1,
        f"slow stochastic %K ({n}, 3), in [0, 1]",
        bounds=UNIT,
        fastk_period=n,
    )
    feature(
        f"stoch_d_{n}",
        lambda p, n=n: native.stoch(p.high, p.low, p.close, fastk_period=n, offsets=p.offsets)[1] / 100,
        HLC,
        n + 3,
        f"slow stochastic %D ({n}, 3, 3), in [0, 1]",
        bounds=UNIT,
        fastk_period=n,
    )
for n in (7, 14, 28):
    feature(
        f"willr_{n}",
        lambda p, n=n: native.willr(p.high, p.low, p.close, timeperiod=n, offsets=p.offsets) / 100,
        HLC,
        n - 1,
        f"Williams %R over {n} bars, in [-1, 0]",
        bounds=(-1.0, 0.0),
        timeperiod=n,
    )
    feature(
        f"mfi_{n}",
        lambda p, n=n: native.mfi(p.high, p.low, p.close, p.volume, timeperiod=n, offsets=p.offsets) / 100,
        HLCV,
        n,
        f"money flow index over {n} bars, in [0, 1]",
        bounds=UNIT,
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
    bounds=UNIT,
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
            bounds=UNIT,
            timeperiod=n,
        )
for n in (14, 25):
    feature(
        f"aroon_up_{n}",
        lambda p, n=n: native.aroon(p.high, p.low, timeperiod=n, offsets=p.offsets)[1] / 100,
        ["high", "low"],
        n,
        f"Aroon up over {n} bars, in [0, 1]",
        bounds=UNIT,
        timeperiod=n,
    )
    feature(
        f"aroon_down_{n}",
        lambda p, n=n: native.aroon(p.high, p.low, timeperiod=n, offsets=p.offsets)[0] / 100,
        ["high", "low"],
        n,
        f"Aroon down over {n} bars, in [0, 1]",
        bounds=UNIT,
        timeperiod=n,
    )
    feature(
        f"aroon_osc_{n}",
        lambda p, n=n: native.aroonosc(p.high, p.low, timeperiod=n, offsets=p.offsets) / 100,
        ["high", "low"],
        n,
        f"Aroon oscillator over {n} bars, in [-1, 1]",
        bounds=(-1.0, 1.0),
        timeperiod=n,
    )
