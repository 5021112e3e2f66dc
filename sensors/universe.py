"""A sensor that keeps the symbol partitions equal to the configured universe.

For every source but files (whose symbols arrive with the files: see landing.py), the universe is
data.symbols (or the whole sample / synthetic universe when that is empty). A symbol added to it
becomes a partition and is refreshed (with data.windows, window_fetch fetches it first); a symbol
taken out stops being a partition, so runs over all registered symbols leave it alone. Its lake
files are kept: removing data is the user's decision.
"""

import json

import dagster as dg

from assets.partitions import symbol_partitions
from jobs.pipeline import symbol_refresh
from resources.home import Experiment, FoxmlHome
from resources.sources import make_source


@dg.sensor(
    job=symbol_refresh,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Adds the symbols that enter the configured universe (data.symbols) as partitions "
    "and refreshes them; symbols that leave it stop being partitions (their data is kept).",
)
def universe_changes(context: dg.SensorEvaluationContext, experiment: Experiment, home: FoxmlHome):
    data = experiment.config.data
    if data.source == "files":
        return dg.SkipReason("data.source is 'files': the landing_files sensor registers symbols as files land")
    try:
        universe = set(make_source(data, home.layout.root).symbols())
    except ValueError as exc:  # e.g. a symbol the source does not have: say so, change nothing
        return dg.SkipReason(f"the configured universe cannot be listed: {exc}")
    known = set(context.instance.get_dynamic_partitions(symbol_partitions.name))
    entered, left = sorted(universe - known), sorted(known - universe)
    if not entered and not left:
        return dg.SkipReason(f"universe unchanged ({len(universe)} symbols)")
    # Each change is a new generation, so a symbol that leaves and comes back is refreshed again.
    generation = (json.loads(context.cursor)["generation"] if context.cursor else 0) + 1
    requests = []
    if entered:
        requests.append(symbol_partitions.build_add_request(entered))
    if left:
        requests.append(symbol_partitions.build_delete_request(left))
        context.log.info(f"universe_changes: {left} left the universe; their lake files are kept")
    # With data.windows, window_fetch fetches an entering symbol's windows, and their arrival
    # refreshes it (sensors/windows.py); refreshing it before then would find no windows.
    refreshed = [] if data.windows is not None else entered
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"{s}@{generation}", partition_key=s) for s in refreshed],
        dynamic_partitions_requests=requests,
        cursor=json.dumps({"generation": generation}),
    )
