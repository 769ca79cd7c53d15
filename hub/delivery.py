"""``trackhub deliver``: alerts pushed to sellers' webhook subscriptions, signed, retried.

**Guarantee**: every alert state on alerts.v1 that matches an active subscription (same
seller, a wanted type, published after the subscription was created) is delivered to it
**at least once**, as a Standard Webhook whose ``webhook-id`` is the alert's
``delivery_id``: receivers deduplicate by it (a retry, a re-read alert and a restart in
the middle of an attempt all reuse it). **In order per shipment, per subscription**: an
alert state of a shipment is sent only once the previous one was delivered, given up
(the retry schedule used up) or dropped (the subscription disabled or deleted).

How (see each module): ``delivery_feeds`` turns alerts.v1 into jobs in the durable
SQLite queue (``delivery_store``) before committing its offsets and follows
subscriptions.v1; this module dispatches due jobs as independent tasks, at most
``TRACKHUB_DELIVERY_CONCURRENCY`` in all and ``TRACKHUB_DELIVERY_PER_ENDPOINT`` per
subscription, so an endpoint that hangs holds only its own slots until the attempt's
timeout; ``delivery_http`` makes the request behind the SSRF guard (``ssrf``);
``delivery_schedule`` decides what follows each attempt.

An address the SSRF guard blocks at connect time is a failed attempt (outcome
``blocked``), retried like the others: no request leaves, and a name's answer can change
back; a subscription that stays blocked is disabled by the failure streak below.

Disabling (410 Gone at once, or no success for ``TRACKHUB_DELIVERY_DISABLE_AFTER_S``)
publishes the subscription again with ``disabled_at`` and a reason to subscriptions.v1,
where the API reads it, and drops its pending deliveries (counted). The record is
retried until Kafka takes it. It replaces the latest record this process has read, so an
API change not yet read here would be overwritten (last writer wins on a compacted
topic); the seller sees the reason in the API.

Logs name the subscription id, the alert's ``webhook-id`` and the endpoint's host; never a
secret, a full URL (paths and queries may carry tokens) or a body.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hub import metrics, topics
from hub.cli_support import CliError
from hub.delivery_feeds import AlertIngest, SubscriptionDirectory, SubscriptionFollower
from hub.delivery_http import WebhookSender
from hub.delivery_schedule import (
    AttemptResult,
    Delivered,
    Disable,
    GiveUp,
    Retry,
    RetryPolicy,
    decide,
)
from hub.delivery_store import FINISHED_RETENTION_S, DeliveryStore, Job
from hub.ops_http import Check, OpsServer
from hub.seller_records import publish_records
from hub.settings import Settings
from hub.ssrf import parse_networks, safe_host
from schemas.sellers import Subscription

log = logging.getLogger(__name__)

IDLE_WAIT_S = 5.0  # longest sleep of the dispatcher when nothing is due (new jobs wake it)
INGEST_STALL_S = 60.0  # readiness fails when the alerts consumer has not polled for this
PUBLISH_RETRY_S = (1, 2, 5, 10, 30)  # pauses between tries to publish a disabled record
PURGE_EVERY_S = 3600.0


def delivery_db_path(settings: Settings) -> Path:
    if settings.delivery_db is not None:
        return settings.delivery_db
    return settings.state_dir.resolve() / "delivery" / "queue.db"


def run_delivery(settings: Settings) -> int:
    """Deliver until SIGINT/SIGTERM; returns the exit code (0 after a clean stop)."""
    try:
        parse_networks(tuple(settings.delivery_allow_networks))
    except ValueError as exc:
        raise CliError(f"TRACKHUB_DELIVERY_ALLOW_NETWORKS: {exc}") from None
    return asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await DeliveryService(settings).run(stop)


class DeliveryService:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._rand = rand
        self._policy = RetryPolicy.from_settings(settings)
        self._db_path = delivery_db_path(settings)
        self._directory = SubscriptionDirectory()
        self._threads_stop = threading.Event()
        self._sender = WebhookSender(settings)
        self._in_flight: dict[int, asyncio.Task[None]] = {}  # job seq -> its attempt
        self._per_subscription: dict[str, int] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._fatal: BaseException | None = None

    async def run(self, stop: asyncio.Event) -> int:
        loop = asyncio.get_running_loop()
        self._stop = stop
        self._wake = asyncio.Event()
        self._store = DeliveryStore(self._db_path, sync_every_commit=False)  # see the store

        def on_fatal(exc: BaseException) -> None:
            loop.call_soon_threadsafe(self._fail, exc)

        follower = SubscriptionFollower(
            self._settings,
            self._directory,
            self._threads_stop,
            on_change=lambda sid: loop.call_soon_threadsafe(self._subscription_changed, sid),
            on_fatal=on_fatal,
        )
        self._ingest = AlertIngest(
            self._settings,
            self._db_path,
            self._directory,
            self._threads_stop,
            on_enqueued=lambda: loop.call_soon_threadsafe(self._wake.set),
            on_fatal=on_fatal,
            clock=self._clock,
        )
        ops = OpsServer(
            self._settings.delivery_http_host, self._settings.delivery_http_port, self._readiness
        )
        await self._sender.start()
        await ops.start()
        log.info("delivery ops on http://%s:%d", self._settings.delivery_http_host, ops.port)
        follower.start()
        self._ingest.start()
        log.info("delivery queue %s; following %s", self._db_path, topics.SUBSCRIPTIONS)
        try:
            while not (stop.is_set() or self._directory.caught_up.is_set()):
                await asyncio.sleep(0.05)
            if not stop.is_set():
                self._sweep_inactive()
                log.info("delivering alerts from %s", topics.ALERTS)
                await asyncio.gather(self._dispatch_forever(), self._sample_forever())
        except Exception as exc:
            self._fail(exc)
        finally:
            await self._shutdown(ops, follower)
        if self._fatal is not None:
            log.error("delivery stopped: %s", self._fatal)
            return 1
        return 0

    # --- the dispatcher --------------------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self._dispatch_due()
            await _wait_any(self._wake, self._stop, timeout=self._idle_time())

    def _dispatch_due(self) -> None:
        """Start every due head that fits under the global and per-subscription caps."""
        cap = self._settings.delivery_per_endpoint
        while (free := self._settings.delivery_concurrency - len(self._in_flight)) > 0:
            jobs = self._store.due(
                self._clock(),
                free,
                exclude_seqs=list(self._in_flight),
                exclude_subscriptions=self._saturated(),
            )
            for job in jobs:
                if self._per_subscription.get(job.subscription_id, 0) < cap:
                    self._start(job)
            if len(jobs) < free:
                return

    def _idle_time(self) -> float:
        if len(self._in_flight) >= self._settings.delivery_concurrency:
            return IDLE_WAIT_S  # a finishing attempt wakes us
        next_at = self._store.next_due_at(
            exclude_seqs=list(self._in_flight), exclude_subscriptions=self._saturated()
        )
        if next_at is None:
            return IDLE_WAIT_S
        return min(IDLE_WAIT_S, max(0.0, next_at - self._clock()))

    def _saturated(self) -> list[str]:
        """Subscriptions with all their slots (TRACKHUB_DELIVERY_PER_ENDPOINT) in flight."""
        cap = self._settings.delivery_per_endpoint
        return [sub for sub, n in self._per_subscription.items() if n >= cap]

    def _start(self, job: Job) -> None:
        self._per_subscription[job.subscription_id] = (
            self._per_subscription.get(job.subscription_id, 0) + 1
        )
        self._in_flight[job.seq] = asyncio.create_task(self._attempt(job))

    async def _attempt(self, job: Job) -> None:
        try:
            subscription = self._directory.get(job.subscription_id)
            if subscription is None or not subscription.active:
                self._drop(job.subscription_id, subscription)
                return
            result = await self._sender.send(subscription, job.delivery_id, job.payload)
            self._settle(job, subscription, result)
        except Exception:
            log.exception("delivery %s failed unexpectedly; retrying later", job.delivery_id)
            self._store.reschedule(job.seq, self._clock() + self._policy.schedule[0], "internal")
        finally:
            del self._in_flight[job.seq]
            remaining = self._per_subscription[job.subscription_id] - 1
            if remaining:
                self._per_subscription[job.subscription_id] = remaining
            else:
                del self._per_subscription[job.subscription_id]
            self._wake.set()

    def _settle(self, job: Job, subscription: Subscription, result: AttemptResult) -> None:
        """Record an attempt's result and act on the decision."""
        now = self._clock()
        metrics.WEBHOOK_DELIVERIES.labels(result.outcome).inc()
        sub_id = subscription.subscription_id
        current = self._directory.get(sub_id)
        if current is None or not current.active:
            return  # disabled or deleted meanwhile: its jobs are dropped already
        decision = decide(
            result,
            failures=job.attempts + 1,
            failing_since=self._store.failing_since(sub_id),
            now=now,
            policy=self._policy,
            rand=self._rand,
        )
        where = f"{job.delivery_id} to {sub_id} ({safe_host(subscription.url)})"
        if isinstance(decision, Delivered):
            self._store.mark_delivered(job.seq, now)
            self._store.record_success(sub_id, now)
            metrics.WEBHOOK_DELIVERY_LATENCY.observe(max(0.0, now - job.published_at))
            log.debug("delivered %s", where)
        elif isinstance(decision, Retry):
            self._store.record_failure(sub_id, result.detail, now)
            self._store.reschedule(job.seq, decision.at, result.detail)
            pause = decision.at - now
            log.info("delivery %s failed: %s; retry in %.1f s", where, result.detail, pause)
        elif isinstance(decision, GiveUp):
            self._store.record_failure(sub_id, result.detail, now)
            self._store.mark_failed(job.seq, result.detail, now)
            metrics.WEBHOOK_DELIVERIES_DROPPED.labels("retries_exhausted").inc()
            attempts = job.attempts + 1
            log.warning(
                "delivery %s given up after %d attempts: %s", where, attempts, result.detail
            )
        elif isinstance(decision, Disable):
            log.warning("disabling subscription %s: %s", where, decision.text)
            self._disable(current, decision)

    # --- subscriptions -----------------------------------------------------------------------

    def _disable(self, subscription: Subscription, decision: Disable) -> None:
        disabled_at = datetime.fromtimestamp(self._clock(), UTC)
        record = Subscription.model_validate(
            subscription.model_dump()
            | {"disabled_at": disabled_at, "disabled_reason": decision.text}
        )
        self._directory.put(record.subscription_id, record)
        metrics.SUBSCRIPTIONS_DISABLED.labels(decision.reason).inc()
        self._drop(record.subscription_id, record)
        task = asyncio.create_task(self._publish(record))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish(self, record: Subscription) -> None:
        """Write the disabled record to subscriptions.v1, retrying until Kafka takes it."""
        for attempt in itertools.count():
            try:
                await asyncio.to_thread(
                    publish_records,
                    self._settings,
                    topics.SUBSCRIPTIONS,
                    [(record.subscription_id, record)],
                )
                return
            except Exception as exc:
                pause = PUBLISH_RETRY_S[min(attempt, len(PUBLISH_RETRY_S) - 1)]
                sub_id = record.subscription_id
                log.warning(
                    "could not publish %s as disabled (%s); retry in %d s", sub_id, exc, pause
                )
                if await _wait_any(self._stop, timeout=pause):
                    log.error("stopped before %s was published as disabled", sub_id)
                    return

    def _subscription_changed(self, subscription_id: str) -> None:
        current = self._directory.get(subscription_id)
        if current is None or not current.active:
            self._drop(subscription_id, current)
            self._wake.set()

    def _sweep_inactive(self) -> None:
        """Once caught up: drop what is pending for subscriptions disabled or deleted
        while this process was not running."""
        for sub_id in self._store.pending_subscriptions():
            current = self._directory.get(sub_id)
            if current is None or not current.active:
                self._drop(sub_id, current)

    def _drop(self, subscription_id: str, current: Subscription | None) -> None:
        dropped = self._store.drop_subscription(subscription_id, self._clock())
        if dropped:
            reason = (
                "subscription_disabled"
                if current is not None and current.deleted_at is None
                else "subscription_deleted"
            )
            metrics.WEBHOOK_DELIVERIES_DROPPED.labels(reason).inc(dropped)
            log.info("dropped %d pending deliveries of %s (%s)", dropped, subscription_id, reason)

    # --- operations ----------------------------------------------------------------------------

    async def _sample_forever(self) -> None:
        last_purge = 0.0
        while not self._stop.is_set():
            pending, retrying = self._store.counts()
            metrics.WEBHOOK_DELIVERIES_PENDING.set(pending)
            metrics.WEBHOOK_RETRIES_PENDING.set(retrying)
            now = self._clock()
            if now - last_purge >= PURGE_EVERY_S:
                self._store.purge_finished(now - FINISHED_RETENTION_S)
                last_purge = now
            await _wait_any(self._stop, timeout=self._settings.metrics_sample_s)

    async def _readiness(self) -> list[Check]:
        caught_up = self._directory.caught_up.is_set()
        checks = [
            Check(
                "subscriptions",
                caught_up,
                f"{len(self._directory)} known" if caught_up else "catching up",
            )
        ]
        last_poll = self._ingest.last_poll
        polling = last_poll is not None and time.monotonic() - last_poll < INGEST_STALL_S
        checks.append(
            Check("alerts", polling, "consuming" if polling else f"not consuming {topics.ALERTS}")
        )
        pending, retrying = self._store.counts()
        checks.append(Check("queue", True, f"{pending} pending, {retrying} retrying"))
        return checks

    def _fail(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
        log.error("a delivery thread failed: %s", exc, exc_info=exc)
        self._stop.set()

    async def _shutdown(self, ops: OpsServer, follower: SubscriptionFollower) -> None:
        """Let attempts in flight finish (bounded by their timeout), then stop everything.
        An attempt cut short stays pending in the queue and is sent again next time."""
        self._threads_stop.set()
        if self._in_flight:
            await asyncio.wait(
                list(self._in_flight.values()), timeout=self._settings.delivery_timeout_s + 1
            )
            for task in list(self._in_flight.values()):
                task.cancel()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._in_flight.values(), *self._background, return_exceptions=True)
        for thread in (self._ingest, follower):
            if thread.is_alive():
                await asyncio.to_thread(thread.join, 15)
        await self._sender.close()
        await ops.stop()
        self._store.close()


async def _wait_any(*events: asyncio.Event, timeout: float) -> bool:
    """Wait until one of ``events`` is set or ``timeout`` passes; True if one is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return any(event.is_set() for event in events)
