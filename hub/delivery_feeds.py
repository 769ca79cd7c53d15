"""The delivery process's Kafka side: subscriptions followed live, alerts turned into jobs.

Two threads, each with its own blocking kafka-python consumer, so a slow broker never
stalls the event loop that sends webhooks:

- ``SubscriptionFollower`` reads ``subscriptions.v1`` from the beginning (no group) into
  a ``SubscriptionDirectory`` and keeps following it; the directory is *caught up* once
  it has read to the end offsets seen at start.
- ``AlertIngest`` consumes ``alerts.v1`` in the group ``trackhub-delivery`` and, per
  batch: waits until the directory has read ``subscriptions.v1`` up to that topic's end
  offsets measured *after* the batch was fetched (so a subscription acknowledged by Kafka
  before an alert was published is known when that alert is matched), writes one job per
  matching subscription to the SQLite queue, and only then commits the batch's offsets.
  **At-least-once**: a crash between the two re-reads the batch, and the queue's
  ``UNIQUE(subscription_id, delivery_id)`` drops what it already holds.

Which alerts a subscription receives (``matching_subscriptions``): those of its seller,
of a type it wants, while it is active, and published to alerts.v1 at or after its
creation (record timestamp, with ``CLOCK_SKEW_S`` of tolerance between hosts). Alerts
published before a subscription existed are not delivered retroactively, and neither
is history re-read from alerts.v1 by a new consumer group.

More than one delivery process may share the group; each delivers the alerts of the
partitions it owns from its own queue file. While partitions move between them (a
rebalance), the order of one shipment's alert states is not guaranteed across
processes: run one delivery process per queue file, and prefer a single one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError

from hub import metrics, topics
from hub.delivery_http import webhook_body
from hub.delivery_store import DeliveryStore, NewJob
from hub.kafka_clients import create_consumer
from hub.settings import Settings
from schemas.alerts import Alert
from schemas.sellers import Subscription

log = logging.getLogger(__name__)

GROUP_ID = "trackhub-delivery"
CLOCK_SKEW_S = 5.0  # how far ahead of the alert's producer a subscriber's clock may be
POLL_TIMEOUT_MS = 500
MAX_POLL_RECORDS = 500
# A killed process's partitions go to the restarted one (or another) after this; kafka-
# python's default (45 s) would hold alerts back that long. Heartbeats come from the
# client's own thread, so a slow batch does not count against it.
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 3_000

SubscriptionChange = Callable[[str], None]  # called with the subscription id


def matching_subscriptions(
    alert: Alert, published_at: float, candidates: Iterable[Subscription]
) -> list[Subscription]:
    """The subscriptions that receive ``alert`` (``candidates``: its seller's)."""
    return [
        sub
        for sub in candidates
        if sub.seller_id == alert.seller_id
        and sub.active
        and sub.wants(alert.type)
        and sub.created_at.timestamp() <= published_at + CLOCK_SKEW_S
    ]


class SubscriptionDirectory:
    """The latest record of every subscription, by id and by seller; thread-safe.

    Written by the follower thread, read by the ingest thread and the event loop. Records
    written by this process (a disable) are applied at once with ``put``, before Kafka
    echoes them back.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._by_id: dict[str, Subscription] = {}
        self._by_seller: dict[str, dict[str, Subscription]] = {}
        self._positions: dict[int, int] = {}
        self.caught_up = threading.Event()

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, subscription_id: str) -> Subscription | None:
        return self._by_id.get(subscription_id)

    def of_seller(self, seller_id: str) -> list[Subscription]:
        with self._changed:
            return list(self._by_seller.get(seller_id, {}).values())

    def put(self, subscription_id: str, record: Subscription | None) -> None:
        """Apply a record (None: a tombstone, the subscription is gone)."""
        with self._changed:
            old = self._by_id.pop(subscription_id, None)
            if old is not None:
                self._by_seller.get(old.seller_id, {}).pop(subscription_id, None)
            if record is not None:
                self._by_id[subscription_id] = record
                self._by_seller.setdefault(record.seller_id, {})[subscription_id] = record

    def set_positions(self, positions: dict[int, int]) -> None:
        with self._changed:
            self._positions = dict(positions)
            self._changed.notify_all()

    def wait_for(self, targets: dict[int, int], stop: threading.Event) -> bool:
        """Block until the follower has read each partition up to ``targets``; False if
        ``stop`` was set first."""
        with self._changed:
            while not all(self._positions.get(p, 0) >= end for p, end in targets.items()):
                if stop.is_set():
                    return False
                self._changed.wait(timeout=0.5)
        return True


class SubscriptionFollower(threading.Thread):
    """Reads subscriptions.v1 from the start into the directory, then follows it.

    ``on_change`` is called (in this thread) for every record read once caught up; the
    records read while catching up are the caller's to sweep when ``caught_up`` is set.
    """

    def __init__(
        self,
        settings: Settings,
        directory: SubscriptionDirectory,
        stop: threading.Event,
        on_change: SubscriptionChange,
        on_fatal: Callable[[BaseException], None],
    ) -> None:
        super().__init__(name="delivery-subscriptions", daemon=True)
        self._settings = settings
        self._directory = directory
        self._halt = stop
        self._on_change = on_change
        self._on_fatal = on_fatal

    def run(self) -> None:
        try:
            self._follow()
        except BaseException as exc:
            self._on_fatal(exc)

    def _follow(self) -> None:
        consumer = create_consumer(self._settings, group_id=None, purpose="delivery-subs")
        try:
            tps = subscription_partitions(consumer)
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            initial = {tp.partition: end for tp, end in consumer.end_offsets(tps).items()}
            while not self._halt.is_set():
                for records in consumer.poll(timeout_ms=POLL_TIMEOUT_MS).values():
                    for record in records:
                        self._apply(record.key, record.value)
                positions = {tp.partition: consumer.position(tp) for tp in tps}
                self._directory.set_positions(positions)
                if not self._directory.caught_up.is_set() and all(
                    positions[p] >= end for p, end in initial.items()
                ):
                    log.info("subscriptions read: %d known", len(self._directory))
                    self._directory.caught_up.set()
        finally:
            consumer.close()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        subscription_id = key.decode("utf-8", "replace")
        record = None
        if value is not None:
            try:
                record = Subscription.model_validate_json(value)
            except ValidationError as exc:
                log.error(
                    "subscription record %s is invalid, ignored (%d errors)",
                    subscription_id,
                    exc.error_count(),
                )
                return
        self._directory.put(subscription_id, record)
        if self._directory.caught_up.is_set():
            self._on_change(subscription_id)


def subscription_partitions(consumer: KafkaConsumer) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topics.SUBSCRIPTIONS) or {0}
    return [TopicPartition(topics.SUBSCRIPTIONS, p) for p in sorted(partitions)]


class AlertIngest(threading.Thread):
    """alerts.v1 -> jobs in the SQLite queue -> offsets committed (in that order)."""

    def __init__(
        self,
        settings: Settings,
        db_path: Path,
        directory: SubscriptionDirectory,
        stop: threading.Event,
        on_enqueued: Callable[[], None],
        on_fatal: Callable[[BaseException], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name="delivery-alerts", daemon=True)
        self._settings = settings
        self._db_path = db_path
        self._directory = directory
        self._halt = stop
        self._on_enqueued = on_enqueued
        self._on_fatal = on_fatal
        self._clock = clock
        self.last_poll: float | None = None  # time.monotonic() of the last poll's return

    def run(self) -> None:
        try:
            while not self._directory.caught_up.wait(timeout=0.5):
                if self._halt.is_set():
                    return
            self._consume()
        except BaseException as exc:
            self._on_fatal(exc)

    def _consume(self) -> None:
        store = DeliveryStore(self._db_path)
        consumer = create_consumer(
            self._settings,
            topics.ALERTS,
            group_id=GROUP_ID,
            purpose="delivery-alerts",
            max_poll_records=MAX_POLL_RECORDS,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        )
        try:
            sub_tps = subscription_partitions(consumer)
            while not self._halt.is_set():
                batches = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
                self.last_poll = time.monotonic()
                records = [record for batch in batches.values() for record in batch]
                if not records:
                    continue
                ends = {tp.partition: end for tp, end in consumer.end_offsets(sub_tps).items()}
                if not self._directory.wait_for(ends, self._halt):
                    return  # stopping: the batch is not committed, the next run re-reads it
                jobs = [job for record in records for job in self._jobs_of(record)]
                added = store.enqueue(jobs, self._clock())
                try:
                    consumer.commit()
                except (CommitFailedError, KafkaError) as exc:  # a rebalance: re-read later
                    log.warning("alerts.v1 offsets not committed (%s); will re-read", exc)
                if added:
                    self._on_enqueued()
        finally:
            consumer.close()
            store.close()

    def _jobs_of(self, record: ConsumerRecord) -> list[NewJob]:
        try:
            alert = Alert.model_validate_json(record.value or b"")
        except ValidationError as exc:
            metrics.WEBHOOK_DELIVERIES_DROPPED.labels("invalid_alert").inc()
            log.error(
                "alerts.v1[%d]@%d is not a valid alert, not delivered (%d errors)",
                record.partition,
                record.offset,
                exc.error_count(),
            )
            return []
        published_at = record.timestamp / 1000
        subscriptions = matching_subscriptions(
            alert, published_at, self._directory.of_seller(alert.seller_id)
        )
        if not subscriptions:
            return []
        body = webhook_body(alert)
        return [
            NewJob(
                subscription_id=sub.subscription_id,
                delivery_id=alert.delivery_id,
                shipment_id=alert.shipment_id,
                seller_id=alert.seller_id,
                payload=body,
                published_at=published_at,
            )
            for sub in subscriptions
        ]
