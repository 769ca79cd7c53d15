"""Pollers for sources that have no webhooks: fetch pages, write each to the raw log.

A poller GETs ``url`` with ``limit`` and, from the second page on, the provider's cursor
(the DCSA convention: the next cursor arrives in the ``Next-Page-Cursor`` header and is
sent back as the ``cursor`` query parameter). Each non-empty page becomes one
``RawEnvelope`` (``via="poll"``) in ``tracking.raw.v1``.

Delivery guarantee: at-least-once. The cursor is saved only after the page is durable in
Kafka; a crash in between fetches the page again, and downstream ids collapse it.
Politeness: a token bucket per source, exponential backoff with full jitter on 429/5xx
and network errors, and the provider's ``Retry-After`` honoured when it sends one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from connectors.polling import (
    RETRY_STATUSES,
    CursorStore,
    TokenBucket,
    parse_retry_after,
    retry_delay,
)
from connectors.raw_log import RawLogUnavailable, RawLogWriter
from hub import metrics
from hub.ops_http import Check, OpsServer
from hub.settings import PollerConfig, Settings
from schemas.events import RawEnvelope

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # per page and cycle; the next cycle starts again from the saved cursor
MAX_PAGES_PER_CYCLE = 1000


@dataclass(slots=True)
class PollReport:
    pages: int = 0
    envelopes: int = 0
    retries: int = 0
    gave_up: str | None = None


class Poller:
    """One source's polling loop. Time, sleep and randomness are injectable for tests."""

    def __init__(
        self,
        config: PollerConfig,
        format_name: str,
        raw_log: RawLogWriter,
        cursors: CursorStore,
        session: aiohttp.ClientSession,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._format = format_name
        self._raw_log = raw_log
        self._cursors = cursors
        self._session = session
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._bucket = TokenBucket(rate=config.max_requests_per_s, burst=1.0, updated=monotonic())

    async def poll_once(self) -> PollReport:
        """Fetch pages until the provider has no next cursor (or a page fails for good)."""
        report = PollReport()
        cursor = self._cursors.load(self.config.source)
        for _ in range(MAX_PAGES_PER_CYCLE):
            page = await self._fetch_with_retries(cursor, report)
            if page is None:
                return report
            body, content_type, next_cursor = page
            report.pages += 1
            metrics.POLLED_PAGES.labels(self.config.source).inc()
            if _has_items(body):
                await self._write(body, content_type)
                report.envelopes += 1
            if not next_cursor or next_cursor == cursor:
                return report
            self._cursors.save(self.config.source, next_cursor)
            cursor = next_cursor
        return report

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                report = await self.poll_once()
                outcome = "gave_up" if report.gave_up else "ok"
                metrics.POLLS.labels(self.config.source, outcome).inc()
                log.info(
                    "polled %s: %d pages, %d envelopes, %d retries%s",
                    self.config.source,
                    report.pages,
                    report.envelopes,
                    report.retries,
                    f", gave up: {report.gave_up}" if report.gave_up else "",
                )
            except RawLogUnavailable:
                metrics.POLLS.labels(self.config.source, "kafka_unavailable").inc()
                log.warning("poll of %s paused: Kafka unavailable", self.config.source)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.interval_s)

    async def _fetch_with_retries(
        self, cursor: str | None, report: PollReport
    ) -> tuple[bytes, str, str | None] | None:
        for attempt in range(MAX_ATTEMPTS):
            wait = self._bucket.delay_for_next(self._monotonic())
            if wait > 0:
                await self._sleep(wait)
                self._bucket.delay_for_next(self._monotonic())
            try:
                result = await self._fetch(cursor)
            except (aiohttp.ClientError, TimeoutError) as exc:
                result = _Retry(None, type(exc).__name__)
            if not isinstance(result, _Retry):
                return result
            if result.fatal:
                report.gave_up = result.reason
                log.error("poll of %s stopped: %s", self.config.source, result.reason)
                return None
            report.retries += 1
            delay = retry_delay(attempt, result.retry_after_s, rng=self._rng)
            log.info("poll of %s: %s, retrying in %.1fs", self.config.source, result.reason, delay)
            await self._sleep(delay)
        report.gave_up = f"{MAX_ATTEMPTS} attempts failed"
        return None

    async def _fetch(self, cursor: str | None) -> tuple[bytes, str, str | None] | _Retry:
        params = {self.config.limit_param: str(self.config.page_size)}
        if cursor:
            params[self.config.cursor_param] = cursor
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        async with self._session.get(
            self.config.url, params=params, headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            if response.status in RETRY_STATUSES:
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), datetime.now(UTC)
                )
                return _Retry(retry_after, f"HTTP {response.status}")
            if response.status != 200:
                return _Retry(None, f"HTTP {response.status}", fatal=True)
            body = await response.content.read(self.config.max_page_bytes + 1)
            if len(body) > self.config.max_page_bytes:
                return _Retry(None, f"page over {self.config.max_page_bytes} bytes", fatal=True)
            content_type = response.headers.get("Content-Type", "application/json")
            return body, content_type, response.headers.get(self.config.cursor_header)

    async def _write(self, body: bytes, content_type: str) -> None:
        digest = hashlib.sha256(body).hexdigest()
        envelope = RawEnvelope.from_body(
            body=body,
            source=self.config.source,
            format=self._format,
            reference=f"poll-{digest[:32]}",
            received_at=datetime.now(UTC),
            content_type=content_type[:200],
            headers={},
            signature_verified=False,  # pulled over TLS with our credentials, not pushed
            via="poll",
        )
        await self._raw_log.write(envelope)
        metrics.SOURCE_LAST_ACCEPTED.labels(self.config.source).set(time.time())


@dataclass(frozen=True, slots=True)
class _Retry:
    retry_after_s: float | None
    reason: str
    fatal: bool = False


def _has_items(body: bytes) -> bool:
    stripped = body.strip()
    return stripped not in (b"", b"[]", b"{}")


async def run_pollers(settings: Settings) -> None:
    """Run every configured poller until SIGINT/SIGTERM; cursors live in the state folder."""
    sources = settings.effective_sources()
    unknown = [p.source for p in settings.pollers if p.source not in sources]
    if unknown:
        raise ValueError(f"pollers name unknown sources: {', '.join(unknown)}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    raw_log = RawLogWriter(settings, purpose="poller")
    cursors = CursorStore(settings.state_dir.resolve() / "pollers")

    async def readiness() -> list[Check]:
        ok, detail = await raw_log.reachable()
        return [Check("kafka", ok, detail)]

    ops = OpsServer(settings.poller_http_host, settings.poller_http_port, readiness)
    await ops.start()
    try:
        async with aiohttp.ClientSession() as session:
            pollers = [
                Poller(config, sources[config.source].format, raw_log, cursors, session)
                for config in settings.pollers
            ]
            log.info("polling %s", ", ".join(p.config.source for p in pollers))
            await asyncio.gather(*(p.run_forever(stop) for p in pollers))
    finally:
        await ops.stop()
        await raw_log.close()
