"""The detection engine: plans and events in, alert transitions out, in event time.

The same code serves the streaming workers and the offline ``trackhub detect``. Each
shipment is simulated forward in event time: its pending events and the deadlines the
detectors report are taken in time order (events before deadlines at the same instant),
and after each step the detectors' conditions are reconciled with the open alerts. The
watermark (the largest event time seen minus the allowed lateness, or a later time the
caller advances it to when the stream is idle) bounds how far a shipment is simulated,
so events arriving out of order within the lateness give exactly the alerts of the
sorted stream. An event older than a shipment's clock (later than the lateness) is
applied at once and can still resolve the alert it was awaited for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub import detect
from hub.alerting import reconcile
from hub.resolve import IdentifierIndex, ParkingLot
from hub.shipment_state import ShipmentState, apply_event, new_state, with_plan
from schemas.alerts import Alert
from schemas.events import TrackingEvent
from schemas.shipments import ShipmentPlan


@dataclass(frozen=True, slots=True)
class EngineConfig:
    lateness: timedelta = timedelta(minutes=10)
    parking_ttl: timedelta = timedelta(days=14)
    parking_max_events: int = 100_000


@dataclass
class Engine:
    config: EngineConfig = field(default_factory=EngineConfig)
    states: dict[str, ShipmentState] = field(default_factory=dict)
    pending: dict[str, list[TrackingEvent]] = field(default_factory=dict)
    index: IdentifierIndex = field(default_factory=IdentifierIndex)
    parking: ParkingLot = field(init=False)
    max_event_time: datetime | None = None
    watermark: datetime | None = None
    unclaimed: list[TrackingEvent] = field(default_factory=list)  # for the dead-letter topic
    latest: dict[str, Alert] = field(default_factory=dict)  # last transition per alert

    def __post_init__(self) -> None:
        self.parking = ParkingLot(self.config.parking_max_events, self.config.parking_ttl)

    # --- input ---------------------------------------------------------------------------

    def add_plan(self, plan: ShipmentPlan) -> list[Alert]:
        """Register (or revise) a plan; parked events naming its identifiers join it."""
        current = self.states.get(plan.shipment_id)
        if current is not None and current.plan.revision >= plan.revision:
            return []  # a replayed or older revision: nothing changes
        state = with_plan(current, plan) if current is not None else new_state(plan)
        self.index.add_plan(plan)
        claimed = self.parking.claim(plan)
        self.pending.setdefault(plan.shipment_id, []).extend(claimed)
        self.states[plan.shipment_id] = state
        for event in claimed:
            self._note_time(event)
        revised = current is not None and current.clock is not None
        alerts = self._reevaluate(plan.shipment_id) if revised else []
        return alerts + self._advance_all()

    def add_event(self, event: TrackingEvent) -> list[Alert]:
        """One normalized event: applied to every shipment claiming it, or parked."""
        owners = self.index.shipments_for(event)
        alerts: list[Alert] = []
        if not owners:
            self.unclaimed.extend(self.parking.park(event))
        for shipment_id in owners:
            state = self.states[shipment_id]
            if state.clock is not None and event.occurred_at < state.clock:
                alerts += self._apply_late(shipment_id, event)
            else:
                self.pending.setdefault(shipment_id, []).append(event)
        self._note_time(event)
        return alerts + self._advance_all()

    def advance_to(self, moment: datetime) -> list[Alert]:
        """Move the watermark to ``moment`` (idle stream, end of an offline run)."""
        if self.watermark is None or moment > self.watermark:
            self.watermark = moment
        return self._advance_all()

    def final_alerts(self) -> list[Alert]:
        """The last state of every alert ever raised, by alert id."""
        return [self.latest[alert_id] for alert_id in sorted(self.latest)]

    # --- internals -----------------------------------------------------------------------

    def _note_time(self, event: TrackingEvent) -> None:
        if self.max_event_time is None or event.occurred_at > self.max_event_time:
            self.max_event_time = event.occurred_at
            candidate = event.occurred_at - self.config.lateness
            if self.watermark is None or candidate > self.watermark:
                self.watermark = candidate

    def _advance_all(self) -> list[Alert]:
        if self.watermark is None:
            return []
        self.unclaimed.extend(self.parking.expire(self.watermark))
        alerts: list[Alert] = []
        for shipment_id in sorted(self.states):
            alerts += self._advance(shipment_id, self.watermark)
        return alerts

    def _advance(self, shipment_id: str, until: datetime) -> list[Alert]:
        state = self.states[shipment_id]
        events = sorted(
            self.pending.get(shipment_id, []), key=lambda e: (e.occurred_at, e.event_id)
        )
        if state.clock is None:
            # start no later than anything that can matter: the plan, its first event,
            # and the watermark (later events are not late for a shipment not yet run)
            start = min([state.plan.registered_at, until, *(e.occurred_at for e in events[:1])])
            state = state.model_copy(update={"clock": start})
        assert state.clock is not None
        alerts: list[Alert] = []
        while True:
            due = bool(events) and events[0].occurred_at <= until
            next_event = events[0].occurred_at if due else None
            deadline = detect.next_change(state, state.clock)
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
            state = state.model_copy(update={"clock": max(moment, state.clock)})
            state, emitted = reconcile(state, detect.conditions(state, state.clock), state.clock)
            alerts += emitted
        if until > state.clock:
            state = state.model_copy(update={"clock": until})
            state, emitted = reconcile(state, detect.conditions(state, until), until)
            alerts += emitted
        self.pending[shipment_id] = events
        self.states[shipment_id] = state
        self._remember(alerts)
        return alerts

    def _apply_late(self, shipment_id: str, event: TrackingEvent) -> list[Alert]:
        state = apply_event(self.states[shipment_id], event)
        assert state.clock is not None
        state, alerts = reconcile(state, detect.conditions(state, state.clock), state.clock)
        self.states[shipment_id] = state
        self._remember(alerts)
        return alerts

    def _reevaluate(self, shipment_id: str) -> list[Alert]:
        state = self.states[shipment_id]
        assert state.clock is not None
        state, alerts = reconcile(state, detect.conditions(state, state.clock), state.clock)
        self.states[shipment_id] = state
        self._remember(alerts)
        return alerts

    def _remember(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self.latest[alert.alert_id] = alert
