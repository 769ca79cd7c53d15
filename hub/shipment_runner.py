"""One shipment, simulated forward in event time. Pure functions shared by the offline
engine and the streaming worker (where the record lives in a faust table).

A shipment's record is its ``ShipmentState`` plus the events that arrived but lie after
its clock. ``advance`` takes pending events and the detectors' deadlines in time order
(events before deadlines at the same instant) up to ``until`` and reconciles alerts after
each step; ``add_event`` queues an event, or applies it at once when it is older than the
clock (a fact reported later than the allowed lateness can still resolve its alert).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from hub import detect
from hub.alerting import reconcile
from hub.shipment_state import ShipmentState, apply_event, new_state, with_plan
from schemas.alerts import Alert
from schemas.events import TrackingEvent
from schemas.shipments import ShipmentPlan


class ShipmentRecord(BaseModel):
    """What the hub keeps per shipment (a faust table value, JSON)."""

    state: ShipmentState
    pending: list[TrackingEvent] = Field(default_factory=list)


def add_plan(
    record: ShipmentRecord | None, plan: ShipmentPlan
) -> tuple[ShipmentRecord | None, list[Alert]]:
    """A new plan, or a newer revision (re-evaluated at once); None if nothing changes."""
    if record is None:
        return ShipmentRecord(state=new_state(plan)), []
    if record.state.plan.revision >= plan.revision:
        return None, []  # a replayed or older revision
    state = with_plan(record.state, plan)
    alerts: list[Alert] = []
    if state.clock is not None:
        state, alerts = reconcile(state, detect.conditions(state, state.clock), state.clock)
    return record.model_copy(update={"state": state}), alerts


def add_event(record: ShipmentRecord, event: TrackingEvent) -> tuple[ShipmentRecord, list[Alert]]:
    clock = record.state.clock
    if clock is not None and event.occurred_at < clock:
        state = apply_event(record.state, event)
        state, alerts = reconcile(state, detect.conditions(state, clock), clock)
        return record.model_copy(update={"state": state}), alerts
    return record.model_copy(update={"pending": [*record.pending, event]}), []


def advance(record: ShipmentRecord, until: datetime) -> tuple[ShipmentRecord, list[Alert]]:
    """Simulate up to ``until``; returns the new record and the alert transitions."""
    state = record.state
    events = sorted(record.pending, key=lambda e: (e.occurred_at, e.event_id))
    if state.clock is None:
        # start no later than anything that can matter: the plan, its first event, and
        # the watermark (later events are not late for a shipment not yet run)
        start = min([state.plan.registered_at, until, *(e.occurred_at for e in events[:1])])
        state = state.model_copy(update={"clock": start})
    clock: datetime = state.clock  # type: ignore[assignment]
    alerts: list[Alert] = []
    while True:
        next_event = events[0].occurred_at if events and events[0].occurred_at <= until else None
        deadline = detect.next_change(state, clock)
        next_deadline = deadline if deadline is not None and deadline <= until else None
        if next_event is None and next_deadline is None:
            break
        if next_event is not None and (next_deadline is None or next_event <= next_deadline):
            moment = next_event
            while events and events[0].occurred_at == moment:
                state = apply_event(state, events.pop(0))
        else:
            assert next_deadline is not None
            moment = next_deadline
        clock = max(moment, clock)
        state = state.model_copy(update={"clock": clock})
        state, emitted = reconcile(state, detect.conditions(state, clock), clock)
        alerts += emitted
    if until > clock:
        state = state.model_copy(update={"clock": until})
        state, emitted = reconcile(state, detect.conditions(state, until), until)
        alerts += emitted
    return ShipmentRecord(state=state, pending=events), alerts


def next_due(record: ShipmentRecord) -> datetime | None:
    """When this shipment next needs ``advance``: its first pending event or deadline."""
    moments = [e.occurred_at for e in record.pending]
    clock = record.state.clock
    if clock is None:
        moments.append(record.state.plan.registered_at)
    else:
        deadline = detect.next_change(record.state, clock)
        if deadline is not None:
            moments.append(deadline)
    return min(moments, default=None)
