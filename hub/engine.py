"""The detection engine: plans and events in, alert transitions out, in event time.

The offline ``trackhub detect`` runs it over files; the streaming workers run the same
per-shipment steps (``hub.shipment_runner``) over faust tables. Each shipment is
simulated forward in event time up to the watermark: the largest event time seen minus
the allowed lateness, or a later moment the caller advances it to when the stream is
idle. Events arriving out of order within the lateness therefore give exactly the
alerts of the sorted stream; an event later than that is applied at once and can still
resolve the alert it was awaited for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub import shipment_runner
from hub.resolve import CONSOLIDATING, IdentifierIndex, ParkingLot
from hub.shipment_runner import ShipmentRecord
from hub.shipment_state import ShipmentState
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
    records: dict[str, ShipmentRecord] = field(default_factory=dict)
    index: IdentifierIndex = field(default_factory=IdentifierIndex)
    parking: ParkingLot = field(init=False)
    max_event_time: datetime | None = None
    watermark: datetime | None = None
    unclaimed: list[TrackingEvent] = field(default_factory=list)  # for the dead-letter topic
    latest: dict[str, Alert] = field(default_factory=dict)  # last transition per alert
    # when each shipment next needs advancing (``shipment_runner.next_due``), kept current
    # on every change: an advance only visits the shipments something is due for
    due: dict[str, datetime | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parking = ParkingLot(self.config.parking_max_events, self.config.parking_ttl)

    @property
    def states(self) -> dict[str, ShipmentState]:
        return {shipment_id: record.state for shipment_id, record in self.records.items()}

    @property
    def pending(self) -> dict[str, list[TrackingEvent]]:
        return {shipment_id: record.pending for shipment_id, record in self.records.items()}

    # --- input ---------------------------------------------------------------------------

    def add_plan(self, plan: ShipmentPlan) -> list[Alert]:
        """Register (or revise) a plan; parked events naming its identifiers join it."""
        record, alerts = shipment_runner.add_plan(self.records.get(plan.shipment_id), plan)
        if record is None:
            return []
        self.index.add_plan(plan)
        claimed = self.parking.claim(plan, self.index)
        record = record.model_copy(update={"pending": [*record.pending, *claimed]})
        self._store(plan.shipment_id, record)
        self._remember(alerts)
        return alerts + self._advance_all()

    def add_event(self, event: TrackingEvent) -> list[Alert]:
        """One normalized event: applied to every shipment claiming it, or parked."""
        via, owners = self.index.route(event)
        alerts: list[Alert] = []
        if not owners:
            self.unclaimed.extend(self.parking.park(event))
        elif via is not None and via.kind in CONSOLIDATING:
            self.unclaimed.extend(self.parking.keep_routed(event))
        for shipment_id in owners:
            record, emitted = shipment_runner.add_event(self.records[shipment_id], event)
            self._store(shipment_id, record)
            alerts += emitted
        self._remember(alerts)
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
        watermark = self.watermark
        ready = sorted(s for s, due in self.due.items() if due is not None and due <= watermark)
        for shipment_id in ready:
            # a shipment with nothing due is left behind: detection is level-triggered on
            # deadlines, so advancing it later over the same span gives the same alerts
            record, emitted = shipment_runner.advance(self.records[shipment_id], watermark)
            self._store(shipment_id, record)
            alerts += emitted
        self._remember(alerts)
        return alerts

    def _store(self, shipment_id: str, record: ShipmentRecord) -> None:
        self.records[shipment_id] = record
        self.due[shipment_id] = shipment_runner.next_due(record)

    def _remember(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self.latest[alert.alert_id] = alert
