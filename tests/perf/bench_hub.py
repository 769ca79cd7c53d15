"""Hub benchmark: events per second through one worker with many active shipments, the
delay from a deadline passing to its alert on alerts.v1, and the worker's RSS.

    .venv/bin/python -m tests.perf.bench_hub [--shipments 100000] [--events-per 2]

1. Registers ``--shipments`` plans and waits until the worker has them all.
2. Publishes ``--events-per`` events per shipment; events/s = events / time until the
   worker's inbox and resolve backlogs are empty.
3. Moves the hub clock past every shipment's stall deadline at a known wall time; the
   alert latency of each stall alert = its record timestamp minus that moment.
Beside it, the same run measures a plain aiokafka consume -> produce passthrough of the
events, the denominator, and the faust floor (``tests.perf.faust_floor hub``): agents with
the hub's shape (repartition, then a changelogged table) that do nothing else. Prints figures; targets (>= 15,000 events/s per worker, p99 alert
latency < 1 s, RSS < 1 GiB) are read by people.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from hub import topics
from hub.hub_control import advance_clock, register_plans
from hub.kafka_clients import (
    create_consumer,
    create_producer,
    encode_key,
    encode_model,
)
from hub.settings import Settings
from schemas.events import TrackingEvent
from schemas.shipments import ShipmentPlan
from tests.factories import plan_data
from tests.perf.bench_normalizer import create_passthrough_topic, passthrough, run_until
from tests.perf.common import (
    bench_env,
    machine,
    percentile,
    rss_mib,
    settings_from,
    stop_bench_broker,
)
from tests.perf.faust_floor import FLOOR_CHANGELOG
from tests.support.kafka_reading import end_offsets, group_backlog

BASE = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)


def _plans(count: int) -> list[ShipmentPlan]:
    template = plan_data()
    plans = []
    for i in range(count):
        data = {
            **template,
            "shipment_id": f"BENCH-{i}",
            "identifiers": [{"kind": "order_id", "value": f"BO-{i}"}],
        }
        legs = []
        for leg in template["legs"]:
            leg = {**leg, "identifiers": []}
            if leg["leg"] == "first_mile":
                leg["identifiers"] = [{"kind": "hawb", "value": f"BH{i}"}]
            legs.append(leg)
        data["legs"] = legs
        data["registered_at"] = BASE.isoformat()
        plans.append(ShipmentPlan.model_validate(data))
    return plans


def _events(count: int, per: int) -> list[TrackingEvent]:
    milestones = ["picked_up", "received_at_origin_hub", "departed_origin"]
    events = []
    for n in range(per):
        for i in range(count):
            events.append(
                TrackingEvent.model_validate(
                    {
                        "source": {
                            "connector": "native",
                            "party": {"role": "forwarder", "id": "fwd-sz"},
                        },
                        "identifiers": [{"kind": "hawb", "value": f"BH{i}"}],
                        "milestone": milestones[min(n, 1)],
                        "source_code": "X",
                        "occurred_at": (BASE + timedelta(hours=n)).isoformat(),
                        "received_at": (BASE + timedelta(hours=n, minutes=1)).isoformat(),
                    }
                )
            )
    return events


def _wait_drained(settings: Settings, timeout: float) -> float:
    began = time.monotonic()
    names = [topics.SHIPMENTS, topics.EVENTS, topics.RESOLVE, topics.SHIPMENTS_INBOX]
    while time.monotonic() - began < timeout:
        if group_backlog(settings, "trackhub", names) == 0:
            return time.monotonic() - began
        time.sleep(0.5)
    raise SystemExit("the worker did not drain its backlog in time")


def _written(settings: Settings, topic: str) -> int:
    """Records on ``topic`` so far; 0 while the topic does not exist yet."""
    try:
        return sum(end_offsets(settings, topic).values())
    except TypeError:  # no partitions: the floor worker has not declared it yet
        return 0


def _start_profiler(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy (a dev dependency) sampling the worker; it writes ``out`` on SIGINT."""
    command = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "-o", out, "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shipments", type=int, default=100_000)
    parser.add_argument("--events-per", type=int, default=2)
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="record the worker with py-spy during the event phase (collapsed stacks)",
    )
    args = parser.parse_args()
    env = bench_env(fresh=True)
    settings = settings_from(env)
    create_passthrough_topic(settings)
    worker = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "worker"],
        env=os.environ
        | env
        | {
            "TRACKHUB_LOG_LEVEL": "WARNING",
            "TRACKHUB_WORKER_HTTP_PORT": "0",
            "TRACKHUB_HUB_IDLE_AFTER_S": "0",
            "TRACKHUB_HUB_PLAN_GRACE_S": "0",
            "TRACKHUB_HUB_TICK_INTERVAL_S": "0.1",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        plans = _plans(args.shipments)
        started = time.monotonic()
        register_plans(settings, plans)
        _wait_drained(settings, 3600)
        plan_seconds = time.monotonic() - started
        events = _events(args.shipments, args.events_per)
        producer = create_producer(settings, purpose="bench-events")
        profiler = _start_profiler(worker.pid, args.profile) if args.profile else None
        started = time.monotonic()
        for event in events:
            producer.send(
                topics.EVENTS,
                key=encode_key(event.primary_identifier.key),
                value=encode_model(event),
            )
        producer.flush()
        producer.close()
        _wait_drained(settings, 3600)
        event_seconds = time.monotonic() - started
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=120)
        rss = rss_mib(worker.pid)
        # stall limit of the first mile is 36 h after the last event: move the clock past it
        alerts_consumer = create_consumer(
            settings, group_id=None, purpose="bench-alerts", auto_offset_reset="latest"
        )
        alerts_consumer.subscribe([topics.ALERTS])
        alerts_consumer.poll(timeout_ms=1000)
        moved_at = time.time()
        advance_clock(settings, BASE + timedelta(hours=args.events_per + 37))
        latencies: list[float] = []
        deadline = time.monotonic() + 600
        while len(latencies) < args.shipments and time.monotonic() < deadline:
            for records in alerts_consumer.poll(timeout_ms=1000).values():
                latencies += [
                    r.timestamp / 1000 - moved_at for r in records if b'"stall"' in r.value
                ]
        alerts_consumer.close()
        rss = max(rss, rss_mib(worker.pid))
        copy_seconds = asyncio.run(passthrough(settings, topics.EVENTS, len(events)))
        floor_seconds, _ = run_until(
            [sys.executable, "-m", "tests.perf.faust_floor", "hub"],
            env,
            lambda: _written(settings, FLOOR_CHANGELOG),
            len(events),
        )
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        stop_bench_broker(env)
    print(f"machine: {machine()}")
    print(
        f"shipments: {args.shipments} plans registered in {plan_seconds:.1f} s ({args.shipments / plan_seconds:,.0f}/s)"
    )
    print(
        f"events: {len(events)} through 1 worker in {event_seconds:.1f} s: {len(events) / event_seconds:,.0f} events/s"
    )
    print(
        f"passthrough (aiokafka consume -> produce, same events): {len(events) / copy_seconds:,.0f} messages/s; "
        f"ratio {copy_seconds / event_seconds:.2f}"
    )
    print(
        f"faust floor (do-nothing agents: repartition + changelogged table, same events): "
        f"{len(events) / floor_seconds:,.0f} events/s; hub/floor {floor_seconds / event_seconds:.2f}"
    )
    print(
        f"stall alerts: {len(latencies)}; deadline -> alert latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms"
    )
    print(f"worker RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
