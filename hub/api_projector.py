"""Follows the hub's topics into the API's SQLite read model (``hub.api_store``).

``apply_record`` is pure over a SQLite connection: one Kafka record in, rows out, plus the
alert states it logged for the first time (for the SSE fan-out). ``Projector`` is the I/O:
a thread with a kafka-python consumer assigned to every partition of the projected
topics (no consumer group: each API process keeps its own copy), starting from the
offsets stored beside the rows. Records and their offsets commit in one transaction, so a
crash repeats nothing and skips nothing.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition

from hub import metrics, topics
from hub.api_store import ApiStore, LoggedAlert, StreamPosition, shipment_status
from hub.kafka_clients import create_consumer
from hub.settings import Settings

log = logging.getLogger("trackhub.api")

SHIPMENT_CHANGELOG = topics.changelog_topic(topics.TABLE_SHIPMENTS)
SCORECARD_CHANGELOG = topics.changelog_topic(topics.TABLE_SCORECARD_SHARES)
PROJECTED_TOPICS = (
    topics.SELLERS,
    topics.API_KEYS,
    topics.SUBSCRIPTIONS,
    topics.SHIPMENTS,
    SHIPMENT_CHANGELOG,
    topics.SHIPMENTS_INBOX,
    topics.ALERTS,
    SCORECARD_CHANGELOG,
)
# state fields the API shows; the plan is its own column, the rest is bookkeeping
STATE_FIELDS = ("legs", "delivered", "abandoned", "delivery_estimate", "clock", "open_alerts")


def apply_record(
    db: sqlite3.Connection,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
) -> list[LoggedAlert]:
    """Project one record; returns the alert states it logged for the first time."""
    db.execute(
        "INSERT INTO positions VALUES (?, ?, ?) ON CONFLICT (topic, partition) "
        "DO UPDATE SET next_offset = excluded.next_offset",
        (topic, partition, offset + 1),
    )
    if key is None:
        return []
    if topic == topics.ALERTS:
        return _alert(db, partition, offset, value) if value is not None else []
    apply_value(db, topic, key.decode(), value)
    return []


def apply_value(db: sqlite3.Connection, topic: str, name: str, value: bytes | None) -> None:
    """Project a record of any topic but ``alerts.v1`` (no position: the API also calls
    it for its own writes, to read them back before the projector gets to them)."""
    if topic == topics.SHIPMENTS_INBOX:
        _inbox(db, name, value)
    elif topic == topics.SHIPMENTS:
        _plan(db, name, value)
    elif topic == SHIPMENT_CHANGELOG:
        _state(db, name, value)
    elif topic == SCORECARD_CHANGELOG:
        if value is None:
            db.execute("DELETE FROM scorecard_shares WHERE shipment_id = ?", (name,))
        else:
            db.execute(
                "INSERT OR REPLACE INTO scorecard_shares VALUES (?, ?)", (name, value.decode())
            )
    elif topic == topics.SELLERS:
        _seller(db, name, value)
    elif topic == topics.API_KEYS:
        _key(db, name, value)
    elif topic == topics.SUBSCRIPTIONS:
        _subscription(db, name, value)


def _alert(db: sqlite3.Connection, partition: int, offset: int, value: bytes) -> list[LoggedAlert]:
    alert = json.loads(value)
    party = alert.get("party") or {}
    db.execute(
        "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id) "
        "DO UPDATE SET state = excluded.state, revision = excluded.revision, "
        "party_role = excluded.party_role, party_id = excluded.party_id, body = excluded.body "
        "WHERE excluded.revision >= alerts.revision",
        (
            alert["alert_id"],
            alert["seller_id"],
            alert["shipment_id"],
            alert["type"],
            alert["state"],
            party.get("role"),
            party.get("id"),
            alert["revision"],
            alert["opened_at"],
            value.decode(),
        ),
    )
    delivery_id = f"{alert['alert_id']}.{alert['revision']}"
    logged = db.execute(
        "INSERT OR IGNORE INTO alert_log VALUES (?, ?, ?, ?, ?)",
        (partition, offset, alert["seller_id"], delivery_id, value.decode()),
    ).rowcount
    if not logged:
        return []  # the same state published again (at-least-once): streamed once
    return [LoggedAlert(StreamPosition(partition, offset), alert["seller_id"], value.decode())]


def _inbox(db: sqlite3.Connection, shipment_id: str, value: bytes | None) -> None:
    if value is None or not value.startswith(b'{"kind":"event"'):
        return  # plans, ticks and clock moves are not part of the timeline
    event = json.loads(value)["event"]
    db.execute(
        "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?)",
        (shipment_id, event["event_id"], event["occurred_at"], json.dumps(event)),
    )


def _plan(db: sqlite3.Connection, shipment_id: str, value: bytes | None) -> None:
    if value is None:
        return  # plans are never deleted by the hub; a tombstone leaves the last view
    plan = json.loads(value)
    db.execute(
        "INSERT INTO shipments VALUES (?, ?, ?, ?, 'registered', NULL) "
        "ON CONFLICT (shipment_id) DO UPDATE SET revision = excluded.revision, "
        "plan = excluded.plan WHERE excluded.revision >= shipments.revision",
        (shipment_id, plan["seller_id"], plan["revision"], value.decode()),
    )


def _state(db: sqlite3.Connection, shipment_id: str, value: bytes | None) -> None:
    if value is None:
        return
    state = json.loads(value)["record"]["state"]
    plan = state["plan"]
    shown = {name: state.get(name) for name in STATE_FIELDS}
    db.execute(
        "INSERT INTO shipments VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (shipment_id) "
        "DO UPDATE SET status = excluded.status, state = excluded.state",
        (
            shipment_id,
            plan["seller_id"],
            plan["revision"],
            json.dumps(plan),
            shipment_status(state),
            json.dumps(shown),
        ),
    )


def _seller(db: sqlite3.Connection, seller_id: str, value: bytes | None) -> None:
    if value is None:
        db.execute("DELETE FROM sellers WHERE seller_id = ?", (seller_id,))
        return
    seller = json.loads(value)
    db.execute("INSERT OR REPLACE INTO sellers VALUES (?, ?)", (seller_id, seller["name"]))


def _key(db: sqlite3.Connection, key_id: str, value: bytes | None) -> None:
    if value is None:
        db.execute("DELETE FROM api_keys WHERE key_id = ?", (key_id,))
        return
    key = json.loads(value)
    db.execute(
        "INSERT OR REPLACE INTO api_keys VALUES (?, ?, ?, ?)",
        (key_id, key["seller_id"], key["secret_sha256"], int(key.get("revoked_at") is not None)),
    )


def _subscription(db: sqlite3.Connection, subscription_id: str, value: bytes | None) -> None:
    record = json.loads(value) if value is not None else None
    if record is None or record.get("deleted_at"):
        db.execute("DELETE FROM subscriptions WHERE subscription_id = ?", (subscription_id,))
        return
    record.pop("secret", None)  # shown once, at creation; only the delivery process reads it
    db.execute(
        "INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?)",
        (subscription_id, record["seller_id"], record["created_at"], json.dumps(record)),
    )


class Projector:
    """The thread that keeps an ``ApiStore`` following Kafka.

    ``on_alerts`` is called from this thread with newly logged alert states (the server
    hands them to the event loop). ``caught_up`` is set once every partition reached the
    end offset it had when the projector started: until then the API is not ready.
    """

    def __init__(
        self,
        settings: Settings,
        store: ApiStore,
        on_alerts: Callable[[list[LoggedAlert]], None],
    ) -> None:
        self._settings = settings
        self._store = store
        self._on_alerts = on_alerts
        self._stop = threading.Event()
        self.caught_up = threading.Event()
        self.failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="api-projector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            self._follow()
        except BaseException as exc:  # reported by /readyz and the log, never silent
            self.failed = exc
            log.exception("the API projector stopped")

    def _follow(self) -> None:
        consumer = create_consumer(
            self._settings, group_id=None, purpose="api-projector", max_poll_records=2000
        )
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in PROJECTED_TOPICS
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            consumer.assign(partitions)
            stored = self._store.positions()
            for tp in partitions:
                if (tp.topic, tp.partition) in stored:
                    consumer.seek(tp, stored[(tp.topic, tp.partition)])
                else:
                    consumer.seek_to_beginning(tp)
            targets: dict[Any, int] = dict(consumer.end_offsets(partitions))
            while not self._stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                logged: list[LoggedAlert] = []
                if batches:
                    with self._store.transaction() as db:
                        for tp, messages in batches.items():
                            for m in messages:
                                logged += apply_record(
                                    db, tp.topic, tp.partition, m.offset, m.key, m.value
                                )
                if logged:
                    self._on_alerts(logged)
                metrics.API_READ_MODEL_BEHIND.set(_behind(consumer, partitions))
                if not self.caught_up.is_set():
                    targets = {
                        tp: end for tp, end in targets.items() if consumer.position(tp) < end
                    }
                    if not targets:
                        self.caught_up.set()
                        log.info("API read model caught up with Kafka")
        finally:
            consumer.close()


def _behind(consumer: Any, partitions: list[TopicPartition]) -> int:
    """Records fetched metadata says exist past our position (highwater is known once a
    partition has been fetched; before that it counts as nothing behind)."""
    total = 0
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is not None:
            total += max(0, highwater - consumer.position(tp))
    return total
