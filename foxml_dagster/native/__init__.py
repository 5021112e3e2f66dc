"""Fast row-loop kernels (Rust, ``foxml_dagster._native``) behind a typed numpy facade.

Import this module, not ``_native``: names, defaults, input conversion and documentation live here.
Where TA-Lib has the same indicator, the name and parameters follow TA-Lib (``timeperiod``,
``nbdev``) and so does the arithmetic, except where a docstring says otherwise.

Conventions shared by every function
------------------------------------
**Groups (symbols).** A panel of many symbols is passed as one flat array sorted by
(symbol, ts), plus ``offsets``: an int64 array of ``n_groups + 1`` group start positions that
starts at 0, never decreases, and ends at ``len(values)``. Group ``k`` is
``values[offsets[k]:offsets[k + 1]]``; empty groups are allowed. Every group is computed as if it
were its own series: no window, recursion or search ever crosses into the next group.
``offsets=None`` means one group spanning the whole array. Build offsets from a symbol column
with :func:`group_offsets`. Invalid offsets raise ``ValueError`` saying what is wrong.

**Warm-up.** Outputs have the input's length. Positions without enough history are NaN, never
back-filled, so every value is causal: it uses rows up to and including its own.

**Gaps.** A non-finite input (NaN, +inf or -inf) is a gap. Rolling windows touching a gap give
NaN. Recursive smoothers (``ema``, ``wilder``, ``rsi``) restart after a gap: the values after it
are treated as a new series with a fresh warm-up (TA-Lib instead lets one NaN poison the rest of
the series).

**Inputs.** Data arguments accept any 1-D array-like of real numbers (numpy array, list, polars
or pandas Series): integer and float32 data are converted to contiguous float64, non-contiguous
arrays (``x[::2]``) are copied; contiguous float64 arrays are used without copying. Anything
that is not 1-D, or whose dtype is not integer or float (bool, object, str, complex, datetime),
raises ``TypeError``. Window lengths and periods are integers >= 1 (``ValueError`` otherwise);
arrays that must be aligned but differ in length raise ``ValueError``.

**Threads.** Kernels release the GIL, so threads can run them in parallel. Do not mutate an
input array from another thread while a kernel reads it.
"""

from __future__ import annotations

from foxml_dagster.native._convert import FloatArray, Int8Array, Int64Array, group_offsets  # noqa: F401  (type aliases)
from foxml_dagster.native.labels import (
    CusumEvents,
    TripleBarrier,
    cusum_filter,
    trade_barrier,
    triple_barrier,
    triple_barrier_vol,
)
from foxml_dagster.native.oscillators import (
    MACD,
    adx,
    aroon,
    aroonosc,
    cci,
    dmi,
    macd,
    minus_di,
    plus_di,
    roc,
    rsi,
    stoch,
    trix,
    ultosc,
    willr,
)
from foxml_dagster.native.rolling import (
    bars_since_max,
    bars_since_min,
    correl,
    ffd_weights,
    frac_diff,
    kurt,
    maxindex,
    minindex,
    quantile,
    rank,
    rolling_beta,
    rolling_max,
    rolling_min,
    rolling_std,
    rolling_sum,
    skew,
    stddev,
    var,
    zscore,
)
from foxml_dagster.native.smoothing import (
    dema,
    ema,
    ema_recursive,
    hma,
    kama,
    sma,
    tema,
    wilder,
    wma,
)
from foxml_dagster.native.volatility import (
    Bands,
    atr,
    bbands,
    donchian,
    garman_klass,
    keltner,
    natr,
    parkinson,
    rogers_satchell,
    trange,
    yang_zhang,
)
from foxml_dagster.native.volume import (
    ad,
    adosc,
    mfi,
    obv,
    vwap,
)

__all__ = [
    "TripleBarrier",
    "ema",
    "group_offsets",
    "rolling_std",
    "rsi",
    "sma",
    "stddev",
    "CusumEvents",
    "cusum_filter",
    "trade_barrier",
    "triple_barrier",
    "triple_barrier_vol",
    "wilder",
    "MACD",
    "Bands",
    "ad",
    "adosc",
    "adx",
    "aroon",
    "aroonosc",
    "atr",
    "bars_since_max",
    "bars_since_min",
    "bbands",
    "cci",
    "correl",
    "dema",
    "dmi",
    "donchian",
    "ema_recursive",
    "ffd_weights",
    "frac_diff",
    "garman_klass",
    "hma",
    "kama",
    "keltner",
    "kurt",
    "macd",
    "maxindex",
    "mfi",
    "minindex",
    "minus_di",
    "natr",
    "obv",
    "parkinson",
    "plus_di",
    "quantile",
    "rank",
    "roc",
    "rogers_satchell",
    "rolling_beta",
    "rolling_max",
    "rolling_min",
    "rolling_sum",
    "skew",
    "stoch",
    "tema",
    "trange",
    "trix",
    "ultosc",
    "var",
    "vwap",
    "willr",
    "wma",
    "yang_zhang",
    "zscore",
]
