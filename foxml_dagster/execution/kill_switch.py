"""Operator switches as files under `$FOXML_HOME/trading/`, so any process can flip them.

- `KILL_SWITCH`: while it exists, every execution cycle is HALTED and cancels every working
  order first. Engage it with `engage_kill_switch` (the `foxml` command, the `kill_switch` job
  in the UI, or by creating the file); remove it with `release_kill_switch`.
- `RESUME`: a one-shot request that the next cycle clear a loss trip (daily loss, drawdown) or a
  reconciliation halt and trade again; the cycle consumes it. It never overrides the kill switch.

Both files hold JSON: who asked, when and why.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

from foxml_dagster.paths import foxml_home
from foxml_dagster.storage import write_text_atomic

__all__ = [
    "engage_kill_switch",
    "kill_switch_status",
    "release_kill_switch",
    "request_resume",
    "take_resume_request",
    "trading_dir",
]

KILL_FILE = "KILL_SWITCH"
RESUME_FILE = "RESUME"


def trading_dir(home: Path | str | None = None) -> Path:
    """`<home>/trading` (home: $FOXML_HOME by default)."""
    root = Path(home) if home is not None else foxml_home().root
    return root / "trading"


def _write(path: Path, reason: str, by: str | None) -> Path:
    note = {
        "reason": reason or "no reason given",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "by": by or getpass.getuser(),
    }
    return write_text_atomic(json.dumps(note), path)


def _read(path: Path) -> dict | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        note = json.loads(text)
    except ValueError:
        note = None
    # A flag created by hand (`touch KILL_SWITCH`) is as binding as one written here.
    return note if isinstance(note, dict) else {"reason": text.strip() or "flag file present", "at": None, "by": None}


def engage_kill_switch(reason: str = "", *, home: Path | str | None = None, by: str | None = None) -> Path:
    """Engages the kill switch: from the next execution cycle on (and in any cycle running now
    that has not checked it yet), trading is HALTED and every working order is cancelled, until
    `release_kill_switch`. Returns the flag file. Safe to call when already engaged (the note is
    replaced)."""
    return _write(trading_dir(home) / KILL_FILE, reason, by)


def release_kill_switch(*, home: Path | str | None = None) -> bool:
    """Removes the kill switch; the next cycle trades again (unless a loss trip holds). False if
    it was not engaged."""
    path = trading_dir(home) / KILL_FILE
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def kill_switch_status(*, home: Path | str | None = None) -> dict | None:
    """The kill switch's note (reason, at, by) while engaged, else None."""
    return _read(trading_dir(home) / KILL_FILE)


def request_resume(reason: str = "", *, home: Path | str | None = None, by: str | None = None) -> Path:
    """Asks the next cycle to clear a loss trip or reconciliation halt and trade again."""
    return _write(trading_dir(home) / RESUME_FILE, reason, by)


def take_resume_request(*, home: Path | str | None = None) -> dict | None:
    """The pending resume request (removed as it is taken), or None."""
    path = trading_dir(home) / RESUME_FILE
    note = _read(path)
    path.unlink(missing_ok=True)
    return note
