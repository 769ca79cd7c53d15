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
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from hub.simulate.journeys import SimConfig, SimJourney
from hub.simulate.runner import Simulation
from schemas.sellers import hash_key
from schemas.shipments import TransportMode
from tests.security.isolation import SellerA, call, every_operation, probe_operation
from tests.security.live_hub import WEBHOOK_SECRET, LiveHub, create_seller, until
from tests.security.receiver import Receiver
from tests.support.private_broker import private_broker

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

    @property
    def api(self) -> str:
        return self.hub.url("api")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder: Path = tmp_path_factory.mktemp("live-hub")
    receiver = Receiver()
    with private_broker("security", partitions=2) as broker:
        hub = LiveHub(broker.env, folder)
        try:
            began = time.monotonic()
            hub.start()
            print(f"hub ready {time.monotonic() - began:.1f} s")
            key_a = create_seller(hub.env, SELLER_A, folder / "cli.log")
            key_b = create_seller(hub.env, SELLER_B, folder / "cli.log")
            until(lambda: call(hub.url("api"), "GET", "/v1/shipments", key_b).status == 200, "keys")
            created = call(
                hub.url("api"), "POST", "/v1/subscriptions", key_a, {"url": receiver.url}
            )
            assert created.status == 201, created.text
            subscription = json.loads(created.text)
            config = SimConfig(
                seed=4242,
                shipments=4,
                seller_count=1,
                modes=(TransportMode.AIR, TransportMode.EXPRESS),
                spread_days=1.0,
                fault_rates={"failed_delivery": 0.5, "customs_hold": 0.5, "late_leg": 0.3},
            )
            simulation = Simulation(
                hub.settings, config, hub.url("gateway"), window=timedelta(hours=48)
            )
            journeys = simulation.prepare()
            asyncio.run(simulation.run())
            print(f"simulated {time.monotonic() - began:.1f} s")
            alerts = until(lambda: _alert_ids(hub.url("api"), key_a), "seller A's alerts")
            until(lambda: receiver.requests, "an alert delivered to seller A's webhook")
            yield World(
                hub,
                receiver,
                journeys,
                key_a,
                key_b,
                subscription["subscription_id"],
                subscription["secret"],
                alerts,
            )
        finally:
            hub.stop()
            receiver.stop()


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
