"""Identifier resolution and parking: which shipments an event belongs to, and how events
that no plan claims yet wait (bounded in count and in event-time age)."""

from __future__ import annotations

from datetime import timedelta

from hub.resolve import IdentifierIndex, ParkingLot
from schemas.milestones import Milestone
from schemas.shipments import ShipmentPlan
from tests.support.detection_builders import (
    AGGREGATOR,
    MAWB,
    ORDER,
    T0,
    TRACKING,
    days,
    event,
    legs_with,
    parcel,
    plan,
)

M = Milestone


def index_of(*plans: ShipmentPlan) -> IdentifierIndex:
    index = IdentifierIndex()
    for shipment in plans:
        index.add_plan(shipment)
    return index


# --- the identifier index --------------------------------------------------------------------


def test_every_identifier_of_a_plan_resolves_to_it() -> None:
    index = index_of(plan())
    for identifier in plan().all_identifiers():
        item = event(M.INFO, T0, ids=[(identifier.kind.value, identifier.value)])
        assert index.shipments_for(item) == ["SHP-1"]
    assert index.shipments_for(event(M.INFO, T0, ids=[("tracking_number", "UNKNOWN1")])) == []


def test_identifiers_match_in_their_normalized_spelling() -> None:
    index = index_of(plan())
    assert index.shipments_for(event(M.LINE_HAUL_DEPARTED, T0, ids=[("mawb", "176 1234 5675")]))
    assert index.shipments_for(event(M.INFO, T0, ids=[("hawb", " szx 1234567 ")])) == ["SHP-1"]


def test_a_revision_replaces_the_plans_identifiers() -> None:
    index = index_of(parcel(1))
    revised = parcel(
        1,
        revision=2,
        legs=legs_with(
            parcel(1).model_dump(mode="json"),
            last_mile={"identifiers": [{"kind": "tracking_number", "value": "NEW000001"}]},
        ),
    )
    index.add_plan(revised)
    assert (
        index.shipments_for(event(M.IN_TRANSIT, T0, ids=[("tracking_number", "TRK000001")])) == []
    )
    assert "tracking_number:TRK000001" not in index.by_key
    assert index.shipments_for(event(M.IN_TRANSIT, T0, ids=[("tracking_number", "NEW000001")])) == [
        "SHP-1"
    ]
    assert index.keys_of["SHP-1"] == {i.key for i in revised.all_identifiers()}


def test_a_revision_keeps_shared_identifiers_for_the_other_shipments() -> None:
    index = index_of(parcel(1), parcel(2))
    without_mawb = legs_with(parcel(1).model_dump(mode="json"), line_haul={"identifiers": []})
    index.add_plan(parcel(1, revision=2, legs=without_mawb))
    assert index.shipments_for(event(M.LINE_HAUL_ARRIVED, T0, ids=[MAWB])) == ["SHP-2"]


def test_the_first_identifier_any_plan_claims_decides() -> None:
    index = index_of(parcel(1), parcel(2), parcel(3))
    # a parcel scan that also names the air waybill: the parcel's shipment only
    scan = event(M.INFO, T0, ids=[("tracking_number", "TRK000002"), MAWB])
    assert index.shipments_for(scan) == ["SHP-2"]
    # an unknown first identifier is skipped, the next known one decides
    relayed = event(
        M.INFO, T0, by=AGGREGATOR, ids=[("tracking_number", "ZZZ"), ("order_id", "SO-3"), MAWB]
    )
    assert index.shipments_for(relayed) == ["SHP-3"]
    # the most specific first: the MAWB first means every shipment on it
    airline = event(M.INFO, T0, ids=[MAWB, ("tracking_number", "TRK000002")])
    assert index.shipments_for(airline) == ["SHP-1", "SHP-2", "SHP-3"]


def test_consolidation_one_mawb_several_shipments() -> None:
    index = index_of(parcel(3), parcel(1), parcel(2))
    arrived = event(M.LINE_HAUL_ARRIVED, T0, ids=[MAWB])
    assert index.shipments_for(arrived) == ["SHP-1", "SHP-2", "SHP-3"]  # sorted
    assert index.by_key["mawb:176-12345675"] == {"SHP-1", "SHP-2", "SHP-3"}


def test_adding_the_same_plan_twice_changes_nothing() -> None:
    index = index_of(plan())
    before = ({k: set(v) for k, v in index.by_key.items()}, dict(index.keys_of))
    index.add_plan(plan())
    assert (index.by_key, index.keys_of) == before


# --- the parking lot -------------------------------------------------------------------------


def test_a_plan_claims_parked_events_by_any_of_its_identifiers() -> None:
    lot = ParkingLot()
    by_order = event(M.INFO, T0, ids=[("tracking_number", "ZZZ1"), ORDER])  # not first
    by_tracking = event(M.IN_TRANSIT, T0, ids=[TRACKING])
    other = event(M.IN_TRANSIT, T0, ids=[("tracking_number", "OTHER1")])
    for item in (by_order, by_tracking, other):
        assert lot.park(item) == []
    claimed = lot.claim(plan())
    assert [e.event_id for e in claimed] == [by_order.event_id, by_tracking.event_id]
    # claimed events stay parked for other plans that share an identifier, and are
    # never reported unclaimed when they leave; the unclaimed one still is
    assert list(lot.events) == [by_order.event_id, by_tracking.event_id, other.event_id]
    assert lot.claimed == {by_order.event_id, by_tracking.event_id}
    assert lot.expire(T0 + days(30)) == [other]
    assert lot.events == {} and lot.claimed == set()


def test_the_count_bound_evicts_the_oldest_parked_events() -> None:
    lot = ParkingLot(max_events=2)
    first, second, third, fourth = (
        event(M.IN_TRANSIT, T0 + days(n), ids=[("tracking_number", f"P{n}")]) for n in range(4)
    )
    assert lot.park(first) == []
    assert lot.park(second) == []
    assert lot.park(third) == [first]
    assert lot.park(second) == []  # a duplicate takes no second place
    assert lot.park(fourth) == [second]
    assert list(lot.events) == [third.event_id, fourth.event_id]


def test_parked_events_expire_by_event_time() -> None:
    lot = ParkingLot(ttl=timedelta(days=2))
    early = event(M.IN_TRANSIT, T0, ids=[("tracking_number", "P1")])
    # received much later than it happened: its age counts from occurred_at
    late_report = event(M.IN_TRANSIT, T0 + days(1), ids=[("tracking_number", "P2")])
    late_report = late_report.model_copy(update={"received_at": T0 + days(30)})
    lot.park(early)
    lot.park(late_report)
    assert lot.expire(T0 + days(2) - timedelta(seconds=1)) == []
    assert lot.expire(T0 + days(2)) == [early]
    assert lot.expire(T0 + days(3)) == [late_report]
    assert lot.events == {}
