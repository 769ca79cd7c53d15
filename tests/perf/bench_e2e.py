"""End-to-end benchmark: simulated journeys through the signed gateway, the normalizer and
the hub to alerts.v1 on a real broker, with 1, 2 and 4 worker processes.

    .venv/bin/python -m tests.perf.bench_e2e [--shipments 400] [--workers 1,2,4] [--seed 7]
        [--probes 100] [--probe-rate 20]

For each worker count, on a fresh broker (``.trackhub/bench``, TRACKHUB_PARTITIONS
partitions): one ``trackhub gateway`` and N ``trackhub worker`` processes (normalize and
hub, each with its own state directory), on the simulator's clock (idle advance off, a
year of lateness: only the explicit clock moves detection). The plans of ``--shipments``
seeded journeys (``hub.simulate``, default fault rates, no duplicate deliveries) are
registered and worked off first. Then:

1. Throughput: every event, in its party's wire format and signed, is posted to the
   gateway in event-time order, 32 in flight. events/s = events the normalizer wrote /
   time from the first POST until the workers had applied the last one to its shipment
   (the sum of their ``trackhub_processing_latency_seconds_count``). Also: webhooks/s and
   time to 202, the hub group's backlog (``BacklogProbe``: records not committed yet on
   its input topics) and each process's RSS, sampled every quarter second, and the CPU
   each process used.
2. Detection: the clock is moved once past every journey's end; each alert transition's
   latency is its alerts.v1 record timestamp minus that moment. Every alert of the run
   is raised here, exceptions reported in phase 1 included (the lateness is a year), so
   this is the time to evaluate all the shipments' events and deadlines at once. The
   alerts are scored against the ground truth (``hub.simulate.report.compare``).
3. Webhook to alert: ``--probes`` shipments get a "damaged" report on their final leg,
   posted at ``--probe-rate`` a second. An event behind its shipment's clock is applied
   at once, so its exception alert measures webhook 202 -> alerts.v1 through the whole
   path (gateway, raw log, normalizer, resolution, shipment state). A fresh event ahead
   of the clock would wait for the watermark (TRACKHUB_HUB_LATENESS_S) on top of this.

Prints the figures and a Markdown table (docs/performance.md); asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import uvloop
from kafka import TopicPartition

from connectors.registry import connector_names
from hub import local_kafka, topics
from hub.hub_control import advance_clock, register_plans
from hub.kafka_clients import create_consumer
from hub.settings import Settings
from hub.simulate.journeys import SimConfig, SimJourney, generate
from hub.simulate.report import Report, compare
from hub.simulate.runner import (
    HUB_GROUP_TOPICS,
    BacklogProbe,
    Delivery,
    Sender,
    encode_event,
    plan_deliveries,
    senders_from,
)
from hub.simulate.signing import signed_headers
from hub.simulate.wire import WireEvent
from schemas.alerts import Alert, AlertType
from schemas.milestones import Milestone
from tests.perf.common import (
    BENCH_STATE_DIR,
    bench_env,
    free_port,
    machine,
    percentile,
    rss_mib,
    settings_from,
    stop_bench_broker,
)

YEAR_S = 365 * 86400
IN_FLIGHT = 32  # concurrent webhooks of the load generator
SAMPLE_S = 0.25
RUN_DIR = BENCH_STATE_DIR / "e2e"
PROCESSED_METRIC = "trackhub_processing_latency_seconds_count"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- processes --------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    ops_url: str  # its /readyz and /metrics live here


def _write_sources(path: Path) -> Path:
    """One signed source per format, ``bench-<format>`` (as ``trackhub demo`` does)."""
    sources = {
        f"bench-{name}": {
            "format": name,
            "secrets": ["whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()],
        }
        for name in connector_names()
    }
    path.write_text(json.dumps(sources) + "\n")
    path.chmod(0o600)
    return path


def _start(name: str, command: str, env: dict[str, str], ops_url: str) -> Service:
    log = (RUN_DIR / f"{name}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", command],
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,  # its own process group: stopped with everything it spawned
    )
    return Service(name, process, ops_url)


def _stop(service: Service) -> None:
    """SIGTERM to its process group, SIGKILL after 30 s."""
    if service.process.poll() is not None:
        return
    try:
        os.killpg(service.process.pid, signal.SIGTERM)
        service.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait()
    except ProcessLookupError:
        pass


@contextmanager
def running_hub(settings: Settings, sources: Path, workers: int) -> Iterator[list[Service]]:
    """The gateway first, then the workers; all stopped on the way out, whatever happened."""
    base = os.environ | {
        "TRACKHUB_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "TRACKHUB_PARTITIONS": str(settings.partitions),
        "TRACKHUB_SOURCES_FILE": str(sources),
        "TRACKHUB_LOG_LEVEL": "WARNING",
    }
    services: list[Service] = []
    try:
        port = free_port()
        env = base | {"TRACKHUB_GATEWAY_PORT": str(port), "TRACKHUB_STATE_DIR": str(RUN_DIR)}
        services.append(_start("gateway", "gateway", env, f"http://127.0.0.1:{port}"))
        for n in range(workers):
            port = free_port()
            (RUN_DIR / f"worker-{n}").mkdir()
            env = base | {
                # a state directory each: two workers on one host must not share rocksdb files
                "TRACKHUB_STATE_DIR": str(RUN_DIR / f"worker-{n}"),
                "TRACKHUB_WORKER_HTTP_PORT": str(port),
                "TRACKHUB_HUB_IDLE_AFTER_S": "0",
                "TRACKHUB_HUB_LATENESS_S": str(YEAR_S),
            }
            services.append(_start(f"worker-{n}", "worker", env, f"http://127.0.0.1:{port}"))
        _wait_ready(services)
        yield services
    finally:
        for service in reversed(services):
            _stop(service)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""


def _wait_ready(services: list[Service], timeout_s: float = 180) -> None:
    """Until every process answers /readyz 200 twice in a row, a second apart (the
    workers' group has settled after its members joined one by one)."""
    deadline = time.monotonic() + timeout_s
    streak = 0
    while streak < 2:
        for service in services:
            if service.process.poll() is not None:
                raise SystemExit(f"{service.name} exited; see {RUN_DIR / service.name}.log")
        ready = all(_get(f"{s.ops_url}/readyz")[0] == 200 for s in services)
        streak = streak + 1 if ready else 0
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready after {timeout_s:.0f} s; see the logs in {RUN_DIR}")
        time.sleep(1)


def _processed(workers: list[Service]) -> int:
    """Events the workers applied to shipment state, from their /metrics."""
    total = 0.0
    for service in workers:
        _, text = _get(f"{service.ops_url}/metrics")
        for line in text.splitlines():
            if line.startswith(PROCESSED_METRIC + " "):
                total += float(line.split()[1])
    return int(total)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Sampler(threading.Thread):
    """Every SAMPLE_S: the hub group's backlog (its max per phase) and the RSS of each
    process (its max over the run). Its own admin client and consumer."""

    def __init__(self, settings: Settings, pids: dict[str, int]) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self._probe = BacklogProbe(settings, topics.APP_ID, HUB_GROUP_TOPICS)
        self.pids = pids
        self._halt = threading.Event()
        self.phase = "setup"
        self.max_lag: dict[str, int] = {}
        self.rss: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.backlog = -1

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                self.backlog = self._probe.backlog()
                phase = self.phase
                self.max_lag[phase] = max(self.max_lag.get(phase, 0), self.backlog)
                for name, pid in self.pids.items():
                    self.rss[name] = max(self.rss[name], rss_mib(pid))
                self._halt.wait(SAMPLE_S)
        finally:
            self._probe.close()

    def wait_drained(self, timeout_s: float = 600) -> None:
        """Until two fresh samples in a row find nothing uncommitted."""
        deadline = time.monotonic() + timeout_s
        zeros = 0
        while zeros < 2:
            before = self.backlog
            time.sleep(SAMPLE_S * 1.5)
            zeros = zeros + 1 if self.backlog == 0 and before == 0 else 0
            if time.monotonic() > deadline:
                raise SystemExit(f"the hub kept a backlog of {self.backlog} records")

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


# --- load -------------------------------------------------------------------------------


@dataclass
class Posted:
    started: float  # monotonic, before the POST
    answered: float  # monotonic, the 202
    wall: float  # time.time() of the 202


async def _post(
    session: aiohttp.ClientSession, gateway: str, delivery: Delivery, sender: Sender
) -> Posted:
    url = f"{gateway}/webhooks/{sender.source}"
    started = time.monotonic()
    for attempt in range(8):
        headers = signed_headers(
            sender.format,
            sender.secret,
            delivery.body,
            message_id=f"msg_{uuid.uuid4().hex}",
            at=datetime.now(UTC),
        )
        headers["Content-Type"] = delivery.content_type
        async with session.post(url, data=delivery.body, headers=headers) as answer:
            if answer.status == 202:
                return Posted(started, time.monotonic(), time.time())
            text = await answer.text()
            if answer.status != 503:
                raise RuntimeError(f"gateway answered {answer.status}: {text[:300]}")
        await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
    raise RuntimeError("gateway kept answering 503")


async def _post_all(gateway: str, deliveries: list[Delivery]) -> list[Posted]:
    """Every delivery, in order, IN_FLIGHT at a time over keep-alive connections."""
    queue = iter(enumerate(deliveries))
    results: list[Posted | None] = [None] * len(deliveries)
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def lane() -> None:
            for n, delivery in queue:
                results[n] = await _post(session, gateway, delivery, delivery.sender)

        await asyncio.gather(*(lane() for _ in range(IN_FLIGHT)))
    return [r for r in results if r is not None]


async def _post_paced(
    gateway: str, deliveries: list[tuple[str, Delivery]], rate: float
) -> dict[str, Posted]:
    """One delivery every 1/rate seconds, whatever the answers take."""
    answered: dict[str, Posted] = {}
    async with aiohttp.ClientSession() as session:

        async def one(n: int, key: str, delivery: Delivery) -> None:
            await asyncio.sleep(n / rate)
            answered[key] = await _post(session, gateway, delivery, delivery.sender)

        await asyncio.gather(*(one(n, k, d) for n, (k, d) in enumerate(deliveries)))
    return answered


def _damage_reports(
    journeys: list[SimJourney], senders: dict[str, Sender], count: int
) -> list[tuple[str, Delivery]]:
    """A "damaged" report on the final leg of ``count`` journeys, a minute after the
    journey's last fact (so before the clock moved in phase 2)."""
    out = []
    for journey in sorted(journeys, key=lambda j: j.plan.shipment_id)[:count]:
        final = journey.plan.legs[-1]
        event = WireEvent(
            milestone=Milestone.DAMAGED,
            occurred_at=(journey.ends_at + timedelta(minutes=1)).replace(second=0),
            identifiers=(final.identifiers[0],),
            party=final.party,
            reason="damaged in transit",
        )
        sender, body, content_type = encode_event(
            event, senders, f"{journey.plan.shipment_id}-damage"
        )
        out.append(
            (journey.plan.shipment_id, Delivery(event.occurred_at, sender, body, content_type))
        )
    return out


# --- alerts -----------------------------------------------------------------------------


class AlertReader:
    """alerts.v1 from the beginning (a fresh broker: this run's alerts only)."""

    def __init__(self, settings: Settings) -> None:
        self._consumer = create_consumer(settings, group_id=None, purpose="bench-e2e-alerts")
        parts = self._consumer.partitions_for_topic(topics.ALERTS) or set()
        tps = [TopicPartition(topics.ALERTS, p) for p in sorted(parts)]
        self._consumer.assign(tps)
        self._consumer.seek_to_beginning(*tps)
        self.records: list[tuple[float, Alert]] = []  # (record timestamp s, alert)

    def poll(self, timeout_ms: int = 200) -> int:
        got = 0
        for batch in self._consumer.poll(timeout_ms=timeout_ms).values():
            for record in batch:
                self.records.append(
                    (record.timestamp / 1000, Alert.model_validate_json(record.value))
                )
                got += 1
        return got

    def close(self) -> None:
        self._consumer.close()


def _count_records(settings: Settings, topic: str) -> int:
    consumer = create_consumer(settings, group_id=None, purpose="bench-e2e-count")
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return sum(ends.values())
    finally:
        consumer.close()


# --- one worker count -------------------------------------------------------------------


@dataclass
class Result:
    workers: int
    webhooks: int = 0
    events: int = 0
    dead_letters: int = 0
    events_s: float = 0.0
    webhooks_s: float = 0.0
    ingest_s: float = 0.0  # first POST -> last event applied
    to_202_ms: list[float] = field(default_factory=list)
    alert_lat_s: list[float] = field(default_factory=list)
    transitions: int = 0
    detect_s: float = 0.0  # clock move -> the hub's backlog empty (committed)
    probe_ms: list[float] = field(default_factory=list)
    probes_sent: int = 0
    max_lag: dict[str, int] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds in phase 1
    report: Report | None = None


def run_once(args: argparse.Namespace, workers: int) -> Result:
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    env = bench_env(fresh=True)
    sources = _write_sources(RUN_DIR / "sources.json")
    settings = settings_from(env, sources_file=sources)
    broker = local_kafka.status(settings).pid if settings.uses_local_broker else None
    result = Result(workers)
    with running_hub(settings, sources, workers) as services:
        pids = {s.name: s.process.pid for s in services} | {"load": os.getpid()}
        if broker:
            pids["broker"] = broker
        sampler = Sampler(settings, pids)
        sampler.start()
        try:
            _measure(args, settings, services, sampler, result)
        finally:
            sampler.stop()
        result.rss = dict(sampler.rss)
        result.max_lag = dict(sampler.max_lag)
    return result


def _measure(
    args: argparse.Namespace,
    settings: Settings,
    services: list[Service],
    sampler: Sampler,
    result: Result,
) -> None:
    gateway = services[0].ops_url
    workers = services[1:]
    journeys = generate(SimConfig(seed=args.seed, shipments=args.shipments), end=datetime.now(UTC))
    senders = senders_from(settings)
    deliveries = plan_deliveries(journeys, senders, random.Random(f"transport:{args.seed}"))
    register_plans(settings, [j.plan for j in journeys])
    sampler.wait_drained()

    # 1. throughput
    sampler.phase = "ingest"
    cpu_before = {name: _cpu_s(pid) for name, pid in sampler.pids.items()}
    began = time.monotonic()
    posted = uvloop.run(_post_all(gateway, deliveries))
    finished = _wait_applied(workers, sampler, len(deliveries))
    result.cpu = {name: _cpu_s(pid) - cpu_before[name] for name, pid in sampler.pids.items()}
    result.webhooks = len(posted)
    result.ingest_s = finished - began
    result.webhooks_s = len(posted) / (max(p.answered for p in posted) - began)
    result.to_202_ms = [(p.answered - p.started) * 1000 for p in posted]
    sampler.wait_drained()
    result.events = _count_records(settings, topics.EVENTS)
    result.dead_letters = _count_records(settings, topics.DLQ)
    result.events_s = result.events / result.ingest_s

    # 2. detection, all at once
    sampler.phase = "detect"
    reader = AlertReader(settings)
    try:
        end = max(d.at for d in deliveries) + timedelta(hours=1)
        moved = time.time()
        advance_clock(settings, end)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # until every expected alert is there
            reader.poll()
            if compare([a for _, a in reader.records], journeys).recall >= 1.0:
                break
        sampler.wait_drained()
        result.detect_s = time.time() - moved
        while reader.poll(1000):
            pass  # the transitions still on their way when the last expected one came
        result.transitions = len(reader.records)
        result.alert_lat_s = [at - moved for at, _ in reader.records]
        result.report = compare([a for _, a in reader.records], journeys)

        # 3. webhook -> alert, paced
        sampler.phase = "probe"
        probes = _damage_reports(journeys, senders, min(args.probes, len(journeys)))
        result.probes_sent = len(probes)
        answered = uvloop.run(_post_paced(gateway, probes, args.probe_rate))
        seen = len(reader.records)
        deadline = time.monotonic() + 120
        latencies: dict[str, float] = {}
        while len(latencies) < len(answered) and time.monotonic() < deadline:
            reader.poll()
            for at, alert in reader.records[seen:]:
                if (
                    alert.type is AlertType.EXCEPTION
                    and alert.rule == Milestone.DAMAGED.value
                    and alert.shipment_id in answered
                ):
                    latencies.setdefault(
                        alert.shipment_id, (at - answered[alert.shipment_id].wall) * 1000
                    )
        result.probe_ms = list(latencies.values())
    finally:
        reader.close()


def _wait_applied(workers: list[Service], sampler: Sampler, expected: int) -> float:
    """When the workers had applied ``expected`` events (monotonic). Should the count
    stop short (an event that reached no shipment), the hub's drained backlog ends the
    wait instead, a few seconds late (it is committed every few seconds): said aloud."""
    began = time.monotonic()
    while (done := _processed(workers)) < expected:
        if sampler.backlog == 0 and time.monotonic() - began > 10:
            sampler.wait_drained()
            print(f"warning: {done} of {expected} events applied; timed to an empty backlog")
            return time.monotonic()
        if time.monotonic() - began > 600:
            raise SystemExit(f"only {done} of {expected} events applied after 10 minutes")
        time.sleep(SAMPLE_S)  # each scrape costs the workers CPU: not faster
    return time.monotonic()


# --- output -----------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    return f"{percentile(values, 0.5):.0f} / {percentile(values, 0.99):.0f}"


def _secs(values: list[float]) -> str:
    return f"{percentile(values, 0.5):.2f} / {percentile(values, 0.99):.2f}"


def _accuracy(report: Report | None) -> str:
    if report is None:
        return "-"
    return f"{report.precision:.0%} / {report.recall:.0%} / {report.attribution:.0%}"


HEADER = (
    "| workers | events/s | webhooks/s | time to 202 p50 / p99 (ms) "
    "| webhook 202 → alert p50 / p99 (ms) | clock move → alert p50 / p99 (s) "
    "| max consumer lag (records) | RSS gateway (MiB) | RSS per worker, max (MiB) "
    "| precision / recall / attribution |\n"
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def table_row(r: Result) -> str:
    worker_rss = max((v for k, v in r.rss.items() if k.startswith("worker-")), default=0.0)
    return (
        f"| {r.workers} | {r.events_s:,.0f} | {r.webhooks_s:,.0f} | {_ms(r.to_202_ms)} "
        f"| {_ms(r.probe_ms)} | {_secs(r.alert_lat_s)} | {r.max_lag.get('ingest', 0):,} "
        f"| {r.rss.get('gateway', 0):.0f} | {worker_rss:.0f} | {_accuracy(r.report)} |"
    )


def details(r: Result) -> list[str]:
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r.cpu.items()))
    rss = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r.rss.items()))
    return [
        f"{r.workers} worker(s): {r.webhooks} webhooks, {r.events} events normalized, "
        f"{r.dead_letters} dead letters; first POST -> last event applied {r.ingest_s:.1f} s",
        f"  max consumer lag by phase: {r.max_lag}",
        f"  CPU seconds during phase 1 ({r.ingest_s:.1f} s wall, load = this process): {cpu}",
        f"  RSS max MiB: {rss}",
        f"  time to 202 ms: max {max(r.to_202_ms, default=float('nan')):.0f}",
        f"  clock move: {r.transitions} alert transitions, last after "
        f"{max(r.alert_lat_s, default=float('nan')):.2f} s; backlog committed after "
        f"{r.detect_s:.1f} s (commits every few seconds)",
        f"  probes: {len(r.probe_ms)} of {r.probes_sent} damage alerts seen; 202 -> alert max "
        f"{max(r.probe_ms, default=float('nan')):.0f} ms",
        *(f"  {line}" for line in (r.report.lines() if r.report else [])),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipments", type=int, default=400)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--probes", type=int, default=100, help="damage reports in phase 3")
    parser.add_argument("--probe-rate", type=float, default=20, help="damage reports a second")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-ups below
    results = []
    try:
        for count in (int(n) for n in args.workers.split(",")):
            results.append(run_once(args, count))
            for line in details(results[-1]):
                print(line, flush=True)
    finally:
        stop_bench_broker(_broker_env())
    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print("command: .venv/bin/python -m tests.perf.bench_e2e " + " ".join(sys.argv[1:]))
    print(HEADER)
    for result in results:
        print(table_row(result))


def _broker_env() -> dict[str, str]:
    """What ``bench_env`` points at, without starting anything: the final stop must
    work even when the broker's start failed half-way."""
    if os.environ.get("TRACKHUB_KAFKA_BOOTSTRAP"):
        return {"TRACKHUB_KAFKA_BOOTSTRAP": os.environ["TRACKHUB_KAFKA_BOOTSTRAP"]}
    return {
        "TRACKHUB_STATE_DIR": str(BENCH_STATE_DIR),
        "TRACKHUB_KAFKA_PORT": os.environ.get("BENCH_KAFKA_PORT", "19192"),
        "TRACKHUB_KAFKA_CONTROLLER_PORT": os.environ.get("BENCH_KAFKA_CONTROLLER_PORT", "19193"),
    }


if __name__ == "__main__":
    main()
