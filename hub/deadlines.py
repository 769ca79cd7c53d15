"""When each time limit of a shipment falls, from its plan and progress. Pure.

Every deadline is an aware datetime in event time; None when it does not apply (yet).
"""

from __future__ import annotations

import itertools
from datetime import datetime

from hub.business_calendar import add_business_days
from hub.shipment_state import LegStatus, ShipmentState
from schemas.shipments import Leg


def leg_sla_deadline(state: ShipmentState, leg: Leg) -> datetime | None:
    """The leg's SLA deadline: an absolute deadline, or a duration / business days from
    the leg's opening milestone (None until the leg opens)."""
    sla = state.planned(leg).sla
    if sla is None:
        return None
    if sla.deadline is not None:
        return sla.deadline
    opened = state.progress(leg).opened
    if opened is None:
        return None
    if sla.max_duration is not None:
        return opened.at + sla.max_duration
    assert sla.max_business_days is not None and sla.time_zone is not None
    return add_business_days(
        opened.at, sla.max_business_days, sla.time_zone, frozenset(sla.holidays)
    )


def stall_deadline(state: ShipmentState, leg: Leg) -> datetime | None:
    """When an active leg's silence becomes a stall (last activity + stall limit)."""
    limit = state.planned(leg).stall_limit
    progress = state.progress(leg)
    if limit is None or progress.status is not LegStatus.ACTIVE or progress.last_activity is None:
        return None
    return progress.last_activity.at + limit


def handoff_deadline(state: ShipmentState, from_leg: Leg, to_leg: Leg) -> datetime | None:
    """When the next leg must have taken custody after the previous one handed over."""
    handoff = next(
        (h for h in state.plan.handoffs if (h.from_leg, h.to_leg) == (from_leg, to_leg)), None
    )
    closed = state.progress(from_leg).closed
    if handoff is None or closed is None:
        return None
    return closed.at + handoff.window


def consecutive_legs(state: ShipmentState) -> list[tuple[Leg, Leg]]:
    legs = [planned.leg for planned in state.plan.legs]
    return list(itertools.pairwise(legs))


def unfinished_leg_deadlines_after(state: ShipmentState, now: datetime) -> list[datetime]:
    """The SLA deadlines still ahead of ``now`` of the legs not yet closed: the moments
    the SLA rules (delay, responsibility) next change by time alone."""
    return [
        deadline
        for planned in state.plan.legs
        if state.progress(planned.leg).status is not LegStatus.CLOSED
        and (deadline := leg_sla_deadline(state, planned.leg)) is not None
        and deadline > now
    ]


def waiting_handoff_deadlines_after(state: ShipmentState, now: datetime) -> list[datetime]:
    """The handoff windows still open after ``now`` whose next leg has not taken custody:
    the moments the window rules (gap, responsibility) next change by time alone."""
    return [
        deadline
        for from_leg, to_leg in consecutive_legs(state)
        if state.progress(to_leg).status is LegStatus.PENDING
        and (deadline := handoff_deadline(state, from_leg, to_leg)) is not None
        and deadline > now
    ]
