"""Normalizer benchmark: events per second through the faust agent on the real broker,
beside a plain aiokafka consume -> produce passthrough of the same messages, same run.

    .venv/bin/python -m tests.perf.bench_normalizer [--envelopes 20000]

The raw log is seeded with every successful connector fixture (all formats) in turn, so
the mix of payload sizes and events per envelope is the fixtures'. Prints figures; the
targets (>= 20,000 events/s per process, >= 0.3 x passthrough) are read by people.
Last, a faust agent that does no work (``tests.perf.faust_floor``) copies the same raw
log with the same number of writes per envelope: the ceiling of any faust normalizer here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable

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
from tests.perf.faust_floor import FLOOR_TOPIC, REPARTITION_TOPIC
from tests.support.kafka_reading import end_offsets

PASSTHROUGH_TOPIC = "bench.passthrough.v1"


def _seed(settings: Settings, count: int) -> tuple[int, int, int]:
    """Write ``count`` envelopes to the raw log; returns (envelopes, events they hold,
    mean size of an encoded event in bytes)."""
    from connectors.registry import get_connector

    cases = [c for c in connector_cases() if not isinstance(c.expected(), dict)]
    envelopes = [c.envelope() for c in cases]
    parsed = [get_connector(e.format).parse(e) for e in envelopes]
    events_per = [len(events) for events in parsed]
    sizes = [len(encode_model(event)) for events in parsed for event in events]
    producer = create_producer(settings, purpose="bench-seed")
    total_events = 0
    for i in range(count):
        j = i % len(envelopes)
        envelope = envelopes[j].model_copy(update={"reference": f"bench-{i}"})
        producer.send(topics.RAW, key=encode_key(envelope.kafka_key), value=encode_model(envelope))
        total_events += events_per[j]
    producer.flush()
    producer.close()
    return count, total_events, sum(sizes) // len(sizes)


def _total(settings: Settings, topic: str) -> int:
    return sum(end_offsets(settings, topic).values())


def _run_normalizer(env: dict[str, str], settings: Settings, expected: int) -> tuple[float, float]:
    """Start one normalize-only worker; returns (seconds from first to last event, startup
    seconds)."""
    command = [sys.executable, "-m", "hub.cli", "worker"]
    extra = {"TRACKHUB_WORKER_ROLES": "normalize", "TRACKHUB_WORKER_HTTP_PORT": "0"}

    def done() -> int:
        return _total(settings, topics.EVENTS) + _total(settings, topics.DLQ)

    return run_until(command, env | extra, done, expected)


def _run_floor(
    env: dict[str, str], settings: Settings, fanout: int, value_bytes: int, expected: int
) -> float:
    """The do-nothing faust agent (``tests.perf.faust_floor``) on the same raw log."""
    command = [sys.executable, "-m", "tests.perf.faust_floor", "normalize"]
    command += [f"--fanout={fanout}", f"--value-bytes={value_bytes}"]
    seconds, _ = run_until(command, env, lambda: _total(settings, FLOOR_TOPIC), expected)
    return seconds


def run_until(
    command: list[str], env: dict[str, str], progress: Callable[[], int], expected: int
) -> tuple[float, float]:
    """Run ``command`` until ``progress()`` reaches ``expected``; returns (seconds from the
    first unit of progress to the last, seconds before the first)."""
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        env=os.environ | env | {"TRACKHUB_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = last = None
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            done = progress()
            now = time.monotonic()
            if done and first is None:
                first = now
            if done >= expected:
                last = now
                break
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=60)
    if first is None or last is None:
        raise SystemExit(f"{command[2:]} did not finish within 15 minutes")
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
    """The topics the passthrough and the faust floor write, partitioned like the hub's
    (faust declares an agent's source topic only after the first send to it)."""
    admin = create_admin(settings)
    spec = {"num_partitions": settings.partitions, "replication_factor": 1}
    admin.create_topics({PASSTHROUGH_TOPIC: spec, FLOOR_TOPIC: spec, REPARTITION_TOPIC: spec})
    admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--envelopes", type=int, default=20_000)
    args = parser.parse_args()
    env = bench_env(fresh=True)
    settings = settings_from(env)
    create_passthrough_topic(settings)
    try:
        envelopes, events, event_bytes = _seed(settings, args.envelopes)
        seconds, startup = _run_normalizer(env, settings, events)
        passthrough_s = asyncio.run(passthrough(settings, topics.RAW, envelopes))
        fanout = max(1, round(events / envelopes))
        floor_s = _run_floor(env, settings, fanout, event_bytes, envelopes * fanout)
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
    print(
        f"faust floor (a do-nothing agent writing {fanout} values of {event_bytes} bytes "
        "per envelope): "
        f"{envelopes * fanout / floor_s:,.0f} events/s, {envelopes / floor_s:,.0f} envelopes/s "
        f"over {floor_s:.1f} s; normalizer/floor {floor_s / seconds:.2f}"
    )


if __name__ == "__main__":
    main()
