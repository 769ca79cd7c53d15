"""Writing raw envelopes durably to ``tracking.raw.v1``.

Delivery guarantee: ``write`` returns only once the record is acknowledged by every
in-sync replica (acks=all, idempotent producer from ``hub.kafka_clients``); any failure
raises ``RawLogUnavailable`` and the caller must not acknowledge the sender. A record may
be written twice (a timeout after a successful write); downstream processing is
idempotent by ``envelope_id``/``event_id``, so that is harmless, while a lost one is not.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hub import topics
from hub.kafka_clients import create_async_producer, encode_key, encode_model
from hub.settings import Settings
from schemas.events import RawEnvelope

log = logging.getLogger(__name__)


class RawLogUnavailable(Exception):
    """Kafka did not take the record in time; nothing was acknowledged."""


class RawLogWriter:
    """One async producer for the gateway process, (re)started on demand.

    The gateway starts even while Kafka is down; requests then get 503 until a start
    succeeds, instead of the process failing to come up.
    """

    def __init__(self, settings: Settings, purpose: str = "gateway") -> None:
        self._settings = settings
        self._purpose = purpose
        self._producer: Any = None
        self._lock = asyncio.Lock()
        self._timeout_s = settings.gateway_kafka_timeout_s

    async def _ensure_started(self) -> Any:
        async with self._lock:
            if self._producer is None:
                producer = create_async_producer(self._settings, self._purpose)
                try:
                    await asyncio.wait_for(producer.start(), self._timeout_s)
                except BaseException:
                    await _stop_quietly(producer)
                    raise
                self._producer = producer
            return self._producer

    async def write(self, envelope: RawEnvelope) -> tuple[int, int]:
        """Write one envelope; returns (partition, offset) once it is durable."""
        try:
            producer = await self._ensure_started()
            record = await asyncio.wait_for(
                producer.send_and_wait(
                    topics.RAW,
                    key=encode_key(envelope.kafka_key),
                    value=encode_model(envelope),
                ),
                self._timeout_s,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # KafkaError, timeouts, connection errors: all mean 503
            log.warning("raw log write failed: %s", type(exc).__name__)
            raise RawLogUnavailable(type(exc).__name__) from exc
        return record.partition, record.offset

    async def close(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await _stop_quietly(self._producer)
                self._producer = None


async def _stop_quietly(producer: Any) -> None:
    try:
        await producer.stop()
    except Exception:  # stopping a producer that never connected may raise; nothing to lose
        log.debug("producer stop failed", exc_info=True)
