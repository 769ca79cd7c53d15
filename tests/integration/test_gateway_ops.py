"""The gateway's /metrics, /healthz and /readyz, on the real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from connectors.gateway import create_gateway_app
from hub.settings import Settings
from tests.integration.test_gateway import NATIVE_BODY, _gateway_settings
from tests.support.prom import sample_value
from tests.support.signing import standard_webhook_headers


@pytest_asyncio.fixture
async def client(kafka_settings: Settings) -> AsyncIterator[TestClient]:
    app = create_gateway_app(_gateway_settings(kafka_settings))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def _metrics(client: TestClient) -> str:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return await response.text()


async def test_outcomes_bytes_latency_and_signature_failures_are_counted(
    client: TestClient,
) -> None:
    before = await _metrics(client)
    body = NATIVE_BODY.replace(b"YT-88-02", b"YT-88-71")
    accepted = await client.post(
        "/webhooks/acme-native", data=body, headers=standard_webhook_headers(body)
    )
    assert accepted.status == 202
    forged = standard_webhook_headers(body)
    forged["webhook-signature"] = "v1,AAAA" + forged["webhook-signature"][7:]
    assert (await client.post("/webhooks/acme-native", data=body, headers=forged)).status == 401
    closed = await client.post(
        "/webhooks/closed-native", data=body, headers=standard_webhook_headers(body)
    )
    assert closed.status == 401
    assert (await client.post("/webhooks/no-such-source", data=body)).status == 404
    after = await _metrics(client)

    def grew(name: str, **labels: str) -> float:
        return sample_value(after, name, **labels) - sample_value(before, name, **labels)

    received = "trackhub_webhooks_received_total"
    assert grew(received, source="acme-native", outcome="accepted") == 1
    assert grew(received, source="acme-native", outcome="signature_invalid") == 1
    assert grew(received, source="closed-native", outcome="signature_invalid") == 1
    # an unknown path segment is never a label value: it is counted as "unknown"
    assert grew(received, source="unknown", outcome="unknown_source") == 1
    assert "no-such-source" not in after
    failures = "trackhub_webhook_signature_failures_total"
    assert grew(failures, source="acme-native", reason="mismatch") == 1
    assert grew(failures, source="closed-native", reason="no_secret") == 1
    # bytes of the two bodies read (the closed source is refused before reading)
    assert grew("trackhub_webhook_received_bytes_total", source="acme-native") == 2 * len(body)
    assert grew("trackhub_webhook_durable_seconds_count", source="acme-native") == 1
    assert (
        sample_value(after, "trackhub_source_last_accepted_timestamp_seconds", source="acme-native")
        > 0
    )


async def test_health_and_readiness(client: TestClient) -> None:
    health = await client.get("/healthz")
    assert health.status == 200 and (await health.json()) == {"status": "ok"}
    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 200, body
    assert body["status"] == "ready" and body["checks"]["kafka"]["ok"] is True


async def test_not_ready_while_kafka_is_unreachable(kafka_settings: Settings) -> None:
    settings = _gateway_settings(kafka_settings, kafka_bootstrap="127.0.0.1:1")
    async with TestClient(TestServer(create_gateway_app(settings))) as down:
        ready = await down.get("/readyz")
        body = await ready.json()
        assert ready.status == 503
        assert body["status"] == "not_ready" and body["checks"]["kafka"]["ok"] is False
        assert (await down.get("/healthz")).status == 200  # alive all the same
