"""Topics, tables, agents and the timer of the detection hub (faust wiring only).

    shipments.v1 --route_plans--> hub.shipments-inbox.v1 (plan)  +  hub.resolve.v1 (claims)
    tracking.events.v1 + hub.resolve.v1 --resolve--> hub.shipments-inbox.v1 (events) | park
    timer --> hub.resolve.v1 (expire sweeps) --resolve--> tracking.dlq.v1 (never claimed)
    hub.shipments-inbox.v1 --detect--> shipments and scorecard-shares tables, alerts.v1,
                                       alerts.seller.<seller>
    timer --> hub.shipments-inbox.v1 (ticks for passed deadlines)

Tables are co-partitioned with the topics that feed them (same partition count, keys
hashed the same way). See ``hub.hub_agents`` for the logic and its guarantees.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import Counter, OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from hub import metrics, shipment_runner, topics
from hub.hub_agents import (
    PartitionClock,
    StoredRecord,
    alert_sends,
    decode_inbox,
    decode_resolve,
    event_time_of,
    inbox_step,
    load_stored,
    stored_summary,
    undecodable_letter,
)
from hub.hub_messages import InboxMessage, ResolveMessage
from hub.kafka_clients import encode_key, encode_model
from hub.log_setup import correlation
from hub.resolve import is_consolidating_key
from hub.resolve_step import Parked, oldest_parked, resolve_outputs
from hub.scorecard import cards_value, shipment_cards
from hub.settings import Settings
from hub.worker_ops import InputProgress, worker_backlog
from schemas.alerts import Alert
from schemas.events import DeadLetter, DeadLetterStage
from schemas.shipments import ShipmentPlan

log = logging.getLogger(__name__)

WATERMARK_PERSIST_S = 1.0
# One rocksdb database per table and partition (5 tables x TRACKHUB_PARTITIONS): faust's
# defaults (64 MiB write buffers x 3, a 2 GiB block cache each) let a worker's memory grow
# past a gigabyte; these keep each database to a few tens of MiB.
TABLE_STORE_OPTIONS = {
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 16 * 1024 * 1024,
}


def declare_hub_agents(app: Any, settings: Settings) -> None:
    n = settings.partitions
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}  # app codecs: raw bytes

    def table(name: str) -> Any:
        return app.Table(name, partitions=n, options=dict(TABLE_STORE_OPTIONS), **raw)

    plans_topic = app.topic(topics.SHIPMENTS, **raw)
    resolve_channel = app.topic(topics.EVENTS, topics.RESOLVE, **raw)
    inbox_topic = app.topic(topics.SHIPMENTS_INBOX, **raw)
    index = table(topics.TABLE_OWNERS)
    parked = table(topics.TABLE_PARKED)
    shipments = table(topics.TABLE_SHIPMENTS)
    watermarks = table(topics.TABLE_WATERMARKS)
    # each shipment's share of its parties' scorecards; a reader sums them (merge_cards)
    scorecard_shares = table(topics.TABLE_SCORECARD_SHARES)
    clock = PartitionClock(
        lateness=timedelta(seconds=settings.hub_lateness_s),
        idle_after_s=settings.hub_idle_after_s,
    )
    guard = app.publish_guard
    progress = app.input_progress
    seller_topics: set[str] = set()
    records = RecordCache(max_entries=settings.hub_cache_shipments)
    known_sources = frozenset(settings.effective_sources())

    async def send(
        topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> asyncio.Future[Any]:
        if topic.startswith(topics.SELLER_ALERTS_PREFIX) and topic not in seller_topics:
            await app.topic(
                topic, partitions=1, replicas=settings.replication_factor
            ).maybe_declare()
            seller_topics.add(topic)
        future = await app.producer.send(topic, key, value, None, None, None)
        guard.watch(future)
        if topic in LAG_TOPICS:  # a hop the worker reads itself: in flight until acked
            future.add_done_callback(functools.partial(_note_sent, progress.sending()))
        return future

    def _note_sent(token: int, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            progress.send_failed(token)
        else:
            metadata = future.result()
            progress.sent(token, metadata.topic, metadata.partition, metadata.offset)

    async def reject(record: Any, exc: Exception, stage: DeadLetterStage) -> None:
        """A record its agent cannot read goes to the DLQ with why; the agent goes on."""
        message = record.message
        where = f"{message.topic}/{message.partition}/{message.offset}"
        letter = undecodable_letter(where, record.value, exc, stage, datetime.now(UTC))
        log.warning("dead-lettered unreadable record %s: %s", where, type(exc).__name__)
        await send(topics.DLQ, encode_key(letter.raw.kafka_key), encode_model(letter))
        source = metrics.bounded_source("hub", known_sources)
        metrics.DEAD_LETTERS.labels(source, letter.stage, letter.error_type).inc()

    @app.agent(plans_topic, name="route-plans")
    async def route_plans(stream: faust.StreamT[bytes]) -> None:
        """A plan goes to its shipment's partition, and claims each of its identifiers."""
        async for record in stream.events():
            guard.raise_if_failed()
            await route_plan(record)
            message = record.message
            progress.processed(message.topic, message.partition, message.offset)

    async def route_plan(record: Any) -> None:
        if record.value is None:
            return  # a tombstone: plans are not deleted, the shipment keeps its plan
        try:
            plan = ShipmentPlan.model_validate_json(record.value)
        except ValueError as exc:
            await reject(record, exc, DeadLetterStage.STATE)
            return
        await send(
            topics.SHIPMENTS_INBOX,
            encode_key(plan.shipment_id),
            encode_model(InboxMessage(kind="plan", plan=plan)),
        )
        keys = sorted({i.key for i in plan.all_identifiers()})
        for key in keys:
            claim = ResolveMessage(
                kind="claim", identifier=key, shipment_id=plan.shipment_id, plan_keys=keys
            )
            await send(topics.RESOLVE, encode_key(key), encode_model(claim))

    parking_ttl = timedelta(seconds=settings.hub_parking_ttl_s)
    event_time = EventTimeMark()  # of the events this worker resolves: the parking clock

    @app.agent(resolve_channel, name="resolve")
    async def resolve(stream: faust.StreamT[bytes]) -> None:
        """Identifier -> shipments, hop by hop over the event's identifiers; else park."""
        async for record in stream.events():
            guard.raise_if_failed()
            await resolve_record(record)
            message = record.message
            progress.processed(message.topic, message.partition, message.offset)

    async def resolve_record(record: Any) -> None:
        try:
            message = decode_resolve(record.message.topic, record.value)
        except (ValueError, TypeError) as exc:  # TypeError: a tombstone (None)
            await reject(record, exc, DeadLetterStage.RESOLVE)
            return
        if message.event is not None:
            event_time.saw(message.event.occurred_at)
        key = encode_key(message.identifier)
        owners = json.loads(index.get(key) or b"[]")
        # only parking, claims, notes, sweeps and events kept at a consolidating
        # identifier touch the parked events: an event on its way (forwarded, hopping,
        # or sent to park) skips decoding them
        skip = (message.kind == "event" or (message.kind == "park" and bool(owners))) and not (
            owners and is_consolidating_key(message.identifier)
        )
        waiting = Parked() if skip else Parked.loads(parked.get(key))
        new_owners, new_parked, sends = resolve_outputs(
            message, owners, waiting, now=datetime.now(UTC)
        )
        if new_owners != owners:
            index[key] = json.dumps(new_owners).encode()
        if not new_parked.same_as(waiting):
            if new_parked.events:
                parked[key] = new_parked.dumps()
            elif key in parked:
                del parked[key]
        for topic, out_key, value in sends:
            await send(topic, out_key, value)
            if topic == topics.DLQ:
                _count_resolve_dead_letter(value, known_sources)

    @app.timer(interval=settings.hub_parking_sweep_s)
    async def sweep_parking() -> None:
        """Ask each identifier holding events older than the parking TTL to let them go
        (a timer cannot write tables; the resolve agent does it at the key's partition)."""
        if event_time.latest is None:
            return
        until = event_time.latest - parking_ttl
        for key, value in list(parked.items()):
            oldest = oldest_parked(value)
            if oldest is not None and oldest <= until:
                message = ResolveMessage(kind="expire", identifier=key.decode(), until=until)
                await send(topics.RESOLVE, key, encode_model(message))

    persist_due: dict[int, float] = {}  # partition -> when its watermark may be stored next

    @app.agent(inbox_topic, name="detect")
    async def detect(stream: faust.StreamT[bytes]) -> None:
        """Per shipment: apply plans and events, advance to the watermark, publish alerts."""
        async for record in stream.events():
            guard.raise_if_failed()
            await detect_record(record)
            message = record.message
            progress.processed(message.topic, message.partition, message.offset)

    async def detect_record(record: Any) -> None:
        partition = record.message.partition
        try:
            message = decode_inbox(record.value)
        except (ValueError, TypeError) as exc:
            await reject(record, exc, DeadLetterStage.STATE)
            return
        moved = False
        if message.kind == "event" and not message.replayed:
            # only fresh events are activity: a tick or a clock move must not keep
            # a silent partition from following wall time (that silence is a stall)
            moved = clock.saw(partition, event_time_of(message))
        if message.kind == "clock":
            if message.until is not None:
                current = clock.explicit.get(partition)
                clock.explicit[partition] = max(message.until, current or message.until)
                _store_watermarks(watermarks, clock, partition)
            return
        if moved and persist_due.get(partition, 0.0) <= time.monotonic():
            # at most once a second: after a crash the events since the last commit
            # are read again and move it as far; a lower watermark only delays alerts
            _store_watermarks(watermarks, clock, partition)
            persist_due[partition] = time.monotonic() + WATERMARK_PERSIST_S
        key = record.key
        stored = records.get(key)
        if stored is None:
            stored = load_stored(shipments.get(key))
        updated, alerts = inbox_step(
            stored,
            message,
            partition,
            clock.watermark(partition),
            wall_now=time.time(),
            plan_grace_s=settings.hub_plan_grace_s,
        )
        # The alerts first, acknowledged, then the state that records them as sent:
        # a crash between the two re-reads the input and sends them again (same
        # delivery ids). The other order lost them: the table's write (local store or
        # changelog) could outlive an alert still in the producer's buffer, and the
        # re-read input then found them already open (a SIGKILL fault test saw it).
        sent = [await send(topic, k, v) for topic, k, v in alert_sends(alerts)]
        if sent:
            await asyncio.gather(*sent)
        if updated is not None and updated is not stored:
            due = shipment_runner.next_due(updated.record)
            shipments[key] = updated.dumps(due)
            records.put(key, updated)
            clock.schedule(partition, key.decode(), due)
            clock.hold(partition, key.decode(), updated.hold_until)
            shares = cards_value(shipment_cards(updated.record.state))
            if scorecard_shares.get(key) != shares:
                scorecard_shares[key] = shares
        if message.event is not None and not message.replayed and updated is not None:
            received = message.event.received_at.timestamp()
            metrics.PROCESSING_SECONDS.observe(max(0.0, time.time() - received))
        if alerts:
            metrics.count_alert_transitions(alerts)
            _log_alerts(alerts, message)

    @app.timer(interval=settings.hub_tick_interval_s)
    async def tick() -> None:
        """Send a tick to each shipment whose next deadline its partition's watermark passed."""
        mine = sorted(
            tp.partition for tp in app.consumer.assignment() if tp.topic == topics.SHIPMENTS_INBOX
        )
        if clock.stale:
            _rebuild(clock, shipments, watermarks, set(mine))
        _measure_backlog(app, clock, progress, settings.hub_max_lag)
        metrics.ABSENCE_HELD_BACK.set(1 if clock.held_back else 0)
        for partition in mine:
            watermark = clock.watermark(partition)
            if watermark is None:
                continue
            released = clock.pop_released(partition, time.time())
            for shipment_id in sorted({*clock.pop_due(partition, watermark), *released}):
                message = InboxMessage(kind="tick", until=watermark)
                await send(topics.SHIPMENTS_INBOX, encode_key(shipment_id), encode_model(message))

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        clock.stale = True
        clock.measure_again()  # the new partitions' backlog is not known yet
        records.clear()  # another worker may have changed what we held before


def _log_alerts(alerts: list[Alert], message: InboxMessage) -> None:
    """One line per transition, correlated with the webhook whose event caused it."""
    event = message.event
    with correlation(event.raw_id if event is not None else None):
        for alert in alerts:
            log.info(
                "alert %s %s (%s) on %s",
                alert.alert_id,
                alert.state,
                alert.type,
                "event " + event.event_id if event is not None else f"{message.kind}",
            )


def _count_resolve_dead_letter(value: bytes, known_sources: frozenset[str]) -> None:
    """A parked event nobody claimed, sent to the DLQ (rare: decoding it here is cheap)."""
    letter = DeadLetter.model_validate_json(value)
    source = metrics.bounded_source(letter.raw.source, known_sources)
    metrics.DEAD_LETTERS.labels(source, letter.stage, letter.error_type).inc()


class EventTimeMark:
    """The latest event time a worker has seen: the clock parked events age by."""

    def __init__(self) -> None:
        self.latest: datetime | None = None

    def saw(self, moment: datetime) -> None:
        if self.latest is None or moment > self.latest:
            self.latest = moment


class RecordCache:
    """Decoded shipment records of this worker's partitions, most recently used kept.

    The table (and its changelog) stays the durable copy, written on every change; the
    cache only saves decoding a record on each of its messages. Cleared on rebalance.
    """

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._items: OrderedDict[bytes, StoredRecord] = OrderedDict()

    def get(self, key: bytes) -> StoredRecord | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: bytes, record: StoredRecord) -> None:
        self._items[key] = record
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


def _store_watermarks(watermarks: Any, clock: PartitionClock, partition: int) -> None:
    latest = clock.max_event_time.get(partition)
    explicit = clock.explicit.get(partition)
    watermarks[f"p{partition}".encode()] = json.dumps(
        {
            "max_event_time": latest.isoformat() if latest else None,
            "explicit": explicit.isoformat() if explicit else None,
        }
    ).encode()


def _rebuild(clock: PartitionClock, shipments: Any, watermarks: Any, mine: set[int]) -> None:
    """After a start or rebalance: reload watermarks and due heaps of owned partitions."""
    clock.due = {}
    for partition in mine:
        raw = watermarks.get(f"p{partition}".encode())
        if raw:
            data = json.loads(raw)
            if data.get("max_event_time"):
                clock.saw(partition, datetime.fromisoformat(data["max_event_time"]))
            if data.get("explicit"):
                clock.explicit[partition] = datetime.fromisoformat(data["explicit"])
    open_alerts: Counter[str] = Counter()
    for key, value in shipments.items():
        partition, due, hold, alert_types = stored_summary(value)
        if partition in mine:
            clock.schedule(partition, key.decode(), due)
            clock.hold(partition, key.decode(), hold)
            open_alerts.update(alert_types)
    metrics.set_open_alerts(open_alerts)
    clock.stale = False
    log.info("deadline index rebuilt for partitions %s", sorted(mine))


LAG_TOPICS = frozenset({topics.EVENTS, topics.RESOLVE, topics.SHIPMENTS_INBOX})


def _measure_backlog(
    app: Any, clock: PartitionClock, progress: InputProgress, max_lag: int
) -> None:
    """Tell the clock this worker's unprocessed backlog on every partition it reads on the
    way to a shipment (events, resolve hops, inbox) and its sends to them in flight: after
    our outage the carriers' reports are still in that backlog, so wall time must not
    advance absence deadlines past them. Logs when absence alerts are held back or free."""
    held_back = clock.held_back
    try:
        backlog = worker_backlog(app, LAG_TOPICS, progress)
    except Exception:  # no figure (consumer not started): the clock stays as it was
        log.debug("consumer backlog unavailable", exc_info=True)
        return
    clock.note_backlog(backlog, progress.oldest_send(), max_lag)
    if clock.held_back != held_back:
        known = [n for b in backlog.values() if (n := b.unprocessed) is not None]
        log.info(
            "absence alerts %s: largest unprocessed backlog %s (threshold %s), %s sends "
            "in flight, %s partitions not fetched yet",
            "held back" if clock.held_back else "follow wall time when idle",
            max(known, default=0),
            max_lag,
            progress.in_flight,
            len(backlog) - len(known),
        )
