"""Input conversion and validation shared by the kernels' wrappers, plus :func:`group_offsets`."""

from __future__ import annotations

import operator

import numpy as np
import numpy.typing as npt

__all__ = ["FloatArray", "Int64Array", "Int8Array", "group_offsets"]

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]
Int8Array = npt.NDArray[np.int8]

_REAL_KINDS = "iuf"  # numpy dtype kinds accepted as data: signed, unsigned, float
_INT64_MAX = np.iinfo(np.int64).max


def group_offsets(symbols: npt.ArrayLike) -> Int64Array:
    """Offsets of the consecutive runs of equal labels in ``symbols``.

    ``symbols`` is a 1-D array or Series of group labels (e.g. the ``symbol`` column of a frame
    sorted by (symbol, ts)). Each label must form one consecutive run; the order of the runs does
    not matter. Returns int64 ``[0, start_1, ..., start_k, len(symbols)]``, or ``[0]`` for empty
    input.

    Raises:
        ValueError: a label reappears after another label (the input is not grouped).
        TypeError: ``symbols`` is not 1-D.
    """
    labels = np.asarray(symbols)
    if labels.ndim != 1:
        raise TypeError(f"symbols must be 1-D, got an array of shape {labels.shape}")
    n = len(labels)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    starts = np.concatenate(([0], np.flatnonzero(labels[1:] != labels[:-1]) + 1))
    first_start: dict[object, int] = {}
    for start, label in zip(starts.tolist(), labels[starts].tolist(), strict=True):
        if label in first_start:
            raise ValueError(
                f"symbols are not grouped: {label!r} starts a run at row {first_start[label]} "
                f"and again at row {start}; sort the frame by (symbol, ts) first"
            )
        first_start[label] = start
    return np.append(starts, n).astype(np.int64)


def _as_series(data: npt.ArrayLike, name: str) -> FloatArray:
    """``data`` as a contiguous 1-D float64 array (no copy when it already is one)."""
    array = np.asarray(data)
    if array.dtype.kind not in _REAL_KINDS:
        raise TypeError(
            f"{name} must hold real numbers (int or float), got dtype {array.dtype}; "
            f"convert it, e.g. np.asarray({name}, dtype=np.float64)"
        )
    if array.ndim != 1:
        raise TypeError(f"{name} must be 1-D, got an array of shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float64)


def _as_width(data: npt.ArrayLike | float, name: str, n: int) -> FloatArray:
    """A barrier width array; a scalar is broadcast to ``n`` bars."""
    if np.ndim(data) == 0:
        return np.full(n, _as_series([data], name)[0])  # type: ignore[list-item]
    return _as_series(data, name)


def _as_offsets(offsets: npt.ArrayLike | None) -> Int64Array | None:
    if offsets is None:
        return None
    array = np.asarray(offsets)
    if array.dtype.kind not in "iu" and array.size > 0:  # np.asarray([]) is float64
        raise TypeError(f"offsets must hold integers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise TypeError(f"offsets must be 1-D, got an array of shape {array.shape}")
    if array.dtype.kind == "u" and array.size and int(array.max()) > _INT64_MAX:
        raise ValueError("offsets exceed the int64 range")
    return np.ascontiguousarray(array, dtype=np.int64)


def _as_int(value: int, name: str) -> int:
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def _one(kernel, values, name: str, offsets, **params) -> FloatArray:
    """Runs a single-series kernel after converting its input and integer parameters."""
    ints = {k: _as_int(v, k) for k, v in params.items()}
    return kernel(_as_series(values, name), **ints, offsets=_as_offsets(offsets))


def _aligned(named: dict[str, npt.ArrayLike]) -> list[FloatArray]:
    return [_as_series(v, k) for k, v in named.items()]


def _hlc(kernel, high, low, close, timeperiod, offsets) -> FloatArray:
    h, l_, c = _aligned({"high": high, "low": low, "close": close})
    return kernel(h, l_, c, timeperiod=_as_int(timeperiod, "timeperiod"), offsets=_as_offsets(offsets))


def _hlcv(kernel, high, low, close, volume, offsets, **params) -> FloatArray:
    h, l_, c, v = _aligned({"high": high, "low": low, "close": close, "volume": volume})
    ints = {k: _as_int(p, k) for k, p in params.items()}
    return kernel(h, l_, c, v, **ints, offsets=_as_offsets(offsets))


def _ohlc(kernel, open_, high, low, close, offsets, **params) -> FloatArray:
    o, h, l_, c = _aligned({"open": open_, "high": high, "low": low, "close": close})
    return kernel(o, h, l_, c, **params, offsets=_as_offsets(offsets))
