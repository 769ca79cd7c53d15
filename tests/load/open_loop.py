"""An open-loop webhook load: requests start on a fixed schedule, whatever the answers do.

Request ``i`` of a phase at rate ``r`` is due at ``phase start + i / r``. A scheduler
wakes every few milliseconds and starts every request that is due; it never waits for an
answer before starting the next, so a slow gateway cannot slow the load down and hide
its own latency (coordinated omission). Latency is measured from the moment a request
was *due*, not from when it actually left, so any lag of this process or of its
connection pool counts against the gateway rather than vanishing; how late requests
left is reported separately (``send_lag``) to tell the two apart.

A 503 with ``Retry-After`` (the gateway shedding load, or Kafka away) is sent again,
byte for byte, as a carrier's sender does: no sooner than it asks, backing off
exponentially with jitter (``retry_delay_s``), so that shed requests do not all come back
in the same second and keep the gateway shedding. Its latency still counts from its first
due time, so a webhook that needed retries to get its 202 shows as slow, not as two fast
answers.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.load.lean_http import Answer, LeanConnection, request_bytes
from tests.load.traffic import Webhook

TICK_S = 0.002
HOST = "gateway"  # the Host header: the gateways answer any
MAX_ATTEMPTS = 30  # then the load gives a webhook up (counted as an error)
MAX_BACKOFF_DOUBLINGS = 5  # the n-th retry waits Retry-After x 2^min(n-1, 5) x [1, 2)


def retry_delay_s(retry_after_s: float, attempt: int, rng: random.Random) -> float:
    """How long a sender waits before sending again after its ``attempt``-th try was
    answered 503 with ``Retry-After``: never less than asked, doubling per attempt, and
    spread over [1, 2) times that so that retries do not come back together."""
    return retry_after_s * 2 ** min(attempt - 1, MAX_BACKOFF_DOUBLINGS) * rng.uniform(1.0, 2.0)


ENVELOPE_ID = re.compile(rb'"envelope_id": ?"(raw_[0-9a-f]{32})"')


@dataclass(frozen=True)
class Phase:
    name: str  # "warmup", "steady", "burst-1", "pause-1", ...
    kind: str  # "warmup", "steady", "burst" or "pause": what the figures group by
    rate: float  # requests per second
    seconds: float


@dataclass
class PhaseResult:
    phase: Phase
    latencies_s: list[float] = field(default_factory=list)  # due -> answer, 2xx only
    due_at_s: list[float] = field(default_factory=list)  # each latency's due, from phase start
    send_lag_s: list[float] = field(default_factory=list)  # due -> actually started
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # no answer: exception name
    accepted: list[str] = field(default_factory=list)  # envelope ids of 202s
    started: int = 0
    retries: int = 0  # 503s sent again after their Retry-After
    wall_s: float = 0.0  # from the phase's start to its last answer


async def run_phases(
    base_urls: list[str],
    phases: list[Phase],
    make: Callable[[int], Webhook],
    *,
    connections: int = 1024,
    timeout_s: float = 30.0,
    on_phase: Callable[[Phase], None] = lambda _: None,
) -> list[PhaseResult]:
    """Send every phase's requests on schedule, one phase after another; return once every
    request has its final answer (a 503's retries included) or failed.

    The scheduler makes each request as it falls due and queues it; ``connections``
    lanes, each with one keep-alive connection, take them in order (more lanes than the
    gateway takes webhooks at once, so a burst reaches its load shedding). Above what the
    lanes can carry the queue grows, and every queued request's latency with it (from its
    due time), as it would for senders whose webhooks wait.
    """
    load = _Load(timeout_s=timeout_s)
    results = [PhaseResult(p) for p in phases]
    # lanes spread over the gateways as a load balancer spreads connections; every lane's
    # connection open before the first request (opening a thousand at full rate would be
    # a burst of its own)
    targets = [_target(base_urls[n % len(base_urls)]) for n in range(connections)]
    opened = [await LeanConnection.open(host, port) for host, port in targets]
    lanes = [
        asyncio.create_task(load.lane(host, port, connection))
        for (host, port), connection in zip(targets, opened, strict=True)
    ]
    counter = 0
    try:
        for result in results:
            on_phase(result.phase)
            phase_start = time.perf_counter()
            total = int(result.phase.rate * result.phase.seconds)
            sent = 0
            while sent < total:
                now = time.perf_counter()
                due_count = min(total, int((now - phase_start) * result.phase.rate) + 1)
                while sent < due_count:
                    webhook = make(counter)
                    request = request_bytes(HOST, webhook.path, webhook.headers, webhook.body)
                    load.submit(
                        _Due(phase_start + sent / result.phase.rate, phase_start, result, request)
                    )
                    sent += 1
                    counter += 1
                result.started = sent
                await asyncio.sleep(TICK_S)
        while load.outstanding:  # queued, in flight or waiting to be retried
            if all(lane.done() for lane in lanes):
                break  # every lane failed: their exceptions are raised below
            await asyncio.sleep(0.05)
        for _ in lanes:
            load.queue.put_nowait(None)
        await asyncio.gather(*lanes)
    finally:
        for lane in lanes:
            lane.cancel()
    return results


@dataclass(slots=True)
class _Due:
    due: float  # perf_counter time the request was first due
    phase_start: float
    result: PhaseResult
    request: bytes
    attempts: int = 0


def _target(base_url: str) -> tuple[str, int]:
    url = urlsplit(base_url)
    return url.hostname or "127.0.0.1", url.port or 80


@dataclass
class _Load:
    timeout_s: float
    queue: asyncio.Queue[_Due | None] = field(default_factory=asyncio.Queue)
    outstanding: int = 0  # submitted and not finally answered
    rng: random.Random = field(default_factory=lambda: random.Random(8))  # retry jitter

    def submit(self, item: _Due) -> None:
        self.outstanding += 1
        self.queue.put_nowait(item)

    async def lane(self, host: str, port: int, connection: LeanConnection | None) -> None:
        """Send queued requests one at a time on one connection (reopened after a
        failure) until the queue hands out ``None``."""
        while (item := await self.queue.get()) is not None:
            result = item.result
            if item.attempts == 0:
                result.send_lag_s.append(time.perf_counter() - item.due)
            item.attempts += 1
            try:
                async with asyncio.timeout(self.timeout_s):
                    if connection is None or not connection.usable:
                        connection = await LeanConnection.open(host, port)
                    answer = await connection.exchange(item.request)
            except Exception as exc:  # no answer (refused, reset, timed out, unparsable)
                result.errors[type(exc).__name__] += 1
                if connection is not None:
                    connection.close()
                connection = None
                self.outstanding -= 1
                continue
            self._answered(item, answer)
        if connection is not None:
            connection.close()

    def _answered(self, item: _Due, answer: Answer) -> None:
        finished = time.perf_counter()
        result = item.result
        result.statuses[answer.status] += 1
        result.wall_s = max(result.wall_s, finished - item.phase_start)
        if answer.status == 503 and answer.retry_after_s is not None:
            if item.attempts < MAX_ATTEMPTS:
                result.retries += 1
                loop = asyncio.get_running_loop()
                delay = retry_delay_s(answer.retry_after_s, item.attempts, self.rng)
                loop.call_later(delay, self.queue.put_nowait, item)
                return
            result.errors["gave_up_after_503s"] += 1
        elif answer.status == 202:
            result.latencies_s.append(finished - item.due)
            result.due_at_s.append(item.due - item.phase_start)
            found = ENVELOPE_ID.search(answer.body)
            if found:
                result.accepted.append(found.group(1).decode())
            else:
                result.errors["202_without_envelope_id"] += 1
        self.outstanding -= 1
