"""The seller API on the real broker, end to end.

A seller is created with the CLI, registers a plan and a webhook subscription through the
API, a forwarder's events arrive through the signed gateway, a hub worker raises a stall
and then resolves it, and the seller receives both states by Server-Sent Events (resuming
after ``Last-Event-ID`` with nothing missed or repeated), as signed Standard Webhooks from
``trackhub deliver`` to a receiver the test runs, on ``alerts.seller.<id>``, and in the
API's lists.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from standardwebhooks import Webhook

from connectors.gateway import create_gateway_app
from hub import topics
from hub.api_server import build_api
from hub.settings import Settings
from schemas.alerts import Alert
from tests.factories import make_plan
from tests.integration.test_gateway import _gateway_settings
from tests.support.delivery_process import DeliveryProcess
from tests.support.hub_worker import start_worker, stop_worker
from tests.support.kafka_reading import read_since
from tests.support.signing import standard_webhook_headers
from tests.support.webhook_receiver import WebhookReceiver, wait_until

pytestmark = pytest.mark.integration


def create_seller(cli_env: dict[str, str], seller_id: str) -> str:
    """``trackhub seller create``; returns the API key it printed (its last line)."""
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "seller", "create", seller_id, "--name", "E2E"],
        env=cli_env | {"TRACKHUB_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def api_settings(base: Settings, tmp_path: Path, **changes: Any) -> Settings:
    fields = base.model_dump() | {
        "api_db": tmp_path / "api.db",
        "api_sse_heartbeat_s": 1.0,
        "delivery_allow_http": True,
        "delivery_allow_networks": ["127.0.0.0/8"],
    }
    return Settings(**(fields | changes))


@pytest_asyncio.fixture
async def api(kafka_settings: Settings, tmp_path: Path) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_api(api_settings(kafka_settings, tmp_path)))) as c:
        deadline = time.monotonic() + 120
        while (await c.get("/readyz")).status != 200:
            assert time.monotonic() < deadline, "the API's read model never caught up"
            await asyncio.sleep(0.5)
        yield c


async def _until(probe: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


async def _sse(client: TestClient, key: str, last_id: str | None, want: int) -> list[dict]:
    headers = {"Authorization": f"Bearer {key}"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    events: list[dict] = []
    async with client.get("/v1/alerts/stream", headers=headers) as response:
        assert response.status == 200
        current: dict[str, str] = {}

        async def read() -> None:
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line:
                    name, _, value = line.partition(":")
                    if name:
                        current[name] = value.lstrip()
                    continue
                if "data" in current:
                    events.append(dict(current))
                    if len(events) >= want:
                        return
                current.clear()

        await asyncio.wait_for(read(), timeout=120)
    return events


def _native(hawb: str, milestone: str, at: datetime, n: int) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "source": {
                        "party": {"role": "forwarder", "id": "fwd-e2e"},
                        "source_event_id": f"E2E-{hawb}-{n}",
                    },
                    "identifiers": [{"kind": "hawb", "value": hawb}],
                    "milestone": milestone,
                    "source_code": milestone.upper(),
                    "occurred_at": at.isoformat(),
                }
            ]
        }
    ).encode()


async def test_plan_events_alert_reach_the_seller_by_sse_webhook_topic_and_lists(
    kafka_settings: Settings, cli_env: dict[str, str], api: TestClient, tmp_path: Path
) -> None:
    suffix = f"{int(time.time() * 1000) % 10**8:08d}"
    seller = f"seller-e2e-{suffix}"
    key = create_seller(cli_env, seller)
    auth = {"Authorization": f"Bearer {key}"}
    await _until(
        lambda: _status(api.get("/v1/shipments", headers=auth), 200), 60, "the key to be known"
    )
    now = datetime.now(UTC)
    hawb = f"E2EHAWB{suffix}"
    plan = make_plan(
        shipment_id=f"SHP-E2E-{suffix}",
        seller_id=seller,
        identifiers=[{"kind": "order_id", "value": f"SO-E2E-{suffix}"}],
        legs=[
            {
                "leg": "first_mile",
                "party": {"role": "forwarder", "id": "fwd-e2e"},
                "identifiers": [{"kind": "hawb", "value": hawb}],
                "sla": {"max_duration": "P3D"},
                "stall_limit": "PT36H",
            },
            {
                "leg": "last_mile",
                "party": {"role": "last_mile_carrier", "id": "usps"},
                "identifiers": [{"kind": "tracking_number", "value": f"9400E2E{suffix}"}],
                "sla": {"max_duration": "P5D"},
            },
        ],
        handoffs=[],
        promised_delivery_at=(now + timedelta(days=30)).isoformat(),
        registered_at=(now - timedelta(hours=41)).isoformat(),
    ).model_dump(mode="json")
    del plan["seller_id"]
    registered = await api.post("/v1/shipments", json=plan, headers=auth)
    assert registered.status == 201, await registered.text()

    receiver = await WebhookReceiver().start()
    subscribed = await api.post(
        "/v1/subscriptions", json={"url": receiver.url(), "alert_types": ["stall"]}, headers=auth
    )
    assert subscribed.status == 201, await subscribed.text()
    secret = (await subscribed.json())["secret"]
    delivery = DeliveryProcess(cli_env, tmp_path).start()

    gateway_settings = _gateway_settings(kafka_settings)
    worker = start_worker(cli_env, hub_idle_after_s="1", hub_lateness_s="60")
    try:
        async with TestClient(TestServer(create_gateway_app(gateway_settings))) as gateway:
            picked = _native(hawb, "picked_up", now - timedelta(hours=40), 1)
            sent = await gateway.post(
                "/webhooks/acme-native", data=picked, headers=standard_webhook_headers(picked)
            )
            assert sent.status == 202
            first = await _sse(api, key, "0", want=1)  # the stall, from the start of the log
            opened = Alert.model_validate_json(first[0]["data"])
            assert (opened.type.value, opened.state.value) == ("stall", "open")
            assert opened.shipment_id == plan["shipment_id"] and opened.party.id == "fwd-e2e"

            live = asyncio.create_task(_sse(api, key, None, want=1))  # live from now
            await asyncio.sleep(1)
            at_hub = _native(
                hawb, "received_at_origin_hub", datetime.now(UTC) - timedelta(minutes=3), 2
            )
            sent = await gateway.post(
                "/webhooks/acme-native", data=at_hub, headers=standard_webhook_headers(at_hub)
            )
            assert sent.status == 202
            (resolved_event,) = await live
        resolved = Alert.model_validate_json(resolved_event["data"])
        assert resolved.alert_id == opened.alert_id and resolved.state.value == "resolved"
        # resuming after the first id gives exactly what came after it
        resumed = await _sse(api, key, first[0]["id"], want=1)
        assert [e["id"] for e in resumed] == [resolved_event["id"]]

        # the webhook receiver got both states, signed, one delivery per state
        await wait_until(lambda: len(receiver.answered(204)) >= 2, "two webhooks", 60)
        hooks = receiver.answered(204)
        for hook in hooks:
            Webhook(secret).verify(hook.body, hook.headers)  # raises when forged
        payloads = [json.loads(h.body) for h in hooks]
        assert [(p["type"], p["data"]["alert_id"]) for p in payloads] == [
            ("alert.open", opened.alert_id),
            ("alert.resolved", opened.alert_id),
        ]
        assert [h.webhook_id for h in hooks] == [opened.delivery_id, resolved.delivery_id]

        # the seller's own topic carries the same states
        on_topic = [
            Alert.model_validate_json(v)
            for v in read_since(kafka_settings, _seller_topic_start(seller))
        ]
        assert {(a.alert_id, a.state.value) for a in on_topic} >= {
            (opened.alert_id, "open"),
            (opened.alert_id, "resolved"),
        }

        # and the API's lists show the latest state, the timeline and the scorecard
        listed = await (await api.get("/v1/alerts", headers=auth)).json()
        assert [(a["alert_id"], a["state"]) for a in listed["items"]] == [
            (opened.alert_id, "resolved")
        ]
        detail = await _until(
            lambda: _timeline(api, plan["shipment_id"], auth, 2), 60, "the timeline"
        )
        assert [e["milestone"] for e in detail["timeline"]] == [
            "picked_up",
            "received_at_origin_hub",
        ]
        assert detail["status"] == "in_transit"
        cards = await (await api.get("/v1/scorecards", headers=auth)).json()
        assert {(c["party_role"], c["party_id"]) for c in cards["items"]} >= {
            ("forwarder", "fwd-e2e")
        }
    finally:
        stop_worker(worker)
        delivery.stop()
        await receiver.stop()


def _seller_topic_start(seller: str) -> dict:
    from kafka import TopicPartition

    return {TopicPartition(topics.seller_alerts_topic(seller), 0): 0}


async def _status(request: Any, status: int) -> bool:
    async with request as response:
        return response.status == status


async def _timeline(api: TestClient, shipment_id: str, auth: dict, count: int) -> Any:
    async with api.get(f"/v1/shipments/{shipment_id}", headers=auth) as response:
        if response.status != 200:
            return None
        body = await response.json()
        return body if len(body["timeline"]) >= count else None


async def test_subscription_urls_are_checked_against_ssrf(
    kafka_settings: Settings, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Without the development allowance, loopback and private targets are refused."""
    strict = api_settings(
        kafka_settings, tmp_path, delivery_allow_http=False, delivery_allow_networks=[]
    )
    seller = f"seller-ssrf-{int(time.time() * 1000) % 10**8:08d}"
    key = create_seller(cli_env, seller)
    auth = {"Authorization": f"Bearer {key}"}
    async with TestClient(TestServer(build_api(strict))) as api:
        await _until(lambda: _status(api.get("/v1/subscriptions", headers=auth), 200), 120, "key")
        for url in (
            "http://hooks.example.com/x",  # http without the development setting
            "https://127.0.0.1/hook",
            "https://localhost/hook",
            "https://10.1.2.3/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://user:pass@127.0.0.1/hook",
        ):
            response = await api.post("/v1/subscriptions", json={"url": url}, headers=auth)
            assert response.status == 422, url
            assert (await response.json())["error"]["code"] in {"unsafe_url", "invalid"}
        listed = await (await api.get("/v1/subscriptions", headers=auth)).json()
        assert listed["items"] == []
