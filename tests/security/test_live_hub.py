"""Security checks against the whole hub running as real processes (``live_hub``).

One hub for the module, in this order: seller isolation over every API operation, SSRF
on subscription URLs through a strict API process, then the grep of every log line and
metric (last: it stops the processes so that every line is written).

The hub is fed a seeded simulation in every wire format through the signed gateway, two
sellers get API keys from the CLI, seller A subscribes a webhook receiver and its alerts
are delivered there, signed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from hub.simulate.journeys import SimConfig, SimJourney
from hub.simulate.runner import Simulation
from schemas.sellers import KEY_PREFIX, hash_key
from schemas.shipments import TransportMode
from tests.security.isolation import SellerA, call, every_operation, probe_operation
from tests.security.live_hub import WEBHOOK_SECRET, LiveHub, create_sellers, until
from tests.security.receiver import Receiver
from tests.support.private_broker import private_broker

pytestmark = pytest.mark.integration  # a real broker and real processes

SELLER_A = "seller-sim-1"  # the simulation's one seller
SELLER_B = "seller-sec-b"


@dataclass
class World:
    hub: LiveHub
    receiver: Receiver
    journeys: list[SimJourney]
    key_a: str
    key_b: str
    subscription_id: str
    subscription_secret: str
    alert_ids: list[str]
    others: list[LiveHub] = field(default_factory=list)  # more processes, grepped too

    @property
    def hubs(self) -> list[LiveHub]:
        return [self.hub, *self.others]

    @property
    def api(self) -> str:
        return self.hub.url("api")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder: Path = tmp_path_factory.mktemp("live-hub")
    receiver = Receiver()
    others: list[LiveHub] = []  # processes the tests add (stopped here too)
    began = time.monotonic()
    try:
        with private_broker("security", partitions=2) as broker:
            print(f"broker {time.monotonic() - began:.1f} s")
            hub = LiveHub(broker.env, folder)
            try:
                yield _feed(hub, receiver, others, began)
            finally:
                for started in (hub, *others):
                    started.stop()
    finally:
        receiver.stop()


def _feed(hub: LiveHub, receiver: Receiver, others: list[LiveHub], began: float) -> World:
    """Start the hub, create the sellers and A's subscription, run the simulation, and
    wait for A's alerts to show in the API and reach A's webhook."""
    hub.launch()  # the sellers are created while the processes start
    key_a, key_b = create_sellers(hub.env, [SELLER_A, SELLER_B], hub.folder / "cli.log")
    hub.wait_ready()
    print(f"hub ready {time.monotonic() - began:.1f} s")
    api = hub.url("api")
    until(lambda: call(api, "GET", "/v1/shipments", key_b).status == 200, "the keys")
    created = call(api, "POST", "/v1/subscriptions", key_a, {"url": receiver.url})
    assert created.status == 201, created.text
    subscription = json.loads(created.text)
    config = SimConfig(
        seed=4242,
        shipments=3,
        seller_count=1,
        modes=(TransportMode.AIR, TransportMode.EXPRESS),
        spread_days=0.5,
        fault_rates={"failed_delivery": 1.0},  # an exception alert on every shipment
    )
    simulation = Simulation(hub.settings, config, hub.url("gateway"), window=timedelta(days=60))
    journeys = simulation.prepare()
    asyncio.run(simulation.run())
    print(f"simulated {time.monotonic() - began:.1f} s")
    alerts = until(lambda: _alert_ids(api, key_a), "seller A's alerts")
    until(lambda: receiver.requests, "an alert delivered to seller A's webhook")
    print(f"alerts delivered {time.monotonic() - began:.1f} s")
    return World(
        hub,
        receiver,
        journeys,
        key_a,
        key_b,
        subscription["subscription_id"],
        subscription["secret"],
        alerts,
        others,
    )


def _alert_ids(api: str, key: str) -> list[str]:
    answer = call(api, "GET", "/v1/alerts", key)
    return [a["alert_id"] for a in json.loads(answer.text)["items"]] if answer.status == 200 else []


def test_seller_b_reaches_none_of_seller_as_resources_on_any_operation(world: World) -> None:
    """Every operation of the route table, probed with B's key against A's resources:
    404/403 by id, none of A's ids in lists, stream or errors, every claim refused, and
    A's resources unchanged."""
    shipment_ids = [j.plan.shipment_id for j in world.journeys]
    plan = world.journeys[0].plan.model_dump(mode="json")
    a = SellerA(
        ids={
            "shipment_id": shipment_ids[0],
            "alert_id": world.alert_ids[0],
            "subscription_id": world.subscription_id,
        },
        all_ids={*shipment_ids, *world.alert_ids, world.subscription_id},
        claims={
            "ShipmentPlan": [
                lambda: plan,  # A's plan as it is (seller_id A)
                lambda: plan | {"seller_id": SELLER_B},  # A's shipment id taken by B
            ],
            "SubscriptionRequest": [
                lambda: {"url": world.receiver.url, "seller_id": SELLER_A},
            ],
        },
    )
    probes = [
        probe_operation(world.api, op, a, world.key_a, world.key_b) for op in every_operation()
    ]
    for probe in probes:
        print(probe)
    assert len(probes) == len(every_operation()) >= 11
    assert [p for p in probes if not p.ok or p.leaked] == []
    # A still sees all of its own: nothing above took or removed it
    mine = call(world.api, "GET", f"/v1/subscriptions/{world.subscription_id}", world.key_a)
    assert mine.status == 200


SSRF_URLS = (
    # metadata, private and loopback in decimal, octal, hex and short forms
    "https://2852039166/latest/meta-data/",  # 169.254.169.254
    "https://0xa9fea9fe/",
    "https://0251.0376.0251.0376/",
    "https://0x0a000001/",  # 10.0.0.1
    "https://017700000001/",  # 127.0.0.1
    "https://127.000.000.001/",
    "https://0x7f.0x0.0x0.0x1/",
    "https://0/",
    "https://169.254.170.2/v2/credentials",  # ECS task metadata
    "https://172.16.0.1/",
    "https://192.168.0.1/",
    "https://100.64.0.1/",
    # IPv6 forms carrying a blocked IPv4 address, and IPv6 private / link-local
    "https://[0:0:0:0:0:ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:a9fe:a9fe]:443/",
    "https://[2002:a9fe:a9fe::]/",  # 6to4 of the metadata address
    "https://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "https://[fd00::1]/",
    "https://[fe80::1]/",
    "https://[::]/",
    # names: the real resolver of this machine answers loopback for these
    "https://localhost./",
    "https://LOCALHOST/",
    "https://vm/",
    "https://metadata.google.internal./",
    "https://instance-data/",
    # spellings that hide the host
    "https://%31%32%37.0.0.1/",
    "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # fullwidth digits
    "https://hooks.example.com@127.0.0.1/",
    "https://127.0.0.1%2f@hooks.example.com/",
    "http://hooks.example.com/",  # plain http
)


def test_subscription_urls_to_internal_targets_are_refused(world: World) -> None:
    """A strict ``trackhub api`` (no http, no allowed networks) refuses every URL form
    that reaches loopback, private, link-local or metadata addresses, with the machine's
    real resolver, and keeps none of them."""
    strict = LiveHub(
        world.hub.broker_env,
        world.hub.folder,
        extra={
            "TRACKHUB_DELIVERY_ALLOW_HTTP": "false",
            "TRACKHUB_DELIVERY_ALLOW_NETWORKS": "[]",
            "TRACKHUB_API_DB": str(world.hub.folder / "strict-api.db"),
        },
        name="strict",
    )
    world.others.append(strict)
    strict.start("api")
    api = strict.url("api")
    before = json.loads(call(api, "GET", "/v1/subscriptions", world.key_a).text)["items"]
    assert [s["subscription_id"] for s in before] == [world.subscription_id]
    refused = []
    for url in SSRF_URLS:
        answer = call(api, "POST", "/v1/subscriptions", world.key_a, {"url": url})
        assert answer.status == 422, (url, answer.status, answer.text)
        refused.append(json.loads(answer.text)["error"]["code"])
    assert len(refused) == len(SSRF_URLS) == 30
    assert set(refused) <= {"unsafe_url", "invalid"}
    after = json.loads(call(api, "GET", "/v1/subscriptions", world.key_a).text)["items"]
    assert after == before


def test_no_identifier_secret_or_key_in_any_log_line_or_metric(world: World) -> None:
    """Every /metrics page, then (after a clean stop, so every line is written) every
    line of every process's stdout and stderr, JSON at DEBUG: not one tracking number or
    other identifier of the run, webhook secret, API key, key hash or delivery signing
    secret. The control: the identifiers are real values of this run (seller A reads
    them back from the API)."""
    identifiers = sorted(_identifiers(world.journeys))
    secrets = _secrets(world)
    # the control: these are values the hub really handled (A reads them back)
    shipment = world.journeys[0].plan.shipment_id
    detail = call(world.api, "GET", f"/v1/shipments/{shipment}", world.key_a)
    assert detail.status == 200 and any(value in detail.text for value in identifiers)
    pages = {f"{h.name}-{c}": page for h in world.hubs for c, page in h.metrics_pages().items()}
    for hub in world.hubs:
        hub.stop()
    logs = {f"{h.name}-{c}": text for h in world.hubs for c, text in h.logs().items()}
    logs["cli"] = (world.hub.folder / "cli.log").read_text()
    lines = sum(text.count("\n") for text in logs.values())
    assert all(logs[f"hub-{c}"] for c in ("gateway", "worker", "api", "deliver"))
    assert lines > 500, lines  # DEBUG from four processes: there is something to grep
    assert len(identifiers) >= 10 and len(secrets) == 10
    hits = [
        (where, value)
        for where, text in [*logs.items(), *(("metrics " + k, v) for k, v in pages.items())]
        for value in [*identifiers, *secrets]
        if value in text
    ]
    print(
        f"grepped {lines} log lines and {len(pages)} metric pages for "
        f"{len(identifiers)} identifiers and {len(secrets)} secrets: {len(hits)} hits"
    )
    assert hits == []


def _identifiers(journeys: list[SimJourney]) -> set[str]:
    """Every identifier value of the run: the plans' and the events', as normalized."""
    values = {i.value for j in journeys for leg in j.plan.legs for i in leg.identifiers}
    values |= {i.value for j in journeys for e in j.events for i in e.identifiers}
    return values


def _secrets(world: World) -> set[str]:
    """Webhook secret, both API keys (whole, their secret part, their stored SHA-256) and
    the subscription's signing secret (whole and its key material)."""
    values = {WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_")}
    for key in (world.key_a, world.key_b):
        secret = key.removeprefix(KEY_PREFIX).partition("_")[2]  # thk_<key id hex>_<secret>
        assert len(secret) >= 40
        values |= {key, secret, hash_key(key)}
    values |= {world.subscription_secret, world.subscription_secret.removeprefix("whsec_")}
    return values
