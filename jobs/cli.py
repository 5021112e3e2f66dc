"""`foxml`: the command line around the Dagster instance in FOXML_HOME.

foxml register [--tags]   add the source's symbols as partitions (and print run tags)
foxml run                 materialize the whole graph over every symbol, then summarize
                          (with data.windows, first fetch the windows not stored yet)
foxml run --set training.families.lightgbm.n_estimators=50   (repeatable) override a family param
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from foxml_dagster.paths import REPO_ROOT, foxml_home


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
            shutil.copyfile(REPO_ROOT / "dagster.yaml", settings)
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


def cmd_register(args) -> int:
    from assets.partitions import range_tags

    symbols = register_symbols(_instance())
    if args.tags:
        print(json.dumps(range_tags(symbols)))
    else:
        print(f"{len(symbols)} symbol partitions: {', '.join(symbols)}")
    return 0


def _apply_overrides(assignments: list[str]) -> None:
    """`training.families.<family>.<param>=<value>` -> FOXML_MODEL__<FAMILY>__<PARAM>=<value>,
    which foxml_dagster.training.config applies above the experiment file."""
    for item in assignments:
        path, sep, value = item.partition("=")
        parts = path.strip().split(".")
        if not sep or len(parts) != 4 or parts[:2] != ["training", "families"]:
            raise SystemExit(
                f"foxml: --set {item!r}: expected training.families.<family>.<param>=<value> "
                "(other sections: edit the experiment file or point FOXML_CONFIG at another)"
            )
        os.environ[f"FOXML_MODEL__{parts[2].upper()}__{parts[3].upper()}"] = value


def cmd_run(args) -> int:
    from assets.partitions import range_tags
    from foxml_dagster.definitions import build_definitions

    # After the imports: the config module builds its default sections when it is imported,
    # and a bad override must fail in load_experiment, which names it, not in that import.
    _apply_overrides(args.set or [])

    defs = build_definitions()
    instance = _instance()
    symbols = register_symbols(instance)
    if not symbols:
        print("no symbols found in the configured source; check data.* in the experiment file", file=sys.stderr)
        return 1
    started = time.perf_counter()
    # Dagster's console logger prints every step failure with its stack trace; the run's own
    # warnings and failures are reported below, from the event log, without them.
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    result = _fetch_windows(defs, instance, symbols, quiet)
    if result is None or result.success:
        job = defs.resolve_job_def("full_pipeline")
        print(f"foxml: running full_pipeline over {len(symbols)} symbols ({', '.join(symbols)}) ...", flush=True)
        result = job.execute_in_process(
            run_config=quiet, instance=instance, tags=range_tags(symbols), raise_on_error=False
        )
    seconds = time.perf_counter() - started
    warnings, skipped = _run_log(instance, result.run_id)
    for line in warnings:
        print(line, file=sys.stderr)
    if not result.success:
        print("\n".join(_failure_report(result, seconds, skipped)), file=sys.stderr)
        return 1
    print(_summary(result, seconds))
    return 0


def _run_log(instance, run_id: str) -> tuple[list[str], list[str]]:
    """The run's warning and error log lines (its assets' own, not Dagster's event records),
    and the steps Dagster did not execute because an upstream step failed."""
    warnings, skipped = [], []
    for record in instance.all_logs(run_id):
        if record.dagster_event is not None or record.level < logging.WARNING or not record.user_message:
            continue
        if record.user_message.startswith(f"Dependencies for step {record.step_key} "):
            skipped.append(record.step_key)  # Dagster's note on a skipped step: counted, not echoed
        else:
            warnings.append(f"foxml: warning: {record.step_key or 'run'}: {_first_line(record.user_message)}")
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
        "  full logs and stack traces: `make ui`, then the run's page",
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


def _fetch_windows(defs, instance, symbols: list[str], run_config: dict):
    """With data.windows, fetch the windows not stored yet (as the window_fetch sensor would);
    the last run's result, or None when there was nothing to fetch."""
    from assets.windows import windows_to_fetch
    from foxml_dagster.config import load_experiment

    data = load_experiment().data
    if data.windows is None:
        return None
    result = None
    for tags in windows_to_fetch(instance, data, symbols):
        first, last = tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]
        print(f"foxml: fetching {data.windows} windows {first} .. {last} ...", flush=True)
        result = defs.resolve_job_def("window_ingest").execute_in_process(
            run_config=run_config, instance=instance, tags=tags, raise_on_error=False
        )
        if not result.success:
            break
    return result


def _summary(result, seconds: float) -> str:
    from foxml_dagster.storage import query_catalog

    layout = foxml_home()
    # A prefixed key (oof_predictions/lightgbm) is the view oof_predictions__lightgbm.
    materialized = sorted({"__".join(e.asset_key.path) for e in result.get_asset_materialization_events()})
    counts = query_catalog(
        layout.catalog,
        " UNION ALL ".join(f"SELECT '{name}' AS asset, count(*) AS n_rows FROM {name}" for name in materialized),
    )
    lines = [
        f"foxml: materialized {len(materialized)} assets in {seconds:.1f}s (run {result.run_id})",
        "",
        *(f"  {row['asset']:<22} {row['n_rows']:>9,} rows" for row in counts.iter_rows(named=True)),
        "",
        # --- symbols left out (short history): a block of its own, beside the backtest's ---
        *_left_out_block(result),
        # --- end of symbols left out ---
        *_backtest_block(layout.catalog),
        *_warning_checks_block(result),
        f"outputs:  {layout.lake}",
        f"catalog:  duckdb {layout.catalog}    (e.g. SELECT * FROM model_scores)",
        f"report:   {layout.reports / 'tearsheet.html'} (and tearsheet.md, plots as PNG)",
        "UI:       make ui, then open http://127.0.0.1:3000",
    ]
    return "\n".join(lines)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _backtest_block(catalog) -> list[str]:
    """The traded strategy beside its benchmark, its significance over every trial, and the
    caveats that apply: the numbers a reader would otherwise take for skill."""
    from foxml_dagster.storage import query_catalog

    h = query_catalog(catalog, "SELECT * FROM tearsheet").row(0, named=True)
    traded = query_catalog(catalog, "SELECT family, target, variant FROM trials WHERE traded AND in_last_run")
    what = " ".join(traded.row(0)) if traded.height else "the signals"
    rows = [
        ("total return", "total_return", _pct),
        ("CAGR", "cagr", _pct),
        ("Sharpe", "sharpe", _num),
        ("max drawdown", "max_drawdown", _pct),
    ]
    lines = [
        f"backtest: {what} (out-of-fold signals, after costs) against the benchmark",
        f"  {'':<14} {'strategy':>10} {'benchmark':>10}",
        *(f"  {label:<14} {fmt(h.get(key)):>10} {fmt(h.get('benchmark_' + key)):>10}" for label, key, fmt in rows),
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


def _warning_checks_block(result) -> list[str]:
    """Non-blocking checks that did not pass (split_warnings, volume_spikes, ...), by name."""
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    if not failed:
        return []
    lines = ["warnings (checks that do not block):"]
    for check in failed:
        lines.append(f"  {check.asset_check_key.name} on {check.asset_check_key.asset_key.to_user_string()}:")
        for value in check.metadata.values():
            text = str(getattr(value, "value", value))
            lines += [f"    {line.lstrip('- ')}" for line in text.splitlines()[:8] if line.strip()]
    return [*lines, ""]


def _left_out_block(result) -> list[str]:
    """The symbols training_frame found too short (or never complete), with the reason: they
    are in no model, signal or order of this run. Nothing when every symbol made it."""
    event = next(
        (e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "training_frame"),
        None,
    )
    entry = event.materialization.metadata.get("left_out_symbols") if event is not None else None
    rows = entry.value if entry is not None else []
    if not rows:
        return []
    return [
        f"left out of training, signals and orders ({len(rows)} symbol(s)):",
        *(f"  {row['symbol']:<10} {row['reason']}" for row in rows),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="foxml", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    register = sub.add_parser("register", help="add the source's symbols as partitions")
    register.add_argument("--tags", action="store_true", help="print run tags covering every symbol (JSON)")
    register.set_defaults(func=cmd_register)
    run = sub.add_parser("run", help="materialize the whole graph and print a summary")
    run.add_argument("--set", action="append", metavar="PATH=VALUE", help="override a training family parameter")
    run.set_defaults(func=cmd_run)
    args = parser.parse_args(argv)
    from foxml_dagster.config import ConfigError
    from foxml_dagster.data.alpaca import AlpacaError
    from foxml_dagster.data.ibkr import IbkrError
    from foxml_dagster.data.raw import SourceFormatError

    try:
        return args.func(args)
    # Errors about the user's config, files or broker connection, met before a run starts:
    # their message names the file, field or host; a traceback would bury it.
    except (ConfigError, SourceFormatError, AlpacaError, IbkrError) as exc:
        print(f"foxml: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
