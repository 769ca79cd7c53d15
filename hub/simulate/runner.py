"""Drives a simulation through the real path: plans to ``shipments.v1``, every event in
its party's wire format, signed, through the gateway, and the hub's clock moved window by
window (the fake clock: weeks of journeys in seconds or minutes).

The simulator alone moves the hub's clock: the hub must run with
``TRACKHUB_HUB_IDLE_AFTER_S=0`` (wall time never moves it) and ``TRACKHUB_HUB_LATENESS_S``
of at least a window (the latest event seen never moves it past events still on their
way). Compressed time turns the pipeline's milliseconds of reordering between partitions
into hours of event time; an explicit clock (``hub_control.advance_clock``), moved after
each window once the hub has worked off everything sent in it, keeps every event ahead
of the watermark whatever order it arrives in. The
timeline starts after the hub's current watermark (a second run on the same broker
follows the first), else ends at the wall clock's now.

Transport faults are applied here: a share of deliveries sent twice (a new webhook id,
the same body: the same events) and each window's deliveries shuffled; neither may
change the alerts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import aiohttp
from kafka import TopicPartition
from kafka.errors import KafkaError

from hub import topics
from hub.hub_control import advance_clock, register_plans
from hub.kafka_clients import create_admin, create_consumer, create_producer, read_to_end
from hub.settings import Settings
from hub.simulate.journeys import SimConfig, SimJourney, generate
from hub.simulate.signing import signed_headers
from hub.simulate.wire import WireEvent, encoder
from schemas.common import PartyRole
from schemas.shipments import ShipmentPlan

log = logging.getLogger("trackhub.simulate")

# The formats a party of each role reports in, most typical first; ``native`` (our own
# format, every milestone) is the last resort of every role.
FORMATS_BY_ROLE: dict[PartyRole, tuple[str, ...]] = {
    PartyRole.LAST_MILE_CARRIER: ("easypost", "aftership", "17track"),
    PartyRole.CARRIER: ("iata_fsu", "dcsa"),
    PartyRole.CUSTOMS_BROKER: ("customs",),
    PartyRole.WAREHOUSE_OPERATOR: ("epcis",),
    PartyRole.MARKETPLACE: ("epcis",),
    PartyRole.FORWARDER: ("x12_214",),
}
HUB_GROUP_TOPICS = (
    topics.RAW,
    topics.EVENTS,
    topics.RESOLVE,
    topics.SHIPMENTS_INBOX,
    topics.SHIPMENTS,
)


@dataclass(frozen=True)
class Sender:
    """Where one format's deliveries go: a configured source and one of its secrets."""

    source: str
    format: str
    secret: str


@dataclass(frozen=True)
class Delivery:
    at: datetime  # when it is sent, in simulated time
    sender: Sender
    body: bytes
    content_type: str


@dataclass
class RunStats:
    journeys: int = 0
    deliveries: int = 0
    duplicates: int = 0
    by_format: dict[str, int] = field(default_factory=dict)
    windows: int = 0
    started: datetime | None = None
    ended: datetime | None = None


def senders_from(settings: Settings) -> dict[str, Sender]:
    """For each format, the first configured source with a secret (sorted by name)."""
    found: dict[str, Sender] = {}
    for name, source in sorted(settings.effective_sources().items()):
        secrets = [s.get_secret_value() for s in source.secrets if s.get_secret_value()]
        if secrets and source.format not in found:
            found[source.format] = Sender(name, source.format, secrets[0])
    return found


def encode_event(
    event: WireEvent, senders: dict[str, Sender], reference: str
) -> tuple[Sender, bytes, str]:
    """The event in the first format its party's role uses that can carry it (and has a
    configured sender), else in ``native``."""
    for name in (*FORMATS_BY_ROLE.get(event.party.role, ()), "native"):
        sender = senders.get(name)
        if sender is None:
            continue
        module = encoder(name)
        if event.milestone not in module.SUPPORTED:
            continue
        try:
            return sender, module.encode([event], reference=reference), module.CONTENT_TYPE
        except ValueError:
            continue  # this party or identifier cannot be said in that format
    raise ValueError(f"no configured source can carry {event.milestone.value}: configure native")


def plan_deliveries(
    journeys: list[SimJourney], senders: dict[str, Sender], rng: random.Random
) -> list[Delivery]:
    deliveries = []
    for journey in journeys:
        for n, event in enumerate(journey.events):
            reference = f"{journey.plan.shipment_id}-{n}"
            sender, body, content_type = encode_event(event, senders, reference)
            # a party reports minutes after the fact (an estimate: after it made it)
            base = event.occurred_at
            if event.estimated:
                base = datetime.fromisoformat(event.extra["issued_at"])
            sent = base + timedelta(minutes=rng.uniform(1, 20))
            deliveries.append(Delivery(sent, sender, body, content_type))
    return sorted(deliveries, key=lambda d: d.at)


def current_watermark(settings: Settings) -> datetime | None:
    """The latest watermark any hub partition stored (None on a fresh hub)."""
    name = topics.changelog_topic(topics.TABLE_WATERMARKS)
    latest: datetime | None = None
    for message in read_to_end(settings, name, purpose="simulate-clock"):
        if message.value is None:
            continue
        data = json.loads(message.value)
        for key in ("max_event_time", "explicit"):
            if data.get(key):
                moment = datetime.fromisoformat(data[key])
                latest = moment if latest is None else max(latest, moment)
    return latest


class BacklogProbe:
    """Records on the hub's input topics its consumer group has not committed yet; one
    admin client and one consumer for the whole run (each window asks several times)."""

    def __init__(self, settings: Settings, group: str, names: tuple[str, ...]) -> None:
        self._admin = create_admin(settings)
        self._consumer = create_consumer(settings, group_id=None, purpose="simulate-lag")
        self._group = group
        self._partitions = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(self._consumer.partitions_for_topic(name) or [])
        ]

    def backlog(self) -> int:
        try:
            committed = self._admin.list_group_offsets(self._group).get(self._group, {})
        except KafkaError:
            committed = {}
        ends = self._consumer.end_offsets(self._partitions)
        total = 0
        for tp in self._partitions:
            meta = committed.get(tp)
            total += ends[tp] - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        return total

    def close(self) -> None:
        self._admin.close()
        self._consumer.close()


class Simulation:
    """One run: generate, then send window by window and move the hub's clock."""

    def __init__(
        self,
        settings: Settings,
        config: SimConfig,
        gateway_url: str,
        *,
        window: timedelta = timedelta(hours=12),
        duplicate_rate: float = 0.05,
        shuffle: bool = True,
        realtime: float | None = None,
        progress: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.gateway_url = gateway_url.rstrip("/")
        self.window = window
        self.duplicate_rate = duplicate_rate
        self.shuffle = shuffle
        self.realtime = realtime  # simulated seconds per wall second; None: as fast as it can
        self.progress = progress
        self.stats = RunStats()
        self.journeys: list[SimJourney] = []

    def prepare(self, now: datetime | None = None) -> list[SimJourney]:
        """The journeys of this run: after the hub's current clock (a previous run's
        timeline), and with shipment ids and identifiers of their own."""
        now = now or datetime.now(UTC)
        draft = generate(self.config, end=now)
        span = now - min(j.register_at for j in draft)
        floor = current_watermark(self.settings)
        end = now
        if floor is not None and floor + timedelta(hours=1) > now - span:
            end = floor + timedelta(hours=1) + span  # after the previous run's timeline
        if floor is not None:  # a hub that has seen traffic: ids of this run's own
            self.config = replace(self.config, run=1 + int(now.timestamp() // 60) % 9999)
        self.journeys = generate(self.config, end=end)
        self.stats.journeys = len(self.journeys)
        return self.journeys

    async def run(self) -> RunStats:
        journeys = self.journeys or self.prepare()
        rng = random.Random(f"transport:{self.config.seed}")
        senders = senders_from(self.settings)
        if "native" not in senders:
            raise ValueError(
                "no source of format 'native' with a secret: the simulator needs one "
                "(see TRACKHUB_SOURCES / TRACKHUB_SOURCES_FILE)"
            )
        deliveries = plan_deliveries(journeys, senders, rng)
        plans = sorted(((j.register_at, j.plan) for j in journeys), key=lambda p: p[0])
        start = min(plans[0][0], deliveries[0].at)
        end = max(d.at for d in deliveries) + timedelta(hours=1)
        self.stats.started, self.stats.ended = start, end
        self._probe = BacklogProbe(self.settings, topics.APP_ID, HUB_GROUP_TOPICS)
        self._producer = create_producer(self.settings, purpose="simulate")
        try:
            await self._windows(plans, deliveries, start, end, rng)
            await self._settle()
        finally:
            self._probe.close()
            self._producer.close()
        return self.stats

    async def _windows(
        self,
        plans: list[tuple[datetime, ShipmentPlan]],
        deliveries: list[Delivery],
        cursor: datetime,
        end: datetime,
        rng: random.Random,
    ) -> None:
        wall_start, sim_start = time.monotonic(), cursor
        async with aiohttp.ClientSession() as session:
            moments = sorted([at for at, _ in plans] + [d.at for d in deliveries])
            while cursor < end:
                until = cursor + self.window
                upcoming = next((m for m in moments if m >= cursor), end)
                if upcoming >= until and self.realtime is None:
                    # nothing to send for a while: one clock move across the quiet time
                    # (every deadline inside it still fires, at its own moment)
                    until = min(upcoming, end)
                if self.realtime is not None:  # wall speed times the factor
                    wall_due = wall_start + (until - sim_start).total_seconds() / self.realtime
                    await asyncio.sleep(max(0.0, wall_due - time.monotonic()))
                due_plans = [plan for at, plan in plans if cursor <= at < until]
                due = [d for d in deliveries if cursor <= d.at < until]
                if due_plans:
                    await asyncio.to_thread(
                        register_plans, self.settings, due_plans, self._producer
                    )
                await self._send(session, due, rng)
                if due or due_plans:
                    await self._settle()
                await asyncio.to_thread(advance_clock, self.settings, until, self._producer)
                self.stats.windows += 1
                cursor = until
                self.progress(f"{cursor:%Y-%m-%d %H:%M} UTC  {self.stats.deliveries} webhooks sent")

    async def _send(
        self, session: aiohttp.ClientSession, due: list[Delivery], rng: random.Random
    ) -> None:
        batch = list(due)
        for delivery in due:
            if rng.random() < self.duplicate_rate:
                batch.append(delivery)  # the same body again, under a new webhook id
                self.stats.duplicates += 1
        if self.shuffle:
            rng.shuffle(batch)
        limit = asyncio.Semaphore(16)

        async def one(delivery: Delivery) -> None:
            async with limit:
                await self._post(session, delivery)

        await asyncio.gather(*(one(d) for d in batch))

    async def _post(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        url = f"{self.gateway_url}/webhooks/{delivery.sender.source}"
        for attempt in range(8):
            now = datetime.now(UTC)
            headers = signed_headers(
                delivery.sender.format,
                delivery.sender.secret,
                delivery.body,
                message_id=f"msg_{uuid.uuid4().hex}",
                at=now,
            )
            headers["Content-Type"] = delivery.content_type
            try:
                async with session.post(url, data=delivery.body, headers=headers) as answer:
                    if answer.status in (200, 202):
                        self.stats.deliveries += 1
                        name = delivery.sender.format
                        self.stats.by_format[name] = self.stats.by_format.get(name, 0) + 1
                        return
                    text = await answer.text()
                    if answer.status != 503:
                        raise RuntimeError(f"gateway answered {answer.status} to {url}: {text}")
            except aiohttp.ClientConnectionError:
                if attempt == 7:
                    raise
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
        raise RuntimeError(f"gateway kept answering 503 to {url}")

    async def _settle(self, timeout_s: float = 300) -> None:
        """Until the hub's group has committed everything on its input topics, twice a
        second apart: a worker commits a record once processed, but what it sent on
        (a resolved event to its shipment's partition) may still be in its producer's
        buffer at that moment, not yet counted on the next topic."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while quiet < 2:
            left = await asyncio.to_thread(self._probe.backlog)
            quiet = quiet + 1 if left == 0 else 0
            if time.monotonic() > deadline:
                raise TimeoutError(f"the hub did not work off its backlog ({left} records)")
            await asyncio.sleep(0.5 if left == 0 else 0.2)


def ground_truth(journeys: list[SimJourney]) -> list[dict[str, object]]:
    """The expected alerts as JSON rows (``--ground-truth FILE``)."""
    return [
        {
            "type": e.type.value,
            "shipment_id": e.shipment_id,
            "leg": e.leg.value if e.leg else None,
            "handoff": [e.handoff[0].value, e.handoff[1].value] if e.handoff else None,
            "party_role": e.party.role.value,
            "party_id": e.party.id,
            "fault": j.fault,
        }
        for j in journeys
        for e in j.expected
    ]


def plans_of(journeys: list[SimJourney]) -> list[ShipmentPlan]:
    return [j.plan for j in journeys]
