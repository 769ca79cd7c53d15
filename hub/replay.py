"""Re-normalize the raw log: read ``tracking.raw.v1`` from a point, write events and dead
letters again.

Used after a mapper fix: the envelopes that were dead-lettered (or mis-mapped) are parsed
again by the current connectors. Delivery guarantee: at-least-once; every event keeps its
deterministic ``event_id``, so what was already processed collapses downstream. The replay
stops at the end offsets seen when it started, so it always terminates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from hub import topics
from hub.kafka_clients import create_consumer, create_producer, encode_key, encode_model
from hub.normalize import normalize_envelope, normalize_record
from hub.settings import Settings
from schemas.events import RawEnvelope

PROGRESS_EVERY = 10_000
_PARTITION_OFFSETS = re.compile(r"^\d+:\d+(,\d+:\d+)*$")


class ReplayStartError(ValueError):
    """``--from`` is not a time, an offset, ``partition:offset,...`` or ``earliest``."""


@dataclass(frozen=True, slots=True)
class ReplayStart:
    """Where to start: a time, one offset for every partition, or offsets per partition."""

    at: datetime | None = None
    offset: int | None = None
    per_partition: dict[int, int] | None = None

    @classmethod
    def parse(cls, text: str) -> ReplayStart:
        text = text.strip()
        if text == "earliest":
            return cls(offset=0)
        if text.isdigit():
            return cls(offset=int(text))
        if _PARTITION_OFFSETS.match(text):
            pairs = (item.split(":") for item in text.split(","))
            return cls(per_partition={int(p): int(o) for p, o in pairs})
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ReplayStartError(
                f"--from {text!r}: expected an ISO time (2026-03-01T00:00:00Z), an offset, "
                "partition:offset[,partition:offset...] or 'earliest'"
            ) from None
        if moment.tzinfo is None:
            raise ReplayStartError(f"--from {text!r}: give the time with its UTC offset")
        return cls(at=moment)


@dataclass(slots=True)
class ReplayReport:
    records: int = 0
    skipped_other_sources: int = 0
    events: int = 0
    dead_letters: int = 0


def replay_raw_log(
    settings: Settings,
    start: ReplayStart,
    *,
    source: str | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] = print,
) -> ReplayReport:
    """Replay from ``start`` to the current end; returns what was read and written."""
    consumer = create_consumer(settings, group_id=None, purpose="replay")
    producer = None if dry_run else create_producer(settings, purpose="replay")
    report = ReplayReport()
    next_report = PROGRESS_EVERY
    try:
        partitions = sorted(consumer.partitions_for_topic(topics.RAW) or [])
        tps = [TopicPartition(topics.RAW, p) for p in partitions]
        consumer.assign(tps)
        end = consumer.end_offsets(tps)
        for tp, offset in _start_offsets(consumer, tps, start).items():
            consumer.seek(tp, offset)
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for tp, records in consumer.poll(timeout_ms=1000, max_records=2000).items():
                for record in records:
                    if record.offset >= end[tp]:
                        continue
                    _replay_one(record, source, producer, report)
            if report.records >= next_report:
                progress(f"replayed {report.records} records")
                next_report += PROGRESS_EVERY
        if producer is not None:
            producer.flush()
    finally:
        consumer.close()
        if producer is not None:
            producer.close()
    return report


def _replay_one(
    record: ConsumerRecord,
    source: str | None,
    producer: KafkaProducer | None,
    report: ReplayReport,
) -> None:
    where = f"{record.topic}/{record.partition}/{record.offset}"
    now = datetime.now(UTC)
    try:
        raw = RawEnvelope.model_validate_json(record.value)
    except ValueError:
        raw = None
    if source is not None and (raw is None or raw.source != source):
        report.skipped_other_sources += 1
        return
    report.records += 1
    result = (
        normalize_envelope(raw, now=now)
        if raw is not None
        else normalize_record(record.value, now=now, where=where)
    )
    report.events += len(result.events)
    report.dead_letters += result.dead_letter is not None
    if producer is None:
        return
    for event in result.events:
        key = encode_key(event.primary_identifier.key)
        producer.send(topics.EVENTS, key=key, value=encode_model(event))
    if result.dead_letter is not None:
        letter = result.dead_letter
        producer.send(topics.DLQ, key=encode_key(letter.raw.kafka_key), value=encode_model(letter))


def _start_offsets(
    consumer: KafkaConsumer, tps: list[TopicPartition], start: ReplayStart
) -> dict[TopicPartition, int]:
    beginning = consumer.beginning_offsets(tps)
    if start.at is not None:
        found = consumer.offsets_for_times({tp: int(start.at.timestamp() * 1000) for tp in tps})
        end = consumer.end_offsets(tps)
        return {tp: (found[tp].offset if found.get(tp) else end[tp]) for tp in tps}
    if start.per_partition is not None:
        unknown = set(start.per_partition) - {tp.partition for tp in tps}
        if unknown:
            raise ReplayStartError(f"--from names partitions that do not exist: {sorted(unknown)}")
        end = consumer.end_offsets(tps)
        return {
            tp: max(start.per_partition.get(tp.partition, end[tp]), beginning[tp]) for tp in tps
        }
    return {tp: max(start.offset or 0, beginning[tp]) for tp in tps}
