"""The simulator's journeys and ground truth, checked against the detection engine.

The ground truth is written from the injected faults alone (``hub/simulate/journeys.py``);
here the offline engine (the same detectors the workers run) processes the journeys and
must raise exactly the expected alerts, attributed to the expected parties. A generator
that made a fault-free journey late, or a fault that raised something else, fails here.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from hub.offline import run_offline
from hub.simulate.journeys import FAULTS, SimConfig, SimJourney, generate
from hub.simulate.report import compare
from hub.simulate.wire import WireEvent
from schemas.events import TrackingEvent

END = datetime(2026, 11, 25, 12, tzinfo=UTC)


def tracking_event(wire: WireEvent, source_event_id: str) -> TrackingEvent:
    when = {"occurred_at": wire.occurred_at.isoformat()}
    if wire.estimated:  # issued then, predicting occurred_at
        when = {
            "occurred_at": wire.extra["issued_at"],
            "kind": "estimated",
            "estimated_at": wire.occurred_at.isoformat(),
        }
    return TrackingEvent.model_validate(
        {
            **when,
            "source": {
                "connector": "native",
                "party": wire.party.model_dump(mode="json"),
                "source_event_id": source_event_id,
            },
            "identifiers": [i.model_dump(mode="json") for i in wire.identifiers],
            "milestone": wire.milestone.value,
            "source_code": wire.milestone.value.upper(),
            "received_at": when["occurred_at"],
        }
    )


def offline_alerts(journeys: list[SimJourney]) -> list:
    events = [
        tracking_event(w, f"{j.plan.shipment_id}-{k}")
        for j in journeys
        for k, w in enumerate(j.events)
    ]
    now = max(j.ends_at for j in journeys) + timedelta(days=4)
    return run_offline([j.plan for j in journeys], events, now=now).alerts


@pytest.mark.parametrize("seed", [11, 2026])
def test_the_engine_raises_exactly_the_ground_truth(seed: int) -> None:
    journeys = generate(SimConfig(seed=seed, shipments=150), end=END)
    report = compare(offline_alerts(journeys), journeys)
    assert report.unexpected == [] and report.missing == [], "\n".join(report.lines())
    assert report.misattributed == []
    assert report.precision == report.recall == report.attribution == 1.0
    assert report.matched > 20  # the seeded run does inject faults


def test_fault_free_journeys_raise_nothing() -> None:
    journeys = generate(SimConfig(seed=5, shipments=40, fault_rates={}), end=END)
    assert all(j.fault is None and j.expected == [] for j in journeys)
    assert offline_alerts(journeys) == []


def test_generation_is_repeatable_and_covers_the_space() -> None:
    config = SimConfig(seed=3, shipments=300)
    first, again = generate(config, end=END), generate(config, end=END)
    assert [(j.plan, j.events, j.expected) for j in first] == [
        (j.plan, j.events, j.expected) for j in again
    ]
    assert generate(SimConfig(seed=4, shipments=300), end=END)[0].plan != first[0].plan
    faults = Counter(j.fault for j in first)
    assert set(FAULTS) <= set(faults)
    assert {j.lane for j in first} == {"CN-US", "CN-DE", "UK-AU", "CN-UK"}
    assert {j.mode.value for j in first} == {"air", "ocean", "express", "rail"}
    assert {j.plan.integration_model.value for j in first} == {
        "full_service",
        "seller_managed",
        "overseas_warehouse",
        "fba",
    }
    assert max(j.ends_at for j in first) <= END


def test_a_lane_in_peak_season_runs_slower_and_raises_nothing_more() -> None:
    def leg_hours(peak: tuple[str, ...]) -> float:
        journeys = generate(
            SimConfig(seed=8, shipments=60, lanes=("CN-US",), fault_rates={}, peak_lanes=peak),
            end=END,
        )
        assert offline_alerts(journeys) == []
        return sum((j.ends_at - j.events[0].occurred_at).total_seconds() for j in journeys)

    assert leg_hours(("CN-US",)) > 1.1 * leg_hours(())


def test_a_late_plan_is_registered_after_its_first_events() -> None:
    journeys = generate(SimConfig(seed=3, shipments=300), end=END)
    late = [j for j in journeys if j.fault == "late_plan"]
    assert late and all(j.register_at > j.events[0].occurred_at for j in late)
    assert all(j.register_at <= j.events[0].occurred_at for j in journeys if j.fault is None)
