"""``trackhub demo`` (``make run``): the whole hub on this machine, fed by a simulation.

Starts the broker (unless external), the gateway, a worker (normalize + hub), the seller
API and the alert delivery as child processes, gives each simulated format a signed
source (secrets generated once into ``<state>/demo/sources.json``) and each simulated
seller an API key, then runs ``trackhub simulate`` in this process: journeys in progress
and alerts as they fire, then a summary (alerts by type and party, accuracy against the
ground truth) and where to look next. The services keep running until Ctrl-C, which
stops them all; the broker stays up (``make kafka-down``).

The demo's worker runs on the simulator's clock (idle advance off, a year of lateness):
its alerts sit in the simulated past, not at wall-clock time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.registry import connector_names
from hub import topics
from hub.cli_support import load_settings, prepare_kafka, progress, stop_child
from hub.settings import Settings
from hub.simulate.journeys import SimConfig

YEAR_S = str(365 * 86400)


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo",
        help="run everything (broker, gateway, worker, API, delivery) fed by a simulation",
        description="The one-command demo behind `make run`: the hub's processes, a seeded "
        "simulation through the signed gateway, live alerts, a summary; Ctrl-C stops it.",
    )
    demo.add_argument("--shipments", type=int, default=40)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--window-hours", type=float, default=24)
    demo.add_argument(
        "--exit", action="store_true", help="stop after the summary instead of serving on"
    )
    demo.set_defaults(handler=cmd_demo)


def demo_sources(settings: Settings) -> Path:
    """One source per format, ``sim-<format>``, with a secret made once and kept."""
    path = settings.state_dir.resolve() / "demo" / "sources.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        sources = {
            f"sim-{name}": {
                "format": name,
                "secrets": ["whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()],
            }
            for name in connector_names()
        }
        path.write_text(json.dumps(sources, indent=1) + "\n")
        path.chmod(0o600)
    return path


def cmd_demo(args: argparse.Namespace) -> int:
    settings = load_settings()
    prepare_kafka(settings)
    sources = demo_sources(settings)
    env = os.environ | {
        "TRACKHUB_SOURCES_FILE": str(sources),
        "TRACKHUB_HUB_IDLE_AFTER_S": "0",
        "TRACKHUB_HUB_LATENESS_S": YEAR_S,
    }
    logs = settings.state_dir.resolve() / "demo"
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        for name in ("gateway", "worker", "api", "deliver"):
            log_file = (logs / f"{name}.log").open("ab")
            children[name] = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", name], env=env, stdout=log_file, stderr=log_file
            )
        progress(f"started gateway, worker, API and delivery (logs in {logs})")
        _wait_ready(settings, children)
        keys = _seller_keys(settings, args.shipments)
        demo_settings = Settings(**(settings.model_dump() | {"sources_file": sources}))
        summary = _simulate(demo_settings, args)
        _print_next_steps(settings, keys, logs, summary)
        if args.exit:
            return 0
        progress("the hub keeps running; Ctrl-C stops it")
        while not stopping.is_set() and all(c.poll() is None for c in children.values()):
            stopping.wait(1)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        progress("stopping the hub's processes (the broker keeps running: make kafka-down)")
        for child in children.values():
            stop_child(child)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _wait_ready(settings: Settings, children: dict[str, subprocess.Popen[bytes]]) -> None:
    probes = {
        "gateway": f"http://{settings.gateway_host}:{settings.gateway_port}/readyz",
        "worker": f"http://{settings.worker_http_host}:{settings.worker_http_port}/readyz",
        "api": f"http://{settings.api_host}:{settings.api_port}/readyz",
        "deliver": f"http://{settings.delivery_http_host}:{settings.delivery_http_port}/readyz",
    }
    deadline = time.monotonic() + 180
    waiting = dict(probes)
    while waiting:
        for name, url in list(waiting.items()):
            if children[name].poll() is not None:
                raise SystemExit(f"trackhub: error: the {name} exited; see its log")
            if _ready(url):
                del waiting[name]
        if time.monotonic() > deadline:
            raise SystemExit(f"trackhub: error: not ready after 3 minutes: {', '.join(waiting)}")
        time.sleep(0.5)
    progress("every process is ready")


def _seller_keys(settings: Settings, shipments: int) -> dict[str, str]:
    """An API key for each simulated seller (printed once, at the end)."""
    from hub.seller_records import publish_records
    from schemas.sellers import ApiKey, Seller, hash_key, new_api_key

    now = datetime.now(UTC)
    keys: dict[str, str] = {}
    sellers, key_records = [], []
    for n in range(1, min(4, shipments) + 1):
        seller = f"seller-sim-{n}"
        key_id, full = new_api_key()
        keys[seller] = full
        sellers.append(
            (seller, Seller(seller_id=seller, name=f"Simulated seller {n}", created_at=now))
        )
        key_records.append(
            (
                key_id,
                ApiKey(
                    key_id=key_id, seller_id=seller, secret_sha256=hash_key(full), created_at=now
                ),
            )
        )
    publish_records(settings, topics.SELLERS, sellers)
    publish_records(settings, topics.API_KEYS, key_records)
    return keys


class AlertWatcher(threading.Thread):
    """Prints each alert state of the simulated shipments as it lands on alerts.v1."""

    def __init__(self, settings: Settings, shipments: set[str]) -> None:
        super().__init__(name="alert-watcher", daemon=True)
        from kafka import TopicPartition

        from hub.kafka_clients import create_consumer

        self._consumer = create_consumer(settings, group_id=None, purpose="demo-alerts")
        parts = self._consumer.partitions_for_topic(topics.ALERTS) or set()
        tps = [TopicPartition(topics.ALERTS, p) for p in sorted(parts)]
        self._consumer.assign(tps)
        self._consumer.seek_to_end(*tps)
        for tp in tps:
            self._consumer.position(tp)  # fix the start before the simulation sends anything
        self._shipments = shipments
        self._halt = threading.Event()
        self.alerts: list = []

    def run(self) -> None:
        from schemas.alerts import Alert

        while not self._halt.is_set():
            for batch in self._consumer.poll(timeout_ms=300).values():
                for message in batch:
                    alert = Alert.model_validate_json(message.value)
                    if alert.shipment_id not in self._shipments:
                        continue
                    self.alerts.append(alert)
                    where = (
                        alert.leg.value
                        if alert.leg
                        else (
                            f"{alert.handoff.from_leg.value}->{alert.handoff.to_leg.value}"
                            if alert.handoff
                            else "shipment"
                        )
                    )
                    party = f"{alert.party.role.value} {alert.party.id}" if alert.party else "-"
                    progress(
                        f"  ALERT {alert.state.value:<8} {alert.type.value:<22} "
                        f"{alert.shipment_id} {where} ({party})"
                    )
        self._consumer.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def _simulate(settings: Settings, args: argparse.Namespace) -> str:
    from hub.simulate.report import compare
    from hub.simulate.runner import Simulation

    config = SimConfig(seed=args.seed, shipments=args.shipments, spread_days=3.0)
    gateway = f"http://{settings.gateway_host}:{settings.gateway_port}"
    simulation = Simulation(
        settings, config, gateway, window=timedelta(hours=args.window_hours), progress=progress
    )
    journeys = simulation.prepare()
    faults = Counter(j.fault for j in journeys if j.fault)
    progress(
        f"simulating {len(journeys)} journeys "
        f"({', '.join(f'{n} {k}' for k, n in sorted(faults.items())) or 'no faults'})"
    )
    watcher = AlertWatcher(settings, {j.plan.shipment_id for j in journeys})
    watcher.start()
    try:
        stats = asyncio.run(simulation.run())
        time.sleep(3)
    finally:
        watcher.stop()
    report = compare(watcher.alerts, journeys)
    latest = {a.alert_id: a for a in watcher.alerts}
    by_type = Counter(a.type.value for a in latest.values())
    by_party = Counter(
        f"{a.party.role.value} {a.party.id}" for a in latest.values() if a.party is not None
    )
    lines = [
        "",
        f"sent {stats.deliveries} signed webhooks ({stats.duplicates} duplicates) in "
        + ", ".join(f"{k} {v}" for k, v in sorted(stats.by_format.items())),
        "alerts by type:  " + (", ".join(f"{k} {v}" for k, v in sorted(by_type.items())) or "none"),
        "alerts by party: " + (", ".join(f"{k} {v}" for k, v in by_party.most_common(8)) or "none"),
        "accuracy against the simulation's ground truth:",
        *("  " + line for line in report.lines()),
    ]
    return "\n".join(lines)


def _print_next_steps(settings: Settings, keys: dict[str, str], logs: Path, summary: str) -> None:
    seller, key = next(iter(keys.items()))
    api = f"http://{settings.api_host}:{settings.api_port}"
    auth = f"-H 'Authorization: Bearer {key}'"
    gateway = f"http://{settings.gateway_host}:{settings.gateway_port}/metrics"
    worker = f"http://{settings.worker_http_host}:{settings.worker_http_port}/metrics"
    delivery = f"http://{settings.delivery_http_host}:{settings.delivery_http_port}/metrics"
    print(summary)
    print(
        "\n".join(
            [
                "",
                "where to look next:",
                f"  seller API    {api}/v1/openapi.json",
                f"                curl {auth} {api}/v1/alerts        ({seller})",
                f"  alert stream  curl -N {auth} -H 'Last-Event-ID: 0' {api}/v1/alerts/stream",
                f"  metrics       {gateway}  {worker}",
                f"                {api}/metrics  {delivery}",
                f"  logs          {logs}",
                "",
            ]
        ),
        flush=True,
    )
