"""The detection engine in event time: ordering of events and deadlines, the watermark,
late events, plan revisions and parked events. No Kafka; every time is an event time."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from hub.engine import Engine, EngineConfig
from hub.shipment_state import LegStatus
from schemas.alerts import Alert, AlertState, AlertType
from schemas.events import TrackingEvent
from schemas.milestones import Milestone
from schemas.shipments import Leg, ShipmentPlan
from tests.support.detection_builders import (
    MAWB,
    T0,
    TRACKING,
    days,
    event,
    hours,
    legs_with,
    parcel,
    plan,
)

M = Milestone
LATENESS = timedelta(minutes=10)


def engine_with(*plans: ShipmentPlan) -> Engine:
    engine = Engine(EngineConfig(lateness=LATENESS))
    for shipment in plans:
        engine.add_plan(shipment)
    return engine


def first_mile_delays(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.type is AlertType.DELAY and a.leg is Leg.FIRST_MILE]


# --- events before deadlines -----------------------------------------------------------------


def test_a_closing_milestone_exactly_at_the_sla_deadline_is_on_time() -> None:
    engine = engine_with(plan())
    engine.add_event(event(M.PICKED_UP, T0))
    engine.add_event(event(M.DEPARTED_ORIGIN, T0 + days(3)))  # the P3D deadline itself
    engine.advance_to(T0 + days(4))
    assert first_mile_delays(engine.final_alerts()) == []
    assert engine.states["SHP-1"].progress(Leg.FIRST_MILE).status is LegStatus.CLOSED


def test_a_closing_milestone_one_second_late_opens_and_resolves_a_delay() -> None:
    engine = engine_with(plan())
    engine.add_event(event(M.PICKED_UP, T0))
    engine.add_event(event(M.DEPARTED_ORIGIN, T0 + days(3) + timedelta(seconds=1)))
    engine.advance_to(T0 + days(4))
    (delay,) = first_mile_delays(engine.final_alerts())
    assert delay.state is AlertState.RESOLVED
    assert delay.opened_at == T0 + days(3)
    assert delay.resolved_at == T0 + days(3) + timedelta(seconds=1)
    assert delay.revision == 2


# --- the watermark ---------------------------------------------------------------------------


def test_watermark_is_the_max_event_time_minus_lateness() -> None:
    engine = engine_with(plan())
    assert engine.watermark is None
    engine.add_event(event(M.PICKED_UP, T0 + hours(1)))
    assert (engine.max_event_time, engine.watermark) == (T0 + hours(1), T0 + hours(1) - LATENESS)
    engine.add_event(event(M.INFO, T0 + hours(0.5)))  # older: neither moves
    assert (engine.max_event_time, engine.watermark) == (T0 + hours(1), T0 + hours(1) - LATENESS)
    engine.add_event(event(M.RECEIVED_AT_ORIGIN_HUB, T0 + hours(2)))
    assert engine.watermark == T0 + hours(2) - LATENESS


def test_advance_to_moves_the_watermark_forward_only() -> None:
    engine = engine_with(plan())
    engine.add_event(event(M.PICKED_UP, T0))
    engine.advance_to(T0 + hours(5))
    assert engine.watermark == T0 + hours(5)
    engine.advance_to(T0 + hours(1))
    assert engine.watermark == T0 + hours(5)
    engine.add_event(event(M.RECEIVED_AT_ORIGIN_HUB, T0 + hours(3)))  # max - lateness < watermark
    assert engine.watermark == T0 + hours(5)
    assert engine.max_event_time == T0 + hours(3)


def test_events_wait_for_the_watermark() -> None:
    engine = engine_with(plan())
    picked = event(M.PICKED_UP, T0)
    engine.add_event(picked)
    assert engine.pending["SHP-1"] == [picked]
    assert engine.states["SHP-1"].progress(Leg.FIRST_MILE).status is LegStatus.PENDING
    engine.add_event(event(M.INFO, T0 + LATENESS))  # watermark reaches T0
    assert engine.states["SHP-1"].progress(Leg.FIRST_MILE).status is LegStatus.ACTIVE
    assert engine.states["SHP-1"].clock == T0


def test_a_deadline_fires_on_the_watermark_from_another_shipments_events() -> None:
    engine = engine_with(parcel(1), parcel(2))
    engine.add_event(event(M.PICKED_UP, T0, ids=[("hawb", "SZX0000001")]))
    alerts = engine.add_event(event(M.PICKED_UP, T0 + days(3), ids=[("hawb", "SZX0000002")]))
    assert first_mile_delays(alerts) == []  # the watermark is 10 minutes short of the SLA
    assert [(a.shipment_id, a.type) for a in alerts] == [("SHP-1", AlertType.STALL)]
    alerts = engine.advance_to(T0 + days(3))  # an idle stream: wall time moves it on
    assert [(a.shipment_id, a.type, a.opened_at) for a in first_mile_delays(alerts)] == [
        ("SHP-1", AlertType.DELAY, T0 + days(3))
    ]


def _stream() -> list[TrackingEvent]:
    return [
        event(M.PICKED_UP, T0),
        event(M.IMPORT_CUSTOMS_HELD, T0 + hours(40)),
        event(M.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED, T0 + hours(40) + timedelta(minutes=4)),
        event(M.DEPARTED_ORIGIN, T0 + hours(40) + timedelta(minutes=6)),
        event(M.IMPORT_CUSTOMS_ACCEPTED, T0 + hours(40) + timedelta(minutes=8)),
        event(M.LINE_HAUL_DEPARTED, T0 + days(5)),
    ]


def test_out_of_order_within_lateness_gives_the_sorted_streams_alerts() -> None:
    def run(events: list[TrackingEvent]) -> list[Alert]:
        engine = engine_with(plan())
        for item in events:
            engine.add_event(item)
        engine.advance_to(T0 + days(6))
        return engine.final_alerts()

    stream = _stream()
    expected = run(stream)
    assert {a.type for a in expected} >= {AlertType.STALL, AlertType.EXCEPTION}
    for middle in itertools.permutations(stream[1:5]):
        assert run([stream[0], *middle, stream[5]]) == expected


# --- late events -----------------------------------------------------------------------------


def test_an_event_later_than_the_lateness_resolves_its_alert() -> None:
    engine = engine_with(plan())
    engine.add_event(event(M.PICKED_UP, T0))
    alerts = engine.add_event(event(M.LINE_HAUL_DEPARTED, T0 + days(4)))
    (opened,) = first_mile_delays(alerts)
    assert (opened.state, opened.opened_at) == (AlertState.OPEN, T0 + days(3))
    clock = engine.states["SHP-1"].clock
    assert clock == T0 + days(4) - LATENESS
    alerts = engine.add_event(event(M.DEPARTED_ORIGIN, T0 + days(2)))  # on time, heard late
    (resolved,) = first_mile_delays(alerts)
    assert resolved.alert_id == opened.alert_id
    assert (resolved.state, resolved.revision, resolved.resolved_at) == (
        AlertState.RESOLVED,
        2,
        clock,
    )
    assert engine.states["SHP-1"].progress(Leg.FIRST_MILE).status is LegStatus.CLOSED


def test_a_duplicate_event_changes_nothing() -> None:
    engine = engine_with(plan())
    picked = event(M.PICKED_UP, T0)
    engine.add_event(picked)
    engine.advance_to(T0 + days(1))
    assert engine.add_event(picked) == []  # now older than the clock: applied at once
    engine.advance_to(T0 + days(4))
    assert engine.states["SHP-1"].applied_event_ids == [picked.event_id]
    assert len(first_mile_delays(engine.final_alerts())) == 1


# --- plan revisions --------------------------------------------------------------------------


def test_a_revision_with_a_tighter_sla_raises_the_alert_at_once() -> None:
    engine = engine_with(plan())
    engine.add_event(event(M.PICKED_UP, T0))
    engine.add_event(event(M.RECEIVED_AT_ORIGIN_HUB, T0 + days(2)))
    assert first_mile_delays(engine.final_alerts()) == []
    tighter = plan(revision=2, legs=legs_with(first_mile={"sla": {"max_duration": "P1D"}}))
    alerts = engine.add_plan(tighter)
    (delay,) = first_mile_delays(alerts)
    assert delay.state is AlertState.OPEN
    assert delay.opened_at == delay.deadline_at == T0 + days(1)
    assert engine.states["SHP-1"].plan.revision == 2
    assert AlertType.RESPONSIBILITY_BREACH in {a.type for a in alerts}


def test_an_older_or_replayed_revision_is_ignored() -> None:
    newer = plan(
        revision=2,
        legs=legs_with(last_mile={"identifiers": [{"kind": "tracking_number", "value": "NEW1"}]}),
    )
    engine = engine_with(newer)
    engine.add_event(event(M.PICKED_UP, T0))
    assert engine.add_plan(plan(revision=1)) == []
    assert engine.add_plan(newer) == []
    assert engine.states["SHP-1"].plan == newer
    assert engine.index.shipments_for(event(M.IN_TRANSIT, T0, ids=[TRACKING])) == []


# --- parked events ---------------------------------------------------------------------------


def test_an_event_before_its_plan_is_parked_then_applied() -> None:
    engine = Engine(EngineConfig(lateness=LATENESS))
    picked = event(M.PICKED_UP, T0)
    assert engine.add_event(picked) == []
    assert list(engine.parking.events) == [picked.event_id]
    engine.add_plan(plan())
    assert engine.parking.claimed == {picked.event_id}  # claimed (and kept for other plans)
    engine.advance_to(T0 + hours(1))
    state = engine.states["SHP-1"]
    assert state.progress(Leg.FIRST_MILE).status is LegStatus.ACTIVE
    assert state.applied_event_ids == [picked.event_id]
    assert engine.unclaimed == []


def test_parked_events_pushed_out_by_the_count_bound_end_unclaimed() -> None:
    engine = Engine(EngineConfig(lateness=LATENESS, parking_max_events=1))
    first = event(M.IN_TRANSIT, T0, ids=[("tracking_number", "UNKNOWN1")])
    second = event(M.IN_TRANSIT, T0 + hours(1), ids=[("tracking_number", "UNKNOWN2")])
    engine.add_event(first)
    engine.add_event(second)
    assert engine.unclaimed == [first]
    assert list(engine.parking.events) == [second.event_id]


def test_parked_events_expire_on_the_watermark_and_end_unclaimed() -> None:
    engine = Engine(EngineConfig(lateness=LATENESS, parking_ttl=timedelta(days=1)))
    engine.add_plan(plan())
    stray = event(M.IN_TRANSIT, T0, ids=[("tracking_number", "UNKNOWN1")])
    engine.add_event(stray)
    engine.add_event(event(M.PICKED_UP, T0 + days(1)))  # watermark: 10 minutes short
    assert engine.unclaimed == []
    engine.advance_to(T0 + days(1))
    assert engine.unclaimed == [stray]
    assert engine.parking.events == {}


def _parked_then_planned(parked: TrackingEvent, *plans: ShipmentPlan, until: datetime) -> Engine:
    engine = Engine(EngineConfig(lateness=LATENESS))
    engine.add_event(parked)
    for shipment in plans:
        engine.add_plan(shipment)
    engine.advance_to(until)
    return engine


def test_a_parked_mawb_event_reaches_every_shipment_on_the_mawb() -> None:
    departed = event(M.LINE_HAUL_DEPARTED, T0, ids=[MAWB])
    engine = _parked_then_planned(departed, parcel(1), parcel(2), until=T0 + hours(1))
    for shipment_id in ("SHP-1", "SHP-2"):
        haul = engine.states[shipment_id].progress(Leg.LINE_HAUL)
        assert haul.status is LegStatus.ACTIVE, shipment_id


def test_a_parked_event_goes_to_the_shipment_of_its_most_specific_identifier() -> None:
    scan = event(M.IN_TRANSIT, T0, ids=[("tracking_number", "TRK000002"), MAWB])
    engine = _parked_then_planned(scan, parcel(1), parcel(2), until=T0 + hours(1))
    assert engine.states["SHP-2"].progress(Leg.LAST_MILE).status is LegStatus.ACTIVE
    assert engine.states["SHP-1"].progress(Leg.LAST_MILE).status is LegStatus.PENDING


def test_a_parcel_scan_naming_a_mawb_never_falls_back_to_the_mawb_shipments() -> None:
    """The scan is about parcel 2: with only parcel 1's plan known it waits parked, as if
    the plans had come first, instead of reaching parcel 1 through the shared MAWB."""
    engine = Engine(EngineConfig(lateness=LATENESS))
    engine.add_plan(parcel(1))
    scan = event(M.IN_TRANSIT, T0, ids=[("tracking_number", "TRK000002"), MAWB])
    engine.add_event(scan)
    assert list(engine.parking.events) == [scan.event_id]
    engine.add_plan(parcel(2))
    engine.advance_to(T0 + hours(1))
    assert engine.states["SHP-2"].progress(Leg.LAST_MILE).status is LegStatus.ACTIVE
    assert engine.states["SHP-1"].progress(Leg.LAST_MILE).status is LegStatus.PENDING


def test_a_plan_on_a_mawb_registered_after_its_statuses_still_gets_them() -> None:
    """Parcel 1's plan was there when the airline reported departure; parcel 2's plan on
    the same MAWB comes later and gets the departure as if it had been first."""
    late = Engine(EngineConfig(lateness=LATENESS))
    late.add_plan(parcel(1))
    departed = event(M.LINE_HAUL_DEPARTED, T0, ids=[MAWB])
    late.add_event(departed)
    late.advance_to(T0 + hours(2))
    late.add_plan(parcel(2))
    late.advance_to(T0 + hours(3))
    first = _parked_then_planned(departed, parcel(1), parcel(2), until=T0 + hours(3))
    for shipment_id in ("SHP-1", "SHP-2"):
        haul = late.states[shipment_id].progress(Leg.LINE_HAUL)
        assert haul.status is LegStatus.ACTIVE, shipment_id
        # ``clock`` is how far the shipment was last advanced: nothing was due after 2 h
        seen = late.states[shipment_id].model_dump(exclude={"clock"})
        assert seen == first.states[shipment_id].model_dump(exclude={"clock"}), shipment_id
    assert late.unclaimed == []
