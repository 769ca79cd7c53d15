"""An open-loop webhook load: requests start on a fixed schedule, whatever the answers do.

Request ``i`` of a phase at rate ``r`` is due at ``phase start + i / r``. A scheduler
wakes every few milliseconds and starts every request that is due; it never waits for an
answer before starting the next, so a slow gateway cannot slow the load down and hide
its own latency (coordinated omission). Latency is measured from the moment a request
was *due*, not from when it actually left, so any lag of this process or of its
connection pool counts against the gateway rather than vanishing; how late requests
left is reported separately (``send_lag``) to tell the two apart.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.load.lean_http import LeanConnection, request_bytes
from tests.load.traffic import Webhook

TICK_S = 0.002
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
    send_lag_s: list[float] = field(default_factory=list)  # due -> actually started
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # no answer: exception name
    accepted: list[str] = field(default_factory=list)  # envelope ids of 202s
    started: int = 0
    wall_s: float = 0.0  # from the phase's start to its last answer


async def run_phases(
    base_url: str,
    phases: list[Phase],
    make: Callable[[int], Webhook],
    *,
    connections: int = 256,
    timeout_s: float = 30.0,
    on_phase: Callable[[Phase], None] = lambda _: None,
) -> list[PhaseResult]:
    """Send every phase's requests on schedule, one phase after another; wait for every
    answer (or ``timeout_s``) before returning.

    The scheduler makes each request as it falls due and queues it; ``connections``
    lanes, each with one keep-alive connection, take them in order. Above the gateway's
    capacity the queue grows and every queued request's latency with it (from its due
    time), as it would for senders whose webhooks wait.
    """
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    results = [PhaseResult(p) for p in phases]
    queue: asyncio.Queue[_Due | None] = asyncio.Queue()
    lanes = [asyncio.create_task(_lane(queue, host, port, timeout_s)) for _ in range(connections)]
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
                    request = request_bytes(
                        f"{host}:{port}", webhook.path, webhook.headers, webhook.body
                    )
                    due = phase_start + sent / result.phase.rate
                    queue.put_nowait(_Due(due, phase_start, result, request))
                    sent += 1
                    counter += 1
                result.started = sent
                await asyncio.sleep(TICK_S)
        for _ in lanes:
            queue.put_nowait(None)
        await asyncio.gather(*lanes)
    finally:
        for lane in lanes:
            lane.cancel()
    return results


@dataclass(frozen=True, slots=True)
class _Due:
    due: float  # perf_counter time the request was due
    phase_start: float
    result: PhaseResult
    request: bytes


async def _lane(queue: asyncio.Queue[_Due | None], host: str, port: int, timeout_s: float) -> None:
    """Send queued requests one at a time on one connection (reopened after a failure)
    until the queue hands out ``None``."""
    connection: LeanConnection | None = None
    while (item := await queue.get()) is not None:
        result = item.result
        result.send_lag_s.append(time.perf_counter() - item.due)
        try:
            async with asyncio.timeout(timeout_s):
                if connection is None or not connection.usable:
                    connection = await LeanConnection.open(host, port)
                status, body = await connection.exchange(item.request)
        except (OSError, TimeoutError) as exc:
            result.errors[type(exc).__name__] += 1
            if connection is not None:
                connection.close()
            connection = None
            continue
        finished = time.perf_counter()
        result.statuses[status] += 1
        result.wall_s = max(result.wall_s, finished - item.phase_start)
        if status == 202:
            result.latencies_s.append(finished - item.due)
            found = ENVELOPE_ID.search(body)
            if found:
                result.accepted.append(found.group(1).decode())
            else:
                result.errors["202_without_envelope_id"] += 1
    if connection is not None:
        connection.close()
