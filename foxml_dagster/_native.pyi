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
