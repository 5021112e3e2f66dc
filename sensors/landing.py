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
    "new or changed file is refreshed once (the cursor remembers each file's modification time).",
)
def landing_files(context: dg.SensorEvaluationContext, experiment: Experiment, home: FoxmlHome):
    source = make_source(experiment.config.data, home.layout.root)
    if not isinstance(source, LandingFolderSource):
        return dg.SkipReason(f"data.source is {experiment.config.data.source!r}, not 'files'")
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    changed = {p: p.stat().st_mtime_ns for p in source.files() if seen.get(p.name) != p.stat().st_mtime_ns}
    if not changed:
        return dg.SkipReason(f"no new or changed files in {source.folder}")
    touched = sorted({s for path in changed for s in source.read_file(path)["symbol"].drop_nulls().unique().to_list()})
    known = set(context.instance.get_dynamic_partitions(symbol_partitions.name))
    new = [s for s in touched if s not in known]
    stamp = max(changed.values())
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"{symbol}@{stamp}", partition_key=symbol) for symbol in touched],
        dynamic_partitions_requests=[symbol_partitions.build_add_request(new)] if new else [],
        cursor=json.dumps(seen | {p.name: m for p, m in changed.items()}, sort_keys=True),
    )
