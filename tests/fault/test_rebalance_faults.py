"""A partition the consumer group never committed is read in full by its next owner.

Two ``trackhub worker`` processes on a private broker with 4 partitions hold a few
shipments in their tables (every changelog partition has records), with a trickle of
traffic on the inbox. A worker is killed with SIGKILL, records are written to every
partition of an input topic the group has never committed, and a replacement starts on
an empty state dir: once the dead member's session times out, the group gives it the
dead worker's partitions, whose tables it restores from the changelogs while it reads
the other worker's changelogs into its standby tables. This is done twice: worker b is
replaced with probes on ``tracking.raw.v1``, then worker a with probes on
``tracking.events.v1`` (each topic empty until then).

No probe is a message of its topic, so each must come back as one dead letter on
``tracking.dlq.v1`` naming its partition and offset; the test measures, per partition,
the time from writing a probe to its dead letter. Without ``hub.app.GuardedConsumer``'s
fetch the replacement could skip every probe on its new partitions until the next
rebalance (docs/reliability.md): while it restored its tables, the set of partitions
faust had handed aiokafka became empty under the fetch, aiokafka returned the buffered
probes of the paused inputs and faust dropped them. That is a race: without the fix
this test failed in 2 of 3 runs (a one-round version in 6 of 9). The
replacement's table recovery
starts ``RECOVERY_DELAY_S`` after its assignment (faust's ``STREAM_RECOVERY_DELAY``), as
it does on a busy machine while the stores open, so that its probes are fetched before
its tables are restored.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from kafka import KafkaConsumer

from hub import topics
from hub.hub_control import advance_clock, register_plans
from hub.kafka_clients import create_admin, create_consumer, create_producer
from hub.settings import Settings
from hub.simulate.journeys import generate
from tests.support.fault_journeys import HUB_INPUTS, HubWorkerSlot, fault_config
from tests.support.kafka_reading import end_offsets, group_backlog
from tests.support.private_broker import PrivateBroker, private_broker

pytestmark = pytest.mark.fault

SEED = 20261207
SHIPMENTS = 16
PROBES_PER_PARTITION = 5
# the dead member's session (hub.app: broker_session_timeout=10 s), then the replacement's
# start and table recovery (RECOVERY_DELAY_S of it): about 20 s on this machine
RECOVERY_BOUND_S = 45.0
RECOVERY_DELAY_S = 3.0
PAST = datetime(2000, 1, 1, tzinfo=UTC)

Probe = tuple[str, int, int]  # topic, partition, offset


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def group_members(settings: Settings) -> tuple[str, int]:
    """(state, member count) of the hub's consumer group, as the coordinator says."""
    admin = create_admin(settings)
    try:
        group = admin.describe_groups([topics.APP_ID])[topics.APP_ID]
        return str(group.get("group_state")), len(group.get("members", []))
    except Exception as exc:  # no coordinator yet while the group forms
        return type(exc).__name__, 0
    finally:
        admin.close()


def changelog_partitions_filled(settings: Settings) -> bool:
    ends = end_offsets(settings, topics.changelog_topic(topics.TABLE_SHIPMENTS))
    return len(ends) == settings.partitions and all(ends.values())


def dlq_reader(settings: Settings) -> KafkaConsumer:
    """A reader of the dead letters written from now on."""
    start = end_offsets(settings, topics.DLQ)
    reader = create_consumer(settings, group_id=None, purpose="test-dlq")
    reader.assign(list(start))
    for tp, offset in start.items():
        reader.seek(tp, offset)
    return reader


def write_probes(settings: Settings, topic: str) -> dict[Probe, float]:
    """Records that are no message of ``topic``, on each of its partitions; probe ->
    when the broker acknowledged it (monotonic seconds)."""
    producer = create_producer(settings, purpose="test-probes")
    written: dict[Probe, float] = {}
    try:
        for n in range(PROBES_PER_PARTITION):
            for partition in range(settings.partitions):
                value = f"rebalance probe {n} of partition {partition}".encode()
                meta = producer.send(topic, value=value, partition=partition).get(30)
                written[(topic, partition, meta.offset)] = time.monotonic()
    finally:
        producer.close()
    return written


@contextmanager
def inbox_traffic(settings: Settings) -> Iterator[None]:
    """Clock messages for a moment long past (no watermark moves) on every inbox
    partition, ten a second: the traffic of a live hub in miniature."""
    stop = threading.Event()
    producer = create_producer(settings, purpose="test-traffic")

    def run() -> None:
        while not stop.wait(0.1):
            advance_clock(settings, PAST, producer=producer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        producer.close()


def dead_lettered_record(value: bytes) -> Probe | None:
    """The (topic, partition, offset) a dead letter names, if it names one."""
    topic, _, rest = json.loads(value).get("details", {}).get("record", "").partition("/")
    partition, _, offset = rest.partition("/")
    if not partition.isdigit() or not offset.isdigit():
        return None
    return topic, int(partition), int(offset)


def wait_dead_letters(
    reader: KafkaConsumer, written: dict[Probe, float], timeout_s: float
) -> dict[Probe, float]:
    """Probe -> seconds from writing it to seeing its dead letter, for every probe
    dead-lettered within ``timeout_s``."""
    latency: dict[Probe, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(latency) < len(written) and time.monotonic() < deadline:
        for records in reader.poll(timeout_ms=100).values():
            for record in records:
                probe = dead_lettered_record(record.value)
                if probe in written and probe not in latency:
                    latency[probe] = time.monotonic() - written[probe]
    return latency


def replacement_of(broker: PrivateBroker, name: str) -> HubWorkerSlot:
    """A worker on an empty state dir, whose table recovery waits RECOVERY_DELAY_S."""
    slot = HubWorkerSlot(broker.env, broker.settings.state_dir.resolve() / name)
    slot.env["STREAM_RECOVERY_DELAY"] = str(RECOVERY_DELAY_S)
    return slot


def replace_and_probe(
    settings: Settings, dead: HubWorkerSlot, replacement: HubWorkerSlot, topic: str
) -> tuple[dict[Probe, float], dict[Probe, float]]:
    """Kill ``dead``, probe every partition of ``topic`` (never committed: empty until
    now), start ``replacement``; (written, latency) as ``wait_dead_letters`` says."""
    assert not any(end_offsets(settings, topic).values()), f"{topic} is not empty"
    dead.kill()
    reader = dlq_reader(settings)
    try:
        written = write_probes(settings, topic)
        replacement.start()
        return written, wait_dead_letters(reader, written, timeout_s=RECOVERY_BOUND_S)
    finally:
        reader.close()


def figures(written: dict[Probe, float], latency: dict[Probe, float]) -> list[str]:
    lines = []
    for topic, partition in sorted({(t, p) for t, p, _ in written}):
        mine = [s for (t, p, _), s in latency.items() if (t, p) == (topic, partition)]
        worst = f"{max(mine):.1f} s" if mine else "-"
        lines.append(f"{topic}[{partition}]: {len(mine)}/{PROBES_PER_PARTITION}, worst {worst}")
    return lines


def test_replacement_workers_read_never_committed_partitions_from_their_start() -> None:
    """Figures (pytest -s): per probed partition, how many probes came back and the
    worst time from write to dead letter; the assert is that every probe comes back
    within ``RECOVERY_BOUND_S``, in both rounds."""
    with private_broker("fault-rebalance", partitions=4) as broker:
        settings = broker.settings
        state = settings.state_dir.resolve()
        a = HubWorkerSlot(broker.env, state / "worker-a")
        b = HubWorkerSlot(broker.env, state / "worker-b")
        a2 = replacement_of(broker, "worker-a-replacement")
        b2 = replacement_of(broker, "worker-b-replacement")
        try:
            a.start()
            b.start()
            wait_for(lambda: group_members(settings) == ("Stable", 2), "a group of two")
            journeys = generate(fault_config(SEED, SHIPMENTS), end=datetime.now(UTC))
            register_plans(settings, [j.plan for j in journeys])
            wait_for(
                lambda: group_backlog(settings, topics.APP_ID, HUB_INPUTS) == 0,
                "the plans worked off and committed",
            )
            assert changelog_partitions_filled(settings), "a table partition is empty"
            with inbox_traffic(settings):
                written, latency = replace_and_probe(settings, b, b2, topics.RAW)
                print("\n".join(figures(written, latency)))
                if set(latency) == set(written):
                    wait_for(lambda: group_members(settings) == ("Stable", 2), "b replaced")
                    more, more_latency = replace_and_probe(settings, a, a2, topics.EVENTS)
                    print("\n".join(figures(more, more_latency)))
                    written, latency = written | more, latency | more_latency
            assert a2.alive() or not a2.starts, "a replacement died"
            assert b2.alive(), "a replacement died"
        finally:
            for slot in (a, b, a2, b2):
                slot.stop()
    missing = sorted(set(written) - set(latency))
    assert missing == [], f"never dead-lettered within {RECOVERY_BOUND_S} s: {missing}"
