"""Writing raw envelopes durably to ``tracking.raw.v1``.

Delivery guarantee: ``write`` returns only once the record is acknowledged by every
in-sync replica (acks=all, idempotent producer, the options of
``hub.kafka_clients.producer_config``); any failure, or no acknowledgement within
``gateway_kafka_timeout_s``, raises ``RawLogUnavailable`` and the caller must not
acknowledge the sender. A record may be written twice (a timeout after a successful
write); downstream processing is idempotent by ``envelope_id``/``event_id``, so that is
harmless, while a lost one is not.

The producer is librdkafka (``confluent-kafka``), not aiokafka: the gateway's 202 waits
for this write, and librdkafka does the batching, the protocol and the network in its own
threads, which leaves the event loop's core to the HTTP side. Its delivery reports are
served on the event loop (``poll(0)`` every millisecond while a write waits), not by a
thread of ours: confluent-kafka takes the GIL once per report, and a busy event loop
holds it for up to the switch interval (5 ms) each time, which made every report slow.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from typing import Any

from confluent_kafka import KafkaError, Producer

from hub import topics
from hub.kafka_clients import encode_key, encode_model, producer_config
from hub.settings import Settings
from schemas.events import RawEnvelope

log = logging.getLogger(__name__)

BUSY_POLL_S = 0.001  # while a write waits: its report is served at most this late
IDLE_POLL_S = 0.5  # otherwise: librdkafka's error and log events are served this often
CLOSE_POLL_S = 0.01
# librdkafka checks message timeouts about once a second; expiring its copy of a message
# that much before the caller gives up makes "503, and not written later" the usual case
TIMEOUT_SCAN_SLACK_MS = 1000

# hub.kafka_clients.producer_config's (kafka-python) option names in librdkafka's; an
# option added there and not here fails loudly (KeyError) rather than being dropped
_LIBRDKAFKA_NAMES = {
    "bootstrap_servers": "bootstrap.servers",
    "client_id": "client.id",
    "acks": "acks",
    "enable_idempotence": "enable.idempotence",
    "linger_ms": "linger.ms",
    "request_timeout_ms": "request.timeout.ms",
    "compression_type": "compression.type",
}


class RawLogUnavailable(Exception):
    """Kafka did not take the record in time; nothing was acknowledged."""


def librdkafka_producer_config(settings: Settings, purpose: str) -> dict[str, Any]:
    """The project's safe producer options, in librdkafka's names, for one writer."""
    config = {
        _LIBRDKAFKA_NAMES[name]: value for name, value in producer_config(settings, purpose).items()
    }
    config["compression.type"] = config["compression.type"] or "none"
    timeout_ms = max(1, round(settings.gateway_kafka_timeout_s * 1000))
    config.update(
        {
            "max.in.flight.requests.per.connection": 5,  # the most idempotence keeps ordered
            "message.timeout.ms": max(timeout_ms - TIMEOUT_SCAN_SLACK_MS, timeout_ms // 2, 1),
            "retry.backoff.ms": 100,
            # the partitioner of Kafka's Java client and kafka-python (librdkafka's default
            # is CRC32): a key lands on the same partition whichever client wrote it
            "partitioner": "murmur2_random",
        }
    )
    return config


class RawLogWriter:
    """One producer per process, made on first use and remade after a fatal error.

    The gateway starts even while Kafka is down: librdkafka connects in the background
    and ``write`` raises ``RawLogUnavailable`` (503) until the broker acknowledges.
    """

    def __init__(self, settings: Settings, purpose: str = "gateway") -> None:
        self._config = librdkafka_producer_config(settings, purpose)
        self._timeout_s = settings.gateway_kafka_timeout_s
        self._producer: _LoopProducer | None = None

    async def write(self, envelope: RawEnvelope) -> tuple[int, int]:
        """Write one envelope; returns (partition, offset) once it is durable."""
        try:
            return await self._current_producer().produce(
                encode_key(envelope.kafka_key), encode_model(envelope)
            )
        except Exception as exc:  # delivery errors, timeouts, a full queue: all mean 503
            reason = exc.args[0] if isinstance(exc, RawLogUnavailable) else type(exc).__name__
            log.warning("raw log write failed: %s", reason)
            raise RawLogUnavailable(reason) from exc

    async def reachable(self, timeout_s: float = 2.0) -> tuple[bool, str]:
        """Whether the broker answers for the raw topic now, with every partition led
        (the gateway's readiness); a short detail safe to show."""
        producer = self._current_producer()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, producer.raw_topic_led, timeout_s)
        except Exception as exc:  # timeouts and transport errors: not ready
            return False, f"no answer from Kafka ({type(exc).__name__})"

    def _current_producer(self) -> _LoopProducer:
        producer = self._producer
        if producer is None or producer.failed:
            if producer is not None:
                producer.abandon()  # it can never deliver again; its waiters fail now
            producer = _LoopProducer(self._config, asyncio.get_running_loop(), self._timeout_s)
            self._producer = producer
        return producer

    async def close(self) -> None:
        """Deliver what is queued (up to the write timeout), then release the producer."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.close(self._timeout_s)


class _LoopProducer:
    """A librdkafka producer whose delivery reports are served on one event loop.

    ``produce`` returns a future settled by the report: (partition, offset) once every
    in-sync replica has the record, else ``RawLogUnavailable``, at the latest
    ``timeout_s`` after the call. The deadlines are kept in call order and checked by
    the poll timer, rather than one timer per write. Not thread-safe: only the loop that
    made it uses it.
    """

    def __init__(
        self, config: dict[str, Any], loop: asyncio.AbstractEventLoop, timeout_s: float
    ) -> None:
        self.failed = False  # set on a fatal error: this producer will not deliver again
        self._loop = loop
        self._timeout_s = timeout_s
        # (deadline, future) in call order: with one timeout for all, deadlines ascend
        self._deadlines: deque[tuple[float, asyncio.Future[tuple[int, int]]]] = deque()
        self._producer: Producer | None = Producer(
            config | {"error_cb": self._on_error, "logger": log}
        )
        self._waiting = 0  # writes whose report has not been served yet
        self._busy = False  # polling at BUSY_POLL_S rather than IDLE_POLL_S
        self._timer: asyncio.TimerHandle | None = loop.call_later(IDLE_POLL_S, self._poll)

    def produce(self, key: bytes, value: bytes) -> asyncio.Future[tuple[int, int]]:
        if self._producer is None:
            raise RawLogUnavailable("producer closed")
        future: asyncio.Future[tuple[int, int]] = self._loop.create_future()
        try:
            self._producer.produce(
                topics.RAW, value, key, on_delivery=functools.partial(self._on_delivery, future)
            )
        except BufferError:
            raise RawLogUnavailable("local queue full") from None
        self._waiting += 1
        self._deadlines.append((self._loop.time() + self._timeout_s, future))
        if not self._busy and self._timer is not None:
            self._busy = True
            self._timer.cancel()
            self._timer = self._loop.call_later(BUSY_POLL_S, self._poll)
        return future

    def raw_topic_led(self, timeout_s: float) -> tuple[bool, str]:
        """A metadata request for the raw topic (blocking: run it in a thread; librdkafka
        handles are thread-safe)."""
        producer = self._producer
        if producer is None:
            return False, "producer closed"
        topic = producer.list_topics(topics.RAW, timeout=timeout_s).topics.get(topics.RAW)
        if topic is None or topic.error is not None or not topic.partitions:
            return False, f"{topics.RAW} is not available"
        leaderless = sum(1 for p in topic.partitions.values() if p.leader < 0)
        if leaderless:
            return False, f"{leaderless} partitions of {topics.RAW} have no leader"
        return True, f"{topics.RAW}: {len(topic.partitions)} partitions led"

    def _poll(self) -> None:
        assert self._producer is not None  # the timer stops before the producer goes
        self._producer.poll(0)  # runs the callbacks of whatever librdkafka has ready
        self._expire_overdue()
        self._busy = self._waiting > 0
        self._timer = self._loop.call_later(BUSY_POLL_S if self._busy else IDLE_POLL_S, self._poll)

    def _expire_overdue(self) -> None:
        deadlines = self._deadlines
        now = self._loop.time()
        while deadlines and (deadlines[0][1].done() or deadlines[0][0] <= now):
            _, future = deadlines.popleft()
            if not future.done():  # librdkafka may still report it; nobody will listen
                future.set_exception(RawLogUnavailable("timed out"))

    def _on_delivery(
        self, future: asyncio.Future[tuple[int, int]], error: KafkaError | None, message: Any
    ) -> None:
        self._waiting -= 1
        if future.done():  # the writer gave up (timeout or cancelled); nothing to tell
            return
        if error is None:
            future.set_result((message.partition(), message.offset()))
        else:
            future.set_exception(RawLogUnavailable(error.name()))

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.failed = True
            log.error("raw log producer failed for good (%s); it will be replaced", error.name())
        else:
            log.warning("raw log producer: %s", error.name())

    def _stop_polling(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def abandon(self) -> None:
        """Fail whatever is still queued or in flight, and stop serving reports."""
        self._stop_polling()
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.purge()
            producer.poll(0)
        # the last reference goes here: librdkafka's handle is destroyed now, not at a GC

    async def close(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the queued records, then fail the rest."""
        self._stop_polling()
        deadline = self._loop.time() + timeout_s
        while self._producer and self._waiting and not self.failed:
            if self._loop.time() >= deadline:
                break
            self._producer.poll(0)
            await asyncio.sleep(CLOSE_POLL_S)
        self.abandon()
