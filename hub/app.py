"""The faust app: topics, tables and agents declared in one visible place.

Delivery guarantee: at-least-once. Agents acknowledge a record after processing it, and
processing is idempotent by ``event_id`` (duplicates collapse downstream), so a restart
that re-reads a few records changes nothing. Domain logic lives outside this module in
pure functions; agents only wire them to topics.

The producer is made idempotent with ``acks=all`` (see ``IdempotentProducer``): faust's
aiokafka driver turns idempotence on only inside transactions, and we do not use faust's
``exactly_once`` mode (it duplicates on rebalance). The consumer (``GuardedConsumer``)
commits nothing past a failed publish and never drops a record it fetched.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from hub import metrics, topics
from hub.hub_wiring import declare_hub_agents
from hub.kafka_clients import encode_key, encode_model
from hub.log_setup import correlation
from hub.normalize import normalize_record
from hub.settings import Settings
from hub.worker_ops import InputProgress, declare_worker_ops

log = logging.getLogger(__name__)


class IdempotentProducer(faust_aiokafka.Producer):
    """faust's aiokafka producer with idempotence always on (acks=all is set by the app)."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class PublishGuard:
    """Remembers the first failed publish so the worker never commits past it.

    Agents send with ``app.producer.send`` (no per-message await, for throughput) and hand
    the future to ``watch``. faust flushes the producer before each offset commit; the
    guarded consumer then refuses to commit if any send failed, and the agent stops at its
    next record. Either way the worker fails instead of acknowledging an input whose
    output was lost; on restart it re-reads from the last good commit (at-least-once).
    """

    def __init__(self) -> None:
        self.failure: BaseException | None = None

    def watch(self, future: asyncio.Future[Any]) -> None:
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        if self.failure is None and not future.cancelled() and future.exception() is not None:
            self.failure = future.exception()

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            raise PublishFailed(
                f"a publish failed: {type(self.failure).__name__}"
            ) from self.failure


AGENT_CRASH_EXIT_CODE = 70  # EX_SOFTWARE
REQUEST_TIMEOUT_S = 20.0  # tests/fault/test_network_faults.py measures the recovery


class PublishFailed(RuntimeError):
    """An output record was not written; its input must not be committed."""


def records_to_rewind(
    records: Mapping[Any, list[Any]], keeps: Callable[[Any], bool]
) -> dict[Any, int]:
    """For each fetched partition whose records would be dropped (``keeps`` is false for
    it), the offset of its first fetched record: where to seek it back to."""
    return {tp: batch[0].offset for tp, batch in records.items() if batch and not keeps(tp)}


class GuardedConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer that commits nothing past a failed publish and never
    drops a fetched record.

    faust hands aiokafka its set of active partitions *by reference*, across to the
    consumer's thread, and filters the fetched records against that same set when the
    fetch returns. While a worker restores its tables after a rebalance, the set changes
    under the fetch: it can be empty when aiokafka reads it (aiokafka then drains every
    assigned partition, paused inputs included) and lack a partition when the records
    come back (faust then drops them, with aiokafka's position already past them). On
    resume faust seeks back to the committed offsets, but a partition the group never
    committed is not sought, so its dropped records were not read until the next
    rebalance (docs/reliability.md, tests/fault/test_rebalance_faults.py).

    Here the fetch gets a copy of the set taken on the event loop (nothing fetched when it
    is empty), and an input partition whose fetched records faust would drop is sought
    back to its first one, so they are fetched again once the partition is active. A
    table's changelog partition is not: faust's recovery seeks it itself.
    """

    async def _commit(self, offsets: Mapping[Any, int]) -> bool:
        guard: PublishGuard | None = getattr(self.app, "publish_guard", None)
        if guard is not None:
            guard.raise_if_failed()
        return await super()._commit(offsets)

    async def _getmany(self, active_partitions: set[Any] | None, timeout: float) -> Any:
        if active_partitions is None:  # a client-only app reads everything it is given
            return await super()._getmany(None, timeout)
        wanted = set(active_partitions)
        if not wanted:
            return {}
        records = await super()._getmany(wanted, timeout)
        active, buffered = self._get_active_partitions(), self._buffered_partitions
        rewind = records_to_rewind(
            records,
            # a table's changelog is left to faust, whose recovery seeks it to the offset
            # its store has applied; after recovery it only re-reads the worker's own writes
            lambda tp: tp in active or tp in buffered or self._is_changelog_tp(tp),
        )
        if not rewind:
            return records
        # a partition revoked meanwhile is no longer ours to seek, nor to read
        assigned = self.assignment()
        sought = {tp: offset for tp, offset in rewind.items() if tp in assigned}
        if sought:
            log.debug("fetched while paused, sought back: %s", sought)
            await self._thread.seek_wait(sought)
        return {tp: batch for tp, batch in records.items() if tp not in rewind}


class IdempotentTransport(faust_aiokafka.Transport):
    Producer = IdempotentProducer
    Consumer = GuardedConsumer


class HubApp(faust.App):
    """faust.App whose Kafka transport makes idempotent producers and guarded commits,
    and whose agents fail fast.

    faust restarts a crashed agent on the next record and commits what was acknowledged,
    so the record it crashed on (a failed publish, a bug) would be skipped until the
    worker restarted, with its partition's commits stuck behind it. Here any exception
    that escapes an agent ends the worker process at once, committing nothing more: its
    supervisor (systemd, Kubernetes) starts it again and it reads from
    the last committed offset, as after a kill -9. Records an agent cannot even decode
    never get that far: they are dead-lettered and skipped.
    """

    publish_guard: PublishGuard
    input_progress: InputProgress  # what the agents have done (``hub.worker_ops``)

    async def _on_agent_error(self, agent: Any, exc: BaseException) -> None:
        log.critical(
            "agent %s crashed (%s); exiting so that a restart reads its input again from "
            "the last committed offset",
            getattr(agent, "name", agent),
            type(exc).__name__,
            exc_info=exc,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(AGENT_CRASH_EXIT_CODE)

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
    # a normalize-only worker is a group of its own: it has no tables, and its members
    # must not be assigned the hub's partitions
    app_id = topics.APP_ID if "hub" in settings.roles else f"{topics.APP_ID}-normalize"
    app = new_app(app_id, settings, settings.state_dir.resolve() / "faust")
    _declare(app, settings)
    return app


def new_app(app_id: str, settings: Settings, datadir: Path) -> HubApp:
    """A ``HubApp`` with no agents, configured as every trackhub worker is."""
    app = HubApp(
        app_id,
        broker=f"kafka://{settings.bootstrap_servers.replace(',', ';kafka://')}",
        broker_client_id=f"{settings.client_id}-worker",
        datadir=str(datadir),
        store=settings.store,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        producer_linger=0.005,
        consumer_auto_offset_reset="earliest",
        # a dead worker's partitions move to the living ones within ~10 s, not a minute
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        # a request on a connection the network silently dropped (half-open) fails after
        # this and the client reconnects; faust's defaults (90 s, and 20 min for the
        # producer) left a worker stalled for minutes after a partition healed
        broker_request_timeout=REQUEST_TIMEOUT_S,
        producer_request_timeout=REQUEST_TIMEOUT_S,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
    )
    app.publish_guard = PublishGuard()
    app.input_progress = InputProgress()
    return app


async def _publish(app: faust.App, topic: str, key: bytes, value: bytes) -> Any:
    """Enqueue one record on the app's producer; returns its delivery future.

    Straight to the producer rather than through ``Topic.send``: the topic machinery
    (codecs, attachments, callbacks) cost a third of the agent's time for bytes we have
    already encoded.
    """
    return await app.producer.send(topic, key, value, None, None, None)


def _declare(app: HubApp, settings: Settings) -> None:
    if "normalize" in settings.roles:
        _declare_normalize(app, settings)
    if "hub" in settings.roles:
        declare_hub_agents(app, settings)
    declare_worker_ops(app, settings)

    @app.task
    async def announce_ready() -> None:
        log.info(
            "trackhub worker (%s) is waiting for events at %s (topics: %s)",
            settings.worker_roles,
            settings.bootstrap_servers,
            ", ".join(topics.topic_names(settings)),
        )


def _declare_normalize(app: HubApp, settings: Settings) -> None:
    raw_topic = _bytes_topic(app, topics.RAW)
    known_sources = frozenset(settings.effective_sources())

    @app.agent(raw_topic, name="normalize")
    async def normalize(stream: faust.StreamT[bytes]) -> None:
        """tracking.raw.v1 -> tracking.events.v1 (key: primary identifier) or the DLQ.

        At-least-once: faust flushes these sends (acks=all) before it commits the raw
        offset, so a crash re-reads the record and re-sends events with the same ids.
        """
        guard = app.publish_guard
        progress = app.input_progress
        async for record in stream.events():
            guard.raise_if_failed()
            message = record.message
            where = f"{message.topic}/{message.partition}/{message.offset}"
            result = normalize_record(record.value, now=datetime.now(UTC), where=where)
            source = metrics.bounded_source(result.source, known_sources)
            for event in result.events:
                key = encode_key(event.primary_identifier.key)
                guard.watch(await _publish(app, topics.EVENTS, key, encode_model(event)))
            if result.events:
                metrics.EVENTS_NORMALIZED.labels(source).inc(len(result.events))
            if result.dead_letter is not None:
                letter = result.dead_letter
                with correlation(letter.raw.envelope_id):
                    log.warning("dead-lettered from %s: %s", where, letter.error_type)
                key = encode_key(letter.raw.kafka_key)
                guard.watch(await _publish(app, topics.DLQ, key, encode_model(letter)))
                metrics.DEAD_LETTERS.labels(source, letter.stage, letter.error_type).inc()
            progress.processed(message.topic, message.partition, message.offset)
