"""Windowed inputs for sequence models: each sample sees its own symbol's last `window` bars.

The panel is sorted by (symbol, ts) and `offsets` marks where each symbol starts, so the window
of row r is rows r-window+1 .. r of the same symbol: bars at or before the sample's own `ts`
(never later) and never another symbol's bars. Rows near a symbol's start, with fewer than
`window` bars of history, are padded by repeating that symbol's first row: an uninformative
constant history rather than a neighbour's data or zeros that the scaler would read as signal.

Windows read feature rows only (features are causal, see DESIGN.md), never labels, so a window
that reaches back into another fold's period reveals no outcome; the purge and embargo of the
folds keep label spans apart. Keep `splits.embargo_pct` at least a window long.
"""

from __future__ import annotations

import numpy as np

__all__ = ["group_offsets", "make_windows"]


def group_offsets(symbols: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in `symbols` (sorted by symbol), plus len at the end."""
    symbols = np.asarray(symbols)
    if len(symbols) == 0:
        return np.zeros(1, dtype=np.int64)
    change = np.flatnonzero(symbols[1:] != symbols[:-1]) + 1
    return np.concatenate([[0], change, [len(symbols)]]).astype(np.int64)


def make_windows(values: np.ndarray, offsets: np.ndarray, rows: np.ndarray, window: int) -> np.ndarray:
    """Windows of `values` (N, k) ending at each of `rows`: float array (len(rows), window, k).

    `offsets` are the group starts from `group_offsets` (first 0, last N). The window's last step
    is the row itself, so `make_windows(...)[:, -1, :] == values[rows]`.
    """
    values = np.asarray(values)
    offsets = np.asarray(offsets, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (rows, features), got shape {values.shape}")
    if offsets[0] != 0 or offsets[-1] != len(values) or (np.diff(offsets) < 0).any():
        raise ValueError("offsets must start at 0, end at len(values) and not decrease")
    if len(rows) and (rows.min() < 0 or rows.max() >= len(values)):
        raise ValueError("rows out of range of values")
    start = offsets[np.searchsorted(offsets, rows, side="right") - 1]
    idx = rows[:, None] + np.arange(-window + 1, 1)[None, :]
    idx = np.maximum(idx, start[:, None])
    return values[idx]
