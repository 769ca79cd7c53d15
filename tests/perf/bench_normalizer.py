"""Normalizer benchmark: events per second through the faust agent on the real broker,
beside a plain aiokafka consume -> produce passthrough of the same messages, same run.

    .venv/bin/python -m tests.perf.bench_normalizer [--envelopes 20000]

The raw log is seeded with every successful connector fixture (all formats) in turn, so
the mix of payload sizes and events per envelope is the fixtures'. Prints figures; the
targets (>= 20,000 events/s per process, >= 0.3 x passthrough) are read by people.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

from hub import topics
from hub.kafka_clients import (
    create_admin,
    create_async_producer,
    create_producer,
    encode_key,
    encode_model,
)
from hub.settings import Settings
from tests.connector_cases import connector_cases
from tests.perf.common import bench_env, machine, settings_from, stop_bench_broker
from tests.support.kafka_reading import end_offsets

PASSTHROUGH_TOPIC = "bench.passthrough.v1"


def _seed(settings: Settings, count: int) -> tuple[int, int]:
    """Write ``count`` envelopes to the raw log; returns (envelopes, events they hold)."""
    from connectors.registry import get_connector

    cases = [c for c in connector_cases() if not isinstance(c.expected(), dict)]
    envelopes = [c.envelope() for c in cases]
    events_per = [len(get_connector(e.format).parse(e)) for e in envelopes]
    producer = create_producer(settings, purpose="bench-seed")
    total_events = 0
    for i in range(count):
        j = i % len(envelopes)
        envelope = envelopes[j].model_copy(update={"reference": f"bench-{i}"})
        producer.send(topics.RAW, key=encode_key(envelope.kafka_key), value=encode_model(envelope))
        total_events += events_per[j]
    producer.flush()
    producer.close()
    return count, total_events


def _total(settings: Settings, topic: str) -> int:
    return sum(end_offsets(settings, topic).values())


def _run_normalizer(env: dict[str, str], settings: Settings, expected: int) -> tuple[float, float]:
    """Start one worker; returns (seconds from first to last event, startup seconds)."""
    started = time.monotonic()
    worker = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "worker"],
        env=os.environ
        | env
        | {
            "TRACKHUB_LOG_LEVEL": "WARNING",
            "TRACKHUB_WORKER_ROLES": "normalize",
            "TRACKHUB_WORKER_HTTP_PORT": "0",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = last = None
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            done = _total(settings, topics.EVENTS) + _total(settings, topics.DLQ)
            now = time.monotonic()
            if done and first is None:
                first = now
            if done >= expected:
                last = now
                break
            time.sleep(0.1)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    if first is None or last is None:
        raise SystemExit("the normalizer did not finish within 15 minutes")
    return last - first, first - started


async def passthrough(settings: Settings, source: str, count: int) -> float:
    """Seconds a plain aiokafka consume -> produce (same producer defaults) takes to copy
    ``count`` records of ``source`` to the passthrough topic: the benchmarks' denominator."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = create_async_producer(settings, purpose="bench-passthrough")
    await consumer.start()
    await producer.start()
    seen = 0
    began = time.monotonic()
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
            futures = []
            for records in batch.values():
                for record in records:
                    futures.append(
                        await producer.send(PASSTHROUGH_TOPIC, key=record.key, value=record.value)
                    )
                    seen += 1
            await asyncio.gather(*futures)
        return time.monotonic() - began
    finally:
        await consumer.stop()
        await producer.stop()


def create_passthrough_topic(settings: Settings) -> None:
    """The topic the passthrough copies into, partitioned like the hub's."""
    admin = create_admin(settings)
    admin.create_topics(
        {PASSTHROUGH_TOPIC: {"num_partitions": settings.partitions, "replication_factor": 1}}
    )
    admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--envelopes", type=int, default=20_000)
    args = parser.parse_args()
    env = bench_env(fresh=True)
    settings = settings_from(env)
    create_passthrough_topic(settings)
    try:
        envelopes, events = _seed(settings, args.envelopes)
        seconds, startup = _run_normalizer(env, settings, events)
        passthrough_s = asyncio.run(passthrough(settings, topics.RAW, envelopes))
        dead = _total(settings, topics.DLQ)
    finally:
        stop_bench_broker(env)
    normalizer_msgs = envelopes / seconds
    passthrough_msgs = envelopes / passthrough_s
    print(f"machine: {machine()}")
    print(f"raw envelopes: {envelopes} holding {events} events ({dead} dead letters)")
    print(
        f"normalizer (1 faust worker): {events / seconds:,.0f} events/s, "
        f"{normalizer_msgs:,.0f} envelopes/s over {seconds:.1f} s (startup {startup:.1f} s)"
    )
    print(
        f"passthrough (aiokafka consume -> produce): {passthrough_msgs:,.0f} messages/s "
        f"over {passthrough_s:.1f} s"
    )
    print(f"ratio normalizer/passthrough (same messages): {normalizer_msgs / passthrough_msgs:.2f}")


if __name__ == "__main__":
    main()
