"""The webhook gateway on the real broker: every answer code, and 202 only when durable."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from aiohttp import ClientResponse, ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from connectors.gateway import create_gateway_app
from hub import metrics, topics
from hub.settings import Settings, SourceConfig
from schemas.events import RawEnvelope
from tests.connector_cases import connector_cases
from tests.support.kafka_reading import end_offsets, read_since
from tests.support.signing import (
    ROTATED_SECRET,
    SECRET,
    aftership_headers,
    standard_webhook_headers,
)

NATIVE_BODY = next(
    c for c in connector_cases("native") if c.name == "delivered_journey"
).payload.read_bytes()
AFTERSHIP_SECRET = "aftership-test-secret"


def _gateway_settings(base: Settings, **changes: object) -> Settings:
    sources = {
        "acme-native": SourceConfig(format="native", secrets=[SECRET, ROTATED_SECRET]),
        "closed-native": SourceConfig(format="native", secrets=[]),
        "aftership": SourceConfig(format="aftership", secrets=[AFTERSHIP_SECRET]),
    }
    fields = base.model_dump() | {"sources": sources, "gateway_max_body_bytes": 64 * 1024}
    return Settings(**(fields | changes))


@pytest_asyncio.fixture
async def client(kafka_settings: Settings) -> AsyncIterator[TestClient]:
    app = create_gateway_app(_gateway_settings(kafka_settings))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_signed_delivery_is_durable_before_202(
    client: TestClient, kafka_settings: Settings
) -> None:
    start = end_offsets(kafka_settings, topics.RAW)
    headers = standard_webhook_headers(NATIVE_BODY, webhook_id="msg_durable_1")
    response = await client.post("/webhooks/acme-native", data=NATIVE_BODY, headers=headers)
    assert response.status == 202, await response.text()
    answer = await response.json()
    # read right after the answer, no waiting: the record must already be there
    records = [RawEnvelope.model_validate_json(v) for v in read_since(kafka_settings, start)]
    mine = [r for r in records if r.envelope_id == answer["envelope_id"]]
    assert len(mine) == 1
    raw = mine[0]
    assert raw.body == NATIVE_BODY
    assert raw.source == "acme-native" and raw.format == "native"
    assert raw.reference == "msg_durable_1"
    assert raw.kafka_key == "acme-native:msg_durable_1"
    assert raw.signature_verified is True
    assert raw.headers["webhook-id"] == "msg_durable_1"
    assert "x-trackhub-request-id" in raw.headers


async def test_an_overlong_header_name_is_dropped_not_a_500(
    client: TestClient, kafka_settings: Settings
) -> None:
    start = end_offsets(kafka_settings, topics.RAW)
    headers = standard_webhook_headers(NATIVE_BODY, webhook_id="msg_long_header_1")
    long_name = "x-" + "h" * 300
    headers |= {long_name: "v", "x-fine": "w" * 100}
    response = await client.post("/webhooks/acme-native", data=NATIVE_BODY, headers=headers)
    assert response.status == 202, await response.text()
    (raw,) = [RawEnvelope.model_validate_json(v) for v in read_since(kafka_settings, start)]
    assert long_name not in raw.headers and raw.headers["x-fine"] == "w" * 100


async def test_exact_duplicate_is_200_and_not_written_again(
    client: TestClient, kafka_settings: Settings
) -> None:
    headers = standard_webhook_headers(NATIVE_BODY, webhook_id="msg_dup_1")
    first = await client.post("/webhooks/acme-native", data=NATIVE_BODY, headers=headers)
    assert first.status == 202
    start = end_offsets(kafka_settings, topics.RAW)
    retry = standard_webhook_headers(NATIVE_BODY, webhook_id="msg_dup_1")  # re-signed retry
    second = await client.post("/webhooks/acme-native", data=NATIVE_BODY, headers=retry)
    assert second.status == 200
    assert (await second.json())["status"] == "duplicate"
    assert [RawEnvelope.model_validate_json(v) for v in read_since(kafka_settings, start)] == []


async def test_rotated_secret_is_accepted(client: TestClient) -> None:
    body = NATIVE_BODY.replace(b"YT-88-01", b"YT-88-91")
    headers = standard_webhook_headers(body, secret=ROTATED_SECRET)
    response = await client.post("/webhooks/acme-native", data=body, headers=headers)
    assert response.status == 202


async def _assert_error(response, status: int, code: str) -> dict:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code
    text = json.dumps(body)
    assert "Traceback" not in text and SECRET not in text and "whsec_" not in text
    assert response.headers["X-Request-Id"] == body["error"]["request_id"]
    return body


@pytest.mark.parametrize(
    "tamper",
    ["forged", "reserialized", "stale", "future", "missing", "wrong_secret"],
)
async def test_bad_signatures_are_401(client: TestClient, tamper: str) -> None:
    body = NATIVE_BODY
    headers = standard_webhook_headers(body)
    if tamper == "forged":
        headers["webhook-signature"] = "v1," + "A" * 43 + "="
    elif tamper == "reserialized":
        body = json.dumps(json.loads(NATIVE_BODY)).encode()  # same JSON, other whitespace
    elif tamper == "stale":
        headers = standard_webhook_headers(body, at=datetime.now(UTC) - timedelta(minutes=6))
    elif tamper == "future":
        headers = standard_webhook_headers(body, at=datetime.now(UTC) + timedelta(minutes=6))
    elif tamper == "missing":
        del headers["webhook-signature"]
    elif tamper == "wrong_secret":
        headers = standard_webhook_headers(body, secret="whsec_" + "QUJD" * 8)
    response = await client.post("/webhooks/acme-native", data=body, headers=headers)
    await _assert_error(response, 401, "signature_invalid")


async def test_webhook_id_reused_for_another_body_is_rejected(client: TestClient) -> None:
    first = standard_webhook_headers(NATIVE_BODY, webhook_id="msg_replay_1")
    assert (
        await client.post("/webhooks/acme-native", data=NATIVE_BODY, headers=first)
    ).status == 202
    other = NATIVE_BODY.replace(b"YT-88-01", b"YT-88-77")
    replay = standard_webhook_headers(other, webhook_id="msg_replay_1")
    response = await client.post("/webhooks/acme-native", data=other, headers=replay)
    body = await _assert_error(response, 401, "signature_invalid")
    assert "already used" in body["error"]["message"]


async def test_fail_closed_without_secret(client: TestClient) -> None:
    response = await client.post(
        "/webhooks/closed-native", data=NATIVE_BODY, headers=standard_webhook_headers(NATIVE_BODY)
    )
    await _assert_error(response, 401, "signature_invalid")


async def test_unknown_source_is_404(client: TestClient) -> None:
    response = await client.post(
        "/webhooks/nobody", data=NATIVE_BODY, headers=standard_webhook_headers(NATIVE_BODY)
    )
    await _assert_error(response, 404, "unknown_source")


async def test_wrong_content_type_is_415(client: TestClient) -> None:
    headers = standard_webhook_headers(NATIVE_BODY, content_type="text/csv")
    response = await client.post("/webhooks/acme-native", data=NATIVE_BODY, headers=headers)
    await _assert_error(response, 415, "unsupported_media_type")


async def test_declared_oversize_is_413(client: TestClient) -> None:
    body = b'{"events": [' + b" " * (64 * 1024) + b"]}"
    response = await client.post(
        "/webhooks/acme-native", data=body, headers=standard_webhook_headers(body)
    )
    await _assert_error(response, 413, "payload_too_large")


async def test_streamed_oversize_without_length_is_413(client: TestClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(200):  # 200 x 1 KiB, no Content-Length (chunked)
            yield b" " * 1024

    headers = standard_webhook_headers(b"{}")
    response = await client.post("/webhooks/acme-native", data=chunks(), headers=headers)
    await _assert_error(response, 413, "payload_too_large")


async def test_other_methods_get_the_same_error_shape(client: TestClient) -> None:
    response = await client.get("/webhooks/acme-native")
    await _assert_error(response, 405, "method_not_allowed")


async def test_vendor_scheme_aftership(client: TestClient) -> None:
    body = b'{"event": "tracking_update", "msg": {}}'
    good = await client.post(
        "/webhooks/aftership", data=body, headers=aftership_headers(body, AFTERSHIP_SECRET)
    )
    assert good.status == 202  # authentic; whether it parses is the normalizer's business
    bad = await client.post(
        "/webhooks/aftership", data=body, headers=aftership_headers(body, "nope")
    )
    await _assert_error(bad, 401, "signature_invalid")


async def test_kafka_unavailable_is_503_with_retry_after(kafka_settings: Settings) -> None:
    settings = _gateway_settings(
        kafka_settings, kafka_bootstrap="127.0.0.1:1", gateway_kafka_timeout_s=2.0
    )
    app = create_gateway_app(settings)
    async with TestClient(TestServer(app)) as down:
        response = await down.post(
            "/webhooks/acme-native", data=NATIVE_BODY, headers=standard_webhook_headers(NATIVE_BODY)
        )
        await _assert_error(response, 503, "unavailable")
        assert response.headers["Retry-After"] == "5"


async def test_over_max_in_flight_is_503_overloaded_at_once(kafka_settings: Settings) -> None:
    """Two webhooks wait for a Kafka that does not answer (the limit is 2): a third is
    refused at once with a short Retry-After, without waiting for them; once they are
    answered, the next one is taken again."""
    settings = _gateway_settings(
        kafka_settings,
        kafka_bootstrap="127.0.0.1:1",
        gateway_kafka_timeout_s=3.0,
        gateway_max_in_flight=2,
    )
    app = create_gateway_app(settings)

    def post(n: int) -> Awaitable[ClientResponse]:
        body = NATIVE_BODY.replace(b"YT-88-02", f"YT-88-{50 + n}".encode())
        return gateway.post(
            "/webhooks/acme-native", data=body, headers=standard_webhook_headers(body)
        )

    async with TestClient(TestServer(app)) as gateway:
        waiting = [asyncio.create_task(post(n)) for n in range(2)]
        while metrics.WEBHOOKS_IN_FLIGHT._value.get() < 2:  # both are in the handler
            await asyncio.sleep(0.01)
        started = time.monotonic()
        shed = await post(2)
        shed_after = time.monotonic() - started
        await _assert_error(shed, 503, "overloaded")
        assert shed.headers["Retry-After"] == "1"
        assert shed_after < 1.0, "the refusal waited for the webhooks in flight"
        for task in waiting:  # Kafka never answered them: 503 unavailable, not overloaded
            await _assert_error(await task, 503, "unavailable")
        assert metrics.WEBHOOKS_IN_FLIGHT._value.get() == 0
        await _assert_error(await post(3), 503, "unavailable")


async def test_served_over_real_http(kafka_settings: Settings, unused_tcp_port: int) -> None:
    app = create_gateway_app(_gateway_settings(kafka_settings))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    try:
        async with ClientSession() as session:
            url = f"http://127.0.0.1:{unused_tcp_port}/webhooks/acme-native"
            body = NATIVE_BODY.replace(b"YT-88-02", b"YT-88-92")
            async with session.post(
                url, data=body, headers=standard_webhook_headers(body)
            ) as response:
                assert response.status == 202
    finally:
        await runner.cleanup()


async def test_secrets_never_reach_the_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    good = NATIVE_BODY.replace(b"YT-88-03", b"YT-88-93")
    await client.post("/webhooks/acme-native", data=good, headers=standard_webhook_headers(good))
    forged = standard_webhook_headers(good)
    forged["webhook-signature"] = "v1," + "B" * 43 + "="
    await client.post("/webhooks/acme-native", data=good, headers=forged)
    await client.post("/webhooks/aftership", data=b"{}", headers=aftership_headers(b"{}", "nope"))
    text = caplog.text
    assert "rejected webhook" in text  # the failures were logged ...
    for secret in (SECRET, ROTATED_SECRET, AFTERSHIP_SECRET, SECRET.removeprefix("whsec_")):
        assert secret not in text  # ... without any secret
