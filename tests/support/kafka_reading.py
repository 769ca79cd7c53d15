"""Reading topics in tests: where a topic ends now, and what was written since."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition

from hub.kafka_clients import create_consumer, read_from_offsets
from hub.settings import Settings
from hub.simulate.runner import BacklogProbe


def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    """Every partition's end offset: read from here to see only what comes next."""
    consumer = create_consumer(settings, group_id=None, purpose="test-ends")
    try:
        return consumer.end_offsets(
            [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        )
    finally:
        consumer.close()


def read_since(settings: Settings, start: dict[TopicPartition, int]) -> list[bytes]:
    """Values written since ``start``, up to the end offsets at the time of the call."""
    return [r.value for r in read_from_offsets(settings, start, purpose="test-read")]


def consumer_at(
    settings: Settings, start: dict[TopicPartition, int], purpose: str
) -> KafkaConsumer:
    """An unmanaged consumer positioned at ``start``, for a test that polls it as records
    come (one connection for the whole test); closing it is the caller's."""
    consumer = create_consumer(settings, group_id=None, purpose=purpose)
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    return consumer


def read_one(settings: Settings, topic: str, partition: int, offset: int) -> tuple[bytes, bytes]:
    """The (key, value) of one record."""
    consumer = create_consumer(settings, group_id=None, purpose="test-reader")
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        for _ in range(20):
            for records in consumer.poll(timeout_ms=500, max_records=1).values():
                return records[0].key, records[0].value
        raise AssertionError(f"nothing read at {topic}[{partition}]@{offset}")
    finally:
        consumer.close()


def group_backlog(settings: Settings, group: str, names: list[str]) -> int:
    """Records on ``names`` the consumer group has not committed yet (all of them while
    the group has no coordinator or no commits): the simulator's probe, asked once."""
    probe = BacklogProbe(settings, group, tuple(names))
    try:
        return probe.backlog()
    finally:
        probe.close()
