"""Time-window ingestion (data.windows): symbol x window partitions, the window_ingest job, the
window_fetch and windows_landed sensors, and raw bars assembled from stored windows. Runs the
real code location in-process on the synthetic source and on the real alpaca-py client against
the fake Alpaca server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import pytest

from assets.partitions import contiguous_ranges, range_tags, symbol_partitions
from assets.windows import RAW_WINDOWS, window_dates, window_partitions, windows_to_fetch
from foxml_dagster.config import ConfigError, DataConfig, load_experiment
from resources.home import Experiment
from resources.sources import SyntheticSource
from sensors.windows import window_fetch, windows_landed
from tests.fakes.alpaca_server import STOCKS_PATH, FakeAlpaca, expected_bars

SYMBOLS = ["SYN000", "SYN001", "SYN002"]
WINDOWED_SYNTHETIC = """\
data:
  source: synthetic
  windows: monthly
  symbols: [SYN000, SYN001, SYN002, SYN003]
  synthetic: {n_symbols: 4, n_bars: 300, interval: 1h, seed: 7, start: 2021-01-04}
"""
MONTHS = ["2021-01-01", "2021-02-01", "2021-03-01"]  # 300 hourly slots from 4 Jan: into March


def use_experiment(home, monkeypatch, text: str):
    path = home / "windowed.yaml"
    path.write_text(text)
    monkeypatch.setenv("FOXML_CONFIG", str(path))
    from foxml_dagster.definitions import build_definitions

    return build_definitions()


def fetch(defs, instance, first: str, last: str, **kwargs):
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return defs.resolve_job_def("window_ingest").execute_in_process(instance=instance, tags=tags, **kwargs)


def without_trace(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop("origin", "source_row")


def landed(instance, defs, cursor=None):
    context = dg.build_multi_asset_sensor_context(
        monitored_assets=[RAW_WINDOWS], instance=instance, definitions=defs, cursor=cursor
    )
    return windows_landed(context), context


# --- the windows ---------------------------------------------------------------------------------


def test_monthly_windows_are_clipped_to_the_configured_dates():
    data = DataConfig(source="alpaca", windows="monthly", start=date(2024, 1, 15), end=date(2024, 3, 10))
    assert window_partitions(data).get_partition_keys() == ["2024-01-01", "2024-02-01", "2024-03-01"]
    assert window_dates(data, "2024-01-01") == (date(2024, 1, 15), date(2024, 1, 31))
    assert window_dates(data, "2024-02-01") == (date(2024, 2, 1), date(2024, 2, 29))
    assert window_dates(data, "2024-03-01") == (date(2024, 3, 1), date(2024, 3, 10))


def test_open_ended_daily_windows_stop_at_the_last_closed_day():
    data = DataConfig(source="ibkr", windows="daily", start=date(2024, 5, 30))
    keys = window_partitions(data).get_partition_keys(current_time=datetime(2024, 6, 2, 9, 30, tzinfo=UTC))
    assert keys == ["2024-05-30", "2024-05-31", "2024-06-01"]  # 2 June has not closed
    assert window_dates(data, "2024-06-01") == (date(2024, 6, 1), date(2024, 6, 1))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"source": "sample", "windows": "daily"}, "fetches by date"),
        ({"source": "files", "windows": "monthly"}, "fetches by date"),
        ({"source": "alpaca", "windows": "daily", "symbols": ["AAPL"]}, "needs data.start"),
    ],
)
def test_windows_need_a_source_that_fetches_by_date(home, settings, message):
    path = home / "bad.yaml"
    path.write_text(f"data: {settings}\n".replace("'", ""))
    with pytest.raises(ConfigError, match=message):
        load_experiment(path)


def test_contiguous_ranges_cover_exactly_the_selected_keys():
    ordered = ["A", "B", "C", "D", "E", "F"]
    assert contiguous_ranges({"A", "B", "D", "F"}, ordered) == [("A", "B"), ("D", "D"), ("F", "F")]
    assert contiguous_ranges(set(ordered), ordered) == [("A", "F")]
    assert contiguous_ranges(set(), ordered) == []
    assert contiguous_ranges({"Z"}, ordered) == []  # not registered: nothing to run


# --- fetch, assemble, refresh --------------------------------------------------------------------


def test_windows_reassemble_each_symbols_whole_history_and_only_changes_are_refreshed(home, monkeypatch):
    defs = use_experiment(home, monkeypatch, WINDOWED_SYNTHETIC)
    data = load_experiment().data
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions.name, SYMBOLS)
    assert window_partitions(data).get_partition_keys() == MONTHS

    # One run fetches every window of every symbol: the product of the two ranges.
    [plan] = windows_to_fetch(instance, data, SYMBOLS)
    assert plan == {
        "dagster/asset_partition_range_start": "SYN000|2021-01-01",
        "dagster/asset_partition_range_end": "SYN002|2021-03-01",
    }
    assert fetch(defs, instance, "SYN000|2021-01-01", "SYN002|2021-03-01").success
    assert instance.get_materialized_partitions(RAW_WINDOWS) == {f"{s}|{m}" for s in SYMBOLS for m in MONTHS}
    assert windows_to_fetch(instance, data, SYMBOLS) == []
    window_file = home / "lake" / "ingest" / "raw_windows" / "SYN001" / "2021-02-01.parquet"
    stored = pl.read_parquet(window_file)
    assert stored["window"].unique().to_list() == ["2021-02-01"]
    assert stored["ts"].str.slice(0, 7).unique().to_list() == ["2021-02"]

    refresh = defs.resolve_job_def("symbol_refresh")
    assert refresh.execute_in_process(instance=instance, tags=range_tags(SYMBOLS)).success
    whole = SyntheticSource(data.synthetic, SYMBOLS)
    for symbol in SYMBOLS:
        assembled = pl.read_parquet(home / "lake" / "ingest" / "raw_bars" / f"{symbol}.parquet")
        assert without_trace(assembled).equals(without_trace(whole.read_raw(symbol))), symbol
        assert assembled["origin"].str.contains("dates=2021-01-04..2021-01-31").any()
    bars = pl.read_parquet(home / "lake" / "normalize" / "bars" / "SYN001.parquet")
    assert bars["ts"].is_sorted() and bars["ts"].n_unique() == bars.height

    # windows_landed refreshes every symbol whose windows were stored, once.
    first, context = landed(instance, defs)
    assert [r.tags for r in first] == [range_tags(["SYN000", "SYN002"])]
    again, _ = landed(instance, defs, cursor=context.cursor)
    assert isinstance(again, dg.SkipReason)

    # Re-fetching one window of one symbol refreshes that symbol alone.
    assert fetch(defs, instance, "SYN001|2021-02-01", "SYN001|2021-02-01").success
    changed, context = landed(instance, defs, cursor=context.cursor)
    assert [r.tags for r in changed] == [range_tags(["SYN001", "SYN001"])]
    assert changed[0].run_key != first[0].run_key

    # A symbol that joins is fetched over its whole history by window_fetch ...
    instance.add_dynamic_partitions(symbol_partitions.name, ["SYN003"])
    sensor = dg.build_sensor_context(instance=instance, resources={"experiment": Experiment()})
    [request] = window_fetch(sensor)
    assert request.tags["dagster/asset_partition_range_start"] == "SYN003|2021-01-01"
    assert request.tags["dagster/asset_partition_range_end"] == "SYN003|2021-03-01"
    assert request.run_key == "SYN003|2021-01-01..SYN003|2021-03-01"

    # ... and refreshing it before its windows are stored stops with the windows named.
    early = refresh.execute_in_process(instance=instance, partition_key="SYN003", raise_on_error=False)
    assert not early.success
    error = next(e for e in early.all_events if e.is_step_failure).step_failure_data.error
    failure = error.cause.message
    assert "raw_windows" in failure and "SYN003|2021-01-01" in failure and "materialize raw_windows" in failure
    assert not (home / "lake" / "ingest" / "raw_bars" / "SYN003.parquet").exists()


def test_window_fetch_asks_only_for_the_windows_after_the_last_stored_one(home, monkeypatch):
    defs = use_experiment(home, monkeypatch, WINDOWED_SYNTHETIC)
    data = load_experiment().data
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(symbol_partitions.name, SYMBOLS)
    assert fetch(defs, instance, "SYN000|2021-01-01", "SYN002|2021-02-01").success

    plans = windows_to_fetch(instance, data, SYMBOLS)
    assert plans == [
        {
            "dagster/asset_partition_range_start": "SYN000|2021-03-01",
            "dagster/asset_partition_range_end": "SYN002|2021-03-01",
        }
    ]
    assert fetch(defs, instance, "SYN001|2021-03-01", "SYN001|2021-03-01").success
    split = windows_to_fetch(instance, data, SYMBOLS)  # SYN001 is done: two ranges around it
    assert [(p["dagster/asset_partition_range_start"], p["dagster/asset_partition_range_end"]) for p in split] == [
        ("SYN000|2021-03-01", "SYN000|2021-03-01"),
        ("SYN002|2021-03-01", "SYN002|2021-03-01"),
    ]


def test_the_code_location_keeps_windows_in_their_own_job(home, monkeypatch):
    defs = use_experiment(home, monkeypatch, WINDOWED_SYNTHETIC)
    dg.Definitions.validate_loadable(defs)
    keys = lambda job: {k.to_user_string() for k in defs.resolve_job_def(job).asset_layer.executable_asset_keys}  # noqa: E731
    assert keys("window_ingest") == {"raw_windows"}
    assert "raw_windows" not in keys("full_pipeline") and "raw_bars" in keys("full_pipeline")
    assert defs.resolve_sensor_def("window_fetch").job_name == "window_ingest"
    assert defs.resolve_sensor_def("windows_landed").job_name == "symbol_refresh"


# --- Alpaca, by day ------------------------------------------------------------------------------


def test_daily_windows_fetch_one_day_per_request_from_alpaca(home, monkeypatch):
    with FakeAlpaca() as fake:
        monkeypatch.setenv("APCA_API_KEY_ID", fake.key_id)
        monkeypatch.setenv("APCA_API_SECRET_KEY", fake.secret_key)
        defs = use_experiment(
            home,
            monkeypatch,
            "data:\n  source: alpaca\n  windows: daily\n  symbols: [AAPL, MSFT]\n"
            "  start: 2024-01-02\n  end: 2024-01-05\n"
            f"  alpaca: {{url_override: '{fake.url}', timeframe: 1Hour, retry_wait_seconds: 0.001}}\n",
        )
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(symbol_partitions.name, ["AAPL", "MSFT"])
        [plan] = windows_to_fetch(instance, load_experiment().data, ["AAPL", "MSFT"])
        assert fetch(
            defs, instance, plan["dagster/asset_partition_range_start"], plan["dagster/asset_partition_range_end"]
        ).success
        calls = fake.requests_to(STOCKS_PATH)
        days = sorted((c.query["symbols"], c.query["start"][:10], c.query["end"][:10]) for c in calls)
        expected_days = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
        assert days == [(s, d, d) for s in ("AAPL", "MSFT") for d in expected_days]

        refresh = defs.resolve_job_def("symbol_refresh")
        assert refresh.execute_in_process(instance=instance, partition_key="MSFT").success
    raw = pl.read_parquet(home / "lake" / "ingest" / "raw_bars" / "MSFT.parquet")
    first, last = datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 5, 23, 59, 59, tzinfo=UTC)
    served = expected_bars("stocks", "MSFT", "1Hour", first, last)
    assert raw["ts"].to_list() == [bar["t"].replace("Z", "+00:00") for bar in served]


def test_foxml_run_fetches_only_the_windows_it_lacks(home, monkeypatch, capsys):
    from jobs.cli import main as foxml

    use_experiment(
        home,
        monkeypatch,
        WINDOWED_SYNTHETIC.replace("SYN000, SYN001, SYN002, SYN003", "SYN000, SYN001")
        + "splits: {n_folds: 3, embargo_pct: 0.01}\ntraining:\n  families:\n    logistic: {}\n",
    )
    assert foxml(["run", "--in-process"]) == 0
    assert foxml(["run", "--in-process"]) == 0
    captured = capsys.readouterr()
    # Progress lines go to stderr, the summary to stdout.
    assert captured.err.count("fetching monthly windows SYN000|2021-01-01 .. SYN001|2021-03-01") == 1
    assert captured.out.count("foxml: materialized") == 2
    windows = sorted(
        p.relative_to(home / "lake" / "ingest" / "raw_windows").as_posix()
        for p in home.rglob("*.parquet")
        if "raw_windows" in p.parts
    )
    assert windows == [f"{s}/{m}.parquet" for s in ("SYN000", "SYN001") for m in MONTHS]
