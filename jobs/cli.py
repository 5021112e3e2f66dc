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
import logging
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
    warnings, skipped = _run_log(instance, result.run_id)
    for step, message in warnings:
        out.warning(f"{step}: {message}", step=step)
    if not result.success:
        lines = _failure_report(result, seconds, skipped)
        if out.json:
            out.error(lines[0].removeprefix("foxml: "), event="run_failure", details=lines[1:])
        else:
            print("\n".join(lines), file=out.stderr())
        return 1
    _summary(result, seconds, out, progress.seconds if progress else {})
    return 0


def StepProgressFor(instance, out: Output, job):  # noqa: N802 - reads as the context it returns
    from jobs.output import StepProgress

    return StepProgress(instance, out.run_id, out, label=job.name, total=len(job.graph.nodes))


def _run_log(instance, run_id: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The run's warning and error log lines (its assets' own, not Dagster's event records),
    and the steps Dagster did not execute because an upstream step failed."""
    warnings, skipped = [], []
    for record in instance.all_logs(run_id):
        if record.dagster_event is not None or record.level < logging.WARNING or not record.user_message:
            continue
        if record.user_message.startswith(f"Dependencies for step {record.step_key} "):
            skipped.append(record.step_key)  # Dagster's note on a skipped step: counted, not echoed
        else:
            warnings.append((record.step_key or "run", _first_line(record.user_message)))
    return warnings, skipped


def _failure_report(result, seconds: float, skipped: list[str]) -> list[str]:
    """What failed, in lines a user can act on: each failed step with the first line of its
    error, and each failed asset check with its metadata (e.g. no_leakage's culprits) in place
    of the step's error, which only says that a blocking check failed."""
    failed_checks: dict[str, list] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed:
            failed_checks.setdefault(event.step_key, []).append(event.event_specific_data)
    lines = []
    for event in result.all_events:
        if event.is_step_failure:
            checks = failed_checks.pop(event.step_key, [])
            lines += [line for check in checks for line in _check_lines(event.step_key, check)]
            if not checks:
                lines.append(f"  step {event.step_key} failed: {_error_line(event.event_specific_data)}")
    # Failed checks whose step went on (non-blocking) are reported too: they explain the run.
    lines += [line for step, checks in failed_checks.items() for check in checks for line in _check_lines(step, check)]
    if not lines:  # the run failed outside every step, e.g. a resource that did not start
        run_failure = next((e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"), None)
        error = getattr(getattr(run_failure, "event_specific_data", None), "error", None)
        lines.append(f"  {_error_text(error) if error else getattr(run_failure, 'message', 'no reason recorded')}")
    if skipped:
        lines.append(f"  {len(skipped)} downstream step(s) not run: {', '.join(skipped)}")
    return [
        f"foxml: run {result.run_id} failed after {seconds:.1f}s",
        *lines,
        "  full logs and stack traces: `make ui`, then the run's page (or rerun with --verbose)",
    ]


def _check_lines(step_key: str, evaluation) -> list[str]:
    """A failed asset check: its name and asset, then every metadata entry (at most 20 lines each)."""
    asset = evaluation.asset_key.to_user_string()
    lines = [f"  step {step_key} failed: asset check {evaluation.check_name} on {asset} did not pass"]
    if evaluation.description:
        lines.append(f"    {_first_line(evaluation.description)}")
    for key, value in evaluation.metadata.items():
        rows = [row.strip() for row in str(getattr(value, "value", value)).splitlines() if row.strip()]
        if len(rows) <= 1:
            lines.append(f"    {key}: {rows[0] if rows else ''}")
            continue
        lines.append(f"    {key}:")
        lines += [f"      {row}" for row in rows[:20]]
        if len(rows) > 20:
            lines.append(f"      ... {len(rows) - 20} more")
    return lines


def _error_line(failure) -> str:
    """A step failure's first meaningful line: a dg.Failure's description, else its error's."""
    if failure.user_failure_data is not None and failure.user_failure_data.description:
        return _first_line(failure.user_failure_data.description)
    return _error_text(failure.error) if failure.error is not None else "no error recorded"


def _error_text(error) -> str:
    """`Class: first line` of the innermost cause: the user's exception, not Dagster's wrapper."""
    while error.cause is not None:
        error = error.cause
    # The message reads "module.path.Class: text"; the short class name says the same.
    message = error.message
    marker = f"{error.cls_name}: "
    if error.cls_name and marker in message:
        message = message.split(marker, 1)[1]
    return f"{error.cls_name}: {_first_line(message)}" if error.cls_name else _first_line(message)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())


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


def _summary(result, seconds: float, out: Output, step_seconds: dict[str, float]) -> None:
    from rich.table import Table

    from foxml_dagster.storage import query_catalog

    layout = foxml_home()
    # A prefixed key (oof_predictions/lightgbm) is the view oof_predictions__lightgbm.
    events = result.get_asset_materialization_events()
    step_of = {"__".join(e.asset_key.path): e.step_key for e in events}
    materialized = sorted(step_of)
    counts = query_catalog(
        layout.catalog,
        " UNION ALL ".join(f"SELECT '{name}' AS asset, count(*) AS n_rows FROM {name}" for name in materialized),
    )
    rows = {row["asset"]: row["n_rows"] for row in counts.iter_rows(named=True)}
    headline = f"foxml: materialized {len(materialized)} assets in {seconds:.1f}s (run {result.run_id})"
    assets = Table(box=None, pad_edge=False, header_style="bold")
    assets.add_column("asset")
    assets.add_column("rows", justify="right")
    assets.add_column("step", justify="right")
    for name in materialized:
        step = step_seconds.get(step_of[name])
        assets.add_row(name, f"{rows.get(name, 0):,}", "" if step is None else f"{step:.1f}s")

    sheet = query_catalog(layout.catalog, "SELECT * FROM tearsheet").row(0, named=True)
    traded = query_catalog(layout.catalog, "SELECT family, target, variant FROM trials WHERE traded AND in_last_run")
    left_out = _left_out_rows(result)
    failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
    where = [
        f"outputs:  {layout.lake}",
        f'catalog:  {layout.catalog}   foxml query "SELECT * FROM model_scores WHERE fold = -1"',
        f"report:   {layout.reports / 'tearsheet.html'} (and tearsheet.md, plots as PNG)   foxml report",
        "UI:       make ui, then open http://127.0.0.1:3000",
    ]
    text = [
        headline,
        "",
        assets,
        "",
        *_left_out_block(left_out),
        *_backtest_block(sheet, " ".join(traded.row(0)) if traded.height else "the signals"),
        *_production_block(layout.catalog),
        *_warning_checks_block(failed_checks),
        *where,
    ]
    data = {
        "message": headline.removeprefix("foxml: "),
        "event": "run_success",
        "seconds": round(seconds, 1),
        "assets": [
            {"asset": n, "rows": rows.get(n, 0), "step_seconds": round(step_seconds.get(step_of[n], 0.0), 3)}
            for n in materialized
        ],
        "backtest": {k: v for k, v in sheet.items() if not isinstance(v, list)},
        "caveats": list(sheet.get("flags") or []),
        "left_out": left_out,
        "warnings": [
            {"check": c.asset_check_key.name, "asset": c.asset_check_key.asset_key.to_user_string()}
            for c in failed_checks
        ],
        "outputs": {"lake": str(layout.lake), "catalog": str(layout.catalog), "reports": str(layout.reports)},
    }
    out.result(text, data)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _backtest_block(h: dict, what: str) -> list:
    """The traded strategy beside its benchmark, its significance over every trial, and the
    caveats that apply: the numbers a reader would otherwise take for skill."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("")
    table.add_column("strategy", justify="right")
    table.add_column("benchmark", justify="right")
    for label, key, fmt in (
        ("total return", "total_return", _pct),
        ("CAGR", "cagr", _pct),
        ("Sharpe", "sharpe", _num),
        ("max drawdown", "max_drawdown", _pct),
    ):
        table.add_row(label, fmt(h.get(key)), fmt(h.get("benchmark_" + key)))
    lines = [
        f"backtest: {what} (out-of-fold signals, after costs) against the benchmark",
        table,
        f"  alpha {_pct(h.get('alpha'))} a year (t {_num(h.get('alpha_tstat'))}), beta {_num(h.get('beta'))}, "
        f"correlation {_num(h.get('correlation'))}, information ratio {_num(h.get('information_ratio'))}",
        f"  exposure: gross {_pct(h.get('avg_gross_exposure'))}, net {_pct(h.get('avg_net_exposure'))}, "
        f"net long in {_pct(h.get('share_net_long'))} of periods; turnover {_pct(h.get('avg_turnover'))} "
        f"a period, costs {_pct(h.get('total_cost'))}",
        f"  PSR {_num(h.get('psr'))}, deflated Sharpe {_num(h.get('dsr'))} after {h.get('n_trials') or 'n/a'} trials "
        f"({_num(h.get('n_effective_trials'))} independent), PBO {_num(h.get('pbo'))}",
        f"  {h['start']:%Y-%m-%d} .. {h['end']:%Y-%m-%d}: {h['n_periods']:,} periods, {h['years']:.2f} years "
        f"at {h['periods_per_year']:,} a year",
    ]
    caveats = list(h.get("flags") or [])
    if caveats:
        lines += ["caveats:", *(f"  ! {c}" for c in caveats)]
    return [*lines, ""]


def _production_block(catalog) -> list[str]:
    """What the production path decided: the models promoted or refused (with the gates' reasons),
    the live signals for the newest bar, and the orders planned from them."""
    from foxml_dagster.storage import query_catalog

    try:
        models = query_catalog(catalog, "SELECT family, target, promoted, reason, version FROM production_models")
        signals = query_catalog(catalog, "SELECT * FROM signals ORDER BY symbol")
        newest_bar = query_catalog(catalog, "SELECT max(ts) AS ts FROM bars")["ts"][0]
    except Exception:  # a run without the production stages (a partial selection) says nothing here
        return []
    promoted = models.filter(models["promoted"])
    lines = [f"production: {promoted.height} of {models.height} models promoted (production.gates)"]
    for row in models.sort("promoted", "target", "family", descending=[True, False, False]).iter_rows(named=True):
        mark = "+" if row["promoted"] else "-"
        lines.append(f"  {mark} {row['family']} {row['target']} @{row['version']}: {row['reason']}")
    if signals.height:
        first = signals.row(0, named=True)
        ts = signals["ts"].max()
        weights = ", ".join(f"{r['symbol']} {r['target_weight']:+.3f}" for r in signals.iter_rows(named=True))
        state = (
            "trades" if (signals["risk_action"] != "not_promoted").any() else "flat: the traded source is not promoted"
        )
        lines.append(
            f"live: signals for {ts:%Y-%m-%d %H:%M} (newest bar {newest_bar:%Y-%m-%d %H:%M}) from {first['source']} "
            f"{first['target']}, policy {first.get('policy')}, {state}: {weights}"
        )
        try:
            orders = query_catalog(
                catalog,
                "SELECT status, count(*) AS n FROM (SELECT client_order_id, arg_max(status, seq) AS status "
                f"FROM orders WHERE signal_ts = '{ts.isoformat()}' GROUP BY 1) GROUP BY 1 ORDER BY 1",
            )
            counts = ", ".join(f"{n} {status}" for status, n in orders.iter_rows())
            lines.append(f"orders: planned from them: {counts or 'none (the book already matches)'}")
        except Exception:
            pass
    return [*lines, ""]


def _warning_checks_block(failed: list) -> list[str]:
    """Non-blocking checks that did not pass (split_warnings, volume_spikes, ...), by name."""
    if not failed:
        return []
    lines = ["warnings (checks that do not block):"]
    for check in failed:
        lines.append(f"  {check.asset_check_key.name} on {check.asset_check_key.asset_key.to_user_string()}:")
        for value in check.metadata.values():
            text = str(getattr(value, "value", value))
            lines += [f"    {line.lstrip('- ')}" for line in text.splitlines()[:8] if line.strip()]
    return [*lines, ""]


def _left_out_rows(result) -> list[dict]:
    event = next(
        (e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "training_frame"),
        None,
    )
    entry = event.materialization.metadata.get("left_out_symbols") if event is not None else None
    return list(entry.value) if entry is not None else []


def _left_out_block(rows: list[dict]) -> list[str]:
    """The symbols training_frame found too short (or never complete), with the reason: they
    are in no model, signal or order of this run. Nothing when every symbol made it."""
    if not rows:
        return []
    return [
        f"left out of training, signals and orders ({len(rows)} symbol(s)):",
        *(f"  {row['symbol']:<10} {row['reason']}" for row in rows),
        "",
    ]


# ---------------------------------------------------------------------------------------------
# foxml validate / status / report / query / kill-switch
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
        message = _first_line(str(exc))
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
    return f"{type(exc).__name__}: {_first_line(str(exc)) or 'no message'}"


if __name__ == "__main__":
    raise SystemExit(main())
