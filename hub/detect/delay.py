"""DELAY: a leg's SLA deadline, or the delivery promise, passes without its closing
milestone. Resolved when the awaited milestone arrives (however late)."""

from __future__ import annotations

from datetime import datetime

from hub.deadlines import leg_sla_deadline, unfinished_leg_deadlines_after
from hub.detect.condition import Condition, when
from hub.shipment_state import LegStatus, ShipmentState
from schemas.alerts import AlertType, Evidence, Severity


def conditions(state: ShipmentState, now: datetime) -> list[Condition]:
    found = []
    for planned in state.plan.legs:
        deadline = leg_sla_deadline(state, planned.leg)
        progress = state.progress(planned.leg)
        if deadline is None or deadline > now or progress.status is LegStatus.CLOSED:
            continue
        evidence = ()
        if progress.opened is not None:
            evidence = (
                Evidence(
                    note=f"{planned.leg.value} opened",
                    event_id=progress.opened.event_id,
                    milestone=progress.opened.milestone,
                    occurred_at=progress.opened.at,
                ),
            )
        found.append(
            Condition(
                type=AlertType.DELAY,
                rule="leg_sla",
                since=deadline,
                leg=planned.leg,
                party=state.plan.answerable_for_leg(planned.leg),
                deadline_at=deadline,
                summary=f"{planned.leg.value} not completed by its SLA deadline {when(deadline)}",
                evidence=evidence,
            )
        )
    promise = state.plan.promised_delivery_at
    if promise is not None and promise <= now and state.delivered is None:
        custody = state.custody_leg()
        found.append(
            Condition(
                type=AlertType.DELAY,
                rule="promise",
                since=promise,
                party=state.plan.answerable_for_leg(custody) if custody else None,
                deadline_at=promise,
                severity=Severity.CRITICAL,
                summary=f"not delivered by the promised {when(promise)}",
            )
        )
    return found


def next_change(state: ShipmentState, now: datetime) -> datetime | None:
    moments = unfinished_leg_deadlines_after(state, now)
    promise = state.plan.promised_delivery_at
    if promise is not None and promise > now and state.delivered is None:
        moments.append(promise)
    return min(moments, default=None)
