"""HANDOFF_GAP: custody lost between two legs.

``window``: leg N handed over (its closing milestone) and leg N+1 did not take custody
within the plan's handoff window; resolved when N+1 opens. ``no_handover``: leg N took
custody and leg N+1 reports custody while N never recorded handing it over; resolved
when N's closing arrives (late). A leg that never reported at all is not tracked, not a
lost handoff: it gives no ``no_handover`` (its SLA and stall rules cannot start either).
Attributed to the party the contract names for the handoff, else (for ``window``) the
receiving leg's party and (for ``no_handover``) the handing-over leg's.
"""

from __future__ import annotations

from datetime import datetime

from hub.deadlines import consecutive_legs, handoff_deadline, waiting_handoff_deadlines_after
from hub.detect.condition import Condition, when
from hub.shipment_state import LegStatus, ShipmentState
from schemas.alerts import AlertType, Evidence, HandoffRef
from schemas.common import Party
from schemas.shipments import Leg


def contract_party(state: ShipmentState, from_leg: Leg, to_leg: Leg) -> Party | None:
    """The party the plan names for this handoff (the provider in a full-service plan)."""
    if state.plan.provider is not None:
        return state.plan.provider
    for handoff in state.plan.handoffs:
        if (handoff.from_leg, handoff.to_leg) == (from_leg, to_leg):
            return handoff.answerable
    return None


def conditions(state: ShipmentState, now: datetime) -> list[Condition]:
    found = []
    for from_leg, to_leg in consecutive_legs(state):
        ref = HandoffRef(from_leg=from_leg, to_leg=to_leg)
        before, after = state.progress(from_leg), state.progress(to_leg)
        deadline = handoff_deadline(state, from_leg, to_leg)
        if deadline is not None and deadline <= now and after.status is LegStatus.PENDING:
            assert before.closed is not None
            found.append(
                Condition(
                    type=AlertType.HANDOFF_GAP,
                    rule="window",
                    since=deadline,
                    handoff=ref,
                    party=state.plan.answerable_for_handoff(from_leg, to_leg),
                    deadline_at=deadline,
                    summary=f"{to_leg.value} did not take over from {from_leg.value} by "
                    f"{when(deadline)}",
                    evidence=(
                        Evidence(
                            note=f"{from_leg.value} handed over",
                            event_id=before.closed.event_id,
                            milestone=before.closed.milestone,
                            occurred_at=before.closed.at,
                        ),
                    ),
                )
            )
        if after.status is not LegStatus.PENDING and before.status is LegStatus.ACTIVE:
            assert after.opened is not None
            found.append(
                Condition(
                    type=AlertType.HANDOFF_GAP,
                    rule="no_handover",
                    since=after.opened.at,
                    handoff=ref,
                    party=contract_party(state, from_leg, to_leg)
                    or state.plan.answerable_for_leg(from_leg),
                    summary=f"{to_leg.value} took custody but {from_leg.value} recorded no "
                    "handover",
                    evidence=(
                        Evidence(
                            note=f"{to_leg.value} opened",
                            event_id=after.opened.event_id,
                            milestone=after.opened.milestone,
                            occurred_at=after.opened.at,
                        ),
                    ),
                )
            )
    return found


def next_change(state: ShipmentState, now: datetime) -> datetime | None:
    return min(waiting_handoff_deadlines_after(state, now), default=None)
