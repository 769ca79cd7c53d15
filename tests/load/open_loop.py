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

import aiohttp

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
    answer (or ``timeout_s``) before returning."""
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    results = [PhaseResult(p) for p in phases]
    in_flight: set[asyncio.Task[None]] = set()
    counter = 0
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:
        for result in results:
            on_phase(result.phase)
            phase_start = time.perf_counter()
            total = int(result.phase.rate * result.phase.seconds)
            sent = 0
            while sent < total:
                now = time.perf_counter()
                due_count = min(total, int((now - phase_start) * result.phase.rate) + 1)
                while sent < due_count:
                    due = phase_start + sent / result.phase.rate
                    task = asyncio.create_task(
                        _one(session, make(counter), due, phase_start, result)
                    )
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    sent += 1
                    counter += 1
                result.started = sent
                await asyncio.sleep(TICK_S)
        if in_flight:
            await asyncio.gather(*in_flight)
    return results


async def _one(
    session: aiohttp.ClientSession,
    webhook: Webhook,
    due: float,
    phase_start: float,
    result: PhaseResult,
) -> None:
    result.send_lag_s.append(time.perf_counter() - due)
    try:
        async with session.post(webhook.path, data=webhook.body, headers=webhook.headers) as answer:
            body = await answer.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        result.errors[type(exc).__name__] += 1
        return
    finished = time.perf_counter()
    result.statuses[answer.status] += 1
    result.wall_s = max(result.wall_s, finished - phase_start)
    if answer.status == 202:
        result.latencies_s.append(finished - due)
        found = ENVELOPE_ID.search(body)
        if found:
            result.accepted.append(found.group(1).decode())
        else:
            result.errors["202_without_envelope_id"] += 1
