"""Seeded journeys for the hub's fault tests: a signed gateway, hub workers a test may
kill, and an audit of what reached alerts.v1.

The audit is what every fault test asserts on. Alert ids are deterministic and each
transition of an alert bumps its revision (``hub.alerting``), so on alerts.v1:

- a **duplicate emission** is the same (alert id, revision) published more than once;
- a **lost transition** is a gap in an alert's revisions (1, 2, 4: the 3 never came);
- the **final alert set** is the latest revision of every alert id.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from aiohttp.test_utils import TestServer
from kafka import TopicPartition

from connectors.gateway import create_gateway_app
from connectors.registry import connector_names
from hub import topics
from hub.kafka_clients import create_admin
from hub.settings import Settings, SourceConfig
from hub.simulate.journeys import SimConfig
from schemas.alerts import Alert
from schemas.shipments import TransportMode
from tests.conftest import subprocess_env
from tests.support.cli_process import spawn_cli
from tests.support.hub_worker import stop_worker
from tests.support.kafka_reading import end_offsets, group_backlog, read_since

SECRET = "whsec_" + base64.b64encode(b"fault-journeys-test-secret-32byt").decode()
WINDOW = timedelta(hours=48)  # the simulator's clock step: fewer settles, same alerts
YEAR_S = str(365 * 86400)  # the simulator's lateness: its own clock moves decide
T = TypeVar("T")
HUB_INPUTS = [topics.RAW, topics.EVENTS, topics.RESOLVE, topics.SHIPMENTS_INBOX, topics.SHIPMENTS]


def sim_settings(base: Settings) -> Settings:
    """``base`` with a signed source for every wire format (the simulator's senders)."""
    sources = {
        f"sim-{name}": SourceConfig(format=name, secrets=[SECRET]) for name in connector_names()
    }
    return Settings(**(base.model_dump() | {"sources": sources}))


# every kind of fault, often enough that a few dozen shipments raise every alert type
EVERY_FAULT_RATES = {
    "late_leg": 0.15,
    "lost_handoff": 0.15,
    "customs_hold": 0.15,
    "failed_delivery": 0.15,
    "stall": 0.15,
    "late_plan": 0.1,
    "estimate_slip": 0.1,
}


def fault_config(seed: int, shipments: int) -> SimConfig:
    """Every kind of fault a journey can have, often enough that a few dozen shipments
    raise every alert type (and revise some). Air and express only: an ocean leg adds
    weeks of simulated time, each a window of waiting, and no other kind of alert."""
    return SimConfig(
        seed=seed,
        shipments=shipments,
        modes=(TransportMode.AIR, TransportMode.EXPRESS),
        spread_days=1.0,
        fault_rates=dict(EVERY_FAULT_RATES),
    )


@asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[str]:
    """The real gateway app on a loopback port of this event loop; yields its URL."""
    server = TestServer(create_gateway_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


class HubWorkerSlot:
    """One ``trackhub worker`` with a state dir (its rocksdb tables) of its own, which a
    test starts, kills with SIGKILL and starts again on the same dir. Its stderr goes to
    ``<state_dir>/worker-N.log``."""

    def __init__(self, broker_env: dict[str, str], state_dir: Path, **settings: str) -> None:
        shutil.rmtree(state_dir, ignore_errors=True)
        state_dir.mkdir(parents=True)
        self.state_dir = state_dir
        bootstrap = broker_env.get("TRACKHUB_KAFKA_BOOTSTRAP")
        bootstrap = bootstrap or f"127.0.0.1:{broker_env['TRACKHUB_KAFKA_PORT']}"
        self.env = subprocess_env(broker_env) | {
            # the broker is the test's: a bootstrap keeps the worker from starting one
            "TRACKHUB_KAFKA_BOOTSTRAP": bootstrap,
            "TRACKHUB_STATE_DIR": str(state_dir),
            "TRACKHUB_STORE": "rocksdb://",  # production's store (hub.settings)
            "TRACKHUB_HUB_IDLE_AFTER_S": "0",
            "TRACKHUB_HUB_LATENESS_S": YEAR_S,
            "TRACKHUB_LOG_LEVEL": os.environ.get("FAULT_WORKER_LOG_LEVEL", "WARNING"),
            "TRACKHUB_WORKER_HTTP_PORT": "0",
        }
        self.env |= {f"TRACKHUB_{k.upper()}": v for k, v in settings.items()}
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> None:
        self.starts += 1
        self.process = spawn_cli("worker", self.env, self.state_dir / f"worker-{self.starts}.log")

    def kill(self) -> None:
        """SIGKILL to the whole process group: no flush, no commit, no clean-up."""
        assert self.process is not None and self.process.poll() is None, "not running"
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """The clean stop (SIGTERM), SIGKILL when it hangs; safe to call in any state."""
        if self.process is not None:
            stop_worker(self.process)

    def log_tail(self) -> str:
        return (self.state_dir / f"worker-{self.starts}.log").read_text()[-2000:]


async def watch_workers(*slots: HubWorkerSlot) -> None:
    """Raises as soon as a worker exits on its own (a killed one is started again at
    once): run beside a simulation so a dead hub fails the test instead of stalling it."""
    while True:
        for slot in slots:
            if slot.process is not None and slot.process.poll() is not None:
                await asyncio.sleep(0.5)  # a kill in progress starts it again at once
                if slot.process.poll() is not None:
                    raise AssertionError(f"a worker exited: {slot.log_tail()}")
        await asyncio.sleep(0.2)


async def guarded(work: Awaitable[T], *slots: HubWorkerSlot) -> T:
    """``work``'s result, or the error of ``watch_workers`` (``work`` then cancelled)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(watch_workers(*slots))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            watcher.result()  # raises what killed the watch
        return task.result()
    finally:
        task.cancel()
        watcher.cancel()


def group_state(settings: Settings, group: str = topics.APP_ID) -> str:
    """The consumer group's state as the coordinator reports it (Stable,
    PreparingRebalance, CompletingRebalance, Empty, Dead)."""
    admin = create_admin(settings)
    try:
        return str(admin.describe_groups([group])[group].get("group_state", "?"))
    finally:
        admin.close()


def read_alerts(settings: Settings) -> list[Alert]:
    """Every alert state on alerts.v1 (a private broker's: this test's only)."""
    start = {tp: 0 for tp in end_offsets(settings, topics.ALERTS)}
    return [Alert.model_validate_json(v) for v in read_since(settings, start)]


def wait_hub_quiet(settings: Settings, timeout_s: float = 120, quiet_s: float = 3.0) -> None:
    """Until the hub's group has committed all its input and alerts.v1 has not grown for
    ``quiet_s`` (the deadline ticks of the last clock move come after the last input)."""
    deadline = time.monotonic() + timeout_s
    last: dict[TopicPartition, int] = {}
    since = time.monotonic()
    while True:
        ends = end_offsets(settings, topics.ALERTS)
        backlog = group_backlog(settings, topics.APP_ID, HUB_INPUTS)
        if ends != last or backlog:
            last, since = ends, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the hub never went quiet (backlog {backlog})")
        time.sleep(0.5)


AlertKey = tuple[str, str, str, str, int, str | None, str | None, str | None]


@dataclass
class AlertAudit:
    """What alerts.v1 holds, emission by emission."""

    emissions: int = 0
    latest: dict[str, Alert] = field(default_factory=dict)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    gaps: dict[str, list[int]] = field(default_factory=dict)

    def final_set(self) -> set[AlertKey]:
        """The latest state of every alert: what a seller sees at the end."""
        return {alert_identity(a) for a in self.latest.values()}

    def lines(self) -> list[str]:
        return [
            f"{self.emissions} emissions, {len(self.latest)} alert ids",
            f"duplicate (alert id, revision): {self.duplicates[:10]}",
            f"revision gaps: {dict(list(self.gaps.items())[:10])}",
        ]


def alert_identity(alert: Alert) -> AlertKey:
    handoff = (
        f"{alert.handoff.from_leg.value}->{alert.handoff.to_leg.value}" if alert.handoff else None
    )
    party = f"{alert.party.role.value}:{alert.party.id}" if alert.party else None
    return (
        alert.alert_id,
        alert.type.value,
        alert.rule,
        alert.state.value,
        alert.revision,
        alert.leg.value if alert.leg else None,
        handoff,
        party,
    )


def audit(alerts: Iterable[Alert]) -> AlertAudit:
    result = AlertAudit()
    seen: Counter[tuple[str, int]] = Counter()
    revisions: dict[str, set[int]] = {}
    for alert in alerts:
        result.emissions += 1
        seen[(alert.alert_id, alert.revision)] += 1
        revisions.setdefault(alert.alert_id, set()).add(alert.revision)
        current = result.latest.get(alert.alert_id)
        if current is None or alert.revision > current.revision:
            result.latest[alert.alert_id] = alert
    result.duplicates = sorted(key for key, n in seen.items() if n > 1)
    result.gaps = {
        alert_id: sorted(got)
        for alert_id, got in revisions.items()
        if got != set(range(1, max(got) + 1))
    }
    return result
