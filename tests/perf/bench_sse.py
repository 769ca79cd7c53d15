"""SSE fan-out benchmark: many clients on one ``trackhub api`` process.

    .venv/bin/python -m tests.perf.bench_sse [--clients 1000] [--sellers 100] [--alerts 20]
        [--interval 0.5]

1. Starts a broker (``.trackhub/bench``) and one ``trackhub api`` process.
2. Registers ``--sellers`` sellers with one API key each (the records the CLI writes)
   and opens ``--clients`` SSE connections spread evenly over them.
3. Publishes ``--alerts`` alerts per seller to ``alerts.v1``, one round (an alert for
   each seller) every ``--interval`` seconds, and
   notes when each was acknowledged; each client notes when it received each alert.
Prints: clients still connected at the end, deliveries received / expected, fan-out
latency (publish ack -> client receipt) p50/p99/max, and the API process's RSS before the
clients connected, with all connected, and after the alerts. The target (1,000 clients
connected and receiving, p99 well under a second) is read by people.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from hub import topics
from hub.kafka_clients import create_producer, encode_key, encode_model
from hub.seller_records import publish_records
from schemas.sellers import ApiKey, hash_key, new_api_key
from tests.factories import make_alert
from tests.perf.common import (
    bench_env,
    free_port,
    machine,
    percentile,
    rss_mib,
    settings_from,
    stop_bench_broker,
)


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    key: str,
    received: dict[str, float],
    connected: asyncio.Event,
    expected: int,
) -> bool:
    """Reads alerts until ``expected`` arrived; True when the stream stayed up."""
    headers = {"Authorization": f"Bearer {key}"}
    async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(None)) as resp:
        if resp.status != 200:
            return False
        connected.set()
        count = 0
        async for raw in resp.content:
            line = raw.rstrip(b"\r\n")
            if line.startswith(b"data:"):
                received.setdefault(line[5:].strip()[:200].decode(), time.time())
                count += 1
                if count >= expected:
                    return True
    return False


async def run(args: argparse.Namespace) -> None:
    env = bench_env(fresh=True)
    settings = settings_from(env)
    port = free_port()
    state = Path(".trackhub/bench/api")
    state.mkdir(parents=True, exist_ok=True)
    (state / "read.db").unlink(missing_ok=True)
    keys: dict[str, str] = {}
    records = []
    for n in range(args.sellers):
        seller = f"seller-sse-{n:04d}"
        key_id, full = new_api_key()
        keys[seller] = full
        created = datetime.now(UTC)
        record = ApiKey(
            key_id=key_id, seller_id=seller, secret_sha256=hash_key(full), created_at=created
        )
        records.append((key_id, record))
    publish_records(settings, topics.API_KEYS, records)
    api = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "api"],
        env={
            **os.environ,
            **env,
            "TRACKHUB_API_PORT": str(port),
            "TRACKHUB_API_DB": str(state / "read.db"),
            "TRACKHUB_API_RATE_BURST": "100000",
            "TRACKHUB_API_RATE_PER_S": "100000",
            "TRACKHUB_LOG_LEVEL": "WARNING",
        },
    )
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=0)
        ) as session:
            base = f"http://127.0.0.1:{port}"
            while True:
                try:
                    async with session.get(f"{base}/readyz") as ready:
                        if ready.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
            rss_idle = rss_mib(api.pid)
            sellers = list(keys)
            received: list[dict[str, float]] = [{} for _ in range(args.clients)]
            connected = [asyncio.Event() for _ in range(args.clients)]
            clients = [
                asyncio.create_task(
                    _client(
                        session,
                        f"{base}/v1/alerts/stream",
                        keys[sellers[i % len(sellers)]],
                        received[i],
                        connected[i],
                        args.alerts,
                    )
                )
                for i in range(args.clients)
            ]
            await asyncio.wait_for(asyncio.gather(*(c.wait() for c in connected)), 120)
            await asyncio.sleep(1)
            rss_connected = rss_mib(api.pid)
            sent: dict[str, float] = {}
            producer = create_producer(settings, purpose="bench-sse")

            def send_round(round_: int) -> None:
                # in a thread: the blocking producer must not stall the clients' event loop
                for seller in sellers:
                    alert = make_alert(shipment_id=f"SHP-{seller}-{round_}", seller_id=seller)
                    value = encode_model(alert)
                    future = producer.send(topics.ALERTS, key=encode_key(seller), value=value)
                    marker = value[:200].decode()
                    future.add_callback(lambda _, m=marker: sent.setdefault(m, time.time()))
                producer.flush()

            for round_ in range(args.alerts):
                await asyncio.to_thread(send_round, round_)
                await asyncio.sleep(args.interval)
            producer.close()
            done = await asyncio.wait_for(asyncio.gather(*clients, return_exceptions=True), 180)
            rss_after = rss_mib(api.pid)
        latencies = [
            (at - sent[marker]) * 1000
            for per_client in received
            for marker, at in per_client.items()
            if marker in sent
        ]
        stayed = sum(1 for d in done if d is True)
        got = sum(len(r) for r in received)
        print(f"machine: {machine()}")
        print(
            f"clients: {args.clients} over {args.sellers} sellers; alerts per seller: {args.alerts}"
        )
        print(f"streams that stayed connected and got every alert: {stayed}/{args.clients}")
        print(f"deliveries received: {got} of {args.clients * args.alerts} expected")
        print(
            "fan-out latency (publish ack -> client) ms: "
            f"p50 {percentile(latencies, 0.5):.1f}  p99 {percentile(latencies, 0.99):.1f}  "
            f"max {max(latencies, default=float('nan')):.1f}"
        )
        print(
            f"API RSS MiB: idle {rss_idle:.0f}, {args.clients} connected {rss_connected:.0f}, "
            f"after the alerts {rss_after:.0f}"
        )
    finally:
        api.terminate()
        api.wait(timeout=30)
        stop_bench_broker(env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--sellers", type=int, default=100)
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between rounds (one per seller)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
