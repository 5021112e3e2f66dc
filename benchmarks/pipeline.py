"""Whole-pipeline benchmark -> benchmarks/results_pipeline.md.

Runs `foxml run` (every asset of full_pipeline, in-process executor, local Ray for training) on the
synthetic source with the standard feature set, LightGBM + logistic and purged 5-fold, at several
panel sizes (symbols x 10,000 5-minute bars on the XNYS calendar), each in a fresh FOXML_HOME and
a fresh process. While it runs, the process tree (the run and every Ray worker it starts) is
sampled every 0.5 s for its memory (PSS; reading it costs the sampler CPU); per-stage wall time comes from the run's own
step events, and each stage's peak is the tree's peak while that step ran.

Targets (issue 14, on the 2-core, 24 GB development machine): 1M rows in under 10 minutes with a
peak under 6 GB; 10M rows completing under 16 GB; each stage growing no worse than linearly
(10M within 12x of 1M). The file states each, met or missed and by how much.

Run: .venv/bin/python benchmarks/pipeline.py [--sizes 1000000,3000000,10000000] [--bars 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results_pipeline.md"

EXPERIMENT = """\
data:
  source: synthetic
  symbols: []
  sessions: {{calendar: XNYS, interval: 5min}}
  synthetic: {{n_symbols: {symbols}, n_bars: {bars}, interval: 5min, seed: 11, start: 2025-01-02}}
features: {{set: standard}}
splits: {{method: purged_kfold, n_folds: 5, embargo_pct: 0.01}}
training:
  seed: 7
  families:
    lightgbm: {{variant: balanced}}
    logistic: {{variant: balanced}}
"""

TARGET_1M_SECONDS = 600
TARGET_1M_MB = 6 * 1024
TARGET_10M_MB = 16 * 1024
TARGET_GROWTH = 12.0


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """Proportional set size of a process and all its descendants, from /proc (Linux 4.14+).

    PSS, not RSS: Ray's workers map the object store's shared memory, and forked step processes
    share pages with their parent, so summed RSS would count the same pages once per process.
    PSS splits each shared page among the processes mapping it, so the sum is what the tree
    takes from the machine. Returns (PSS, summed RSS), in MB."""
    pss = rss = 0
    stack, seen = [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
            pss += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
            rss += next(int(line.split()[1]) for line in rollup if line.startswith("Rss:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration, PermissionError):
            continue
    return pss / 1024, rss / 1024


class Sampler(threading.Thread):
    """Samples the tree's memory until stopped: a list of (unix time, PSS MB, summed RSS MB)."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every, self.samples = pid, every, []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append((time.time(), *tree_memory_mb(self.pid)))
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def step_windows(home: Path, run_id: str) -> list[tuple[str, float, float]]:
    """(step, start, end) in unix seconds from the run's event log, in start order."""
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    import dagster as dg

    instance = dg.DagsterInstance.get()
    starts, ends = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or record.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[record.step_key] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[record.step_key] = record.timestamp
    return sorted(((k, starts[k], ends.get(k, starts[k])) for k in starts), key=lambda w: w[1])


def run_size(symbols: int, bars: int, keep: bool, run_args: list[str]) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"foxml-bench-{symbols}-"))
    config = home / "experiment.yaml"
    config.write_text(EXPERIMENT.format(symbols=symbols, bars=bars))
    env = {**os.environ, "FOXML_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "FOXML_CONFIG": str(config)}
    env.pop("FOXML_RAY", None)  # the default: a local Ray for training, as a user gets it
    log = home / "run.log"
    started = time.time()
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", "run", *run_args], cwd=ROOT, env=env, stdout=out, stderr=out
        )
        sampler = Sampler(child.pid)
        sampler.start()
        code = child.wait()
        sampler.stop()
    wall = time.time() - started
    text = log.read_text()
    run_id = _run_id(text)
    windows = step_windows(home, run_id) if run_id else []
    stages = []
    for step, a, b in windows:
        inside = [pss for t, pss, _ in sampler.samples if a <= t <= b]
        stages.append({"step": step, "seconds": b - a, "peak_mb": max(inside, default=float("nan"))})
    rows = _rows(home)
    result = {
        "symbols": symbols,
        "bars": bars,
        "rows": rows,
        "ok": code == 0,
        "wall_s": wall,
        "peak_mb": max((pss for _, pss, _ in sampler.samples), default=float("nan")),
        "peak_rss_mb": max((rss for _, _, rss in sampler.samples), default=float("nan")),
        "stages": stages,
        "log_tail": text[-1500:] if code else "",
    }
    if not keep:
        subprocess.run(["rm", "-rf", str(home)], check=False)
    return result


def _run_id(text: str) -> str | None:
    for line in text.splitlines():
        if "(run " in line:
            return line.split("(run ")[1].split(")")[0].strip()
        if line.startswith("run ") and " failed after " in line:
            return line.split()[1]
    return None


def _rows(home: Path) -> int | None:
    catalog = home / "catalog.duckdb"
    if not catalog.exists():
        return None
    import duckdb

    with duckdb.connect(str(catalog), read_only=True) as con:
        try:
            return int(con.execute("SELECT count(*) FROM bars").fetchone()[0])
        except duckdb.Error:
            return None


def _revision() -> str:
    """The commit, with -dirty when code differs from it (this benchmark's own results file,
    left by an earlier size or run, does not count)."""
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", f":!{RESULTS.relative_to(ROOT)}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return (done.stdout.strip() or "unknown revision") + ("-dirty" if changed.stdout.strip() else "")


def _fmt_mb(mb: float) -> str:
    return "n/a" if mb != mb else f"{mb / 1024:.2f} GB"


def write_results(results: list[dict], args: argparse.Namespace) -> None:
    load = os.getloadavg()
    lines = [
        "# Whole-pipeline benchmark",
        "",
        "Written by `benchmarks/pipeline.py`; every number below was measured by that run.",
        "",
        f"`foxml run{' ' + args.run_args if args.run_args else ''}` on the synthetic source "
        f"(symbols x {args.bars:,} 5-minute XNYS bars), standard feature "
        "set, LightGBM + logistic, purged 5-fold, local Ray. Memory is the whole process tree's (the run, "
        "its step processes and Ray workers), sampled every 0.5 s: peak PSS (each shared page split among the "
        "processes that map it: what the tree takes from the machine) and, for reference, peak summed RSS "
        "(which counts Ray's shared object store and pages shared by forked processes once per process). "
        "A step's peak is the tree's while it ran, including any step running beside it.",
        "",
        f"Code: {_revision()}. Machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}; "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. Date: {time.strftime('%Y-%m-%d')}.",
        "",
        "| panel | bars | completed | wall | peak PSS | peak summed RSS |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        rows = f"{r['rows']:,}" if isinstance(r["rows"], int) else "n/a"
        lines.append(
            f"| {r['symbols']} x {args.bars:,} | {rows} | {'yes' if r['ok'] else 'NO'} | "
            f"{r['wall_s'] / 60:.1f} min | {_fmt_mb(r['peak_mb'])} | {_fmt_mb(r['peak_rss_mb'])} |"
        )
    lines += ["", "## Targets", ""]
    lines += _targets(results)
    steps = sorted({s["step"] for r in results for s in r["stages"]}, key=_order(results))
    lines += ["", "## Per stage", "", "| step | " + " | ".join(f"{r['symbols']} sym: s / peak" for r in results) + " |"]
    lines.append("|---|" + "---|" * len(results))
    for step in steps:
        cells = []
        for r in results:
            s = next((s for s in r["stages"] if s["step"] == step), None)
            cells.append("" if s is None else f"{s['seconds']:.1f} s / {_fmt_mb(s['peak_mb'])}")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    for r in results:
        if r["log_tail"]:
            tail = ["```", r["log_tail"], "```"]
            lines += ["", f"Run of {r['symbols']} symbols failed; the end of its output:", "", *tail]
    RESULTS.write_text("\n".join(lines) + "\n")


def _order(results: list[dict]):
    first = {}
    for r in results:
        for i, s in enumerate(r["stages"]):
            first.setdefault(s["step"], i)
    return lambda step: first.get(step, 1_000)


def _slowest(result: dict, n: int = 3) -> str:
    stages = sorted(result["stages"], key=lambda s: -s["seconds"])[:n]
    return ", ".join(f"{s['step']} {s['seconds']:.0f} s" for s in stages)


def _at_peak(result: dict) -> str:
    """The steps whose window holds the run's peak sample (a step's peak is the tree's while it ran)."""
    sampled = [s for s in result["stages"] if s["peak_mb"] == s["peak_mb"]]  # NaN: no sample inside
    top = max((s["peak_mb"] for s in sampled), default=0)
    return " and ".join(s["step"] for s in sampled if s["peak_mb"] >= top - 1) or "between steps"


def _targets(results: list[dict]) -> list[str]:
    by_rows = sorted(results, key=lambda r: r["symbols"])
    small, large = by_rows[0], by_rows[-1]
    out = []
    minutes = small["wall_s"] / 60
    met = small["ok"] and small["wall_s"] <= TARGET_1M_SECONDS
    out.append(
        f"- {small['symbols']} symbols in under {TARGET_1M_SECONDS // 60} minutes: "
        f"{'met' if met else 'missed'} ({minutes:.1f} min, {minutes / (TARGET_1M_SECONDS / 60):.2f}x the target)"
        + ("" if met else f"; slowest steps: {_slowest(small)}")
    )
    met = small["ok"] and small["peak_mb"] <= TARGET_1M_MB
    out.append(
        f"- {small['symbols']} symbols under {TARGET_1M_MB / 1024:.0f} GB peak PSS: {'met' if met else 'missed'} "
        f"({_fmt_mb(small['peak_mb'])}, {small['peak_mb'] / TARGET_1M_MB:.2f}x the target)"
        + ("" if met else f"; running at the peak: {_at_peak(small)}")
    )
    if large is not small:
        met = large["ok"] and large["peak_mb"] <= TARGET_10M_MB
        out.append(
            f"- {large['symbols']} symbols completing under {TARGET_10M_MB / 1024:.0f} GB: "
            f"{'met' if met else 'missed'} (completed: {'yes' if large['ok'] else 'no'}, {_fmt_mb(large['peak_mb'])})"
        )
        scale = large["symbols"] / small["symbols"]
        worst = []
        for s in small["stages"]:
            other = next((o for o in large["stages"] if o["step"] == s["step"]), None)
            if other is not None and s["seconds"] > 1:
                worst.append((other["seconds"] / s["seconds"], s["step"]))
        if worst:
            ratio, step = max(worst)
            bound = TARGET_GROWTH * scale / 10
            out.append(
                f"- every stage within {bound:.1f}x of its {small['symbols']}-symbol time at {scale:.0f}x the rows: "
                f"{'met' if ratio <= bound else 'missed'} (worst: {step}, {ratio:.1f}x)"
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,3000000,10000000", help="panel sizes in bars (comma-separated)")
    parser.add_argument("--bars", type=int, default=10_000, help="bar slots per symbol")
    parser.add_argument("--keep", action="store_true", help="keep each run's FOXML_HOME (printed)")
    parser.add_argument("--run-args", default="", help="more arguments for `foxml run`, e.g. --in-process")
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        symbols = max(1, size // args.bars)
        print(f"pipeline benchmark: {symbols} symbols x {args.bars} bars ...", flush=True)
        result = run_size(symbols, args.bars, args.keep, args.run_args.split())
        print(json.dumps({k: v for k, v in result.items() if k != "stages"}, default=str), flush=True)
        results.append(result)
        write_results(results, args)  # after each size, so a long run leaves what it measured
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
