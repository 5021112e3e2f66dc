"""`foxml` commands that need no pipeline run: symbol registration, errors before a run."""

from __future__ import annotations

import threading

import jobs.cli as cli
from assets.partitions import symbol_partitions

SMALL_SYMBOLS = ["AAPL", "IBM", "MSFT"]


def test_commands_started_at_once_on_a_fresh_home_all_register_the_symbols(small_experiment, monkeypatch, tmp_path):
    # Each round is a fresh FOXML_HOME: the race is in creating the instance's SQLite schema
    # and in inserting the same partitions; three threads, each with its own instance.
    for attempt in range(3):
        root = tmp_path / f"fresh{attempt}"
        monkeypatch.setenv("FOXML_HOME", str(root))
        monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
        start = threading.Barrier(3)
        registered, errors = [], []

        def register(start=start, registered=registered, errors=errors):
            start.wait()
            try:
                registered.append(cli.register_symbols(cli._instance()))
            except Exception as exc:  # noqa: BLE001 - the assertion below shows what went wrong
                errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=register) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert registered == [SMALL_SYMBOLS] * 3
        assert cli._instance().get_dynamic_partitions(symbol_partitions.name) == SMALL_SYMBOLS


def test_registration_that_loses_an_insert_race_reads_the_symbols_back(small_experiment, home, monkeypatch):
    """A writer outside the CLI's lock (the daemon adding partitions for a sensor) inserts the
    same symbols between our read and our insert: the insert fails on the unique key."""
    from sqlalchemy.exc import IntegrityError

    instance = cli._instance()
    other = cli._instance()
    insert = instance.add_dynamic_partitions
    calls = []

    def lose_the_race(name, keys):
        calls.append(list(keys))
        if len(calls) == 1:
            other.add_dynamic_partitions(name, keys)
            raise IntegrityError("INSERT INTO dynamic_partitions", {}, Exception("UNIQUE constraint failed"))
        return insert(name, keys)

    monkeypatch.setattr(instance, "add_dynamic_partitions", lose_the_race)
    assert cli.register_symbols(instance) == SMALL_SYMBOLS
    assert calls == [SMALL_SYMBOLS]  # read back, nothing left to add


def test_a_config_error_before_the_run_prints_the_file_and_field_without_a_traceback(small_experiment, home, capsys):
    small_experiment.write_text(small_experiment.read_text() + "signals: {gain: many}\n")
    assert cli.main(["register"]) == 1
    err = capsys.readouterr().err
    assert f"foxml: {small_experiment}: signals.gain:" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# Every subcommand and error path that needs no pipeline run (tests/integration/test_cli_run.py
# runs one).
# ---------------------------------------------------------------------------------------------


def _catalog_with(home, **tables):
    """A catalog whose views are these small tables, as the lake IO manager would leave it."""
    import duckdb

    con = duckdb.connect(str(home / "catalog.duckdb"))
    for name, sql in tables.items():
        con.execute(f"CREATE VIEW {name} AS {sql}")
    con.close()


def test_version_names_the_package_its_revision_and_dagster(capsys):
    import pytest

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("foxml 0.1.0 (git ") and "dagster 1.13.27" in out


def test_a_command_line_mistake_exits_2_with_the_usage(capsys):
    import pytest

    for argv in (["frobnicate"], ["query"], ["--log-format", "xml", "status"], ["-v", "-q", "status"]):
        with pytest.raises(SystemExit) as done:
            cli.main(argv)
        assert done.value.code == 2, argv
        err = capsys.readouterr().err
        assert "usage: foxml" in err and "foxml: " in err and "Traceback" not in err


def test_validate_accepts_an_experiment_and_says_what_it_runs(small_experiment, home, capsys):
    assert cli.main(["validate"]) == 0
    out = capsys.readouterr().out
    assert f"foxml: {small_experiment} is valid" in out
    assert "AAPL, IBM, MSFT" in out and "lightgbm, logistic" in out


def test_validate_lists_every_error_at_once_and_exits_1(small_experiment, home, capsys):
    text = small_experiment.read_text().replace("n_folds: 3", "n_folds: three")
    small_experiment.write_text(text + "signals: {gain: many}\nbacktest: {cost_bps: -1, typo_field: 1}\n")
    assert cli.main(["validate"]) == 1
    err = capsys.readouterr().err
    for field in ("splits.n_folds", "signals.gain", "backtest.cost_bps", "backtest.typo_field"):
        assert f"{small_experiment}: {field}:" in err, field
    assert "Traceback" not in err and "--verbose" not in err


def test_config_option_chooses_the_experiment_file(small_experiment, home, monkeypatch, capsys):
    monkeypatch.setenv("FOXML_CONFIG", str(home / "not-this-one.yaml"))
    assert cli.main(["--config", str(small_experiment), "validate"]) == 0
    assert "is valid" in capsys.readouterr().out
    assert cli.main(["--config", str(home / "missing.yaml"), "validate"]) == 1
    err = capsys.readouterr().err
    assert "missing.yaml: experiment file not found" in err and "Traceback" not in err


def test_run_rejects_an_override_it_cannot_apply_naming_the_fields_it_can(small_experiment, home, capsys):
    assert cli.main(["run", "--set", "splits.n_foldz=3"]) == 1
    err = capsys.readouterr().err
    assert "--set 'splits.n_foldz=3'" in err and "splits.n_folds" in err and "Traceback" not in err
    assert cli.main(["run", "--set", "splits.n_folds=many"]) == 1
    assert "splits.n_folds" in capsys.readouterr().err


def test_overrides_become_typed_run_config_for_the_experiment_resource(small_experiment, home):
    fields = cli.parse_overrides(["splits.n_folds=4", "data.start=2011-01-03", "signals.gain=2.5"])
    assert fields == {"splits.n_folds": 4, "data.start": "2011-01-03", "signals.gain": 2.5}
    config = cli.overrides_run_config(fields | {"labels.triple_barrier.horizon": 7})
    overrides = config["resources"]["experiment"]["config"]["overrides"]
    assert overrides == {
        "splits": {"n_folds": 4},
        "data": {"start": "2011-01-03"},
        "signals": {"gain": 2.5},
        "labels": {"triple_barrier__horizon": 7},
    }
    from resources.home import Experiment

    cfg = Experiment(overrides=overrides).config
    assert (cfg.splits.n_folds, str(cfg.data.start), cfg.signals.gain, cfg.labels.triple_barrier.horizon) == (
        4,
        "2011-01-03",
        2.5,
        7,
    )


def test_query_reads_the_catalog_as_a_table_csv_or_json(home, capsys):
    import json

    scores = "SELECT 'lightgbm' AS family, 0.5612345::DOUBLE AS auc UNION ALL SELECT 'logistic', 0.52"
    _catalog_with(home, model_scores=scores)
    assert cli.main(["query", "SELECT * FROM model_scores ORDER BY family"]) == 0
    out = capsys.readouterr().out
    assert "family" in out and "lightgbm" in out and "0.561234" in out and "2 row(s)" in out
    assert cli.main(["query", "--format", "csv", "SELECT * FROM model_scores ORDER BY family"]) == 0
    assert capsys.readouterr().out.splitlines() == ["family,auc", "lightgbm,0.5612345", "logistic,0.52"]
    assert cli.main(["--log-format", "json", "query", "SELECT count(*) AS n FROM model_scores"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["rows"] == [{"n": 2}] and "run_id" in record


def test_query_is_read_only_and_reports_sql_errors_in_one_line(home, capsys):
    _catalog_with(home, bars="SELECT 1 AS x")
    for sql, expected in (
        ("DROP VIEW bars", "read-only"),
        ("CREATE TABLE t AS SELECT 1", "read-only"),
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM no_such_view", "no_such_view"),
    ):
        assert cli.main(["query", sql]) == 1, sql
        err = capsys.readouterr().err
        assert err.startswith("foxml: query failed:") and expected in err and "Traceback" not in err, err
    assert cli.main(["query", "SELECT count(*) FROM bars"]) == 0  # still there


def test_query_before_any_run_says_to_run_first(home, capsys):
    assert cli.main(["query", "SELECT 1"]) == 1
    assert "no catalog at" in capsys.readouterr().err


def test_report_prints_the_tearsheet_or_says_how_to_make_one(home, capsys):
    assert cli.main(["report"]) == 1
    assert "no tearsheet in" in capsys.readouterr().err
    reports = home / "reports"
    reports.mkdir()
    (reports / "tearsheet.md").write_text("# Backtest\n\n| metric | strategy |\n|---|---|\n| Sharpe | 0.42 |\n")
    (reports / "equity.png").write_bytes(b"png")
    assert cli.main(["report"]) == 0
    out = capsys.readouterr().out
    assert "# Backtest" in out and "| Sharpe | 0.42 |" in out and "equity.png" in out and "tearsheet.html" in out


def test_report_open_hands_the_html_to_a_browser(home, capsys, monkeypatch):
    import webbrowser

    reports = home / "reports"
    reports.mkdir()
    (reports / "tearsheet.md").write_text("# Backtest\n")
    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    assert cli.main(["report", "--open"]) == 0
    assert opened == [(reports / "tearsheet.html").as_uri()]
    monkeypatch.setattr(webbrowser, "open", lambda url: False)
    assert cli.main(["report", "--open"]) == 1
    assert "no browser to open" in capsys.readouterr().err


def test_kill_switch_engages_shows_and_releases_the_flag_the_execution_cycle_reads(home, capsys):
    from foxml_dagster.execution.kill_switch import kill_switch_status

    assert cli.main(["kill-switch", "status"]) == 0
    assert "not engaged" in capsys.readouterr().out
    assert cli.main(["kill-switch", "engage", "--reason", "fat finger on AAPL"]) == 0
    assert "kill switch ENGAGED" in capsys.readouterr().out
    assert kill_switch_status(home=home)["reason"] == "fat finger on AAPL"
    assert cli.main(["kill-switch"]) == 0
    assert "fat finger on AAPL" in capsys.readouterr().out
    assert cli.main(["kill-switch", "release"]) == 0
    assert kill_switch_status(home=home) is None
    assert cli.main(["kill-switch", "release"]) == 0
    assert "was not engaged" in capsys.readouterr().out


def test_status_on_a_fresh_home_lists_every_asset_as_never_materialized(small_experiment, home, capsys):
    import json

    assert cli.main(["--log-format", "json", "status"]) == 0
    record = json.loads(capsys.readouterr().out)
    assets = {row["asset"]: row for row in record["assets"]}
    assert {"bars", "features", "trained_models/lightgbm", "tearsheet", "orders"} <= set(assets)
    assert all(row["last_materialized"] is None for row in assets.values())
    # Freshness is only judged for the daily stages, and unknown before their first run.
    assert assets["bars"]["freshness"] == "UNKNOWN" and assets["folds"]["freshness"] == ""


def test_freshness_passes_within_the_window_before_the_last_deadline_and_fails_after():
    from datetime import UTC, datetime

    from jobs.pipeline import FRESHNESS

    # Deadline 23:30 UTC on weekdays, 24 hours' window: on Wednesday 2026-12-09 at 10:00 the last
    # deadline was Tuesday 23:30, so the asset must have been materialized after Monday 23:30.
    now = datetime(2026, 12, 9, 10, 0, tzinfo=UTC).timestamp()
    assert cli._freshness(FRESHNESS, datetime(2026, 12, 8, 22, 0, tzinfo=UTC).timestamp(), now) == "PASS"
    assert cli._freshness(FRESHNESS, datetime(2026, 12, 7, 23, 0, tzinfo=UTC).timestamp(), now) == "FAIL"
    assert cli._freshness(FRESHNESS, None, now) == "UNKNOWN"
    assert cli._freshness(None, now, now) == ""


def test_an_unexpected_error_is_one_line_and_the_traceback_needs_verbose(small_experiment, home, monkeypatch, capsys):
    def boom(args, out):
        raise RuntimeError("the disk is on fire\nsecond line")

    monkeypatch.setattr(cli, "cmd_status", boom)  # build_parser binds the name on each call
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert "foxml: RuntimeError: the disk is on fire" in err and "second line" not in err
    assert "rerun with --verbose" in err and "Traceback" not in err
    assert cli.main(["--verbose", "status"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_json_errors_are_one_object_per_line(small_experiment, home, capsys):
    import json

    small_experiment.write_text(small_experiment.read_text() + "signals: {gain: many}\n")
    assert cli.main(["--log-format", "json", "validate"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["level"] == "error" and "signals.gain" in records[0]["message"]
    assert all("run_id" in record for record in records)


def test_the_run_coordinator_tags_runs_and_gives_all_symbols_every_registered_symbol(
    small_experiment, home, monkeypatch
):
    from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext

    from foxml_dagster.definitions import build_definitions
    from jobs.coordinator import CONFIG_HASH_TAG, GIT_REVISION_TAG, FoxmlRunCoordinator, config_hash

    instance = cli._instance()  # configs/dagster.yaml names the coordinator
    assert isinstance(instance.run_coordinator, FoxmlRunCoordinator)
    # Enqueueing needs the code location's origin, which only a running webserver has (the
    # browser test launches through it); here the queue hands back the run it was given.
    handed = []
    monkeypatch.setattr(
        QueuedRunCoordinator, "submit_run", lambda self, context: handed.append(context) or context.dagster_run
    )
    cli.register_symbols(instance)
    defs = build_definitions()
    overrides = {"resources": {"experiment": {"config": {"overrides": {"splits": {"n_folds": 4}}}}}}

    def submitted(job_name: str, run_config: dict, tags: dict) -> dict:
        job = defs.resolve_job_def(job_name)
        run = instance.create_run_for_job(job_def=job, run_config=run_config, tags={**job.tags, **tags})
        return instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None)).tags

    tags = submitted("all_symbols", overrides, {})
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == ("AAPL", "MSFT")
    assert tags[CONFIG_HASH_TAG] == config_hash({"splits.n_folds": 4}) != config_hash()
    assert tags[GIT_REVISION_TAG]
    # A partition the user picked wins; other jobs get provenance tags but no range.
    picked = submitted("all_symbols", {}, {"dagster/partition": "IBM"})
    assert "dagster/asset_partition_range_start" not in picked and picked[CONFIG_HASH_TAG] == config_hash()
    other = submitted("symbol_refresh", {}, {"dagster/partition": "IBM"})
    assert "dagster/asset_partition_range_start" not in other and CONFIG_HASH_TAG in other
    assert len(handed) == 3 and handed[0].dagster_run.tags == instance.get_run_by_id(handed[0].dagster_run.run_id).tags
