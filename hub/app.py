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
from collections.abc import AsyncIterator, Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from pydantic import ValidationError

from hub import topics
from hub.settings import Settings
from schemas.events import TrackingEvent

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
    events_topic = app.topic(
        topics.EVENTS, key_type=bytes, value_type=bytes, value_serializer="raw"
    )

    @app.agent(events_topic, name="watch-events")
    async def watch_events(stream: AsyncIterator[bytes]) -> None:
        """Validates every normalized event; the hub's detectors will hang here."""
        async for value in stream:
            try:
                event = TrackingEvent.model_validate_json(value)
            except ValidationError as exc:
                log.error("invalid event on %s: %s", topics.EVENTS, exc.error_count())
                continue
            log.info(
                "event %s milestone=%s connector=%s",
                event.event_id,
                event.milestone.value,
                event.source.connector,
            )

    @app.task
    async def announce_ready() -> None:
        log.info(
            "trackhub is waiting for events on %s at %s (topics: %s)",
            topics.EVENTS,
            settings.bootstrap_servers,
            ", ".join(topics.topic_names(settings)),
        )
