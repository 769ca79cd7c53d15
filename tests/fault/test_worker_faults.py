"""Hub workers killed with SIGKILL during a journey run change no alert.

A seeded simulation (signed webhooks in every wire format through the real gateway)
runs on a private broker with 4 partitions and two ``trackhub worker`` processes on the
production store (rocksdb), each with its own state dir. During the run a worker is
killed with SIGKILL three times and started again on the same state dir: the first
kill lands among the first webhooks, before the group has committed most partitions,
and the third while the group is rebalancing (after the other worker's restart). The
alerts on alerts.v1 must then be exactly the fault-free run's: the simulation's ground truth
(every expected alert, no other, the expected party), with no alert state published
twice and no transition lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from hub.simulate.report import compare
from hub.simulate.runner import Simulation
from tests.support.fault_journeys import (
    HubWorkerSlot,
    audit,
    fault_config,
    group_state,
    read_alerts,
    sim_settings,
)
from tests.support.fault_runs import hub_workers, run_simulation
from tests.support.private_broker import private_broker

pytestmark = pytest.mark.fault

SEED = 20260408
SHIPMENTS = 30
REBALANCING = ("PreparingRebalance", "CompletingRebalance")
FIRST_KILL_AT = 20  # webhooks sent: the hub is still in its first window


async def until(check: Callable[[], bool], what: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def note(log: list[str], line: str) -> None:
    log.append(line)
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


async def kill_three_times(
    simulation: Simulation, a: HubWorkerSlot, b: HubWorkerSlot, log: list[str]
) -> None:
    """Kill 1: worker a among the first window's webhooks, before the group has
    committed most partitions (their next owner reads them from the start, and must not
    lose a record fetched while it restores its tables: ``hub.app.GuardedConsumer``). Kill 2: worker b as the fourth window starts, started
    again at once (it rejoins the group: a rebalance). Kill 3: worker a as soon as the
    coordinator reports that rebalance in progress."""
    settings, stats = simulation.settings, simulation.stats
    await until(lambda: stats.deliveries >= FIRST_KILL_AT, "the first webhooks")
    a.kill()
    a.start()
    note(log, f"kill 1: worker a in window {stats.windows + 1}, {stats.deliveries} webhooks")
    await until(lambda: stats.windows >= 3, "three windows")
    b.kill()
    b.start()
    note(log, f"kill 2: worker b in window {stats.windows + 1}, {stats.deliveries} webhooks")
    deadline = time.monotonic() + 60
    while (state := await asyncio.to_thread(group_state, settings)) not in REBALANCING:
        assert time.monotonic() < deadline, f"no rebalance seen after kill 2 (group {state})"
        await asyncio.sleep(0.1)
    a.kill()
    a.start()
    note(log, f"kill 3: worker a with the group {state}, {stats.deliveries} webhooks")


async def test_three_worker_kills_leave_the_alert_set_unchanged() -> None:
    """Figures: ``kills``, ``alerts``, ``emissions``, ``missing``, ``unexpected``,
    ``duplicates`` printed (pytest -s); the asserts are that the last four are 0."""
    with private_broker("fault-workers", partitions=4) as broker:
        settings = sim_settings(broker.settings)
        state = broker.settings.state_dir.resolve()
        log: list[str] = []
        with hub_workers(broker.env, state, "worker-a", "worker-b") as (a, b):
            simulation = await run_simulation(
                settings,
                fault_config(SEED, SHIPMENTS),
                (a, b),
                chaos=lambda sim: kill_three_times(sim, a, b, log),
                progress=lambda line: print(f"{time.strftime('%H:%M:%S')} {line}"),
            )
            journeys = simulation.journeys
            alerts = await asyncio.to_thread(read_alerts, settings)
    found = audit(alerts)
    report = compare(found.latest.values(), journeys)
    print("\n".join([*log, *found.lines(), *report.lines()]))
    assert a.kills + b.kills == 3
    assert report.missing == [] and report.unexpected == [], "\n".join(report.lines())
    assert report.attribution == 1.0, "\n".join(report.lines())
    assert found.duplicates == [], found.lines()
    assert found.gaps == {}, found.lines()
