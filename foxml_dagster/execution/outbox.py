"""The outbox: orders written down before they are sent, so a crash cannot hide one.

The journal is stored when a cycle ends. A process killed after it sent an order but before
the cycle ended would leave the order at the broker and nowhere in the journal; the restarted
cycle would then see an order it does not know (a reconciliation halt) or, worse, plan it again
under another id. So every order the risk engine accepted is appended here, and flushed to
disk, before the first one is sent. The next cycle compares the outbox with the stored journal:

- an entry the journal holds was journaled by a cycle that finished: it is dropped;
- an entry the journal lacks was sent (or was about to be) by a cycle that did not finish: the
  cycle asks the broker for it by client order id and journals what the broker says, before it
  reconciles or plans anything. Fills follow in the usual sync. An entry the broker has never
  seen is journaled as rejected ("never reached the broker").

One JSON line per order, in `$FOXML_HOME/trading/<account>.outbox.jsonl`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable
from datetime import datetime
from pathlib import Path

from foxml_dagster.storage import write_text_atomic

__all__ = ["Outbox", "outbox_path"]

_TIMESTAMPS = ("signal_ts", "event_ts")


def outbox_path(home: Path, account: str) -> Path:
    return home / "trading" / f"{account}.outbox.jsonl"


class Outbox:
    """Orders about to be sent (see the module docstring). `path=None` keeps them in memory,
    which protects nothing across processes (tests and in-process runs)."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._memory: list[dict] = []

    def record(self, rows: Iterable[dict]) -> None:
        """Appends the orders and forces them to disk before returning."""
        rows = list(rows)
        if not rows:
            return
        if self.path is None:
            self._memory.extend(rows)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(_encode(row), sort_keys=True) + "\n" for row in rows)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())

    def pending(self) -> list[dict]:
        """Every entry, oldest first. A torn last line (the process died while writing it) is
        skipped: that order was not sent, because sending waits for the write."""
        if self.path is None:
            return list(self._memory)
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        rows = []
        for line in text.splitlines():
            try:
                rows.append(_decode(json.loads(line)))
            except ValueError:
                continue
        return rows

    def settle(self, journaled: Collection[str]) -> None:
        """Drops the entries whose client order id the stored journal holds."""
        keep = [row for row in self.pending() if row["client_order_id"] not in journaled]
        if self.path is None:
            self._memory = keep
            return
        if not keep:
            self.path.unlink(missing_ok=True)
            return
        write_text_atomic("".join(json.dumps(_encode(r), sort_keys=True) + "\n" for r in keep), self.path)


def _encode(row: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _decode(row: dict) -> dict:
    return {k: datetime.fromisoformat(v) if k in _TIMESTAMPS and v else v for k, v in row.items()}
