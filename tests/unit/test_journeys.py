"""Journeys written as data: the product's detection pinned end to end.

Each folder of ``tests/journeys/`` is one story: ``plans.json`` (ShipmentPlan array),
``events.jsonl`` (TrackingEvent lines as the real connectors produced them), ``now.txt``
(where the clock ends) and ``expected_alerts.json`` (the final alerts, worked out by hand
from the detector rules; the folder's README.md gives the story and the arithmetic). A new
journey is a new folder, not new code.

Per journey: ``run_offline`` ends with exactly the expected alerts (a multiset of rows,
instants compared as instants); and the result does not depend on how the data arrives:
events shuffled and delivered twice, every plan registered after every event (parking),
the ``trackhub detect`` command, and a stream in arrival order within the engine's allowed
lateness. The invariance checks compare full alert rows with the in-order offline run, so
they hold (or fail) independently of whether the expectation does.

A journey the engine gets wrong keeps its hand-derived expectation and is marked
``xfail(strict=True)`` below with the reason: fixing the engine turns it into a failure
that asks for the mark to be removed.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.cli import main
from hub.engine import Engine, EngineConfig
from hub.offline import alert_row, run_offline
from schemas.alerts import Alert
from schemas.shipments import IntegrationModel, ShipmentPlan
from tests.support.journeys import FIELDS, Journey, arrivals, aware, load_journeys

INSTANTS = ("opened_at", "resolved_at")
STREAM_SEEDS = (1, 2, 3)

# Journeys whose hand-derived expectation the engine does not meet (see each README).
ENGINE_BUGS: dict[str, str] = {}
PARKING_BUGS: dict[str, str] = {}

ALL = load_journeys()


def _params(bugs: dict[str, str]) -> list[Any]:
    return [
        pytest.param(
            j,
            id=j.name,
            marks=[pytest.mark.xfail(strict=True, reason=bugs[j.name])] if j.name in bugs else [],
        )
        for j in ALL
    ]


def _utc(text: str | None) -> datetime | None:
    return None if text is None else aware(text).astimezone(UTC)


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    """The compared part of a row: the listed fields, instants normalized to UTC."""
    return tuple(_utc(row[f]) if f in INSTANTS else row[f] for f in FIELDS)


def _full(alerts: list[Alert]) -> Counter[str]:
    """Every field of every alert row, order-free: what 'the identical result' means."""
    return Counter(json.dumps(alert_row(a), sort_keys=True) for a in alerts)


def _baseline(journey: Journey) -> list[Alert]:
    return run_offline(journey.plans(), journey.events(), now=journey.now()).alerts


def test_there_are_journeys() -> None:
    assert len(ALL) >= 10


@pytest.mark.parametrize("journey", _params(ENGINE_BUGS))
def test_final_alerts_are_the_hand_derived_ones(journey: Journey) -> None:
    got = Counter(_key(alert_row(a)) for a in _baseline(journey))
    expected = Counter(_key(row) for row in journey.expected())
    assert got == expected, (
        f"engine only: {sorted(got - expected, key=str)}\n"
        f"expected only: {sorted(expected - got, key=str)}"
    )


@pytest.mark.parametrize("journey", _params({}))
def test_shuffled_and_duplicated_events_give_the_same_alerts(journey: Journey) -> None:
    events = journey.events()
    rng = random.Random(f"shuffle:{journey.name}")
    redelivered = [
        e.model_copy(update={"received_at": e.received_at + timedelta(minutes=7)})
        for e in events
        if rng.random() < 0.4
    ]
    mixed = events + redelivered + rng.sample(events, k=len(events) // 3)
    rng.shuffle(mixed)
    result = run_offline(journey.plans(), mixed, now=journey.now())
    assert _full(result.alerts) == _full(_baseline(journey))


@pytest.mark.parametrize("journey", _params(PARKING_BUGS))
def test_plans_registered_after_every_event_give_the_same_alerts(journey: Journey) -> None:
    """Every event is parked first (no plan knows it), then each plan claims its own.

    The parking lot keeps an event for 14 days of event time by default; an ocean journey
    spans more than that, so the lot here keeps events for the whole journey: what is
    checked is that claiming is the same as knowing the plan first, not the age bound.
    """
    events = journey.events()
    span = max(e.occurred_at for e in events) - min(e.occurred_at for e in events)
    ttl = max(EngineConfig().parking_ttl, span + timedelta(days=1))
    engine = Engine(EngineConfig(parking_ttl=ttl))
    for event in sorted(events, key=lambda e: (e.received_at, e.event_id)):
        engine.add_event(event)
    assert not engine.records and len(engine.parking.events) == len(events)
    for plan in journey.plans():
        engine.add_plan(plan)
    engine.advance_to(journey.now())
    assert not engine.unclaimed  # nothing given up for the dead-letter topic
    assert _full(engine.final_alerts()) == _full(_baseline(journey))


@pytest.mark.parametrize("journey", _params({}))
def test_cli_detect_prints_the_same_rows(
    journey: Journey, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "detect",
        "--plans",
        str(journey.plans_path),
        "--events",
        str(journey.events_path),
        "--now",
        journey.now_text(),
    ]
    assert main(argv) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    expected = [alert_row(a) for a in _baseline(journey)]
    assert Counter(json.dumps(r, sort_keys=True) for r in printed) == Counter(
        json.dumps(r, sort_keys=True) for r in expected
    )


@pytest.mark.parametrize("idle_ticks", [False, True], ids=["events_only", "idle_ticks"])
@pytest.mark.parametrize("seed", STREAM_SEEDS)
@pytest.mark.parametrize("journey", _params({}))
def test_stream_in_arrival_order_within_lateness_gives_the_same_alerts(
    journey: Journey, seed: int, idle_ticks: bool
) -> None:
    """One by one, as the workers see them. The events move the watermark to (latest
    event - lateness); with ``idle_ticks`` the wall clock of an idle partition also moves it
    to (arrival - lateness) before each arrival, which no later arrival can undercut."""
    config = EngineConfig()
    engine = Engine(config)
    for at, item in arrivals(journey, seed, config.lateness):
        if idle_ticks:
            engine.advance_to(at - config.lateness)
        if isinstance(item, ShipmentPlan):
            engine.add_plan(item)
        else:
            engine.add_event(item)
    engine.advance_to(journey.now())
    assert not engine.unclaimed  # nothing given up for the dead-letter topic
    assert _full(engine.final_alerts()) == _full(_baseline(journey))


# --- what the set of journeys covers ------------------------------------------------------

REQUIRED_RULES = {
    ("delay", "leg_sla"),
    ("delay", "promise"),
    ("eta_slip", "promise"),
    ("eta_slip", "leg_sla"),
    ("stall", "silence"),
    ("handoff_gap", "window"),
    ("handoff_gap", "no_handover"),
    ("responsibility_breach", "leg_sla"),
    ("responsibility_breach", "handoff_window"),
}
CUSTOMS_HOLDS = {
    "import_customs_held",
    "import_customs_inspection",
    "import_customs_documents_requested",
}


def test_passing_journeys_cover_every_model_and_rule() -> None:
    """The coverage this suite claims, from journeys the engine meets (not the xfailed)."""
    passing = [j for j in ALL if j.name not in ENGINE_BUGS]
    rows = [row for j in passing for row in j.expected()]
    rules = {(row["type"], row["rule"]) for row in rows}
    assert not REQUIRED_RULES - rules, f"rules no journey covers: {REQUIRED_RULES - rules}"
    exceptions = {row["rule"] for row in rows if row["type"] == "exception"}
    assert exceptions & CUSTOMS_HOLDS
    assert "delivery_attempted" in exceptions
    assert exceptions & {"damaged", "lost"}
    models = {plan.integration_model for j in passing for plan in j.plans()}
    assert models == set(IntegrationModel)
    assert any(not j.expected() for j in passing), "a clean journey without alerts"
    assert any(row["state"] != "resolved" for row in rows), "alerts still open at now"
    assert any(len(j.plans()) > 1 for j in passing), "shipments sharing an identifier"
