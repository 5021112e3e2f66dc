"""A sensor that turns new or changed files in the landing folder into symbol refreshes."""

import json

import dagster as dg

from assets.partitions import symbol_partitions
from jobs.pipeline import symbol_refresh
from resources.home import Experiment, FoxmlHome
from resources.sources import LandingFolderSource, make_source


@dg.sensor(
    job=symbol_refresh,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches data.landing_dir: new symbols become partitions, and each symbol in a "
    "new or changed file is refreshed once (the cursor remembers each file's modification time). "
    "A file that cannot be read, or rows whose symbol cannot be a partition, are logged and "
    "skipped until the file changes.",
)
def landing_files(context: dg.SensorEvaluationContext, experiment: Experiment, home: FoxmlHome):
    source = make_source(experiment.config.data, home.layout.root)
    if not isinstance(source, LandingFolderSource):
        return dg.SkipReason(f"data.source is {experiment.config.data.source!r}, not 'files'")
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    changed = {p: p.stat().st_mtime_ns for p in source.files() if seen.get(p.name) != p.stat().st_mtime_ns}
    if not changed:
        return dg.SkipReason(f"no new or changed files in {source.folder}")
    touched: set[str] = set()
    readable: list[int] = []
    for path, mtime in changed.items():
        # One bad file must not stop the tick or hold back the others. Its mtime still goes into
        # the cursor, so it is retried when it changes, not re-read every minute.
        record, _ = source.inspect(path)
        for problem in record.problems:
            context.log.warning(f"landing_files: {path.name}: {problem} (skipped until the file changes)")
        if record.symbols:
            touched.update(record.symbols)
            readable.append(mtime)
    cursor = json.dumps(seen | {p.name: m for p, m in changed.items()}, sort_keys=True)
    if not touched:
        return dg.SensorResult(
            skip_reason=f"no readable bars in the new or changed files of {source.folder}", cursor=cursor
        )
    known = set(context.instance.get_dynamic_partitions(symbol_partitions.name))
    new = sorted(touched - known)
    stamp = max(readable)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"{symbol}@{stamp}", partition_key=symbol) for symbol in sorted(touched)],
        dynamic_partitions_requests=[symbol_partitions.build_add_request(new)] if new else [],
        cursor=cursor,
    )
