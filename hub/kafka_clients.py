"""The one place Kafka clients are made, with safe defaults, and where topics are ensured.

Every Kafka write in the project goes through ``create_producer`` (blocking, kafka-python)
or ``create_async_producer`` (asyncio, aiokafka, for aiohttp and faust code). Both use
``acks=all`` with idempotence on, bounded retries (a delivery timeout rather than a retry
count) and a short linger, so a record acknowledged to a caller is on every in-sync
replica and a retry never duplicates it. aiokafka's own defaults (acks=1, no idempotence)
are not safe and are never used as they are.

Values are the JSON of a schema model (``encode_model``); keys are UTF-8 strings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, NoError, TopicAlreadyExistsError, for_code
from pydantic import BaseModel

from hub.settings import Settings
from hub.topics import TopicSpec, declared_topics

log = logging.getLogger(__name__)

LINGER_MS = 5  # a few ms of batching; the gateway's 202 waits for this at most
DELIVERY_TIMEOUT_MS = 30_000  # give up (and tell the caller) after this, never silently
REQUEST_TIMEOUT_MS = 10_000


class KafkaUnavailableError(RuntimeError):
    """The cluster did not answer (down, unreachable, or too slow)."""


class TopicMismatchError(RuntimeError):
    """A topic exists with a shape the hub cannot use (e.g. another partition count)."""


def encode_key(key: str) -> bytes:
    return key.encode("utf-8")


def encode_model(model: BaseModel) -> bytes:
    """A model's JSON bytes: the value format of every hub topic."""
    return model.model_dump_json().encode("utf-8")


def producer_config(settings: Settings, purpose: str) -> dict[str, Any]:
    """The safe producer options shared by both client libraries (same option names)."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": f"{settings.client_id}-{purpose}",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": LINGER_MS,
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        "compression_type": None,
    }


def create_producer(settings: Settings, purpose: str) -> KafkaProducer:
    """A blocking producer (kafka-python) with the safe defaults; ``purpose`` names it."""
    return KafkaProducer(
        **producer_config(settings, purpose),
        delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
        max_in_flight_requests_per_connection=5,  # the most idempotence keeps ordered
        retry_backoff_ms=100,
    )


def create_async_producer(settings: Settings, purpose: str) -> Any:
    """An asyncio producer (aiokafka) with the same safe defaults. Start it before use."""
    from aiokafka import AIOKafkaProducer  # imported here: only async processes need it

    return AIOKafkaProducer(**producer_config(settings, purpose))


def create_consumer(
    settings: Settings,
    *topics: str,
    group_id: str | None,
    purpose: str,
    auto_offset_reset: str = "earliest",
    **overrides: Any,
) -> KafkaConsumer:
    """A blocking consumer that commits only when the caller says so (at-least-once).

    ``group_id=None`` makes an unmanaged reader (no group, no commits), for tools and
    tests that read a topic from the start.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": f"{settings.client_id}-{purpose}",
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": auto_offset_reset,
        "isolation_level": "read_committed",
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return KafkaConsumer(*topics, **options)


def read_to_end(settings: Settings, topic: str, *, purpose: str) -> list[ConsumerRecord]:
    """Every record of ``topic`` from its beginning up to the end offsets at the time of
    the call, in partition order: a reader of a compacted topic's latest state. A topic
    that does not exist reads as empty."""
    consumer = create_consumer(settings, group_id=None, purpose=purpose)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)  # a compacted topic may not start at 0
        return _read_assigned_to_end(consumer, tps)
    finally:
        consumer.close()


def read_from_offsets(
    settings: Settings, start: Mapping[TopicPartition, int], *, purpose: str
) -> list[ConsumerRecord]:
    """Every record from the offsets ``start`` gives (its partitions may be of several
    topics) up to the end offsets at the time of the call, in partition order: what a run
    wrote since it noted ``start``. An empty ``start`` reads nothing."""
    if not start:
        return []
    consumer = create_consumer(settings, group_id=None, purpose=purpose)
    try:
        tps = list(start)
        consumer.assign(tps)
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        return _read_assigned_to_end(consumer, tps)
    finally:
        consumer.close()


def _read_assigned_to_end(
    consumer: KafkaConsumer, tps: list[TopicPartition]
) -> list[ConsumerRecord]:
    """The records of ``tps`` from the consumer's positions up to their end offsets now."""
    ends = consumer.end_offsets(tps)
    read: list[ConsumerRecord] = []
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        for batch in consumer.poll(timeout_ms=500).values():
            read += [r for r in batch if r.offset < ends[TopicPartition(r.topic, r.partition)]]
    return read


def create_admin(settings: Settings, *, timeout_ms: int = REQUEST_TIMEOUT_MS) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-admin",
        request_timeout_ms=timeout_ms,
    )


@dataclass(frozen=True, slots=True)
class TopicReport:
    created: list[str]
    existing: list[str]


def ensure_topics(settings: Settings, specs: Iterable[TopicSpec] | None = None) -> TopicReport:
    """Create the declared topics that are missing; check those that exist.

    Safe to call any number of times. A topic that exists with another partition count
    raises ``TopicMismatchError``: repartitioning would move keys between partitions under
    the hub's tables, so it is an operator's decision, never done silently.
    """
    specs = list(specs if specs is not None else declared_topics(settings))
    admin = create_admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        created = _create_topics(admin, missing) if missing else []
        present = [spec for spec in specs if spec.name not in created]
        _check_partitions(admin, present)
        return TopicReport(created=created, existing=[spec.name for spec in present])
    except KafkaError as exc:
        raise RuntimeError(
            f"could not ensure topics on {settings.bootstrap_servers}: {exc}"
        ) from exc
    finally:
        admin.close()


def _create_topics(admin: KafkaAdminClient, specs: list[TopicSpec]) -> list[str]:
    """Create ``specs``; returns the names created. One that another process created
    meanwhile counts as existing; any other per-topic error is raised."""
    request = {
        spec.name: {
            "num_partitions": spec.partitions,
            "replication_factor": spec.replication_factor,
            "configs": spec.configs,
        }
        for spec in specs
    }
    result = admin.create_topics(request, raise_errors=False)
    created: list[str] = []
    for topic in result["topics"]:
        error = for_code(topic["error_code"])
        if error is NoError:
            created.append(topic["name"])
        elif error is not TopicAlreadyExistsError:
            raise TopicMismatchError(
                f"could not create topic {topic['name']}: {error.__name__}: "
                f"{topic.get('error_message') or ''}"
            )
    if created:
        admin.wait_for_topics(created, timeout_ms=30_000)
    return created


def _check_partitions(admin: KafkaAdminClient, specs: list[TopicSpec]) -> None:
    if not specs:
        return
    described = {t["name"]: t for t in admin.describe_topics([s.name for s in specs])}
    for spec in specs:
        partitions = len(described.get(spec.name, {}).get("partitions", []))
        if partitions != spec.partitions:
            raise TopicMismatchError(
                f"topic {spec.name} has {partitions} partitions, the hub declares "
                f"{spec.partitions}; set TRACKHUB_PARTITIONS={partitions} or recreate the topic"
            )
