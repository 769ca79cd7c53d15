"""STALL: an active leg silent for longer than its stall limit. Resolved by the next
event of that leg (or its closing)."""

from __future__ import annotations

from datetime import datetime

from hub.deadlines import stall_deadline
from hub.detect.condition import Condition, when
from hub.shipment_state import ShipmentState
from schemas.alerts import AlertType, Evidence


def conditions(state: ShipmentState, now: datetime) -> list[Condition]:
    found = []
    for planned in state.plan.legs:
        deadline = stall_deadline(state, planned.leg)
        last = state.progress(planned.leg).last_activity
        if deadline is None or deadline > now or last is None:
            continue
        found.append(
            Condition(
                type=AlertType.STALL,
                rule="silence",
                since=deadline,
                leg=planned.leg,
                party=state.plan.answerable_for_leg(planned.leg),
                deadline_at=deadline,
                summary=f"no {planned.leg.value} event since {when(last.at)} "
                f"(limit {planned.stall_limit})",
                evidence=(
                    Evidence(
                        note="last event",
                        event_id=last.event_id,
                        milestone=last.milestone,
                        occurred_at=last.at,
                    ),
                ),
            )
        )
    return found


def next_change(state: ShipmentState, now: datetime) -> datetime | None:
    moments = [
        deadline
        for planned in state.plan.legs
        if (deadline := stall_deadline(state, planned.leg)) is not None and deadline > now
    ]
    return min(moments, default=None)
