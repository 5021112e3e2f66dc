"""What `foxml` prints: text for people (rich tables, live step progress) or JSON lines for machines.

Logs, progress, warnings and errors go to stderr; a command's result (the run summary, a query's
rows, the status table) goes to stdout, so `foxml run > summary.txt` keeps only the summary.
With `--log-format json` every line on either stream is one JSON object carrying the run id
(null before a run exists).
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

# Width for text that is not going to a terminal (CI logs, files, pipes): wide enough that the
# summary's tables are never folded.
PIPE_WIDTH = 120
POLL_S = 0.5


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


class Output:
    """One command's printer; `verbosity` is -1 (--quiet), 0, or 1 (--verbose)."""

    def __init__(self, *, log_format: str = "text", verbosity: int = 0):
        self.json = log_format == "json"
        self.verbosity = verbosity
        self.run_id: str | None = None
        self._stderr: tuple[object, TextIO] | None = None

    def stderr(self) -> TextIO:
        """stderr as it was when the command started. An in-process run captures each step's
        output by pointing file descriptors 1 and 2 at its compute log files, which would swallow
        progress written while a step runs; a duplicate of the original descriptor is not moved."""
        stream = sys.stderr
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            return stream  # not a real file (pytest's capture): nothing redirects it
        if self._stderr is None or self._stderr[0] is not stream:
            stream.flush()
            self._stderr = (stream, os.fdopen(os.dup(fd), "w", buffering=1, encoding=stream.encoding or "utf-8"))
        return self._stderr[1]

    # Consoles are built on each use: tests and callers may swap sys.stdout / sys.stderr.
    def console(self, *, err: bool) -> Console:
        stream = self.stderr() if err else sys.stdout
        terminal = stream.isatty()
        return Console(file=stream, width=None if terminal else PIPE_WIDTH, soft_wrap=not terminal, highlight=False)

    def _record(self, level: str, message: str, **fields: Any) -> str:
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "run_id": self.run_id,
            "message": message,
            **{k: _plain(v) for k, v in fields.items()},
        }
        return json.dumps(record, default=str)

    def log(self, message: str, *, level: str = "info", **fields: Any) -> None:
        """A line on stderr: shown unless --quiet (warnings and errors always)."""
        if level == "info" and self.verbosity < 0:
            return
        if level == "debug" and self.verbosity < 1:
            return
        if self.json:
            print(self._record(level, message, **fields), file=self.stderr(), flush=True)
        else:
            prefix = {"warning": "foxml: warning: ", "error": "foxml: "}.get(level, "foxml: ")
            print(f"{prefix}{message}", file=self.stderr(), flush=True)

    def warning(self, message: str, **fields: Any) -> None:
        self.log(message, level="warning", **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log(message, level="error", **fields)

    def result(self, renderables: Iterable[Any], data: dict[str, Any]) -> None:
        """The command's result on stdout: the renderables as text, or `data` as one JSON line."""
        if self.json:
            print(self._record("info", data.pop("message", "result"), **data), flush=True)
            return
        console = self.console(err=False)
        for item in renderables:
            console.print(item)


class StepProgress:
    """Follows a run's step events in its event log while the run executes in this process.

    A background thread reads the run's STEP_START / STEP_SUCCESS / STEP_FAILURE records every
    half second and shows them: a live spinner per running step with its elapsed time on a
    terminal, one line per finished step otherwise, one JSON object per event with
    --log-format json. `seconds` keeps each finished step's duration for the summary.
    """

    EVENTS = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED")

    def __init__(self, instance, run_id: str, output: Output, *, label: str, total: int):
        self.instance = instance
        self.run_id = run_id
        self.output = output
        self.label = label
        self.total = total
        self.seconds: dict[str, float] = {}
        self.failed: list[str] = []
        self._started_at: dict[str, float] = {}
        self._cursor: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="foxml-progress", daemon=True)
        self._begun = time.monotonic()
        self._live: Progress | None = None
        self._tasks: dict[str, Any] = {}
        self._overall = None

    def __enter__(self) -> StepProgress:
        console = self.output.console(err=True)
        if not self.output.json and self.output.verbosity >= 0 and console.is_terminal:
            self._live = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("{task.fields[count]}"),  # steps done of all, on the job's line only
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._live.start()
            self._overall = self._live.add_task(f"[bold]{self.label}", total=None, count=f"0/{self.total}")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()  # the events written after the last tick
        if self._live is not None:
            self._live.stop()

    def _follow(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self._poll()
            except Exception as exc:  # noqa: BLE001 - progress must never break the run it follows
                self.output.log(f"progress display stopped: {exc}", level="debug")
                return

    def _poll(self) -> None:
        import dagster as dg

        while True:
            page = self.instance.get_records_for_run(
                self.run_id,
                cursor=self._cursor,
                of_type={dg.DagsterEventType[name] for name in self.EVENTS},
                limit=500,
            )
            for record in page.records:
                entry = record.event_log_entry
                self._show(entry.dagster_event.event_type_value, entry.step_key or "", entry.timestamp)
            self._cursor = page.cursor
            if not page.has_more:
                return

    def _show(self, kind: str, step: str, at: float) -> None:
        elapsed = time.monotonic() - self._begun
        out = self.output
        if kind == "STEP_START":
            self._started_at[step] = at
            if self._live is not None:
                self._tasks[step] = self._live.add_task(f"  {step}", total=None, count="")
            else:
                out.log(f"[{elapsed:7.1f}s] started {step}", level="debug", event="step_start", step=step)
            return
        seconds = at - self._started_at.get(step, at)
        self.seconds[step] = seconds
        done = len(self.seconds)
        mark = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED", "STEP_SKIPPED": "skipped"}[kind]
        if kind == "STEP_FAILURE":
            self.failed.append(step)
        event = {"STEP_SUCCESS": "step_success", "STEP_FAILURE": "step_failure", "STEP_SKIPPED": "step_skipped"}[kind]
        if self._live is not None:
            task = self._tasks.pop(step, None)
            if task is not None:
                self._live.remove_task(task)
            self._live.update(self._overall, count=f"{done}/{self.total}")
            style = {"done": "green", "FAILED": "bold red", "skipped": "yellow"}[mark]
            self._live.console.print(f"[{style}]{mark:>7}[/] {step:<34} {seconds:7.1f}s   ({done}/{self.total})")
        elif out.json:
            out.log(
                f"{step} {mark}",
                level="error" if kind == "STEP_FAILURE" else "info",
                event=event,
                step=step,
                seconds=round(seconds, 3),
                elapsed=round(elapsed, 1),
                done=done,
                total=self.total,
            )
        else:
            out.log(
                f"[{elapsed:7.1f}s] {mark:>7} {step:<34} {seconds:7.1f}s   ({done}/{self.total})",
                level="error" if kind == "STEP_FAILURE" else "info",
            )
