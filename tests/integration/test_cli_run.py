"""`foxml run` as a machine reads it (--log-format json), then the commands that read its results."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import yaml

from jobs.cli import main as foxml
from jobs.coordinator import CONFIG_HASH_TAG, GIT_REVISION_TAG, config_hash


@pytest.fixture
def tiny_experiment(small_experiment):
    """Two symbols over 2010 and one family: every stage runs, fast."""
    cfg = yaml.safe_load(small_experiment.read_text())
    cfg["data"].update(symbols=["AAPL", "MSFT"], end="2010-12-31")
    cfg["training"]["families"] = {"logistic": {}}
    small_experiment.write_text(yaml.safe_dump(cfg))
    return small_experiment


def test_json_run_logs_carry_the_run_id_and_the_results_read_back(tiny_experiment, home, capsys):
    assert foxml(["--log-format", "json", "run", "--set", "splits.n_folds=2"]) == 0
    captured = capsys.readouterr()
    logs = [json.loads(line) for line in captured.err.splitlines()]
    summary = json.loads(captured.out)
    run_id = summary["run_id"]
    assert run_id and all(record["run_id"] == run_id for record in logs)
    steps = [record for record in logs if record.get("event") == "step_success"]
    assert {"raw_bars", "features", "train_logistic", "tearsheet"} <= {record["step"] for record in steps}
    assert all(record["seconds"] >= 0 and record["total"] == steps[-1]["done"] for record in steps[-1:])
    assert summary["event"] == "run_success" and summary["caveats"] and summary["backtest"]["n_periods"] > 0
    rows_in_summary = {entry["asset"]: entry["rows"] for entry in summary["assets"]}

    # The run records what it ran: the override applied (2 folds) and the checkout's revision.
    run = dg.DagsterInstance.get().get_run_by_id(run_id)
    assert run.tags[CONFIG_HASH_TAG] == config_hash({"splits.n_folds": 2}) != config_hash()
    assert run.tags[GIT_REVISION_TAG]
    assert run.run_config["resources"]["experiment"]["config"]["overrides"] == {"splits": {"n_folds": 2}}
    folds = json.loads(_out(capsys, ["--log-format", "json", "query", "SELECT max(fold) AS f FROM folds"]))
    assert folds["rows"] == [{"f": 1}]
    bars = json.loads(_out(capsys, ["--log-format", "json", "query", "SELECT count(*) AS n FROM bars"]))
    assert bars["rows"] == [{"n": rows_in_summary["bars"]}] and rows_in_summary["bars"] > 400

    status = json.loads(_out(capsys, ["--log-format", "json", "status"]))
    rows = {row["asset"]: row for row in status["assets"]}
    assert rows["bars"]["run_id"] == run_id and rows["bars"]["partitions"] == 2
    assert rows["bars"]["freshness"] == "PASS" and rows["tearsheet"]["rows"] == 1
    assert rows["folds"]["failing_checks"] == ["split_warnings"]  # two years of folds: weak splits

    report = _out(capsys, ["report"])
    assert "# Backtest" in report and "equity.png" in report


def _out(capsys, argv: list[str]) -> str:
    assert foxml(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out
