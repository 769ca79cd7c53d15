"""The raw-log writer on the real broker: durable answers, same partitions as kafka-python."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kafka.partitioner.default import murmur2

from connectors.raw_log import RawLogUnavailable, RawLogWriter, librdkafka_producer_config
from hub.kafka_clients import encode_key
from hub.settings import Settings
from schemas.events import RawEnvelope


def _envelope(reference: str) -> RawEnvelope:
    return RawEnvelope.from_body(
        body=f'{{"ref": "{reference}"}}'.encode(),
        source="raw-log-test",
        format="native",
        reference=reference,
        received_at=datetime.now(UTC),
        content_type="application/json",
        headers={},
        signature_verified=True,
    )


def test_config_keeps_the_safe_producer_options(kafka_settings: Settings) -> None:
    config = librdkafka_producer_config(kafka_settings, "test")
    assert config["acks"] == "all" and config["enable.idempotence"] is True
    assert config["max.in.flight.requests.per.connection"] <= 5
    assert config["message.timeout.ms"] <= kafka_settings.gateway_kafka_timeout_s * 1000
    assert config["partitioner"] == "murmur2_random"


async def test_a_key_lands_where_kafka_python_puts_it(kafka_settings: Settings) -> None:
    writer = RawLogWriter(kafka_settings, purpose="test-raw-log")
    try:
        for i in range(20):
            envelope = _envelope(f"partition-check-{i}")
            partition, offset = await writer.write(envelope)
            expected = (murmur2(encode_key(envelope.kafka_key)) & 0x7FFFFFFF) % (
                kafka_settings.partitions
            )
            assert partition == expected and offset >= 0
    finally:
        await writer.close()


async def test_unreachable_broker_is_unavailable_within_the_timeout(
    kafka_settings: Settings,
) -> None:
    changes = {"kafka_bootstrap": "127.0.0.1:1", "gateway_kafka_timeout_s": 1.0}
    writer = RawLogWriter(Settings(**(kafka_settings.model_dump() | changes)), purpose="test-down")
    started = datetime.now(UTC)
    try:
        with pytest.raises(RawLogUnavailable):
            await writer.write(_envelope("down-1"))
    finally:
        await writer.close()
    assert (datetime.now(UTC) - started).total_seconds() < 1.5
