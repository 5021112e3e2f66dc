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
