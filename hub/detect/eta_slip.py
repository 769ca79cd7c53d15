"""ETA_SLIP: an estimate moved past what the plan needs, before the deadline passes.

Two rules: the carrier's delivery estimate later than the promised delivery date, and a
leg's estimated closing (e.g. a DCSA ``EST`` vessel arrival) later than the leg's SLA
deadline. Resolved when a newer estimate is back in time, when the milestone happens, or
when the deadline itself passes (the DELAY alert takes over from there).
"""

from __future__ import annotations

from datetime import datetime

from hub.deadlines import leg_sla_deadline
from hub.detect.condition import Condition, when
from hub.shipment_state import Estimate, LegStatus, ShipmentState
from schemas.alerts import AlertType, Evidence


def _evidence(estimate: Estimate, note: str) -> tuple[Evidence, ...]:
    return (Evidence(note=note, event_id=estimate.event_id, occurred_at=estimate.issued_at),)


def conditions(state: ShipmentState, now: datetime) -> list[Condition]:
    found = []
    promise = state.plan.promised_delivery_at
    estimate = state.delivery_estimate
    if (
        promise is not None
        and estimate is not None
        and state.delivered is None
        and now < promise
        and estimate.estimated_at > promise
    ):
        custody = state.custody_leg()
        found.append(
            Condition(
                type=AlertType.ETA_SLIP,
                rule="promise",
                since=estimate.issued_at,
                party=state.plan.answerable_for_leg(custody) if custody else None,
                deadline_at=promise,
                summary=f"estimated delivery {when(estimate.estimated_at)} is after the "
                f"promised {when(promise)}",
                evidence=_evidence(estimate, "delivery estimate"),
            )
        )
    for planned in state.plan.legs:
        progress = state.progress(planned.leg)
        deadline = leg_sla_deadline(state, planned.leg)
        leg_estimate = progress.close_estimate
        if (
            deadline is None
            or leg_estimate is None
            or progress.status is LegStatus.CLOSED
            or now >= deadline
            or leg_estimate.estimated_at <= deadline
        ):
            continue
        # the slip exists once both the estimate and the deadline do
        deadline_known = progress.opened.at if progress.opened else state.plan.registered_at
        found.append(
            Condition(
                type=AlertType.ETA_SLIP,
                rule="leg_sla",
                since=max(leg_estimate.issued_at, deadline_known),
                leg=planned.leg,
                party=state.plan.answerable_for_leg(planned.leg),
                deadline_at=deadline,
                summary=f"{planned.leg.value} estimated to complete "
                f"{when(leg_estimate.estimated_at)}, after its SLA deadline {when(deadline)}",
                evidence=_evidence(leg_estimate, f"{planned.leg.value} estimate"),
            )
        )
    return found


def next_change(state: ShipmentState, now: datetime) -> datetime | None:
    """An open slip ends by itself when its deadline passes."""
    moments = [c.deadline_at for c in conditions(state, now) if c.deadline_at is not None]
    return min((m for m in moments if m > now), default=None)
