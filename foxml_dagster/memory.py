"""Memory control: whole-symbol batches sized from a budget, and the peak memory a step used."""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path


def whole_group_batches(counts: Sequence[int], max_rows: int | None) -> Iterator[int]:
    """Group counts of consecutive batches of whole groups with at most `max_rows` rows each.

    A group larger than `max_rows` is a batch of its own: a symbol cannot be split, since its
    windows and de-duplication need all its rows. Without a limit: one batch of everything.
    """
    if max_rows is None:
        yield len(counts)
        return
    groups = rows = 0
    for count in counts:
        if groups and rows + count > max_rows:
            yield groups
            groups = rows = 0
        groups += 1
        rows += count
    if groups:
        yield groups


def rows_within(budget_mb: float, bytes_per_row: float) -> int:
    """How many rows fit the budget when each costs `bytes_per_row` at its peak."""
    return max(1, int(budget_mb * 2**20 / bytes_per_row))


def current_rss_mb() -> float:
    """This process's resident set now, in MiB (Linux /proc; elsewhere the peak, an upper bound)."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return peak_rss_mb()
    return round(resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def budget_left_mb(budget_mb: float, *, floor_mb: float = 64) -> float:
    """What a step may still allocate when the whole process must stay within `budget_mb`: the
    interpreter, Dagster and the libraries already resident count against it."""
    return max(floor_mb, budget_mb - current_rss_mb())


def peak_rss_mb() -> float:
    """The largest resident set this process has had, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)
