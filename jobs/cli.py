"""`foxml`: the command line around the Dagster instance in FOXML_HOME.

foxml register [--tags]   add the source's symbols as partitions (and print run tags)
foxml run                 materialize the whole graph over every symbol, then summarize
                          (with data.windows, first fetch the windows not stored yet)
foxml run --set training.families.lightgbm.n_estimators=50   (repeatable) override a family param
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

from foxml_dagster.paths import REPO_ROOT, foxml_home


def _instance():
    import dagster as dg

    layout = foxml_home()
    home = os.environ.setdefault("DAGSTER_HOME", str(layout.dagster_home))
    os.makedirs(home, exist_ok=True)
    settings = os.path.join(home, "dagster.yaml")
    if not os.path.exists(settings):
        shutil.copyfile(REPO_ROOT / "dagster.yaml", settings)
    return dg.DagsterInstance.get()


def register_symbols(instance) -> list[str]:
    """Add the configured source's symbols as partitions; return all registered, in order."""
    from assets.partitions import symbol_partitions
    from foxml_dagster.config import load_experiment
    from resources.sources import make_source

    cfg = load_experiment()
    found = make_source(cfg.data, foxml_home().root).symbols()
    known = set(instance.get_dynamic_partitions(symbol_partitions.name))
    new = [s for s in found if s not in known]
    if new:
        instance.add_dynamic_partitions(symbol_partitions.name, new)
    return list(instance.get_dynamic_partitions(symbol_partitions.name))


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

    _apply_overrides(args.set or [])
    from foxml_dagster.definitions import build_definitions

    defs = build_definitions()
    instance = _instance()
    symbols = register_symbols(instance)
    if not symbols:
        print("no symbols found in the configured source; check data.* in the experiment file", file=sys.stderr)
        return 1
    started = time.perf_counter()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = _fetch_windows(defs, instance, symbols, quiet)
    if result is None or result.success:
        job = defs.resolve_job_def("full_pipeline")
        print(f"foxml: running full_pipeline over {len(symbols)} symbols ({', '.join(symbols)}) ...", flush=True)
        result = job.execute_in_process(
            run_config=quiet, instance=instance, tags=range_tags(symbols), raise_on_error=False
        )
    seconds = time.perf_counter() - started
    if not result.success:
        failed = [
            e
            for e in result.all_events
            if e.is_step_failure
            or (e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.evaluation.passed)
        ]
        for event in failed:
            print(f"FAILED {event.step_key}: {event.message}", file=sys.stderr)
        print(f"run {result.run_id} failed after {seconds:.1f}s; see `make ui` for the logs", file=sys.stderr)
        return 1
    print(_summary(result, seconds))
    return 0


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
    headline = query_catalog(layout.catalog, "SELECT * FROM tearsheet").row(0, named=True)
    lines = [
        f"foxml: materialized {len(materialized)} assets in {seconds:.1f}s (run {result.run_id})",
        "",
        *(f"  {row['asset']:<22} {row['n_rows']:>9,} rows" for row in counts.iter_rows(named=True)),
        "",
        "backtest (out-of-fold signals, after costs):",
        *(
            f"  {key:<14} {headline[key]:.4f}"
            if isinstance(headline.get(key), float)
            else f"  {key:<14} {headline.get(key)}"
            for key in ("total_return", "cagr", "sharpe", "max_drawdown", "avg_turnover", "start", "end")
            if key in headline
        ),
        "",
        f"outputs:  {layout.lake}",
        f"catalog:  duckdb {layout.catalog}    (e.g. SELECT * FROM model_scores)",
        f"report:   {layout.reports / 'tearsheet.md'}",
        "UI:       make ui, then open http://127.0.0.1:3000",
    ]
    return "\n".join(lines)


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
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
