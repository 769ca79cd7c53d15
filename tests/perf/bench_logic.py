"""The pure logic alone, with no Kafka and no faust: what a worker could do per core if
moving records cost nothing.

    .venv/bin/python -m tests.perf.bench_logic [--envelopes 8000] [--shipments 4000]

- **normalize**: ``hub.normalize.normalize_record`` over the raw envelopes of every
  successful connector fixture in turn (the normalizer benchmark's mix), each resulting
  event encoded as the agent encodes it.
- **hub**: per shipment, a plan, then events (the hub benchmark's shipments), each through
  ``hub.hub_agents.inbox_step`` at a watermark 10 minutes behind it, the stored value
  re-encoded after each step as the detect agent does; every ``--cache``-th shipment's
  record is decoded from its stored bytes first (a cache miss).

Prints events per second and microseconds per event. These bound the benchmarks that go
through Kafka from above: ``bench_normalizer`` and ``bench_hub`` print the faust floor
(the same agents doing no work) for the other half of the cost.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from hub import shipment_runner
from hub.hub_agents import StoredRecord, inbox_step, load_stored
from hub.hub_messages import InboxMessage
from hub.kafka_clients import encode_model
from hub.normalize import normalize_record
from tests.connector_cases import connector_cases
from tests.perf.bench_hub import _events, _plans
from tests.perf.common import machine


def normalize_rate(envelopes: int) -> tuple[int, float]:
    """(events, seconds) for ``envelopes`` raw records of the fixture mix."""
    cases = [c for c in connector_cases() if not isinstance(c.expected(), dict)]
    values = [encode_model(c.envelope()) for c in cases]
    now = datetime.now(UTC)
    for value in values:  # warm caches (code tables, regexes) outside the timing
        normalize_record(value, now=now, where="bench")
    events = 0
    began = time.perf_counter()
    for i in range(envelopes):
        result = normalize_record(values[i % len(values)], now=now, where="bench")
        for event in result.events:
            encode_model(event)
        events += len(result.events)
    return events, time.perf_counter() - began


def hub_rate(shipments: int, events_per: int, miss_every: int) -> tuple[int, float]:
    """(events, seconds) through the detect step for ``shipments`` planned shipments."""
    stored: dict[str, bytes] = {}
    held: dict[str, StoredRecord] = {}
    for plan in _plans(shipments):
        step, _ = inbox_step(
            None, InboxMessage(kind="plan", plan=plan), 0, None, wall_now=0, plan_grace_s=0
        )
        assert step is not None
        held[plan.shipment_id] = step
        stored[plan.shipment_id] = step.dumps(shipment_runner.next_due(step.record))
    events = _events(shipments, events_per)
    began = time.perf_counter()
    for i, event in enumerate(events):
        shipment_id = f"BENCH-{i % shipments}"
        if miss_every and i % miss_every == 0:
            current = load_stored(stored[shipment_id])
        else:
            current = held[shipment_id]
        message = InboxMessage(kind="event", event=event)
        watermark = event.occurred_at - timedelta(minutes=10)
        step, _ = inbox_step(current, message, 0, watermark, wall_now=1e12, plan_grace_s=0)
        assert step is not None
        held[shipment_id] = step
        stored[shipment_id] = step.dumps(shipment_runner.next_due(step.record))
    return len(events), time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--envelopes", type=int, default=8_000)
    parser.add_argument("--shipments", type=int, default=4_000)
    parser.add_argument("--events-per", type=int, default=2)
    parser.add_argument("--cache", type=int, default=2, help="every Nth event misses the cache")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    events, seconds = normalize_rate(args.envelopes)
    print(
        f"normalize (pure, fixture mix): {events:,} events from {args.envelopes:,} envelopes "
        f"in {seconds:.1f} s: {events / seconds:,.0f} events/s, "
        f"{seconds / events * 1e6:.0f} us/event"
    )
    events, seconds = hub_rate(args.shipments, args.events_per, args.cache)
    print(
        f"hub detect step (pure, {args.shipments:,} shipments): {events:,} events in "
        f"{seconds:.1f} s: {events / seconds:,.0f} events/s, {seconds / events * 1e6:.0f} us/event"
    )


if __name__ == "__main__":
    main()
