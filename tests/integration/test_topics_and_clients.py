"""The declared topics on the real broker, and records through the one producer factory."""

from __future__ import annotations

import asyncio

from kafka.admin import ConfigResource, ConfigResourceType

from hub import topics
from hub.kafka_clients import (
    create_admin,
    create_async_producer,
    create_producer,
    encode_key,
    encode_model,
    ensure_topics,
)
from hub.settings import Settings
from schemas import TrackingEvent
from tests.factories import make_event
from tests.support.kafka_reading import read_one


def test_all_declared_topics_exist_with_their_partitions_and_configs(
    kafka_settings: Settings,
) -> None:
    admin = create_admin(kafka_settings)
    try:
        described = {
            t["name"]: t for t in admin.describe_topics(topics.topic_names(kafka_settings))
        }
        for spec in topics.declared_topics(kafka_settings):
            assert len(described[spec.name]["partitions"]) == spec.partitions, spec.name
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics.SHIPMENTS)]
        )
        assert "compact" in repr(configs)
    finally:
        admin.close()
    assert set(topics.topic_names(kafka_settings)) == {
        "tracking.raw.v1",
        "tracking.events.v1",
        "tracking.dlq.v1",
        "shipments.v1",
        "alerts.v1",
        "hub.resolve.v1",
        "hub.shipments-inbox.v1",
        "trackhub-hub-identifier-owners-changelog",
        "trackhub-hub-parked-events-changelog",
        "trackhub-hub-shipments-changelog",
        "trackhub-hub-watermarks-changelog",
        "trackhub-hub-scorecard-shares-changelog",
        "sellers.v1",
        "api-keys.v1",
        "subscriptions.v1",
    }


def test_ensure_topics_twice_creates_nothing_new(kafka_settings: Settings) -> None:
    report = ensure_topics(kafka_settings)
    assert report.created == []
    assert sorted(report.existing) == sorted(topics.topic_names(kafka_settings))


def test_event_round_trip_through_the_producer_factory(kafka_settings: Settings) -> None:
    event = make_event(source_description="round trip through the blocking producer")
    producer = create_producer(kafka_settings, purpose="test")
    try:
        key = event.primary_identifier.key
        metadata = producer.send(topics.EVENTS, key=encode_key(key), value=encode_model(event)).get(
            timeout=30
        )
    finally:
        producer.close()
    raw_key, value = read_one(kafka_settings, topics.EVENTS, metadata.partition, metadata.offset)
    assert raw_key == key.encode()
    again = TrackingEvent.model_validate_json(value)
    assert again == event
    assert again.occurred_at.utcoffset() == event.occurred_at.utcoffset()


def test_event_round_trip_through_the_async_producer(kafka_settings: Settings) -> None:
    event = make_event(source_description="round trip through the asyncio producer")

    async def send() -> tuple[int, int]:
        producer = create_async_producer(kafka_settings, purpose="test-async")
        await producer.start()
        try:
            record = await producer.send_and_wait(
                topics.EVENTS,
                key=encode_key(event.primary_identifier.key),
                value=encode_model(event),
            )
            return record.partition, record.offset
        finally:
            await producer.stop()

    partition, offset = asyncio.run(send())
    _, value = read_one(kafka_settings, topics.EVENTS, partition, offset)
    assert TrackingEvent.model_validate_json(value) == event


def test_same_key_goes_to_the_same_partition(kafka_settings: Settings) -> None:
    producer = create_producer(kafka_settings, purpose="test-keys")
    try:
        event = make_event()
        partitions = {
            producer.send(
                topics.EVENTS,
                key=encode_key(event.primary_identifier.key),
                value=encode_model(event),
            )
            .get(timeout=30)
            .partition
            for _ in range(5)
        }
    finally:
        producer.close()
    assert len(partitions) == 1
