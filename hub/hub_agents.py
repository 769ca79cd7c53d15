"""The streaming hub's agent bodies: resolve, per-shipment detection, clock ticks.

Wired to topics and tables in ``hub.hub_wiring``; the logic they run is the pure code of
``hub.resolve_step`` / ``hub.shipment_runner``. Delivery guarantee: at-least-once, like every
agent here: sends go through the app's producer and are flushed before offsets commit
(``PublishGuard``); reprocessing is idempotent (event ids collapse in the shipment
state, alert transitions are derived from state, and an alert state already published
is never derived twice from the same state).

Clock: each inbox partition keeps a watermark: the largest event time it has seen minus
the allowed lateness, moved further only by explicit ``clock`` messages (tests, the
simulator's fake clock) or, when the partition has been idle for ``idle_after`` and the
worker is caught up, by wall time. Caught up: from the worker's first complete backlog
measurement under ``TRACKHUB_HUB_MAX_LAG`` (after its start or a rebalance: before it,
a plan read first was advanced to wall time and the backlog's reports then came late);
once an input partition went over it, only when the backlog's last records, and the
records they send on (resolve hops, inbox), are processed: the news its shipments wait
for. Either nothing is left on any input and no send to one is unacknowledged, or, under
traffic that never leaves them empty, ``CATCH_UP_STEPS`` measurements in a row each found
the worker past the ends the one before saw, with no older send unacknowledged.
A worker timer sends ``tick`` messages for shipments whose next deadline the watermark
has passed, keyed by shipment so only the shipment's own partition acts on them (faust
timers cannot write tables).
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hub import shipment_runner, topics
from hub.hub_messages import InboxMessage, ResolveMessage
from hub.kafka_clients import encode_key, encode_model
from hub.shipment_runner import ShipmentRecord
from hub.worker_ops import PartitionBacklog
from schemas.alerts import Alert
from schemas.events import DeadLetter, DeadLetterStage, RawEnvelope, TrackingEvent

log = logging.getLogger(__name__)

# After a backlog: measurements in a row that find the worker past the previous one's ends
# before wall time is followed again. Each hop (events -> resolve -> inbox) takes two: one
# for its send to be acknowledged and seen in the ends, one for it to be processed.
CATCH_UP_STEPS = 5


@dataclass
class PartitionClock:
    """Watermarks and due heaps of the inbox partitions this worker owns (in memory;
    rebuilt from the tables after a rebalance)."""

    lateness: timedelta
    idle_after_s: float
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic
    max_event_time: dict[int, datetime] = field(default_factory=dict)
    explicit: dict[int, datetime] = field(default_factory=dict)
    last_message: dict[int, float] = field(default_factory=dict)
    due: dict[int, list[tuple[datetime, str]]] = field(default_factory=dict)
    held: dict[int, dict[str, float]] = field(default_factory=dict)  # shipment -> wall time
    stale: bool = True  # heaps must be rebuilt (start, rebalance)
    # monotonic time the worker was found caught up (``note_backlog``); None while it is
    # behind, and from its start or a rebalance until it has measured its backlog
    caught_up_at: float | None = None
    behind: bool = False  # a partition went over the threshold and is not worked off yet
    # the catching-up measurements in a row (``note_backlog``): the ends the last one saw
    _step_ends: dict[Hashable, int] | None = None
    _step_at: float = 0.0
    _steps: int = 0

    def saw(self, partition: int, event_time: datetime | None) -> bool:
        """Note a fresh event (activity); True when it moved the latest event time."""
        self.last_message[partition] = self.monotonic()
        if event_time is not None:
            current = self.max_event_time.get(partition)
            if current is None or event_time > current:
                self.max_event_time[partition] = event_time
                return True
        return False

    @property
    def held_back(self) -> bool:
        """No partition follows wall time (absence alerts wait for event time)."""
        return self.caught_up_at is None

    def watermark(self, partition: int) -> datetime | None:
        marks = []
        if (latest := self.max_event_time.get(partition)) is not None:
            marks.append(latest - self.lateness)
        if (moved := self.explicit.get(partition)) is not None:
            marks.append(moved)
        if self.idle_after_s > 0 and self.caught_up_at is not None:
            quiet_since = max(self.last_message.get(partition, 0.0), self.caught_up_at)
            if self.monotonic() - quiet_since >= self.idle_after_s:
                marks.append(self.wall_clock() - self.lateness)
        return max(marks, default=None)

    def note_backlog(
        self,
        backlog: Mapping[Hashable, PartitionBacklog],
        oldest_send: float | None,
        max_lag: int,
    ) -> None:
        """One measurement of the worker's inputs (``hub.worker_ops.worker_backlog``) and
        when its oldest unacknowledged send to them was made (None: none is).

        Held back while a partition is over ``max_lag``. After that, caught up once
        nothing is left to process and nothing is in flight, or, under traffic that never
        leaves the inputs empty, after ``CATCH_UP_STEPS`` measurements in a row that each
        found the worker past the ends of the one before, with no send older than it still
        unacknowledged: everything in the backlog then, and what it sent on through
        ``CATCH_UP_STEPS // 2`` hops, is processed.
        """
        now = self.monotonic()
        counts = [b.unprocessed for b in backlog.values()]
        known = [n for n in counts if n is not None]
        if any(n > max_lag for n in known):
            self.behind = True
            self.caught_up_at = None
            self._forget_steps()
            return
        if self.caught_up_at is not None:
            return
        if len(known) < len(counts):  # a partition not fetched yet
            self._forget_steps()
            return
        if not self.behind or (sum(known) == 0 and oldest_send is None):
            self._caught_up(now)
            return
        previous = self._step_ends
        if (
            previous is not None
            and all(b.position >= previous.get(key, 0) for key, b in backlog.items())
            and (oldest_send is None or oldest_send >= self._step_at)
        ):
            self._steps += 1
        else:
            self._steps = 0
        self._step_ends = {key: b.end or 0 for key, b in backlog.items()}
        self._step_at = now
        if self._steps >= CATCH_UP_STEPS:
            self._caught_up(now)

    def measure_again(self) -> None:
        """Partitions were (re)assigned: held back until their backlog is measured."""
        self.caught_up_at = None
        self._forget_steps()

    def _caught_up(self, now: float) -> None:
        self.behind = False
        self.caught_up_at = now
        self._forget_steps()

    def _forget_steps(self) -> None:
        self._step_ends = None
        self._steps = 0

    def schedule(self, partition: int, shipment_id: str, moment: datetime | None) -> None:
        if moment is not None:
            heapq.heappush(self.due.setdefault(partition, []), (moment, shipment_id))

    def hold(self, partition: int, shipment_id: str, until_wall: float | None) -> None:
        if until_wall is not None:
            self.held.setdefault(partition, {})[shipment_id] = until_wall

    def pop_released(self, partition: int, wall_now: float) -> list[str]:
        held = self.held.get(partition, {})
        released = sorted(s for s, until in held.items() if until <= wall_now)
        for shipment_id in released:
            del held[shipment_id]
        return released

    def pop_due(self, partition: int, until: datetime) -> list[str]:
        heap = self.due.get(partition, [])
        out: set[str] = set()
        while heap and heap[0][0] <= until:
            out.add(heapq.heappop(heap)[1])
        return sorted(out)


@dataclass
class StoredRecord:
    """A shipment table value: the record plus what the clock needs after a restart."""

    partition: int
    record: ShipmentRecord
    hold_until: float | None = None  # wall time (epoch s) before which it is not advanced

    def dumps(self, due: datetime | None) -> bytes:
        """The table value; ``due`` is ``shipment_runner.next_due(self.record)``, computed
        once by the caller, who also schedules it."""
        head = json.dumps(
            {
                "partition": self.partition,
                "next_due": due.isoformat() if due else None,
                "hold_until": self.hold_until,
            }
        )
        return head[:-1].encode() + b',"record":' + self.record.model_dump_json().encode() + b"}"


def load_stored(raw: bytes | None) -> StoredRecord | None:
    if raw is None:
        return None
    data = json.loads(raw)
    record = ShipmentRecord.model_validate(data["record"])
    return StoredRecord(data["partition"], record, data.get("hold_until"))


def stored_summary(raw: bytes) -> tuple[int, datetime | None, float | None, list[str]]:
    """What a rebuild needs of a stored shipment, from one parse: its partition, next
    event-time deadline, wall-time hold, and the types of its open alerts."""
    data = json.loads(raw)
    due = data.get("next_due")
    alerts = data["record"]["state"].get("open_alerts", {})
    return (
        data["partition"],
        datetime.fromisoformat(due) if due else None,
        data.get("hold_until"),
        [alert["type"] for alert in alerts.values()],
    )


# --- shipments --------------------------------------------------------------------------


def inbox_step(
    stored: StoredRecord | None,
    message: InboxMessage,
    partition: int,
    watermark: datetime | None,
    *,
    wall_now: float,
    plan_grace_s: float,
) -> tuple[StoredRecord | None, list[Alert]]:
    """What one inbox message does to one shipment. Pure (``wall_now`` is passed in).

    A new shipment is held for ``plan_grace_s`` of wall time before its first advance, so
    the events parked for it (released by claims on other partitions) join it in event
    order first: a late plan then gives the alerts of a plan that came first.
    """
    record = stored.record if stored is not None else None
    hold_until = stored.hold_until if stored is not None else None
    alerts: list[Alert] = []
    if message.kind == "plan":
        assert message.plan is not None
        revised, alerts = shipment_runner.add_plan(record, message.plan)
        if revised is None:
            return stored, []
        if record is None:
            hold_until = wall_now + plan_grace_s
        record = revised
    elif record is None:
        return None, []  # an event or tick for a shipment without a plan: nothing to do
    elif message.kind == "event":
        assert message.event is not None
        record, alerts = shipment_runner.add_event(record, message.event)
    if hold_until is not None and wall_now < hold_until:
        return StoredRecord(partition, record, hold_until), alerts
    target = watermark
    if message.kind == "tick" and message.until is not None:
        target = message.until if watermark is None else min(message.until, watermark)
    if target is not None:
        record, more = shipment_runner.advance(record, target)
        alerts += more
    return StoredRecord(partition, record), alerts


def alert_sends(alerts: list[Alert]) -> list[tuple[str, bytes, bytes]]:
    """Each transition to alerts.v1 (key seller) and to the seller's own topic."""
    sends = []
    for alert in alerts:
        value = encode_model(alert)
        key = encode_key(alert.seller_id)
        sends.append((topics.ALERTS, key, value))
        sends.append((topics.seller_alerts_topic(safe_topic_part(alert.seller_id)), key, value))
    return sends


def safe_topic_part(text: str) -> str:
    """Kafka topic names allow [a-zA-Z0-9._-]; seller ids may also hold ':'."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def undecodable_letter(
    where: str, value: bytes | None, exc: Exception, stage: DeadLetterStage, now: datetime
) -> DeadLetter:
    """The dead letter of a record an agent cannot read (``where`` is topic/partition/
    offset): its bytes are kept, so nothing read is dropped, and the agent goes on."""
    body = value or b""
    raw = RawEnvelope.from_body(
        body=body[: 4 * 1024 * 1024],
        source="hub",
        format="kafka_record",
        reference=where[:200],
        received_at=now,
        content_type="application/octet-stream",
        signature_verified=False,
        via="replay",
    )
    what = "an empty record (tombstone)" if value is None else f"{type(exc).__name__}"
    return DeadLetter(
        stage=stage,
        reason=f"record {where} is not a message of its topic: {what}: {str(exc)[:500]}",
        error_type="InvalidRecord",
        details={"record": where, "truncated": len(body) > 4 * 1024 * 1024},
        failed_at=now,
        raw=raw,
    )


def decode_inbox(value: bytes) -> InboxMessage:
    return InboxMessage.model_validate_json(value)


def decode_resolve(topic: str, value: bytes) -> ResolveMessage:
    """A record of the resolve channel: a normalized event starts at its first identifier."""
    if topic == topics.EVENTS:
        event = TrackingEvent.model_validate_json(value)
        return ResolveMessage(kind="event", identifier=event.identifiers[0].key, event=event)
    return ResolveMessage.model_validate_json(value)


def event_time_of(message: InboxMessage) -> datetime | None:
    return message.event.occurred_at if message.event is not None else None
