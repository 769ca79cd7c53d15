"""A worker's rocksdb state store, reopened after a SIGKILL, agrees with the changelog.

One ``trackhub worker`` on the production store (rocksdb, its own state dir) runs a
seeded journey simulation on a private broker; half-way through the deliveries it is
killed with SIGKILL (no flush, no commit, rocksdb not closed) and started again on the
same state dir, where faust reopens the databases and catches up from the changelog.

What is compared, after the run, once the worker is stopped cleanly: for each of the
hub's five tables and each partition, every key and value in the worker's rocksdb
database (opened read-only with rocksdict; faust's own offset key left out) against the
latest record per key of the table's changelog topic read to its end (a tombstone
removes the key). They must be identical: no key the changelog lacks, none missing, no
value differing. And the restarted worker's state must reproduce the alerts exactly:
the ground truth, no alert state published twice, no transition lost.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from rocksdict import AccessType, Options, Rdict

from hub import topics
from hub.kafka_clients import read_to_end
from hub.settings import Settings
from hub.simulate.report import compare
from hub.simulate.runner import Simulation
from tests.support.fault_journeys import (
    HubWorkerSlot,
    audit,
    fault_config,
    read_alerts,
    sim_settings,
)
from tests.support.fault_runs import hub_workers, run_simulation
from tests.support.private_broker import private_broker

pytestmark = pytest.mark.fault

SEED = 20260409
SHIPMENTS = 16
PARTITIONS = 2
FAUST_OFFSET_KEY = b"__faust\0offset__"

Store = dict[int, dict[bytes, bytes]]  # partition -> key -> value


def changelog_contents(settings: Settings, table: str) -> Store:
    """The latest value per key of the table's changelog, read to its end."""
    name = topics.changelog_topic(table)
    contents: Store = {p: {} for p in range(PARTITIONS)}
    for record in read_to_end(settings, name, purpose="test-changelog"):
        if record.value is None:
            contents[record.partition].pop(record.key, None)
        else:
            contents[record.partition][record.key] = record.value
    return contents


def rocksdb_contents(state_dir: Path, table: str) -> Store:
    """Every key and value of the table's rocksdb databases (one per partition)."""
    contents: Store = {}
    for partition in range(PARTITIONS):
        found = list(state_dir.glob(f"faust/**/{table}-{partition}.db"))
        assert len(found) == 1, f"{table}-{partition}.db: {found}"
        options = Options(raw_mode=True)
        db = Rdict(str(found[0]), options=options, access_type=AccessType.read_only())
        try:
            contents[partition] = {k: v for k, v in db.items() if k != FAUST_OFFSET_KEY}
        finally:
            db.close()
    return contents


def differences(disk: Store, log: Store) -> list[str]:
    out = []
    for partition in sorted(disk.keys() | log.keys()):
        here, there = disk.get(partition, {}), log.get(partition, {})
        out += [f"p{partition} only on disk: {k!r}" for k in sorted(here.keys() - there.keys())]
        out += [f"p{partition} only in log: {k!r}" for k in sorted(there.keys() - here.keys())]
        out += [
            f"p{partition} differs: {k!r}: on disk {here[k][:300]!r}, in the log {there[k][:300]!r}"
            for k in sorted(here.keys() & there.keys())
            if here[k] != there[k]
        ]
    return out


async def kill_half_way(simulation: Simulation, worker: HubWorkerSlot) -> None:
    total = sum(len(j.events) for j in simulation.journeys)
    deadline = time.monotonic() + 180
    # two windows in: every partition has committed offsets (see test_worker_faults)
    while simulation.stats.windows < 2 or simulation.stats.deliveries < total * 0.5:
        assert time.monotonic() < deadline, "the run never reached half its deliveries"
        await asyncio.sleep(0.05)
    worker.kill()
    worker.start()


async def test_rocksdb_reopened_after_a_kill_agrees_with_the_changelog() -> None:
    """Figures (pytest -s): keys per table on disk and in the changelog, and the alert
    audit; asserted: 0 differences, 0 missing/unexpected/duplicate alerts."""
    with private_broker("fault-store", partitions=PARTITIONS) as broker:
        settings = sim_settings(broker.settings)
        state = broker.settings.state_dir.resolve()
        with hub_workers(broker.env, state, "worker") as (worker,):
            simulation = await run_simulation(
                settings,
                fault_config(SEED, SHIPMENTS),
                (worker,),
                chaos=lambda sim: kill_half_way(sim, worker),
            )
            alerts = await asyncio.to_thread(read_alerts, settings)
        assert worker.process is not None and worker.process.returncode == 0, "no clean stop"
        stores = {
            table: (rocksdb_contents(worker.state_dir, table), changelog_contents(settings, table))
            for table in topics.TABLES
        }
    found = audit(alerts)
    report = compare(found.latest.values(), simulation.journeys)
    for table, (disk, log) in stores.items():
        print(
            f"{table}: {sum(map(len, disk.values()))} keys on disk, "
            f"{sum(map(len, log.values()))} in the changelog"
        )
    print("\n".join([*found.lines(), *report.lines()]))
    assert worker.kills == 1
    shipments_on_disk = stores[topics.TABLE_SHIPMENTS][0]
    assert sum(map(len, shipments_on_disk.values())) == SHIPMENTS
    for table, (disk, log) in stores.items():
        assert differences(disk, log) == [], table
    assert report.missing == [] and report.unexpected == [], "\n".join(report.lines())
    assert found.duplicates == [] and found.gaps == {}, found.lines()
