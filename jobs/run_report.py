"""What `foxml run` prints when a run ends: the steps' warnings, the failure report (the failed
step, its error's first line, failed blocking checks, the steps not run), or the summary (the
backtest against its benchmark, production models and live signals, symbols left out)."""

from __future__ import annotations

import logging

from foxml_dagster.paths import foxml_home
from jobs.output import Output


def run_log(instance, run_id: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The run's warning and error log lines (its assets' own, not Dagster's event records),
    and the steps Dagster did not execute because an upstream step failed."""
    warnings, skipped = [], []
    for record in instance.all_logs(run_id):
        if record.dagster_event is not None or record.level < logging.WARNING or not record.user_message:
            continue
        if record.user_message.startswith(f"Dependencies for step {record.step_key} "):
            skipped.append(record.step_key)  # Dagster's note on a skipped step: counted, not echoed
        else:
            warnings.append((record.step_key or "run", first_line(record.user_message)))
    return warnings, skipped


def failure_report(result, seconds: float, skipped: list[str]) -> list[str]:
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
        lines.append(f"    {first_line(evaluation.description)}")
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
        return first_line(failure.user_failure_data.description)
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
    return f"{error.cls_name}: {first_line(message)}" if error.cls_name else first_line(message)


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip())


def print_summary(result, seconds: float, out: Output, step_seconds: dict[str, float]) -> None:
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
