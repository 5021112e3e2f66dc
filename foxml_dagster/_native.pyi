"""Type stub for the Rust extension ``foxml_dagster._native`` (built from ``native_ext/``).

These are the raw kernels: data arrays must already be contiguous 1-D float64 and offsets
contiguous 1-D int64 (a non-contiguous array raises ``ValueError``, another dtype ``TypeError``).
Use :mod:`foxml_dagster.native`, which converts inputs and documents each function.
"""

import numpy as np
import numpy.typing as npt

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]
_I8 = npt.NDArray[np.int8]

def ema(values: _F64, *, timeperiod: int, offsets: _I64 | None = None) -> _F64: ...
def wilder(values: _F64, *, timeperiod: int, offsets: _I64 | None = None) -> _F64: ...
def rsi(close: _F64, *, timeperiod: int, offsets: _I64 | None = None) -> _F64: ...
def sma(values: _F64, *, timeperiod: int, offsets: _I64 | None = None) -> _F64: ...
def stddev(values: _F64, *, timeperiod: int, nbdev: float, offsets: _I64 | None = None) -> _F64: ...
def rolling_std(values: _F64, *, window: int, ddof: int, offsets: _I64 | None = None) -> _F64: ...
def triple_barrier(
    close: _F64,
    upper: _F64,
    lower: _F64,
    *,
    horizon: int,
    offsets: _I64 | None = None,
) -> tuple[_I64, _F64, _I8]: ...
def trade_barrier(
    close: _F64,
    profit: _F64,
    stop: _F64,
    vertical: _I64,
    *,
    high: _F64 | None = None,
    low: _F64 | None = None,
    open: _F64 | None = None,
    side: _F64 | None = None,
    offsets: _I64 | None = None,
) -> tuple[_I64, _F64, _I8]: ...
def triple_barrier_vol(
    close: _F64,
    log_close: _F64,
    *,
    horizon: int,
    vol_window: int,
    profit_mult: float,
    stop_mult: float,
    offsets: _I64 | None = None,
) -> tuple[tuple[_I64, _F64, _I8], _F64]: ...
def cusum_filter(values: _F64, threshold: _F64, *, offsets: _I64 | None = None) -> tuple[_I64, _I8]: ...
