"""RESPONSIBILITY_BREACH: a leg's SLA or a handoff window broken, attributed to the party
answerable for it under the plan's model: the full-service provider in that model, the
contract's party for a handoff (which may be the seller), else the leg's own party.

Open from the moment the limit passed until the awaited milestone arrives; the breach
itself stays in the scorecards after the alert resolves.
"""

from __future__ import annotations

from datetime import datetime

from hub.deadlines import (
    consecutive_legs,
    handoff_deadline,
    leg_sla_deadline,
    unfinished_leg_deadlines_after,
    waiting_handoff_deadlines_after,
)
from hub.detect.condition import Condition, when
from hub.shipment_state import LegStatus, ShipmentState
from schemas.alerts import AlertType, HandoffRef


def conditions(state: ShipmentState, now: datetime) -> list[Condition]:
    found = []
    for planned in state.plan.legs:
        deadline = leg_sla_deadline(state, planned.leg)
        if (
            deadline is None
            or deadline > now
            or state.progress(planned.leg).status is LegStatus.CLOSED
        ):
            continue
        party = state.plan.answerable_for_leg(planned.leg)
        found.append(
            Condition(
                type=AlertType.RESPONSIBILITY_BREACH,
                rule="leg_sla",
                since=deadline,
                leg=planned.leg,
                party=party,
                deadline_at=deadline,
                summary=f"{party.id} ({party.role.value}) broke the {planned.leg.value} SLA "
                f"due {when(deadline)}",
            )
        )
    for from_leg, to_leg in consecutive_legs(state):
        deadline = handoff_deadline(state, from_leg, to_leg)
        if (
            deadline is None
            or deadline > now
            or state.progress(to_leg).status is not LegStatus.PENDING
        ):
            continue
        party = state.plan.answerable_for_handoff(from_leg, to_leg)
        found.append(
            Condition(
                type=AlertType.RESPONSIBILITY_BREACH,
                rule="handoff_window",
                since=deadline,
                handoff=HandoffRef(from_leg=from_leg, to_leg=to_leg),
                party=party,
                deadline_at=deadline,
                summary=f"{party.id} ({party.role.value}) missed the {from_leg.value} -> "
                f"{to_leg.value} handoff window ending {when(deadline)}",
            )
        )
    return found


def next_change(state: ShipmentState, now: datetime) -> datetime | None:
    moments = unfinished_leg_deadlines_after(state, now)
    moments += waiting_handoff_deadlines_after(state, now)
    return min(moments, default=None)
