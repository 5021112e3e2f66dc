"""Runners: the in-process default needs no Ray and runs a call only when its result is wanted;
the heavy stages go to Ray only where a cluster is configured."""

from __future__ import annotations

import sys

import pytest

from foxml_dagster.features import compute_features, feature_set
from foxml_dagster.features.compute import feature_batches
from foxml_dagster.runner import Call, InProcessRunner
from resources.ray import RayResource


def test_in_process_imap_runs_each_call_only_when_its_result_is_consumed() -> None:
    ran: list[int] = []

    def work(i: int) -> int:
        ran.append(i)
        return i * 10

    results = InProcessRunner().imap(work, (Call((i,)) for i in range(3)))
    assert ran == []
    assert next(results) == 0 and ran == [0]
    assert list(results) == [10, 20] and ran == [0, 1, 2]


def test_feature_batches_through_a_runner_match_the_plain_computation(make_bars) -> None:
    bars = make_bars(symbols=("A", "B", "C", "D"), n=120)
    specs = feature_set("baseline")
    seen: list[str] = []

    class Recording(InProcessRunner):
        def imap(self, fn, calls, *, window=None):
            for call in calls:
                seen.append(call.name)
                yield fn(*call.args)

    # 0.05 MB holds 182 rows of the baseline set's working set: one 120-bar symbol per batch.
    batches = list(feature_batches(bars, specs, memory_budget_mb=0.05, runner=Recording()))
    assert seen == ["features:A..A", "features:B..B", "features:C..C", "features:D..D"]
    assert len(batches) == 4
    assert compute_features(bars, specs, memory_budget_mb=0.05, runner=Recording()).equals(
        compute_features(bars, specs)
    )


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ({"enabled": True, "address": None, "stages": None}, "no cluster configured"),
        ({"enabled": False, "address": "head:6379", "stages": None}, "Ray disabled (FOXML_RAY=0)"),
        ({"enabled": True, "address": "head:6379", "stages": False}, "stages turned off"),
    ],
)
def test_heavy_stages_stay_in_process_unless_a_cluster_is_configured(settings, why) -> None:
    before = "ray" in sys.modules
    assert isinstance(RayResource(**settings).stage_runner(), InProcessRunner), why
    assert ("ray" in sys.modules) == before  # deciding imported nothing, connected nowhere


def test_stage_fan_out_is_read_from_ray_address_and_foxml_ray_stages(monkeypatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    monkeypatch.delenv("FOXML_RAY_STAGES", raising=False)
    resource = RayResource(enabled=True)
    assert resource.address == "ray://head:10001" and resource.stages is None
    monkeypatch.setenv("FOXML_RAY_STAGES", "0")
    assert RayResource(enabled=True).stages is False
    monkeypatch.setenv("FOXML_RAY_STAGES", "1")
    monkeypatch.delenv("RAY_ADDRESS")
    assert RayResource(enabled=True).stages is True
