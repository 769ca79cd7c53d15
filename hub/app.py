"""The faust app: topics, tables and agents declared in one visible place.

Delivery guarantee: at-least-once. Agents acknowledge a record after processing it, and
processing is idempotent by ``event_id`` (duplicates collapse downstream), so a restart
that re-reads a few records changes nothing. Domain logic lives outside this module in
pure functions; agents only wire them to topics.

The producer is made idempotent with ``acks=all`` (see ``IdempotentProducer``): faust's
aiokafka driver turns idempotence on only inside transactions, and we do not use faust's
``exactly_once`` mode (it duplicates on rebalance).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from hub import topics
from hub.kafka_clients import encode_key, encode_model
from hub.normalize import normalize_record
from hub.settings import Settings

log = logging.getLogger(__name__)


class IdempotentProducer(faust_aiokafka.Producer):
    """faust's aiokafka producer with idempotence always on (acks=all is set by the app)."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class IdempotentTransport(faust_aiokafka.Transport):
    Producer = IdempotentProducer


class HubApp(faust.App):
    """faust.App whose Kafka transport makes idempotent producers."""

    def _new_transport(self) -> IdempotentTransport:
        return IdempotentTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> IdempotentTransport:
        return IdempotentTransport(self.conf.broker_producer, self)


def _bytes_topic(app: faust.App, name: str) -> faust.TopicT:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=None,
    )


def create_app(settings: Settings) -> HubApp:
    """The hub's faust app for ``settings``; nothing connects until a worker starts it."""
    app = HubApp(
        "trackhub",
        broker=f"kafka://{settings.bootstrap_servers.replace(',', ';kafka://')}",
        broker_client_id=f"{settings.client_id}-worker",
        datadir=str(settings.state_dir.resolve() / "faust"),
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        producer_linger=0.005,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
    )
    _declare(app, settings)
    return app


def _declare(app: faust.App, settings: Settings) -> None:
    raw_topic = _bytes_topic(app, topics.RAW)
    events_topic = _bytes_topic(app, topics.EVENTS)
    dlq_topic = _bytes_topic(app, topics.DLQ)

    @app.agent(raw_topic, name="normalize")
    async def normalize(stream: faust.StreamT[bytes]) -> None:
        """tracking.raw.v1 -> tracking.events.v1 (key: primary identifier) or the DLQ.

        At-least-once: faust flushes these sends (acks=all) before it commits the raw
        offset, so a crash re-reads the record and re-sends events with the same ids.
        """
        async for record in stream.events():
            message = record.message
            where = f"{message.topic}/{message.partition}/{message.offset}"
            result = normalize_record(record.value, now=datetime.now(UTC), where=where)
            for event in result.events:
                await events_topic.send(
                    key=encode_key(event.primary_identifier.key), value=encode_model(event)
                )
            if result.dead_letter is not None:
                letter = result.dead_letter
                log.warning(
                    "dead-lettered %s from %s: %s", letter.raw.envelope_id, where, letter.error_type
                )
                await dlq_topic.send(
                    key=encode_key(letter.raw.kafka_key), value=encode_model(letter)
                )

    @app.task
    async def announce_ready() -> None:
        log.info(
            "trackhub is waiting for events on %s at %s (topics: %s)",
            topics.EVENTS,
            settings.bootstrap_servers,
            ", ".join(topics.topic_names(settings)),
        )
