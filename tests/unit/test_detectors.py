"""Each detector rule with an injected clock: absent just before its moment, present from it
on (with since, party, deadline), gone when the awaited event arrives, and ``next_change``
naming that moment. Then attribution per integration model, SLA kinds, and what a delivered
shipment keeps.

The factory plan (seller_managed CN->US air): first_mile fwd-sz P3D stall 36h, line_haul
fwd-sz P4D, import_customs broker-lax 2 business days (Los Angeles), last_mile usps P5D
stall 2d, handoff import_customs->last_mile 24h answerable broker-lax, promise 2026-03-21.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub import detect
from hub.detect import delay, eta_slip, exception, handoff_gap, responsibility, stall
from hub.detect.condition import Condition
from hub.shipment_state import ShipmentState, apply_event
from schemas.alerts import AlertType, HandoffRef, Severity
from schemas.common import Party
from schemas.milestones import EXCEPTION_MILESTONES, Milestone
from schemas.shipments import Leg, ShipmentPlan
from tests.factories import plan_data
from tests.support.detection_builders import (
    AGGREGATOR,
    AMAZON,
    BROKER,
    FWD,
    PROMISE,
    PROVIDER,
    SECOND,
    SELLER,
    T0,
    UPS,
    USPS,
    WAREHOUSE_OP,
    days,
    estimate,
    event,
    fba_plan,
    find,
    full_service_plan,
    hours,
    overseas_warehouse_plan,
    plan,
    plan_with_legs,
    state_of,
)

M = Milestone
DELAY, SLIP, STALL = AlertType.DELAY, AlertType.ETA_SLIP, AlertType.STALL
GAP, BREACH = AlertType.HANDOFF_GAP, AlertType.RESPONSIBILITY_BREACH
LA = ZoneInfo("America/Los_Angeles")
CUSTOMS_TO_LAST = (Leg.IMPORT_CUSTOMS, Leg.LAST_MILE)


def around(
    module: ModuleType, state: ShipmentState, moment: datetime, type_: AlertType, rule: str, **where
) -> tuple[Condition | None, Condition | None]:
    """The condition one second before ``moment`` and at ``moment``."""
    before = find(module.conditions(state, moment - SECOND), type_, rule, **where)
    at = find(module.conditions(state, moment), type_, rule, **where)
    return before, at


def handoffs(answerable: Party | None, window: str = "PT24H") -> list[dict[str, Any]]:
    handoff: dict[str, Any] = {
        "from_leg": "import_customs",
        "to_leg": "last_mile",
        "window": window,
    }
    if answerable is not None:
        handoff["answerable"] = answerable.model_dump(mode="json", exclude_none=True)
    return [handoff]


# --- delay: leg_sla --------------------------------------------------------------------------


def test_delay_leg_sla_fires_at_the_deadline() -> None:
    picked = event(M.PICKED_UP, T0)
    state = state_of(plan(), picked)
    deadline = T0 + days(3)
    before, at = around(delay, state, deadline, DELAY, "leg_sla", leg=Leg.FIRST_MILE)
    assert before is None
    assert at is not None
    assert at.since == at.deadline_at == deadline
    assert at.party == FWD
    assert at.severity is Severity.WARNING
    assert [e.event_id for e in at.evidence] == [picked.event_id]
    later = find(delay.conditions(state, deadline + days(2)), DELAY, "leg_sla", leg=Leg.FIRST_MILE)
    assert later == at  # since stays the deadline, whenever evaluated


def test_delay_leg_sla_resolves_when_the_leg_closes_late() -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0), event(M.DEPARTED_ORIGIN, T0 + days(4)))
    assert find(delay.conditions(state, T0 + days(5)), DELAY, "leg_sla", leg=Leg.FIRST_MILE) is None


def test_delay_leg_sla_next_change_is_the_deadline_of_an_open_leg() -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0))
    assert delay.next_change(state, T0) == T0 + days(3)
    assert delay.next_change(state, T0 + days(3)) == PROMISE  # the deadline is not "later"
    closed = state_of(plan(), event(M.PICKED_UP, T0), event(M.DEPARTED_ORIGIN, T0 + hours(5)))
    assert delay.next_change(closed, T0 + hours(5)) == PROMISE
    assert delay.next_change(state_of(plan(promised_delivery_at=None)), T0) is None


def test_delay_leg_sla_absolute_deadline_fires_even_if_the_leg_never_opened() -> None:
    deadline = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    shipment = plan_with_legs({"line_haul": {"sla": {"deadline": deadline.isoformat()}}})
    state = state_of(shipment)
    assert delay.next_change(state, T0) == deadline
    before, at = around(delay, state, deadline, DELAY, "leg_sla", leg=Leg.LINE_HAUL)
    assert before is None
    assert at is not None
    assert (at.since, at.deadline_at, at.party, at.evidence) == (deadline, deadline, FWD, ())
    closed = state_of(shipment, event(M.LINE_HAUL_ARRIVED, deadline + hours(1)))
    assert find(delay.conditions(closed, deadline + hours(2)), DELAY, "leg_sla") is None


@pytest.mark.parametrize(
    ("opened_at", "holidays", "due"),
    [
        # Friday 15:30 in Los Angeles; Monday a holiday: due Wednesday 15:30 (after the DST
        # change of Sunday 8 March, so -07:00)
        (
            datetime(2026, 3, 6, 23, 30, tzinfo=UTC),
            ["2026-03-09"],
            datetime(2026, 3, 11, 15, 30, tzinfo=LA),
        ),
        # Friday 18:00 in Los Angeles is Saturday in UTC: the lane's zone decides the day
        (
            datetime(2026, 3, 7, 2, 0, tzinfo=UTC),
            [],
            datetime(2026, 3, 10, 18, 0, tzinfo=LA),
        ),
        # opened on a Saturday: counted from Monday's start of day
        (
            datetime(2026, 3, 7, 18, 0, tzinfo=UTC),
            [],
            datetime(2026, 3, 11, 0, 0, tzinfo=LA),
        ),
    ],
)
def test_delay_leg_sla_in_business_days_of_the_lane(
    opened_at: datetime, holidays: list[str], due: datetime
) -> None:
    sla = {"max_business_days": 2, "time_zone": "America/Los_Angeles", "holidays": holidays}
    shipment = plan_with_legs({"import_customs": {"sla": sla}})
    state = state_of(shipment, event(M.IMPORT_CUSTOMS_SUBMITTED, opened_at))
    assert delay.next_change(state, opened_at) == due
    before, at = around(delay, state, due, DELAY, "leg_sla", leg=Leg.IMPORT_CUSTOMS)
    assert before is None
    assert at is not None and at.deadline_at == due and at.party == BROKER


# --- delay: promise --------------------------------------------------------------------------


def test_delay_promise_fires_at_the_promise_against_the_custody_party() -> None:
    state = state_of(plan(), event(M.IN_TRANSIT, PROMISE - days(1)))
    before, at = around(delay, state, PROMISE, DELAY, "promise")
    assert before is None
    assert at is not None
    assert at.since == at.deadline_at == PROMISE
    assert at.severity is Severity.CRITICAL
    assert at.party == USPS
    assert at.leg is None and at.handoff is None


def test_delay_promise_without_custody_names_no_party() -> None:
    at = find(delay.conditions(state_of(plan()), PROMISE), DELAY, "promise")
    assert at is not None and at.party is None


def test_delay_promise_resolves_when_delivered_late() -> None:
    state = state_of(
        plan(), event(M.IN_TRANSIT, PROMISE - days(1)), event(M.DELIVERED, PROMISE + days(1))
    )
    assert find(delay.conditions(state, PROMISE + days(2)), DELAY, "promise") is None


def test_delay_promise_next_change() -> None:
    state = state_of(plan(), event(M.IN_TRANSIT, PROMISE - days(1)))
    assert delay.next_change(state, PROMISE - days(1)) == PROMISE  # the leg is due later
    assert delay.next_change(state, PROMISE) == PROMISE - days(1) + days(5)
    delivered = state_of(plan(), event(M.DELIVERED, PROMISE - days(1)))
    assert delay.next_change(delivered, PROMISE - days(1)) is None


# --- eta_slip: promise -----------------------------------------------------------------------


ISSUED = PROMISE - days(1)  # when the slipping delivery estimate is issued
NOW = PROMISE - hours(12)
SLIPPED = PROMISE + days(1)


def _slipping(estimated_at: datetime = SLIPPED) -> tuple[ShipmentState, Any]:
    # the last mile opened two days before the promise: due 3 days after it, so a
    # delivery estimate of promise + 1 day slips the promise but not the leg's SLA
    slip = estimate(M.DELIVERED, ISSUED, estimated_at)
    return state_of(plan(), event(M.IN_TRANSIT, PROMISE - days(2)), slip), slip


def test_eta_slip_promise_from_the_estimate_until_the_promise() -> None:
    state, slip = _slipping()
    found = find(eta_slip.conditions(state, NOW), SLIP, "promise")
    assert found is not None
    assert found.since == ISSUED  # when the estimate was issued
    assert found.deadline_at == PROMISE
    assert found.party == USPS
    assert [e.event_id for e in found.evidence] == [slip.event_id]
    assert find(eta_slip.conditions(state, NOW), SLIP, "leg_sla", leg=Leg.LAST_MILE) is None
    # just before the promise it still holds; at the promise the DELAY takes over
    before, at = around(eta_slip, state, PROMISE, SLIP, "promise")
    assert before is not None and at is None
    assert find(delay.conditions(state, PROMISE), DELAY, "promise") is not None


@pytest.mark.parametrize(("offset", "slips"), [(0, False), (1, True)])
def test_eta_slip_promise_needs_an_estimate_after_the_promise(offset: int, slips: bool) -> None:
    state, _ = _slipping(PROMISE + offset * SECOND)
    found = find(eta_slip.conditions(state, NOW), SLIP, "promise")
    assert (found is not None) is slips


def test_eta_slip_promise_resolved_by_a_newer_estimate_back_in_time() -> None:
    state, _ = _slipping()
    fixed = apply_event(state, estimate(M.DELIVERED, ISSUED + hours(2), PROMISE - hours(5)))
    assert find(eta_slip.conditions(fixed, NOW), SLIP, "promise") is None
    # an older, slipping estimate arriving afterwards does not bring it back
    stale = apply_event(fixed, estimate(M.DELIVERED, ISSUED - days(3), PROMISE + days(3)))
    assert find(eta_slip.conditions(stale, NOW), SLIP, "promise") is None


def test_eta_slip_promise_resolved_by_delivery() -> None:
    state, _ = _slipping()
    delivered = apply_event(state, event(M.DELIVERED, NOW - hours(1)))
    assert find(eta_slip.conditions(delivered, NOW), SLIP, "promise") is None


def test_eta_slip_promise_next_change_is_the_promise_while_slipping() -> None:
    state, _ = _slipping()
    assert eta_slip.next_change(state, NOW) == PROMISE
    on_time, _ = _slipping(PROMISE - days(1))
    assert eta_slip.next_change(on_time, NOW) is None


def test_a_delivery_estimate_past_the_last_mile_sla_is_also_a_leg_slip() -> None:
    opened = PROMISE - days(10)  # the last mile is due five days before the promise
    state = state_of(
        plan(), event(M.IN_TRANSIT, opened), estimate(M.DELIVERED, opened, PROMISE - days(1))
    )
    found = eta_slip.conditions(state, opened + days(1))
    assert [(c.rule, c.leg) for c in found] == [("leg_sla", Leg.LAST_MILE)]
    assert eta_slip.next_change(state, opened + days(1)) == opened + days(5)


# --- eta_slip: leg_sla -----------------------------------------------------------------------


def _leg_slipping(estimated_at: datetime) -> tuple[ShipmentState, Any]:
    slip = estimate(M.LINE_HAUL_ARRIVED, T0 + days(1), estimated_at)
    return state_of(plan(), event(M.LINE_HAUL_DEPARTED, T0), slip), slip


def test_eta_slip_leg_sla_from_the_estimate_until_the_deadline() -> None:
    deadline = T0 + days(4)
    state, slip = _leg_slipping(deadline + hours(1))
    found = find(eta_slip.conditions(state, T0 + days(2)), SLIP, "leg_sla", leg=Leg.LINE_HAUL)
    assert found is not None
    assert found.since == T0 + days(1)
    assert found.deadline_at == deadline
    assert found.party == FWD
    assert [e.event_id for e in found.evidence] == [slip.event_id]
    before, at = around(eta_slip, state, deadline, SLIP, "leg_sla", leg=Leg.LINE_HAUL)
    assert before is not None and at is None
    assert find(delay.conditions(state, deadline), DELAY, "leg_sla", leg=Leg.LINE_HAUL)
    assert eta_slip.next_change(state, T0 + days(2)) == deadline


@pytest.mark.parametrize(("offset", "slips"), [(0, False), (1, True)])
def test_eta_slip_leg_sla_needs_an_estimate_after_the_deadline(offset: int, slips: bool) -> None:
    state, _ = _leg_slipping(T0 + days(4) + offset * SECOND)
    found = find(eta_slip.conditions(state, T0 + days(2)), SLIP, "leg_sla", leg=Leg.LINE_HAUL)
    assert (found is not None) is slips


@pytest.mark.parametrize(
    "resolution",
    [
        event(M.LINE_HAUL_ARRIVED, T0 + days(2)),
        estimate(M.LINE_HAUL_UNLOADED, T0 + days(2), T0 + days(3)),
    ],
    ids=["leg closes", "newer estimate in time"],
)
def test_eta_slip_leg_sla_resolution(resolution: Any) -> None:
    state, _ = _leg_slipping(T0 + days(5))
    fixed = apply_event(state, resolution)
    assert (
        find(eta_slip.conditions(fixed, T0 + days(3)), SLIP, "leg_sla", leg=Leg.LINE_HAUL) is None
    )
    assert eta_slip.next_change(fixed, T0 + days(3)) is None


def test_eta_slip_leg_sla_waits_for_a_duration_sla_to_start() -> None:
    # import customs is pending: a 2-business-day SLA has no deadline yet
    state = state_of(plan(), estimate(M.IMPORT_CUSTOMS_RELEASED, T0, T0 + days(30)))
    assert eta_slip.conditions(state, T0 + days(1)) == []
    deadline = datetime(2026, 3, 10, tzinfo=UTC)
    absolute = plan_with_legs({"import_customs": {"sla": {"deadline": deadline.isoformat()}}})
    state = state_of(absolute, estimate(M.IMPORT_CUSTOMS_RELEASED, T0, T0 + days(30)))
    found = find(eta_slip.conditions(state, T0 + days(1)), SLIP, "leg_sla", leg=Leg.IMPORT_CUSTOMS)
    assert found is not None and found.deadline_at == deadline and found.party == BROKER


# --- stall: silence --------------------------------------------------------------------------


def test_stall_fires_after_the_limit_of_silence() -> None:
    picked = event(M.PICKED_UP, T0)
    state = state_of(plan(), picked)
    limit = T0 + hours(36)
    assert stall.next_change(state, T0) == limit
    before, at = around(stall, state, limit, STALL, "silence", leg=Leg.FIRST_MILE)
    assert before is None
    assert at is not None
    assert at.since == at.deadline_at == limit
    assert at.party == FWD
    assert [e.event_id for e in at.evidence] == [picked.event_id]
    assert stall.next_change(state, limit) is None


@pytest.mark.parametrize(
    "news",
    [
        event(M.INFO, T0 + hours(40), by=FWD),
        event(M.RECEIVED_AT_ORIGIN_HUB, T0 + hours(40)),
        event(M.EXPORT_CUSTOMS_HELD, T0 + hours(40)),
    ],
    ids=["info", "progress", "exception"],
)
def test_stall_resolved_by_the_next_event_of_the_leg(news: Any) -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0), news)
    assert find(stall.conditions(state, T0 + hours(40)), STALL, "silence") is None
    assert stall.next_change(state, T0 + hours(40)) == T0 + hours(76)


def test_stall_resolved_by_closing_the_leg_and_ignores_other_legs() -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0), event(M.DEPARTED_ORIGIN, T0 + hours(40)))
    assert stall.conditions(state, T0 + days(10)) == []
    assert stall.next_change(state, T0 + hours(40)) is None
    # the line haul has no stall limit; a pending leg cannot stall
    hauling = state_of(plan(), event(M.LINE_HAUL_DEPARTED, T0))
    assert stall.conditions(hauling, T0 + days(10)) == []
    assert stall.next_change(hauling, T0) is None


def test_stall_next_change_is_the_earliest_leg() -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0), event(M.IN_TRANSIT, T0 + hours(1)))
    assert stall.next_change(state, T0 + hours(1)) == T0 + hours(36)
    assert stall.next_change(state, T0 + hours(36)) == T0 + hours(49)


# --- handoff_gap: window ---------------------------------------------------------------------


def test_handoff_window_fires_when_the_next_leg_does_not_take_over() -> None:
    released = event(M.IMPORT_CUSTOMS_RELEASED, T0 + days(5))
    state = state_of(plan(), event(M.IMPORT_CUSTOMS_SUBMITTED, T0 + days(4)), released)
    deadline = T0 + days(6)
    assert handoff_gap.next_change(state, T0 + days(5)) == deadline
    before, at = around(handoff_gap, state, deadline, GAP, "window", handoff=CUSTOMS_TO_LAST)
    assert before is None
    assert at is not None
    assert at.since == at.deadline_at == deadline
    assert at.handoff == HandoffRef(from_leg=Leg.IMPORT_CUSTOMS, to_leg=Leg.LAST_MILE)
    assert at.leg is None
    assert at.party == BROKER  # the contract's answerable party
    assert [e.event_id for e in at.evidence] == [released.event_id]
    assert handoff_gap.next_change(state, deadline) is None


def test_handoff_window_resolved_when_the_next_leg_takes_custody() -> None:
    state = state_of(
        plan(),
        event(M.IMPORT_CUSTOMS_RELEASED, T0 + days(5)),
        event(M.CARRIER_RECEIVED, T0 + days(7)),
    )
    found = handoff_gap.conditions(state, T0 + days(8))
    assert find(found, GAP, "window", handoff=CUSTOMS_TO_LAST) is None
    assert find(found, GAP, "no_handover", handoff=CUSTOMS_TO_LAST) is None
    assert handoff_gap.next_change(state, T0 + days(5)) is None


def test_handoff_window_only_for_handoffs_in_the_plan() -> None:
    # line_haul -> import_customs has no handoff entry: no window, however long
    state = state_of(plan(), event(M.LINE_HAUL_ARRIVED, T0))
    found = handoff_gap.conditions(state, T0 + days(30))
    assert find(found, GAP, "window", handoff=(Leg.LINE_HAUL, Leg.IMPORT_CUSTOMS)) is None
    assert handoff_gap.next_change(state, T0) is None


# --- handoff_gap: no_handover ----------------------------------------------------------------


def test_no_handover_when_the_next_leg_reports_custody_first() -> None:
    submitted = event(M.IMPORT_CUSTOMS_SUBMITTED, T0 + days(4))
    received = event(M.CARRIER_RECEIVED, T0 + days(5))
    waiting = state_of(plan(), submitted)  # no deadline: only the carrier's scan opens it
    found = handoff_gap.conditions(waiting, T0 + days(30))
    assert find(found, GAP, "no_handover", handoff=CUSTOMS_TO_LAST) is None
    state = state_of(plan(), submitted, received)
    at = find(
        handoff_gap.conditions(state, T0 + days(5)), GAP, "no_handover", handoff=CUSTOMS_TO_LAST
    )
    assert at is not None
    assert at.since == T0 + days(5)
    assert at.deadline_at is None
    assert at.party == BROKER
    assert [e.event_id for e in at.evidence] == [received.event_id]
    assert handoff_gap.next_change(state, T0 + days(5)) is None  # no deadline to wait for


def test_no_handover_resolved_when_the_handover_arrives_late() -> None:
    state = state_of(
        plan(),
        event(M.CARRIER_RECEIVED, T0 + days(5)),
        event(M.IMPORT_CUSTOMS_RELEASED, T0 + days(4)),  # reported after the carrier's scan
    )
    found = handoff_gap.conditions(state, T0 + days(6))
    assert find(found, GAP, "no_handover", handoff=CUSTOMS_TO_LAST) is None


def test_no_handover_needs_the_previous_leg_to_have_taken_custody() -> None:
    """A leg that never reported is untracked, not a lost handoff: no alert for every
    shipment whose first mile has no feed."""
    untracked = state_of(plan(), event(M.LINE_HAUL_DEPARTED, T0))
    assert handoff_gap.conditions(untracked, T0 + days(1)) == []
    held = state_of(plan(), event(M.PICKED_UP, T0 - hours(5)), event(M.LINE_HAUL_DEPARTED, T0))
    found = find(
        handoff_gap.conditions(held, T0),
        GAP,
        "no_handover",
        handoff=(Leg.FIRST_MILE, Leg.LINE_HAUL),
    )
    assert found is not None and found.party == FWD  # the handing-over leg's party


# --- responsibility_breach -------------------------------------------------------------------


def test_breach_of_a_leg_sla() -> None:
    state = state_of(plan(), event(M.CARRIER_RECEIVED, T0))
    deadline = T0 + days(5)
    assert responsibility.next_change(state, T0) == deadline
    before, at = around(responsibility, state, deadline, BREACH, "leg_sla", leg=Leg.LAST_MILE)
    assert before is None
    assert at is not None
    assert at.since == at.deadline_at == deadline
    assert at.party == USPS
    assert "usps" in at.summary
    delivered = state_of(plan(), event(M.CARRIER_RECEIVED, T0), event(M.DELIVERED, T0 + days(6)))
    assert responsibility.conditions(delivered, T0 + days(7)) == []
    assert responsibility.next_change(delivered, T0) is None


def test_breach_of_a_handoff_window() -> None:
    state = state_of(plan(), event(M.IMPORT_CUSTOMS_RELEASED, T0))
    deadline = T0 + hours(24)
    assert responsibility.next_change(state, T0) == deadline
    before, at = around(
        responsibility, state, deadline, BREACH, "handoff_window", handoff=CUSTOMS_TO_LAST
    )
    assert before is None
    assert at is not None
    assert at.since == at.deadline_at == deadline
    assert at.party == BROKER
    assert at.leg is None
    taken = state_of(
        plan(), event(M.IMPORT_CUSTOMS_RELEASED, T0), event(M.IN_TRANSIT, T0 + days(2))
    )
    found = responsibility.conditions(taken, T0 + days(3))
    assert find(found, BREACH, "handoff_window", handoff=CUSTOMS_TO_LAST) is None


def test_breach_next_change_takes_the_earlier_of_leg_and_handoff_deadlines() -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0), event(M.IMPORT_CUSTOMS_RELEASED, T0 + days(1)))
    assert responsibility.next_change(state, T0 + days(1)) == T0 + days(2)  # the handoff window
    assert responsibility.next_change(state, T0 + days(2)) == T0 + days(3)  # the first mile SLA
    assert responsibility.next_change(state, T0 + days(3)) is None


# --- exception -------------------------------------------------------------------------------

_CRITICAL = {
    M.LOST,
    M.DAMAGED,
    M.IMPORT_CUSTOMS_SEIZED,
    M.IMPORT_CUSTOMS_REJECTED,
    M.RETURN_TO_SENDER,
    M.RETURNED,
}
# where each exception lands in the factory plan, reported by its default party
_EXCEPTION_LEG = {
    M.EXPORT_CUSTOMS_HELD: (Leg.FIRST_MILE, FWD),  # no export leg: the nearest earlier one
    M.IMPORT_CUSTOMS_HELD: (Leg.IMPORT_CUSTOMS, BROKER),
    M.IMPORT_CUSTOMS_INSPECTION: (Leg.IMPORT_CUSTOMS, BROKER),
    M.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED: (Leg.IMPORT_CUSTOMS, BROKER),
    M.IMPORT_CUSTOMS_DUTIES_DUE: (Leg.IMPORT_CUSTOMS, BROKER),
    M.IMPORT_CUSTOMS_REJECTED: (Leg.IMPORT_CUSTOMS, BROKER),
    M.IMPORT_CUSTOMS_SEIZED: (Leg.IMPORT_CUSTOMS, BROKER),
    M.DELIVERY_ATTEMPTED: (Leg.LAST_MILE, USPS),
    M.EXCEPTION: (Leg.LAST_MILE, USPS),  # reported by usps
    M.DAMAGED: (Leg.LAST_MILE, USPS),
    M.LOST: (Leg.LAST_MILE, USPS),
    M.RETURN_TO_SENDER: (Leg.LAST_MILE, USPS),
    M.RETURNED: (Leg.LAST_MILE, USPS),
    M.CANCELLED: (Leg.LAST_MILE, USPS),
}


def test_every_exception_milestone_is_covered() -> None:
    assert set(_EXCEPTION_LEG) == EXCEPTION_MILESTONES
    assert _CRITICAL == exception.CRITICAL


@pytest.mark.parametrize("milestone", sorted(EXCEPTION_MILESTONES), ids=str)
def test_exception_per_milestone(milestone: Milestone) -> None:
    leg, party = _EXCEPTION_LEG[milestone]
    reported = event(milestone, T0 + days(1))
    state = state_of(plan(), reported)
    before, at = around(
        exception, state, T0 + days(1), AlertType.EXCEPTION, milestone.value, leg=leg
    )
    assert before is None  # not before it happened
    assert at is not None
    assert at.since == T0 + days(1)
    assert at.party == party
    assert at.deadline_at is None
    assert at.severity is (Severity.CRITICAL if milestone in _CRITICAL else Severity.WARNING)
    assert [e.event_id for e in at.evidence] == [reported.event_id]
    assert exception.next_change(state, T0) is None


def test_exception_summary_carries_the_reason() -> None:
    state = state_of(plan(), event(M.IMPORT_CUSTOMS_HELD, T0, reason="MISSING_INVOICE"))
    (found,) = exception.conditions(state, T0)
    assert "MISSING_INVOICE" in found.summary
    assert found.rule == "import_customs_held"


def test_exception_resolved_by_later_progress_on_its_leg_only() -> None:
    state = state_of(plan(), event(M.IMPORT_CUSTOMS_HELD, T0), event(M.IN_TRANSIT, T0 + days(1)))
    assert len(exception.conditions(state, T0 + days(1))) == 1  # other leg's progress
    state = state_of(
        plan(), event(M.IMPORT_CUSTOMS_HELD, T0), event(M.IMPORT_CUSTOMS_RELEASED, T0 + days(1))
    )
    assert exception.conditions(state, T0 + days(1)) == []


def test_two_kinds_of_trouble_on_one_leg_are_two_rules() -> None:
    held = state_of(plan(), event(M.IMPORT_CUSTOMS_HELD, T0))
    docs = state_of(plan(), event(M.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED, T0))
    (first,) = exception.conditions(held, T0)
    (second,) = exception.conditions(docs, T0)
    assert first.rule != second.rule and first.leg is second.leg


# --- attribution per integration model -------------------------------------------------------


def _busy_state(shipment: ShipmentPlan) -> ShipmentState:
    """A shipment in trouble everywhere the factory-shaped plans allow."""
    return state_of(
        shipment,
        event(M.PICKED_UP, T0),  # first mile: SLA, stall
        event(M.LINE_HAUL_DEPARTED, T0 + hours(2)),  # no handover from the first mile
        event(M.IMPORT_CUSTOMS_RELEASED, T0 + hours(1)),  # handoff window to the last mile
        event(M.DAMAGED, T0 + hours(3), by=AGGREGATOR),  # custody: the line haul
        estimate(M.DELIVERED, T0 + hours(3), PROMISE + days(2)),
    )


_EVERY_RULE = {
    (DELAY, "leg_sla"),
    (DELAY, "promise"),
    (SLIP, "promise"),
    (SLIP, "leg_sla"),
    (STALL, "silence"),
    (GAP, "window"),
    (GAP, "no_handover"),
    (BREACH, "leg_sla"),
    (BREACH, "handoff_window"),
    (AlertType.EXCEPTION, "damaged"),
}


def _all_conditions(state: ShipmentState) -> list[Condition]:
    slip = estimate(M.LINE_HAUL_ARRIVED, T0 + hours(3), T0 + days(9))
    with_slip = apply_event(state, slip)
    return detect.conditions(with_slip, T0 + days(3) + hours(1)) + detect.conditions(state, PROMISE)


def test_full_service_provider_answers_for_everything() -> None:
    found = _all_conditions(_busy_state(full_service_plan()))
    assert {(c.type, c.rule) for c in found} == _EVERY_RULE
    assert {c.party for c in found} == {PROVIDER}


def test_seller_managed_attribution() -> None:
    found = _all_conditions(_busy_state(plan()))
    assert {(c.type, c.rule) for c in found} == _EVERY_RULE
    parties = {(c.type, c.rule, c.leg, c.handoff and c.handoff.to_leg): c.party for c in found}
    assert parties == {
        (DELAY, "leg_sla", Leg.FIRST_MILE, None): FWD,
        (DELAY, "leg_sla", Leg.LINE_HAUL, None): FWD,
        (DELAY, "promise", None, None): FWD,  # custody: the line haul
        (SLIP, "promise", None, None): FWD,
        (SLIP, "leg_sla", Leg.LINE_HAUL, None): FWD,
        (STALL, "silence", Leg.FIRST_MILE, None): FWD,
        (GAP, "window", None, Leg.LAST_MILE): BROKER,  # the contract's party
        (GAP, "no_handover", None, Leg.LINE_HAUL): FWD,  # the handing-over leg's party
        (GAP, "no_handover", None, Leg.IMPORT_CUSTOMS): FWD,
        (BREACH, "leg_sla", Leg.FIRST_MILE, None): FWD,
        (BREACH, "leg_sla", Leg.LINE_HAUL, None): FWD,
        (BREACH, "handoff_window", None, Leg.LAST_MILE): BROKER,
        (AlertType.EXCEPTION, "damaged", Leg.LINE_HAUL, None): FWD,
    }


def test_seller_managed_promise_rules_name_the_party_in_custody() -> None:
    state = state_of(
        plan(), event(M.IMPORT_CUSTOMS_SUBMITTED, T0), estimate(M.DELIVERED, T0, PROMISE + days(1))
    )
    assert state.custody_leg() is Leg.IMPORT_CUSTOMS
    slip = find(eta_slip.conditions(state, T0 + days(1)), SLIP, "promise")
    late = find(delay.conditions(state, PROMISE), DELAY, "promise")
    assert slip is not None and late is not None
    assert slip.party == late.party == BROKER


@pytest.mark.parametrize(
    ("answerable", "window_party", "no_handover_party"),
    [
        (BROKER, BROKER, BROKER),  # the contract names the handing-over broker
        (SELLER, SELLER, SELLER),  # a seller-owned handoff
        (None, USPS, BROKER),  # default: the receiver for a window, the giver for a handover
    ],
    ids=["contract", "seller-owned", "default"],
)
def test_seller_managed_handoff_attribution(
    answerable: Party | None, window_party: Party, no_handover_party: Party
) -> None:
    shipment = plan(handoffs=handoffs(answerable))
    late = state_of(shipment, event(M.IMPORT_CUSTOMS_RELEASED, T0))
    found = detect.conditions(late, T0 + days(1))
    window = find(found, GAP, "window", handoff=CUSTOMS_TO_LAST)
    breach = find(found, BREACH, "handoff_window", handoff=CUSTOMS_TO_LAST)
    assert window is not None and window.party == window_party
    assert breach is not None and breach.party == window_party
    early = state_of(shipment, event(M.IMPORT_CUSTOMS_SUBMITTED, T0), event(M.IN_TRANSIT, T0))
    handover = find(detect.conditions(early, T0), GAP, "no_handover", handoff=CUSTOMS_TO_LAST)
    assert handover is not None and handover.party == no_handover_party


def test_seller_owned_handoff_in_a_full_service_plan_is_still_the_providers() -> None:
    shipment = full_service_plan(handoffs=handoffs(SELLER))
    state = state_of(shipment, event(M.IMPORT_CUSTOMS_RELEASED, T0))
    window = find(detect.conditions(state, T0 + days(1)), GAP, "window", handoff=CUSTOMS_TO_LAST)
    assert window is not None and window.party == PROVIDER
    early = state_of(shipment, event(M.IMPORT_CUSTOMS_SUBMITTED, T0), event(M.IN_TRANSIT, T0))
    handover = find(detect.conditions(early, T0), GAP, "no_handover", handoff=CUSTOMS_TO_LAST)
    assert handover is not None and handover.party == PROVIDER


def test_overseas_warehouse_attribution() -> None:
    shipment = overseas_warehouse_plan()
    released = state_of(shipment, event(M.IMPORT_CUSTOMS_RELEASED, T0))
    found = detect.conditions(released, T0 + hours(48))
    gap = find(found, GAP, "window", handoff=(Leg.IMPORT_CUSTOMS, Leg.WAREHOUSE))
    assert gap is not None and gap.party == WAREHOUSE_OP  # the receiving warehouse
    assert gap.deadline_at == T0 + hours(48)

    stocked = state_of(
        shipment,
        event(M.IMPORT_CUSTOMS_RELEASED, T0),
        event(M.WAREHOUSE_RECEIVED, T0 + hours(10)),
        event(M.WAREHOUSE_STOCKED, T0 + hours(12)),  # not a closing milestone in this plan
        event(M.DAMAGED, T0 + hours(13), by=WAREHOUSE_OP),
    )
    found = detect.conditions(stocked, T0 + days(4))  # stall limit 3d from the damage report
    parties = {(c.type, c.rule): c.party for c in found if c.leg is Leg.WAREHOUSE}
    assert parties == {
        (DELAY, "leg_sla"): WAREHOUSE_OP,
        (BREACH, "leg_sla"): WAREHOUSE_OP,
        (STALL, "silence"): WAREHOUSE_OP,
        (AlertType.EXCEPTION, "damaged"): WAREHOUSE_OP,
    }

    dispatched = state_of(
        shipment,
        event(M.IMPORT_CUSTOMS_RELEASED, T0),
        event(M.WAREHOUSE_RECEIVED, T0 + hours(10)),
        event(M.WAREHOUSE_DISPATCHED, T0 + days(1)),
    )
    found = detect.conditions(dispatched, T0 + days(2))
    gap = find(found, GAP, "window", handoff=(Leg.WAREHOUSE, Leg.LAST_MILE))
    assert gap is not None and gap.party == UPS
    assert find(found, DELAY, "leg_sla", leg=Leg.WAREHOUSE) is None


def test_fba_attribution() -> None:
    shipment = fba_plan()
    released = state_of(shipment, event(M.IMPORT_CUSTOMS_RELEASED, T0))
    found = detect.conditions(released, T0 + days(2))
    gap = find(found, GAP, "window", handoff=(Leg.IMPORT_CUSTOMS, Leg.WAREHOUSE))
    breach = find(found, BREACH, "handoff_window", handoff=(Leg.IMPORT_CUSTOMS, Leg.WAREHOUSE))
    assert gap is not None and gap.party == AMAZON
    assert breach is not None and breach.party == AMAZON

    receiving = state_of(
        shipment,
        event(M.IMPORT_CUSTOMS_RELEASED, T0),
        event(M.WAREHOUSE_RECEIVED, T0 + days(1), by=AMAZON),
    )
    before, at = around(delay, receiving, T0 + days(4), DELAY, "leg_sla", leg=Leg.WAREHOUSE)
    assert before is None and at is not None and at.party == AMAZON
    # no promise in an FBA inbound plan: nothing waits for a delivery
    assert find(detect.conditions(receiving, T0 + days(60)), DELAY, "promise") is None
    stocked = state_of(
        shipment,
        event(M.IMPORT_CUSTOMS_RELEASED, T0),
        event(M.WAREHOUSE_RECEIVED, T0 + days(1), by=AMAZON),
        event(M.WAREHOUSE_STOCKED, T0 + days(5), by=AMAZON),
    )
    into_warehouse = [
        c
        for c in detect.conditions(stocked, T0 + days(6))
        if c.leg is Leg.WAREHOUSE or (c.handoff and c.handoff.to_leg is Leg.WAREHOUSE)
    ]
    assert into_warehouse == []


# --- a delivered shipment keeps only terminal exceptions --------------------------------------


def test_delivered_shipment_keeps_only_terminal_exceptions() -> None:
    state = state_of(
        plan(),
        event(M.PICKED_UP, T0),  # first mile never closes: stall and delay
        event(M.EXCEPTION, T0 + hours(1), by=BROKER),  # an import-customs exception
        event(M.LOST, T0 + hours(2), by=FWD),  # a first-mile exception
        event(M.DELIVERED, T0 + days(1)),
        event(M.DAMAGED, T0 + days(1) + hours(1)),  # after delivery, last mile
    )
    before_delivery = detect.conditions(state, T0 + days(1) - SECOND)
    assert {c.rule for c in before_delivery} >= {"exception", "lost"}
    after = detect.conditions(state, T0 + days(5))
    assert sorted((c.rule, c.leg) for c in after) == [
        ("damaged", Leg.LAST_MILE),
        ("lost", Leg.FIRST_MILE),
    ]
    assert detect.next_change(state, T0 + days(1)) is None
    assert detect.next_change(state, T0 + days(1) - SECOND) == T0 + hours(38)  # first mile stall


# --- a journey that ends lost, returned or cancelled --------------------------------------


@pytest.mark.parametrize("ending", [M.LOST, M.RETURNED, M.CANCELLED])
def test_an_ended_journey_opens_nothing_new_but_keeps_what_was_wrong(ending: Milestone) -> None:
    state = state_of(
        plan(),
        event(M.PICKED_UP, T0),  # first mile SLA P3D: breached at T0 + 3d
        event(ending, T0 + days(4), by=FWD),
    )
    later = detect.conditions(state, PROMISE + days(30))
    kept = {(c.type.value, c.rule) for c in later}
    assert ("delay", "leg_sla") in kept and ("responsibility_breach", "leg_sla") in kept
    assert all(c.since <= T0 + days(4) or c.type is AlertType.EXCEPTION for c in later)
    assert ("delay", "promise") not in kept  # the promise passed after the journey ended
    assert ("stall", "silence") not in kept  # silence after the end is expected
    assert detect.next_change(state, T0 + days(4)) is None
    assert detect.next_change(state, T0 + days(4) - SECOND) is not None


def test_progress_after_a_loss_resumes_the_journey() -> None:
    found_again = state_of(
        plan(),
        event(M.PICKED_UP, T0),
        event(M.LOST, T0 + hours(1), by=FWD),
        event(M.RECEIVED_AT_ORIGIN_HUB, T0 + hours(5)),  # scanned again: it goes on
    )
    assert found_again.ended_without_delivery() is None
    assert detect.next_change(found_again, T0 + hours(6)) == T0 + hours(5 + 36)  # stall


def test_detect_next_change_is_the_earliest_detector_moment() -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0))
    assert detect.next_change(state, T0) == T0 + hours(36)  # the stall, before the SLA
    assert detect.next_change(state, T0 + hours(36)) == T0 + days(3)
    assert detect.next_change(state, T0 + days(3)) == PROMISE


def test_factory_plan_is_what_these_tests_assume() -> None:
    data = plan_data()
    assert data["promised_delivery_at"] == "2026-03-20T23:59:59-08:00"
    assert datetime.fromisoformat(data["promised_delivery_at"]) == PROMISE
