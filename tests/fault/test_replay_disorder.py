"""Disorder, duplicates and a replay of the raw log change no alert.

A seeded journey simulation runs on the session broker through the real gateway, with
every window's webhooks shuffled (within the window: the hub's clock moves only after
it, and the allowed lateness covers it) and 30% of them sent twice under a new webhook
id. Its alerts must be exactly the fault-free set: the simulation's ground truth, no
alert state published twice, no transition lost.

Then ``trackhub replay --from <the run's first raw offsets>`` (the real CLI) normalizes
the run's whole raw log again: every event reaches the hub a second time, with its
deterministic id. Not a single alert state may be published by it: the alert set after
the replay is the one before, and nothing is emitted twice.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from hub import topics
from hub.settings import Settings
from hub.simulate.report import compare
from schemas.alerts import Alert
from tests.conftest import subprocess_env
from tests.support.fault_journeys import audit, fault_config, sim_settings, wait_hub_quiet
from tests.support.fault_runs import hub_workers, run_simulation
from tests.support.kafka_reading import end_offsets, read_since

pytestmark = pytest.mark.fault

SEED = 20260410
SHIPMENTS = 16
DUPLICATE_RATE = 0.3


def alerts_since(settings: Settings, start: dict, shipments: set[str]) -> list[Alert]:
    alerts = [Alert.model_validate_json(v) for v in read_since(settings, start)]
    return [a for a in alerts if a.shipment_id in shipments]


async def test_shuffled_duplicated_and_replayed_events_give_the_same_alerts(
    kafka_env: dict[str, str], kafka_settings: Settings, tmp_path: Path
) -> None:
    """Figures (pytest -s): duplicates sent, events replayed, alert emissions before and
    after the replay; asserted: ground truth matched, 0 duplicates, 0 new emissions."""
    settings = sim_settings(kafka_settings)
    raw_start = end_offsets(settings, topics.RAW)
    alerts_start = end_offsets(settings, topics.ALERTS)
    with hub_workers(kafka_env, tmp_path, "worker") as (worker,):
        simulation = await run_simulation(
            settings,
            fault_config(SEED, SHIPMENTS),
            (worker,),
            duplicate_rate=DUPLICATE_RATE,
            shuffle=True,
        )
        journeys, stats = simulation.journeys, simulation.stats
        shipments = {j.plan.shipment_id for j in journeys}
        before = await asyncio.to_thread(alerts_since, settings, alerts_start, shipments)

        events_before = sum(end_offsets(settings, topics.EVENTS).values())
        replay_alerts_start = end_offsets(settings, topics.ALERTS)
        start = ",".join(f"{tp.partition}:{offset}" for tp, offset in raw_start.items())
        replay = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "hub.cli", "replay", "--from", start],
            env=subprocess_env(kafka_env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert replay.returncode == 0, replay.stderr[-2000:]
        replayed = sum(end_offsets(settings, topics.EVENTS).values()) - events_before
        await asyncio.to_thread(wait_hub_quiet, settings)
        assert worker.alive(), "the worker died"
        emitted_by_replay = await asyncio.to_thread(
            alerts_since, settings, replay_alerts_start, shipments
        )
    found = audit(before)
    report = compare(found.latest.values(), journeys)
    print(
        f"\n{stats.deliveries} webhooks ({stats.duplicates} sent twice), {replayed} events "
        f"replayed, {len(emitted_by_replay)} alert states emitted by the replay"
    )
    print("\n".join([*found.lines(), *report.lines()]))
    assert stats.duplicates > 0
    assert report.missing == [] and report.unexpected == [], "\n".join(report.lines())
    assert report.attribution == 1.0
    assert found.duplicates == [] and found.gaps == {}, found.lines()
    total_events = sum(len(j.events) for j in journeys)
    assert replayed >= total_events  # every event went through the hub again
    assert emitted_by_replay == []
    assert audit(before + emitted_by_replay).final_set() == found.final_set()
