"""The shipment state reducer: which leg an event is about, leg status, estimates, exceptions.

Every test applies normalized events to the factory plan (seller_managed CN->US air: first
mile and line haul by fwd-sz, import customs by broker-lax, last mile by usps) with plain
datetimes; see tests/support/detection_builders.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.shipment_state import LegStatus, apply_event, leg_of, new_state, with_plan
from schemas.common import Party
from schemas.events import TrackingEvent
from schemas.milestones import Milestone
from schemas.shipments import Leg
from tests.factories import plan_data
from tests.support.detection_builders import (
    AGGREGATOR,
    BROKER,
    FWD,
    T0,
    USPS,
    days,
    estimate,
    event,
    hours,
    legs_with,
    plan,
    plan_with_legs,
    state_of,
)

M = Milestone

# --- which leg an event is about -------------------------------------------------------------


@pytest.mark.parametrize(
    ("milestone", "leg"),
    [
        (M.PICKED_UP, Leg.FIRST_MILE),  # opens_on
        (M.DEPARTED_ORIGIN, Leg.FIRST_MILE),  # closes_on
        (M.LINE_HAUL_LOADED, Leg.LINE_HAUL),
        (M.LINE_HAUL_UNLOADED, Leg.LINE_HAUL),
        (M.IMPORT_CUSTOMS_RELEASED, Leg.IMPORT_CUSTOMS),
        (M.IN_TRANSIT, Leg.LAST_MILE),
        (M.DELIVERED, Leg.LAST_MILE),
    ],
)
def test_leg_of_opening_and_closing_milestones(milestone: Milestone, leg: Leg) -> None:
    assert leg_of(new_state(plan()), event(milestone, T0)) is leg


def test_leg_of_prefers_opens_on_over_the_milestone_group() -> None:
    # the warehouse group's leg is not planned (its nearest earlier leg is import_customs),
    # but the last mile lists the warehouse's dispatch as its opening
    shipment = plan_with_legs({"last_mile": {"opens_on": ["warehouse_dispatched"]}})
    assert leg_of(new_state(shipment), event(M.WAREHOUSE_DISPATCHED, T0, by=USPS)) is Leg.LAST_MILE
    assert leg_of(new_state(plan()), event(M.WAREHOUSE_DISPATCHED, T0)) is Leg.IMPORT_CUSTOMS


def test_leg_of_first_planned_leg_listing_the_milestone_wins() -> None:
    # both import customs (default closes_on) and the last mile (opens_on) list the release
    shipment = plan_with_legs({"last_mile": {"opens_on": ["import_customs_released"]}})
    state = new_state(shipment)
    assert leg_of(state, event(M.IMPORT_CUSTOMS_RELEASED, T0)) is Leg.IMPORT_CUSTOMS


@pytest.mark.parametrize(
    ("milestone", "leg"),
    [
        (M.BOOKED, Leg.FIRST_MILE),
        (M.TRANSSHIPPED, Leg.LINE_HAUL),
        (M.IMPORT_CUSTOMS_ACCEPTED, Leg.IMPORT_CUSTOMS),
        (M.IMPORT_CUSTOMS_HELD, Leg.IMPORT_CUSTOMS),  # an exception with a leg group
        (M.OUT_FOR_DELIVERY, Leg.LAST_MILE),
        (M.DELIVERY_ATTEMPTED, Leg.LAST_MILE),
    ],
)
def test_leg_of_milestone_group(milestone: Milestone, leg: Leg) -> None:
    # reported by a party that runs no leg: only the group can decide
    assert leg_of(new_state(plan()), event(milestone, T0, by=AGGREGATOR)) is leg


@pytest.mark.parametrize(
    ("milestone", "leg"),
    [
        (M.EXPORT_CUSTOMS_SUBMITTED, Leg.FIRST_MILE),  # no export_customs leg planned
        (M.EXPORT_CUSTOMS_HELD, Leg.FIRST_MILE),
        (M.EXPORT_CUSTOMS_CLEARED, Leg.FIRST_MILE),
        (M.WAREHOUSE_RECEIVED, Leg.IMPORT_CUSTOMS),  # no warehouse leg planned
        (M.WAREHOUSE_ORDER_PICKED, Leg.IMPORT_CUSTOMS),
    ],
)
def test_leg_of_nearest_earlier_planned_leg(milestone: Milestone, leg: Leg) -> None:
    assert leg_of(new_state(plan()), event(milestone, T0, by=AGGREGATOR)) is leg


def test_leg_of_unplanned_group_with_no_earlier_leg_falls_back_to_the_first_leg() -> None:
    # the plan starts at the line haul; a first-mile milestone has no earlier leg
    shipment = plan(legs=plan_data()["legs"][1:])
    assert leg_of(new_state(shipment), event(M.BOOKED, T0)) is Leg.LINE_HAUL


@pytest.mark.parametrize(
    ("milestone", "reporter", "leg"),
    [
        (M.EXCEPTION, BROKER, Leg.IMPORT_CUSTOMS),
        (M.DAMAGED, USPS, Leg.LAST_MILE),
        (M.LOST, FWD, Leg.LINE_HAUL),  # fwd-sz runs two legs: its leg in custody
        (M.INFO, BROKER, Leg.IMPORT_CUSTOMS),
        (M.RETURN_TO_SENDER, USPS, Leg.LAST_MILE),
    ],
)
def test_leg_of_exceptions_and_info_by_reporting_party(
    milestone: Milestone, reporter: Party, leg: Leg
) -> None:
    # custody is on the line haul, yet the reporting party decides
    state = state_of(plan(), event(M.LINE_HAUL_DEPARTED, T0))
    assert leg_of(state, event(milestone, T0 + hours(1), by=reporter)) is leg


def test_leg_of_exception_from_an_unplanned_party_goes_to_the_custody_leg() -> None:
    state = state_of(
        plan(), event(M.PICKED_UP, T0), event(M.IMPORT_CUSTOMS_SUBMITTED, T0 + days(3))
    )
    assert leg_of(state, event(M.EXCEPTION, T0 + days(4), by=AGGREGATOR)) is Leg.IMPORT_CUSTOMS
    assert leg_of(state, event(M.INFO, T0 + days(4), by=AGGREGATOR)) is Leg.IMPORT_CUSTOMS


def test_leg_of_exception_without_custody_goes_to_the_first_leg() -> None:
    assert leg_of(new_state(plan()), event(M.EXCEPTION, T0, by=AGGREGATOR)) is Leg.FIRST_MILE


def test_exception_from_a_party_running_two_legs_goes_to_its_leg_in_custody() -> None:
    state = state_of(
        plan(),
        event(M.PICKED_UP, T0),
        event(M.DEPARTED_ORIGIN, T0 + hours(10)),
        event(M.LINE_HAUL_DEPARTED, T0 + hours(20)),
    )
    exception = event(M.EXCEPTION, T0 + hours(30), by=FWD)
    assert leg_of(state, exception) is Leg.LINE_HAUL
    state = apply_event(state, exception)
    state = apply_event(state, event(M.LINE_HAUL_ARRIVED, T0 + hours(40)))
    assert all(progress.exception is None for progress in state.legs.values())


# --- open, close, reopen ---------------------------------------------------------------------


def test_a_new_state_has_every_planned_leg_pending() -> None:
    state = new_state(plan())
    assert list(state.legs) == [Leg.FIRST_MILE, Leg.LINE_HAUL, Leg.IMPORT_CUSTOMS, Leg.LAST_MILE]
    assert all(p.status is LegStatus.PENDING and p.opened is None for p in state.legs.values())
    assert state.custody_leg() is None
    assert state.delivered is None


def test_opening_then_closing_a_leg() -> None:
    picked = event(M.PICKED_UP, T0)
    departed = event(M.DEPARTED_ORIGIN, T0 + hours(30))
    state = state_of(plan(), picked)
    first = state.progress(Leg.FIRST_MILE)
    assert first.status is LegStatus.ACTIVE
    assert first.opened is not None
    assert (first.opened.at, first.opened.event_id) == (T0, picked.event_id)
    assert first.last_activity == first.opened == first.last_progress
    state = apply_event(state, departed)
    first = state.progress(Leg.FIRST_MILE)
    assert first.status is LegStatus.CLOSED
    assert first.closed is not None and first.closed.at == T0 + hours(30)
    assert first.opened is not None and first.opened.at == T0
    assert state.progress(Leg.LINE_HAUL).status is LegStatus.PENDING


def test_a_second_opening_milestone_keeps_the_first_opening() -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0), event(M.RECEIVED_AT_ORIGIN_HUB, T0 + hours(5)))
    first = state.progress(Leg.FIRST_MILE)
    assert first.opened is not None and first.opened.milestone is M.PICKED_UP
    assert first.last_activity is not None and first.last_activity.at == T0 + hours(5)


def test_an_earlier_opening_reported_late_moves_the_opening_back() -> None:
    state = state_of(plan(), event(M.RECEIVED_AT_ORIGIN_HUB, T0 + hours(5)), event(M.PICKED_UP, T0))
    first = state.progress(Leg.FIRST_MILE)
    assert first.opened is not None and first.opened.at == T0
    assert first.last_activity is not None and first.last_activity.at == T0 + hours(5)


def test_progress_in_the_group_opens_a_pending_leg() -> None:
    state = state_of(plan(), event(M.IMPORT_CUSTOMS_ACCEPTED, T0))
    customs = state.progress(Leg.IMPORT_CUSTOMS)
    assert customs.status is LegStatus.ACTIVE
    assert customs.opened is not None and customs.opened.milestone is M.IMPORT_CUSTOMS_ACCEPTED


@pytest.mark.parametrize("milestone", [M.IMPORT_CUSTOMS_HELD, M.INFO])
def test_exceptions_and_info_do_not_open_a_leg(milestone: Milestone) -> None:
    state = state_of(plan(), event(milestone, T0, by=BROKER))
    customs = state.progress(Leg.IMPORT_CUSTOMS)
    assert customs.status is LegStatus.PENDING
    assert customs.opened is None
    assert customs.last_activity is not None and customs.last_activity.at == T0


def test_transshipment_reopens_the_line_haul() -> None:
    first_departure = event(M.LINE_HAUL_DEPARTED, T0)
    state = state_of(
        plan(),
        first_departure,
        event(M.LINE_HAUL_ARRIVED, T0 + hours(12)),  # at the transshipment hub
        event(M.TRANSSHIPPED, T0 + hours(14)),
    )
    haul = state.progress(Leg.LINE_HAUL)
    assert haul.status is LegStatus.CLOSED  # transshipped is not an opening milestone
    state = apply_event(state, event(M.LINE_HAUL_DEPARTED, T0 + hours(16)))
    haul = state.progress(Leg.LINE_HAUL)
    assert haul.status is LegStatus.ACTIVE
    assert haul.closed is None
    assert haul.opened is not None and haul.opened.event_id == first_departure.event_id
    state = apply_event(state, event(M.LINE_HAUL_ARRIVED, T0 + hours(30)))
    haul = state.progress(Leg.LINE_HAUL)
    assert haul.status is LegStatus.CLOSED
    assert haul.closed is not None and haul.closed.at == T0 + hours(30)
    assert haul.opened is not None and haul.opened.at == T0


def test_an_opening_older_than_the_close_does_not_reopen() -> None:
    state = state_of(
        plan(), event(M.LINE_HAUL_ARRIVED, T0 + hours(12)), event(M.LINE_HAUL_LOADED, T0)
    )
    haul = state.progress(Leg.LINE_HAUL)
    assert haul.status is LegStatus.CLOSED
    assert haul.opened is not None and haul.opened.at == T0
    assert haul.closed is not None and haul.closed.at == T0 + hours(12)


def test_an_opening_at_the_closing_instant_does_not_reopen() -> None:
    state = state_of(
        plan(),
        event(M.LINE_HAUL_DEPARTED, T0),
        event(M.LINE_HAUL_ARRIVED, T0 + hours(12)),
        event(M.LINE_HAUL_LOADED, T0 + hours(12)),
    )
    assert state.progress(Leg.LINE_HAUL).status is LegStatus.CLOSED


def test_close_without_open_has_zero_known_duration() -> None:
    arrived = event(M.LINE_HAUL_ARRIVED, T0 + hours(12))
    state = state_of(plan(), arrived)
    haul = state.progress(Leg.LINE_HAUL)
    assert haul.status is LegStatus.CLOSED
    assert haul.opened == haul.closed
    assert haul.closed is not None and haul.closed.event_id == arrived.event_id


def test_an_earlier_close_reported_late_moves_the_close_back() -> None:
    airline = event(M.LINE_HAUL_ARRIVED, T0 + hours(14), by=AGGREGATOR)
    forwarder = event(M.LINE_HAUL_ARRIVED, T0 + hours(12))
    state = state_of(plan(), event(M.LINE_HAUL_DEPARTED, T0), airline, forwarder)
    haul = state.progress(Leg.LINE_HAUL)
    assert haul.closed is not None and haul.closed.event_id == forwarder.event_id
    # a later second closing milestone keeps the first close
    state = apply_event(state, event(M.LINE_HAUL_UNLOADED, T0 + hours(15)))
    assert state.progress(Leg.LINE_HAUL).closed == haul.closed


def test_a_late_close_older_than_the_reopening_keeps_the_leg_open() -> None:
    events = [
        event(M.LINE_HAUL_DEPARTED, T0),
        event(M.LINE_HAUL_ARRIVED, T0 + hours(10)),
        event(M.LINE_HAUL_DEPARTED, T0 + hours(20)),
    ]
    late = event(M.LINE_HAUL_UNLOADED, T0 + hours(12))
    in_order = state_of(plan(), events[0], events[1], late, events[2])
    assert in_order.progress(Leg.LINE_HAUL).status is LegStatus.ACTIVE
    out_of_order = state_of(plan(), *events, late)
    assert out_of_order.progress(Leg.LINE_HAUL).status is LegStatus.ACTIVE


def test_delivered_sets_the_delivery_mark_and_closes_the_last_mile() -> None:
    delivered = event(M.DELIVERED, T0 + days(9))
    state = state_of(plan(), event(M.IN_TRANSIT, T0 + days(8)), delivered)
    assert state.delivered is not None and state.delivered.event_id == delivered.event_id
    assert state.progress(Leg.LAST_MILE).status is LegStatus.CLOSED


def test_an_earlier_delivery_reported_late_moves_the_delivery_back() -> None:
    state = state_of(
        plan(),
        event(M.DELIVERED, T0 + days(9), by=AGGREGATOR),
        event(M.DELIVERED, T0 + days(8)),
    )
    closed = state.progress(Leg.LAST_MILE).closed
    assert closed is not None and closed.at == T0 + days(8)
    assert state.delivered is not None and state.delivered.at == T0 + days(8)


# --- duplicates ------------------------------------------------------------------------------


def test_an_event_already_applied_changes_nothing() -> None:
    picked = event(M.PICKED_UP, T0)
    state = state_of(plan(), picked)
    assert apply_event(state, picked) is state
    again = picked.model_dump(mode="json", exclude={"event_id"})
    redelivered = TrackingEvent.model_validate({**again, "received_at": T0 + days(1)})
    assert redelivered.event_id == picked.event_id
    assert apply_event(state, redelivered) is state
    assert state.applied_event_ids == [picked.event_id]


def test_duplicate_ids_collapse_even_when_content_differs() -> None:
    # a source event id identifies the event: the second delivery is a duplicate
    first = event(M.PICKED_UP, T0, source_event_id="scan-1")
    again = event(M.RECEIVED_AT_ORIGIN_HUB, T0 + hours(3), source_event_id="scan-1")
    assert first.event_id == again.event_id
    last = state_of(plan(), first, again).progress(Leg.FIRST_MILE).last_activity
    assert last is not None and last.milestone is M.PICKED_UP


def test_apply_event_does_not_mutate_its_input() -> None:
    state = new_state(plan())
    apply_event(state, event(M.PICKED_UP, T0))
    assert state.applied_event_ids == []
    assert state.progress(Leg.FIRST_MILE).status is LegStatus.PENDING


# --- estimates -------------------------------------------------------------------------------


def test_latest_issued_delivery_estimate_wins_regardless_of_arrival_order() -> None:
    older = estimate(M.DELIVERED, T0 + days(1), T0 + days(12))
    newer = estimate(M.DELIVERED, T0 + days(2), T0 + days(10))  # earlier, but newer news
    for events in ((older, newer), (newer, older)):
        state = state_of(plan(), *events)
        assert state.delivery_estimate is not None
        assert state.delivery_estimate.event_id == newer.event_id
        assert state.delivery_estimate.estimated_at == T0 + days(10)
        assert state.delivery_estimate.issued_at == T0 + days(2)


def test_estimates_are_not_facts() -> None:
    state = state_of(plan(), estimate(M.DELIVERED, T0, T0 + days(10)))
    assert state.delivered is None
    last_mile = state.progress(Leg.LAST_MILE)
    assert last_mile.status is LegStatus.PENDING
    assert last_mile.last_activity is None
    assert last_mile.opened is None


def test_a_delivery_estimate_is_also_the_last_mile_close_estimate() -> None:
    delivery = estimate(M.DELIVERED, T0, T0 + days(10), kind="planned")
    state = state_of(plan(), delivery)
    assert state.delivery_estimate is not None
    assert state.delivery_estimate.event_id == delivery.event_id
    close = state.progress(Leg.LAST_MILE).close_estimate
    assert close is not None and close.event_id == delivery.event_id


def test_a_leg_close_estimate_is_not_a_delivery_estimate() -> None:
    arrival = estimate(M.LINE_HAUL_ARRIVED, T0, T0 + days(3))
    state = state_of(plan(), arrival)
    assert state.delivery_estimate is None
    close = state.progress(Leg.LINE_HAUL).close_estimate
    assert close is not None
    assert (close.estimated_at, close.issued_at) == (T0 + days(3), T0)
    assert state.progress(Leg.LAST_MILE).close_estimate is None


def test_latest_issued_leg_close_estimate_wins_regardless_of_arrival_order() -> None:
    older = estimate(M.LINE_HAUL_ARRIVED, T0, T0 + days(3))
    newer = estimate(M.LINE_HAUL_UNLOADED, T0 + hours(6), T0 + days(5))
    for events in ((older, newer), (newer, older)):
        close = state_of(plan(), *events).progress(Leg.LINE_HAUL).close_estimate
        assert close is not None and close.event_id == newer.event_id


def test_an_estimate_of_a_non_closing_milestone_sets_no_close_estimate() -> None:
    state = state_of(plan(), estimate(M.OUT_FOR_DELIVERY, T0, T0 + days(9)))
    assert state.delivery_estimate is None
    assert all(p.close_estimate is None for p in state.legs.values())


# --- exceptions ------------------------------------------------------------------------------


def test_an_exception_is_set_with_its_reason() -> None:
    held = event(M.IMPORT_CUSTOMS_HELD, T0 + hours(2), reason="DOCS")
    state = state_of(plan(), event(M.IMPORT_CUSTOMS_SUBMITTED, T0), held)
    customs = state.progress(Leg.IMPORT_CUSTOMS)
    assert customs.exception is not None and customs.exception.event_id == held.event_id
    assert customs.exception_reason == "DOCS"
    assert customs.last_progress is not None and customs.last_progress.at == T0
    assert customs.last_activity is not None and customs.last_activity.at == T0 + hours(2)


def test_later_progress_on_the_leg_clears_the_exception() -> None:
    state = state_of(
        plan(),
        event(M.IMPORT_CUSTOMS_HELD, T0, reason="DOCS"),
        event(M.IMPORT_CUSTOMS_RELEASED, T0 + hours(5)),
    )
    customs = state.progress(Leg.IMPORT_CUSTOMS)
    assert customs.exception is None
    assert customs.exception_reason is None


def test_older_progress_arriving_late_does_not_clear_the_exception() -> None:
    state = state_of(
        plan(),
        event(M.IMPORT_CUSTOMS_HELD, T0 + hours(5)),
        event(M.IMPORT_CUSTOMS_SUBMITTED, T0),  # reported late
    )
    customs = state.progress(Leg.IMPORT_CUSTOMS)
    assert customs.exception is not None and customs.exception.at == T0 + hours(5)
    assert customs.status is LegStatus.ACTIVE


def test_a_late_older_exception_does_not_override_newer_progress() -> None:
    state = state_of(
        plan(),
        event(M.IMPORT_CUSTOMS_ACCEPTED, T0 + hours(5)),
        event(M.IMPORT_CUSTOMS_HELD, T0),  # reported late, already superseded
    )
    customs = state.progress(Leg.IMPORT_CUSTOMS)
    assert customs.exception is None
    assert customs.last_activity is not None and customs.last_activity.at == T0 + hours(5)


def test_progress_on_another_leg_does_not_clear_an_exception() -> None:
    state = state_of(plan(), event(M.IMPORT_CUSTOMS_HELD, T0), event(M.IN_TRANSIT, T0 + hours(5)))
    assert state.progress(Leg.IMPORT_CUSTOMS).exception is not None


def test_info_neither_clears_an_exception_nor_counts_as_progress() -> None:
    state = state_of(
        plan(),
        event(M.DELIVERY_ATTEMPTED, T0),
        event(M.INFO, T0 + hours(5), by=USPS),
    )
    last_mile = state.progress(Leg.LAST_MILE)
    assert last_mile.exception is not None
    assert last_mile.last_progress is None
    assert last_mile.last_activity is not None and last_mile.last_activity.milestone is M.INFO


def test_a_late_older_exception_does_not_replace_a_newer_exception() -> None:
    newer = event(M.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED, T0 + hours(5))
    older = event(M.IMPORT_CUSTOMS_HELD, T0)
    in_order = state_of(plan(), older, newer).progress(Leg.IMPORT_CUSTOMS).exception
    assert in_order is not None and in_order.event_id == newer.event_id
    late = state_of(plan(), newer, older).progress(Leg.IMPORT_CUSTOMS).exception
    assert late is not None and late.event_id == newer.event_id


# --- custody ---------------------------------------------------------------------------------


def test_custody_is_the_latest_active_leg_else_the_latest_closed_one() -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0))
    assert state.custody_leg() is Leg.FIRST_MILE
    state = apply_event(state, event(M.LINE_HAUL_DEPARTED, T0 + hours(20)))  # first mile open
    assert state.custody_leg() is Leg.LINE_HAUL
    state = apply_event(state, event(M.LINE_HAUL_ARRIVED, T0 + hours(30)))
    assert state.custody_leg() is Leg.FIRST_MILE  # the only active leg left
    state = apply_event(state, event(M.DEPARTED_ORIGIN, T0 + hours(31)))
    assert state.custody_leg() is Leg.LINE_HAUL  # all closed: the latest closed
    state = apply_event(state, event(M.IMPORT_CUSTOMS_RELEASED, T0 + hours(40)))
    assert state.custody_leg() is Leg.IMPORT_CUSTOMS


def test_an_active_earlier_leg_outranks_a_closed_later_one() -> None:
    state = state_of(plan(), event(M.IMPORT_CUSTOMS_RELEASED, T0), event(M.IN_TRANSIT, T0))
    assert state.custody_leg() is Leg.LAST_MILE
    state = state_of(plan(), event(M.IMPORT_CUSTOMS_RELEASED, T0), event(M.TRANSSHIPPED, T0))
    assert state.custody_leg() is Leg.LINE_HAUL


# --- plan revisions --------------------------------------------------------------------------


def test_with_plan_keeps_progress_across_revisions() -> None:
    state = state_of(
        plan(),
        event(M.PICKED_UP, T0),
        event(M.DEPARTED_ORIGIN, T0 + hours(20)),
        event(M.LINE_HAUL_DEPARTED, T0 + hours(22)),
        estimate(M.DELIVERED, T0 + hours(22), T0 + days(9)),
    )
    revised_legs = legs_with(line_haul={"sla": {"max_duration": "P2D"}})
    export = {
        "leg": "export_customs",
        "party": FWD.model_dump(mode="json", exclude_none=True),
        "sla": {"max_duration": "PT12H"},
    }
    revised_legs = [revised_legs[0], export, *revised_legs[1:3]]  # drops the last mile
    revised = plan(revision=2, legs=revised_legs, handoffs=[])
    after = with_plan(state, revised)
    assert after.plan.revision == 2
    assert list(after.legs) == [
        Leg.FIRST_MILE,
        Leg.EXPORT_CUSTOMS,
        Leg.LINE_HAUL,
        Leg.IMPORT_CUSTOMS,
    ]
    assert after.progress(Leg.FIRST_MILE) == state.progress(Leg.FIRST_MILE)
    assert after.progress(Leg.LINE_HAUL) == state.progress(Leg.LINE_HAUL)
    assert after.progress(Leg.EXPORT_CUSTOMS).status is LegStatus.PENDING
    assert after.applied_event_ids == state.applied_event_ids
    assert after.delivery_estimate == state.delivery_estimate
    sla = after.planned(Leg.LINE_HAUL).sla
    assert sla is not None and sla.max_duration == timedelta(days=2)
    # the original is untouched
    assert state.plan.revision == 1 and Leg.LAST_MILE in state.legs
