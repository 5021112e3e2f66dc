"""Ingest + normalize benchmark -> benchmarks/results_ingest.md.

Materializes the real `raw_bars` and `bars` assets (synthetic 1-minute bars, every symbol a
partition, one single-run backfill) in a child process with a memory budget, and reports
throughput and the child's peak RSS, which must stay under the budget. The reference, in the same
run and on the same raw files, is the least any normalizer must do: a polars streaming pass that
parses the text columns and writes typed Parquet, with no validation, quarantine or batching.

Run: .venv/bin/python benchmarks/ingest.py [--symbols 1000 --bars 50000 --budget-mb 4096]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXPERIMENT = """\
data:
  source: synthetic
  synthetic: {{n_symbols: {symbols}, n_bars: {bars}, interval: 1min, seed: 11, start: 2024-01-02}}
  memory_budget_mb: {budget}
"""


def materialize(home: Path, symbols: int, bars: int, budget: int) -> dict:
    """In the child: ingest and normalize every symbol in one run; time, rows and peak RSS."""
    os.environ["FOXML_HOME"] = str(home)
    config = home / "experiment.yaml"
    config.write_text(EXPERIMENT.format(symbols=symbols, bars=bars, budget=budget))
    os.environ["FOXML_CONFIG"] = str(config)
    import dagster as dg

    from assets.partitions import range_tags, symbol_partitions
    from foxml_dagster.data.synthetic import symbol_names
    from foxml_dagster.definitions import build_definitions

    defs = build_definitions()
    names = symbol_names(symbols)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions.name, names)
    started = time.perf_counter()
    result = dg.materialize(
        list(defs.assets),  # type: ignore[arg-type]
        selection=["raw_bars", "bars", "bars_quarantine", "bars_coverage"],
        resources=defs.resources,
        instance=instance,
        tags=range_tags(names),
    )
    seconds = time.perf_counter() - started
    assert result.success
    steps = {}
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        steps[event.asset_key.to_user_string()] = {k: v.value for k, v in meta.items() if k != "dagster/column_schema"}
    rows = steps["bars"]["dagster/row_count"]
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": _peak_rss_mb(), "quarantined": steps["bars_quarantine"]}


def reference(home: Path) -> dict:
    """In the child: parse the same raw files to typed Parquet with polars streaming, nothing else."""
    import polars as pl

    raw = pl.scan_parquet(home / "lake" / "ingest" / "raw_bars" / "*.parquet")
    started = time.perf_counter()
    typed = raw.select(
        "symbol",
        pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", time_unit="us", strict=False),
        *(pl.col(c).cast(pl.Float64, strict=False) for c in ("open", "high", "low", "close", "volume")),
    )
    out = home / "reference.parquet"
    typed.sink_parquet(out)
    seconds = time.perf_counter() - started
    rows = pl.scan_parquet(out).select(pl.len()).collect().item()
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=os.environ | {"FOXML_RAY": "0"}
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_results(path: Path, args, run: dict, ref: dict) -> None:
    rows = run["rows"]
    quarantined = {k: v for k, v in run["quarantined"].items() if k.startswith("quarantined/")}
    lines = [
        "# Ingest + normalize benchmark",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}. "
        f"Written by `make bench` (benchmarks/ingest.py) on {time.strftime('%Y-%m-%d')}.",
        "",
        f"Synthetic 1-minute bars, {args.symbols} symbols x {args.bars} bars = {rows:,} clean rows (the "
        "generator drops ~2% of slots as missing bars and halts), each symbol a partition, one run. "
        f"`data.memory_budget_mb: {args.budget_mb}`.",
        "",
        "| step | seconds | rows/s | peak RSS (MB) | budget (MB) | within budget |",
        "|---|---:|---:|---:|---:|---|",
        f"| raw_bars + bars (Dagster assets, in-process) | {run['seconds']:.1f} | {rows / run['seconds']:,.0f} | "
        f"{run['peak_rss_mb']:,.0f} | {args.budget_mb} | {'yes' if run['peak_rss_mb'] <= args.budget_mb else 'NO'} |",
        f"| reference: polars streaming parse of the raw files | {ref['seconds']:.1f} | "
        f"{ref['rows'] / ref['seconds']:,.0f} | {ref['peak_rss_mb']:,.0f} | | |",
        "",
        f"The asset pair includes generating the bars, writing them as text, and every validation rule; "
        f"the reference only parses. Ratio asset time / reference time: {run['seconds'] / ref['seconds']:.1f}.",
        "",
        f"Quarantine counts: {json.dumps(quarantined)}",
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--bars", type=int, default=50_000)
    parser.add_argument("--budget-mb", type=int, default=4096)
    parser.add_argument("--child", choices=["materialize", "reference"])
    parser.add_argument("--home", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results_ingest.md")
    args = parser.parse_args()
    if args.child == "materialize":
        print(json.dumps(materialize(args.home, args.symbols, args.bars, args.budget_mb), default=str))
        return
    if args.child == "reference":
        print(json.dumps(reference(args.home)))
        return
    with tempfile.TemporaryDirectory(prefix="foxml-bench-") as tmp:
        home = Path(tmp)
        common = ["--home", str(home), "--symbols", str(args.symbols), "--bars", str(args.bars)]
        run = in_child("--child", "materialize", *common, "--budget-mb", str(args.budget_mb))
        ref = in_child("--child", "reference", *common)
    write_results(args.out, args, run, ref)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
