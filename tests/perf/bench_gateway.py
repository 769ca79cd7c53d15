"""Gateway benchmark: signed webhooks per second and latency to a durable 202.

The gateway runs as its own process (``trackhub gateway``) against a real broker; this
process is the load: pre-signed Standard Webhooks deliveries (unique ids and bodies, so
every one is written) sent with a fixed concurrency over keep-alive connections.

    .venv/bin/python -m tests.perf.bench_gateway [--requests 30000] [--concurrency 64]

Prints figures; it asserts nothing (targets are read by people: >= 3,000/s, p99 < 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

import aiohttp
import uvloop

from tests.perf.common import (
    bench_env,
    broker_pid,
    cpu_seconds,
    free_port,
    machine,
    percentile,
    stop_bench_broker,
)
from tests.support.signing import SECRET, standard_webhook_headers

BODY_TEMPLATE = {
    "events": [
        {
            "source": {
                "party": {"role": "last_mile_carrier", "id": "usps"},
                "source_event_id": "",
            },
            "identifiers": [
                {"kind": "tracking_number", "value": ""},
                {"kind": "order_id", "value": "AMZ-113-5550001"},
            ],
            "milestone": "in_transit",
            "source_code": "IT",
            "source_description": "Arrived at USPS regional facility, Los Angeles CA",
            "occurred_at": "2026-02-25T06:12:00-08:00",
            "location": {"city": "Los Angeles", "country": "US", "postal_code": "90052"},
        }
    ]
}


def _deliveries(count: int) -> list[tuple[bytes, dict[str, str]]]:
    out = []
    for i in range(count):
        body = json.loads(json.dumps(BODY_TEMPLATE))
        body["events"][0]["source"]["source_event_id"] = f"bench-{i}"
        body["events"][0]["identifiers"][0]["value"] = f"9400111899223{i:09d}"
        raw = json.dumps(body).encode()
        out.append((raw, standard_webhook_headers(raw, webhook_id=f"msg_bench_{i}")))
    return out


async def _load(
    url: str, deliveries: list[tuple[bytes, dict[str, str]]], concurrency: int
) -> tuple[list[float], dict[int, int], float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(deliveries)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for body, headers in queue:
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                latencies.append(time.perf_counter() - started)
                statuses[response.status] = statuses.get(response.status, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return latencies, statuses, elapsed


@dataclass(frozen=True)
class BenchFigures:
    requests: int
    statuses: dict[int, int]
    seconds: float
    latencies_ms: list[float]
    cpu_s: dict[str, float]  # by process: gateway, load, broker
    concurrency: int

    @property
    def rate(self) -> float:
        """Webhooks per second: the rate the gateway benchmark sustains."""
        return self.requests / self.seconds

    def lines(self) -> list[str]:
        ms = self.latencies_ms
        per_webhook = ", ".join(
            f"{name} {cpu / self.requests * 1e6:.0f} us" for name, cpu in self.cpu_s.items()
        )
        return [
            f"gateway: 1 process; load: 1 process, concurrency {self.concurrency}",
            f"requests: {self.requests}  statuses: {dict(sorted(self.statuses.items()))}",
            f"throughput: {self.rate:,.0f} webhooks/s over {self.seconds:.1f} s",
            f"latency to durable 202: p50 {percentile(ms, 0.50):.1f} ms  "
            f"p99 {percentile(ms, 0.99):.1f} ms  p99.9 {percentile(ms, 0.999):.1f} ms  "
            f"max {max(ms):.1f} ms",
            f"CPU per webhook: {per_webhook}; cores busy on average: "
            f"{sum(self.cpu_s.values()) / self.seconds:.2f} of {os.cpu_count()}",
        ]


def measure(
    env: dict[str, str], requests: int = 30_000, warmup: int = 2_000, concurrency: int = 64
) -> BenchFigures:
    """Start a gateway on the broker of ``env`` (TRACKHUB_*), warm it up, measure, stop it."""
    port = free_port()
    gateway_env = (
        os.environ
        | env
        | {
            "TRACKHUB_GATEWAY_PORT": str(port),
            "TRACKHUB_SOURCES": json.dumps({"bench": {"format": "native", "secrets": [SECRET]}}),
            "TRACKHUB_LOG_LEVEL": "WARNING",
        }
    )
    gateway = subprocess.Popen([sys.executable, "-m", "hub.cli", "gateway"], env=gateway_env)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz")
        url = f"http://127.0.0.1:{port}/webhooks/bench"
        deliveries = _deliveries(warmup + requests)
        run = uvloop.run  # the load generator should not be the bottleneck
        run(_load(url, deliveries[:warmup], concurrency))
        processes = {"gateway": gateway.pid, "load": os.getpid(), "broker": broker_pid(env)}
        before = {name: cpu_seconds(pid) for name, pid in processes.items() if pid}
        latencies, statuses, elapsed = run(_load(url, deliveries[warmup:], concurrency))
        used = {name: cpu_seconds(processes[name]) - start for name, start in before.items()}
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
    return BenchFigures(
        requests=len(latencies),
        statuses=statuses,
        seconds=elapsed,
        latencies_ms=[x * 1000 for x in latencies],
        cpu_s=used,
        concurrency=concurrency,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keep-broker", action="store_true")
    args = parser.parse_args()

    env = bench_env(fresh=False)
    try:
        figures = measure(env, args.requests, args.warmup, args.concurrency)
    finally:
        if not args.keep_broker:
            stop_bench_broker(env)
    print(f"machine: {machine()}")
    print("\n".join(figures.lines()))


def _wait_healthy(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gateway did not answer at {url}")


if __name__ == "__main__":
    main()
