"""`foxml`: the command line around the Dagster instance in FOXML_HOME.

  foxml run [--set FIELD=VALUE]...   materialize the whole graph over every symbol, with live
                                     progress, then a summary (with data.windows, the missing
                                     windows are fetched first)
  foxml validate                     check the experiment file; every error at once
  foxml status                       each asset: last materialization, freshness, failing checks
  foxml report [--open]              the tearsheet (printed, or opened in a browser)
  foxml query "SQL"                  a read-only query on the DuckDB catalog
  foxml kill-switch engage|release|status|resume [--reason TEXT]
  foxml register [--tags]            add the source's symbols as partitions (and print run tags)
  foxml ui [--host H] [--port P]     Dagster webserver + daemon (what `make ui` runs)

Global options come before the command: --config FILE (instead of FOXML_CONFIG), --verbose
(Dagster's own logs, tracebacks), --quiet (only the result and errors), --log-format json (one
JSON object per line, each with the run id), --version.

Exit codes: 0 success; 1 a failed run, an invalid experiment, a failed query or another error
(one line saying what and where; the traceback only with --verbose); 2 a command-line mistake;
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from foxml_dagster.paths import REPO_ROOT, foxml_home
from jobs.output import Output
from jobs.run_report import failure_report, first_line, print_summary, run_log

INSTANCE_SETTINGS = REPO_ROOT / "configs" / "dagster.yaml"
UI_STOP_TIMEOUT_S = 20


class CliError(Exception):
    """A mistake the user can fix, with the message that says how; printed without a traceback."""


# ---------------------------------------------------------------------------------------------
# The instance and symbol registration
# ---------------------------------------------------------------------------------------------


@contextmanager
def _home_lock() -> Iterator[None]:
    """Held while the instance's storage is created and symbols are registered: two `foxml`
    commands started at once on a fresh FOXML_HOME would otherwise both create the SQLite
    schema or insert the same partitions, and one would die on a unique constraint."""
    import fcntl

    path = foxml_home().root / ".foxml.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _instance():
    import dagster as dg

    layout = foxml_home()
    home = os.environ.setdefault("DAGSTER_HOME", str(layout.dagster_home))
    with _home_lock():
        os.makedirs(home, exist_ok=True)
        settings = os.path.join(home, "dagster.yaml")
        if not os.path.exists(settings):
            shutil.copyfile(INSTANCE_SETTINGS, settings)
        return dg.DagsterInstance.get()


def register_symbols(instance) -> list[str]:
    """Add the configured source's symbols as partitions; return all registered, in order.

    Safe to run from several processes at once: `foxml` commands take a lock under FOXML_HOME,
    and a writer that does not (the daemon adding partitions for a sensor) can only make our
    insert lose a unique-constraint race, after which the symbols are read back, not re-added."""
    from sqlalchemy.exc import IntegrityError

    from assets.partitions import symbol_partitions
    from foxml_dagster.config import load_experiment
    from resources.sources import make_source

    cfg = load_experiment()
    found = make_source(cfg.data, foxml_home().root).symbols()
    name = symbol_partitions.name
    with _home_lock():
        for attempt in range(3):
            known = set(instance.get_dynamic_partitions(name))
            new = [s for s in found if s not in known]
            if not new:
                break
            try:
                instance.add_dynamic_partitions(name, new)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        return list(instance.get_dynamic_partitions(name))


def cmd_register(args, out: Output) -> int:
    from assets.partitions import range_tags

    symbols = register_symbols(_instance())
    if args.tags:
        print(json.dumps(range_tags(symbols)))
    else:
        out.result([f"{len(symbols)} symbol partitions: {', '.join(symbols)}"], {"symbols": symbols})
    return 0


# ---------------------------------------------------------------------------------------------
# foxml run
# ---------------------------------------------------------------------------------------------


def parse_overrides(assignments: list[str]) -> dict[str, object]:
    """`--set` values: experiment fields (`splits.n_folds=3`, run config for this run) and model
    family parameters (`training.families.lightgbm.n_estimators=50`, set as FOXML_MODEL__ vars,
    which foxml_dagster.training.config applies above the experiment file). Returns the former."""
    import yaml

    from resources.home import OVERRIDABLE

    fields: dict[str, object] = {}
    for item in assignments:
        path, sep, text = item.partition("=")
        path = path.strip()
        parts = path.split(".")
        if sep and len(parts) == 4 and parts[:2] == ["training", "families"]:
            os.environ[f"FOXML_MODEL__{parts[2].upper()}__{parts[3].upper()}"] = text
        elif sep and path in OVERRIDABLE:
            value = yaml.safe_load(text) if text.strip() else None
            # Dates and names stay text: the experiment's own validation reads them.
            fields[path] = value if isinstance(value, bool | int | float) else text
        else:
            raise CliError(
                f"--set {item!r}: expected FIELD=VALUE with FIELD one of {', '.join(OVERRIDABLE)}, or "
                "training.families.<family>.<param>; change other settings in the experiment file"
            )
    return fields


def overrides_run_config(fields: dict[str, object]) -> dict:
    """Run config that sets these experiment fields on the `experiment` resource."""
    if not fields:
        return {}
    sections: dict[str, dict] = {}
    for dotted, value in fields.items():
        section, _, rest = dotted.partition(".")
        sections.setdefault(section, {})[rest.replace(".", "__")] = value
    return {"resources": {"experiment": {"config": {"overrides": sections}}}}


def _console_logs(verbosity: int) -> dict:
    # Dagster's console logger prints every step failure with its stack trace; the run's own
    # warnings and failures are reported by foxml from the event log, so it stays silent unless
    # --verbose asks for Dagster's own view.
    level = "INFO" if verbosity > 0 else "CRITICAL"
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def cmd_run(args, out: Output) -> int:
    from assets.partitions import range_tags
    from foxml_dagster.config import load_experiment
    from foxml_dagster.definitions import build_definitions
    from jobs.coordinator import run_tags
    from jobs.execute import execute_job

    # After the imports: the config module builds its default sections when it is imported,
    # and a bad override must fail in load_experiment, which names it, not in that import.
    fields = parse_overrides(args.set or [])
    load_experiment(overrides=fields)  # a bad value stops here, naming the field
    run_config = overrides_run_config(fields) | _console_logs(out.verbosity)

    defs = build_definitions()
    instance = _instance()
    symbols = register_symbols(instance)
    if not symbols:
        raise CliError("no symbols found in the configured source; check data.* in the experiment file")
    started = time.perf_counter()
    result, progress = _fetch_windows(defs, instance, symbols, run_config, out, in_process=args.in_process)
    if result is None or result.success:
        job = defs.resolve_job_def("full_pipeline")
        out.run_id = str(uuid.uuid4())
        out.log(
            f"running full_pipeline over {len(symbols)} symbols ({', '.join(symbols)}) as run {out.run_id}",
            event="run_start",
            job="full_pipeline",
            symbols=symbols,
        )
        tags = range_tags(symbols) | run_tags(run_config)
        with StepProgressFor(instance, out, job) as progress:
            result = execute_job(
                job, instance, run_config, tags, out.run_id, in_process=args.in_process, quiet_steps=out.verbosity <= 0
            )
    seconds = time.perf_counter() - started
    out.run_id = result.run_id
    warnings, skipped = run_log(instance, result.run_id)
    for step, message in warnings:
        out.warning(f"{step}: {message}", step=step)
    if not result.success:
        lines = failure_report(result, seconds, skipped)
        if out.json:
            out.error(lines[0].removeprefix("foxml: "), event="run_failure", details=lines[1:])
        else:
            print("\n".join(lines), file=out.stderr())
        return 1
    print_summary(result, seconds, out, progress.seconds if progress else {})
    return 0


def StepProgressFor(instance, out: Output, job):  # noqa: N802 - reads as the context it returns
    from jobs.output import StepProgress

    return StepProgress(instance, out.run_id, out, label=job.name, total=len(job.graph.nodes))


def _fetch_windows(defs, instance, symbols: list[str], run_config: dict, out: Output, *, in_process: bool):
    """With data.windows, fetch the windows not stored yet (as the window_fetch sensor would);
    the last run's result and progress, or (None, None) when there was nothing to fetch."""
    from assets.windows import windows_to_fetch
    from foxml_dagster.config import load_experiment
    from jobs.execute import execute_job

    data = load_experiment().data
    if data.windows is None:
        return None, None
    result, last_progress = None, None
    job = defs.resolve_job_def("window_ingest")
    for tags in windows_to_fetch(instance, data, symbols):
        first, last = tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]
        out.run_id = str(uuid.uuid4())
        out.log(f"fetching {data.windows} windows {first} .. {last} as run {out.run_id}", event="run_start")
        with StepProgressFor(instance, out, job) as progress:
            result = execute_job(
                job, instance, run_config, tags, out.run_id, in_process=in_process, quiet_steps=out.verbosity <= 0
            )
        last_progress = progress
        if not result.success:
            break
    return result, last_progress


# ---------------------------------------------------------------------------------------------
# The run summary
# ---------------------------------------------------------------------------------------------


def cmd_validate(args, out: Output) -> int:
    from foxml_dagster.config import config_path, load_experiment

    path = config_path()
    cfg = load_experiment(path)  # a ConfigError lists every error, one per line
    from foxml_dagster.definitions import build_definitions

    build_definitions()  # the code location loads with it (family assets, sources)
    facts = {
        "source": cfg.data.source,
        "symbols": ", ".join(cfg.data.symbols) or "all the source has",
        "features": cfg.features.set,
        "splits": f"{cfg.splits.method}, {cfg.splits.n_folds} folds",
        "families": ", ".join(cfg.training.families),
    }
    lines = [f"foxml: {path} is valid", *(f"  {k:<9} {v}" for k, v in facts.items())]
    out.result(lines, {"message": f"{path} is valid", "path": str(path), **facts})
    return 0


def _freshness(policy, last: float | None, now: float) -> str:
    """PASS / FAIL / UNKNOWN for a cron freshness policy: after each deadline tick, the asset must
    have been materialized within lower_bound_delta before it (Dagster's rule for the policy)."""
    from datetime import UTC, datetime

    from dagster._utils.schedules import get_latest_completed_cron_tick

    if policy is None:
        return ""
    if last is None:
        return "UNKNOWN"
    tick = get_latest_completed_cron_tick(policy.deadline_cron, datetime.fromtimestamp(now, tz=UTC), policy.timezone)
    return "PASS" if last >= tick.timestamp() - policy.lower_bound_delta.total_seconds() else "FAIL"


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def cmd_status(args, out: Output) -> int:
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
    from rich.table import Table

    from foxml_dagster.definitions import build_definitions

    instance = _instance()
    graph = build_definitions().resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: (graph.get(k).group_name or "", k.to_user_string()))
    check_keys = [ck for key in keys for ck in graph.get(key).check_keys]
    latest_checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    now = time.time()
    rows, failing = [], []
    for key in keys:
        node = graph.get(key)
        event = instance.get_latest_materialization_event(key)
        at = event.timestamp if event is not None else None
        count = None
        if event is not None and event.asset_materialization is not None:
            entry = event.asset_materialization.metadata.get("dagster/row_count")
            count = entry.value if entry is not None else None
        partitions = len(instance.get_materialized_partitions(key)) if node.is_partitioned else None
        bad = []
        for ck in node.check_keys:
            record = latest_checks.get(ck)
            if record is not None and record.status == AssetCheckExecutionRecordStatus.FAILED:
                bad.append(ck.name)
        failing += [f"{ck} on {key.to_user_string()}" for ck in bad]
        rows.append(
            {
                "asset": key.to_user_string(),
                "group": node.group_name,
                "last_materialized": at and time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)),
                "age_seconds": None if at is None else round(now - at),
                "run_id": event.run_id if event is not None else None,
                "rows": count,
                "partitions": partitions,
                "freshness": _freshness(node.freshness_policy, at, now),
                "failing_checks": bad,
            }
        )
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column, justify in (
        ("group", "left"),
        ("asset", "left"),
        ("last materialized", "left"),
        ("rows", "right"),
        ("partitions", "right"),
        ("freshness", "left"),
        ("failing checks", "left"),
    ):
        table.add_column(column, justify=justify)
    for row in rows:
        styled = {"PASS": "[green]PASS[/]", "FAIL": "[red]FAIL[/]"}.get(row["freshness"], row["freshness"])
        table.add_row(
            row["group"] or "",
            row["asset"],
            "never" if row["age_seconds"] is None else f"{row['last_materialized']} ({_age(row['age_seconds'])})",
            "" if row["rows"] is None else f"{row['rows']:,}",
            "" if row["partitions"] is None else str(row["partitions"]),
            styled,
            f"[red]{', '.join(row['failing_checks'])}[/]" if row["failing_checks"] else "",
        )
    done = sum(r["age_seconds"] is not None for r in rows)
    stale = [r["asset"] for r in rows if r["freshness"] == "FAIL"]
    headline = (
        f"foxml: {done} of {len(rows)} assets materialized; {len(stale)} stale; "
        f"{len(failing)} failing check(s) (instance {os.environ['DAGSTER_HOME']})"
    )
    out.result([table, "", headline], {"message": headline.removeprefix("foxml: "), "assets": rows})
    return 0


def cmd_report(args, out: Output) -> int:
    reports = foxml_home().reports
    html, md = reports / "tearsheet.html", reports / "tearsheet.md"
    if not md.exists():
        raise CliError(f"no tearsheet in {reports} yet; run `foxml run` (or materialize `tearsheet` in the UI)")
    if args.open:
        import webbrowser

        if not webbrowser.open(html.as_uri()):
            raise CliError(f"no browser to open {html}; open it yourself, or run `foxml report` to print it")
        out.log(f"opened {html}")
        return 0
    from rich.markdown import Markdown

    text = md.read_text()
    plots = sorted(p.name for p in reports.glob("*.png"))
    footer = f"report: {html}   plots: {', '.join(plots) or 'none'} in {reports}"
    body = Markdown(text) if out.console(err=False).is_terminal else text
    out.result([body, "", footer], {"message": "tearsheet", "markdown": text, "html": str(html), "plots": plots})
    return 0


def cmd_query(args, out: Output) -> int:
    import duckdb

    catalog = foxml_home().catalog
    if not catalog.exists():
        raise CliError(f"no catalog at {catalog} yet; run `foxml run` first (or materialize assets in the UI)")
    from foxml_dagster.storage import query_catalog

    try:
        frame = query_catalog(catalog, args.sql)
    except duckdb.Error as exc:
        message = first_line(str(exc))
        if "read-only" in message.lower():
            message += " (foxml query never writes: the catalog is rebuilt by runs)"
        raise CliError(f"query failed: {message}") from None
    if args.format == "csv":
        sys.stdout.write(frame.write_csv())
        return 0
    if args.format == "json" or out.json:
        out.result([], {"message": "query", "columns": frame.columns, "rows": frame.rows(named=True)})
        return 0
    from rich.table import Table

    shown = frame.head(args.max_rows)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, dtype in shown.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in shown.iter_rows():
        table.add_row(*("" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    more = f" (first {args.max_rows}; --max-rows to see more)" if frame.height > args.max_rows else ""
    out.result([table, f"{frame.height:,} row(s){more}"], {})
    return 0


def cmd_kill_switch(args, out: Output) -> int:
    from foxml_dagster.execution.kill_switch import (
        engage_kill_switch,
        kill_switch_status,
        release_kill_switch,
        request_resume,
    )

    if args.action == "engage":
        path = engage_kill_switch(args.reason or "engaged with foxml kill-switch")
        message = (
            f"kill switch ENGAGED ({path}): the next execution cycle halts trading and cancels every working "
            "order, and every cycle after it stays halted until `foxml kill-switch release`. To act now, "
            "launch the kill_switch job (UI or `dagster job launch -j kill_switch`)."
        )
        if args.now:  # straight to the broker, for when Dagster is not there to run the job
            from foxml_dagster.config import load_experiment
            from foxml_dagster.execution.connect import cancel_all_at_broker
            from foxml_dagster.paths import foxml_home

            mode, n = cancel_all_at_broker(load_experiment().execution, foxml_home().root)
            message += f" Cancelled {n} open order(s) now: {mode.describe()}."
        out.result([f"foxml: {message}"], {"message": message, "engaged": True, "flag": str(path)})
    elif args.action == "release":
        was = release_kill_switch()
        message = "kill switch released; the next cycle trades again" if was else "kill switch was not engaged"
        out.result([f"foxml: {message}"], {"message": message, "engaged": False, "was_engaged": was})
    elif args.action == "resume":
        path = request_resume(args.reason or "resumed with foxml kill-switch resume")
        message = (
            f"resume requested ({path}): the next cycle clears a loss-limit or reconciliation halt "
            "(never the kill switch itself)"
        )
        out.result([f"foxml: {message}"], {"message": message, "flag": str(path)})
    else:
        note = kill_switch_status()
        if note is None:
            out.result(["foxml: kill switch not engaged"], {"message": "kill switch not engaged", "engaged": False})
        else:
            message = f"kill switch ENGAGED at {note.get('at') or '?'} by {note.get('by') or '?'}: {note.get('reason')}"
            out.result([f"foxml: {message}"], {"message": message, "engaged": True, **note})
    return 0


# ---------------------------------------------------------------------------------------------
# foxml ui: the webserver and daemon, stopped cleanly on Ctrl-C or SIGTERM
# ---------------------------------------------------------------------------------------------


def cmd_ui(args, out: Output) -> int:
    """Runs `dg dev` (webserver + daemon + one code server) as a child in its own session and
    owns its shutdown: Ctrl-C, SIGTERM or SIGHUP asks it to stop (SIGINT, on which Dagster
    stops its services in order), then after UI_STOP_TIMEOUT_S stops whatever is left of its
    process group (code servers, run workers), so nothing outlives `make ui`.

    Why not `dagster dev` in the foreground: started from make or in the background it can
    inherit SIGINT ignored, and SIGTERM ends it without stopping its children."""
    instance = _instance()
    symbols = register_symbols(instance)
    out.log(f"{len(symbols)} symbol partitions registered; starting the UI on http://{args.host}:{args.port}")
    argv = [
        str(Path(sys.executable).parent / "dg"),
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    if out.json:
        argv += ["--log-format", "json"]
    child = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        start_new_session=True,
        # Python ignores SIGINT in a child that inherits it ignored: restore it, so that the
        # SIGINT we send is a KeyboardInterrupt there and Dagster shuts down in order.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    stopping: list[int] = []

    def request_stop(signum, _frame):
        stopping.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, request_stop)
    while child.poll() is None and not stopping:
        time.sleep(0.2)
    if child.poll() is not None:
        _stop_group(child.pid)
        raise CliError(f"the UI exited with code {child.returncode}; its log is above")
    out.log(f"stopping the UI ({signal.Signals(stopping[0]).name})")
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=UI_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        out.warning(f"the UI did not stop within {UI_STOP_TIMEOUT_S}s; terminating it")
    _stop_group(child.pid)
    child.wait()
    out.log("UI stopped")
    return 0


def _stop_group(pgid: int) -> None:
    """SIGTERM, then SIGKILL, to every process left in the group (run workers, code servers)."""
    for sig, pause in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("foxml-dagster")
    except PackageNotFoundError:
        mine = "unknown"
    from jobs.coordinator import git_revision

    return f"foxml {mine} (git {git_revision()}, dagster {version('dagster')}, polars {version('polars')})"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, with the usage, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"foxml: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="foxml", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "--config", metavar="FILE", help="the experiment file (default: $FOXML_CONFIG, else configs/experiment.yaml)"
    )
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", action="store_true", help="Dagster's logs, started steps, tracebacks")
    noise.add_argument("-q", "--quiet", action="store_true", help="only the result and errors")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="json: one object per line")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="materialize the whole graph with progress, then a summary")
    run.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="override an experiment field for this run (splits.n_folds=3) or a family parameter "
        "(training.families.lightgbm.n_estimators=50); repeatable",
    )
    run.add_argument(
        "--in-process",
        action="store_true",
        help="run every step in this process instead of one process per step: no per-step start-up (seconds "
        "each), but memory is not given back between steps; for small data",
    )
    run.set_defaults(func=cmd_run)

    sub.add_parser("validate", help="check the experiment file, listing every error").set_defaults(func=cmd_validate)
    sub.add_parser("status", help="assets, last materialization, freshness, failing checks").set_defaults(
        func=cmd_status
    )

    report = sub.add_parser("report", help="print the tearsheet, or --open it in a browser")
    report.add_argument("--open", action="store_true", help="open reports/tearsheet.html in a browser")
    report.set_defaults(func=cmd_report)

    query = sub.add_parser("query", help="a read-only SQL query on the DuckDB catalog")
    query.add_argument("sql", help='e.g. "SELECT family, auc, ic FROM model_scores WHERE fold = -1"')
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.add_argument("--max-rows", type=int, default=50, help="rows shown as a table (default 50)")
    query.set_defaults(func=cmd_query)

    kill = sub.add_parser("kill-switch", help="halt trading (engage), release it, or show it")
    kill.add_argument("action", choices=("engage", "release", "status", "resume"), nargs="?", default="status")
    kill.add_argument("--reason", help="journaled with the switch")
    kill.add_argument(
        "--now", action="store_true", help="engage: also cancel every open order at the broker now, without a cycle"
    )
    kill.set_defaults(func=cmd_kill_switch)

    register = sub.add_parser("register", help="add the source's symbols as partitions")
    register.add_argument("--tags", action="store_true", help="print run tags covering every symbol (JSON)")
    register.set_defaults(func=cmd_register)

    ui = sub.add_parser("ui", help="the Dagster webserver and daemon; Ctrl-C stops both")
    ui.add_argument("--host", default=os.environ.get("UI_HOST", "127.0.0.1"))
    ui.add_argument("--port", type=int, default=int(os.environ.get("UI_PORT", "3000")))
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(log_format=args.log_format, verbosity=1 if args.verbose else -1 if args.quiet else 0)
    if args.config:
        # Through the environment, so the code location built for the run (and any process it
        # starts) reads the same file.
        os.environ["FOXML_CONFIG"] = str(Path(args.config).expanduser().resolve())
    try:
        return args.func(args, out)
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line and an exit code
        out.error(_describe(exc), error=type(exc).__name__)
        if args.verbose:
            traceback.print_exc()
        elif not _expected(exc):
            out.error("rerun with --verbose for the traceback")
        return 1


def _expected(exc: Exception) -> bool:
    """Errors about the user's config, files, data or broker connection: their message names the
    file, field or host, and a traceback would bury it."""
    from foxml_dagster.config import ConfigError
    from foxml_dagster.data.alpaca import AlpacaError
    from foxml_dagster.data.ibkr import IbkrError
    from foxml_dagster.data.raw import SourceFormatError

    return isinstance(exc, CliError | ConfigError | SourceFormatError | AlpacaError | IbkrError | FileNotFoundError)


def _describe(exc: Exception) -> str:
    if _expected(exc):
        return str(exc)
    return f"{type(exc).__name__}: {first_line(str(exc)) or 'no message'}"


if __name__ == "__main__":
    raise SystemExit(main())
