"""The gateway fuzzed on the real broker: a seeded few hundred requests of every kind.

Proves: no request gets a 500; every answer is the one its request calls for (202/200
for validly signed bodies, whatever they hold, 401/404/405/413/415/400 otherwise) in the
JSON error shape; every 202 is on ``tracking.raw.v1`` exactly once, byte for byte, and
nothing else is; each accepted record becomes events or a dead letter with a clear
reason through the normalize agent's own function (garbage signed by its sender is
accepted, then dead-lettered, never lost).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from connectors.base import SignatureScheme
from connectors.gateway import create_gateway_app
from hub.normalize import normalize_record
from hub.settings import Settings
from schemas.events import RawEnvelope
from tests.fuzz.gateway_cases import KIND_WEIGHTS, GatewayRequest, signature_headers
from tests.fuzz.gateway_check import (
    GatewayReport,
    check_raw_log,
    fuzz_gateway,
    gateway_settings,
    raw_log_start,
    send,
)
from tests.fuzz.oracle import quiet_mapper_logs
from tests.support.kafka_reading import read_since

SEED = 20260302
CASES = 400


@pytest_asyncio.fixture
async def client(kafka_settings: Settings) -> AsyncIterator[TestClient]:
    app = create_gateway_app(gateway_settings(kafka_settings))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_seeded_requests_get_documented_answers_and_are_never_lost(
    client: TestClient, kafka_settings: Settings
) -> None:
    quiet_mapper_logs()
    start = raw_log_start(kafka_settings)
    report = GatewayReport()
    await fuzz_gateway(client, SEED, CASES, report)
    check_raw_log(kafka_settings, start, report)
    assert report.problems == [], "\n".join(report.problems[:40])
    assert report.cases == CASES and report.statuses[500] == 0
    assert set(report.kinds) == set(KIND_WEIGHTS), "every kind of request was sent"
    assert report.statuses[202] >= CASES // 4, report.statuses
    assert report.dead_letters > 0 and report.events > 0, "garbage and good bodies both sent"


async def test_regression_latin1_header_value_is_kept_not_a_500(
    client: TestClient, kafka_settings: Settings
) -> None:
    """Found by this fuzzer: a header value that is not UTF-8 made the envelope invalid and
    the delivery a 500 (retried forever, never accepted)."""
    body = b'{"events": []}'
    headers = {"Content-Type": "application/json"}
    headers |= signature_headers(SignatureScheme.STANDARD_WEBHOOKS, body, "msg_fz_latin1", _now())
    request = GatewayRequest(0, "raw_header_bytes", "POST", "/webhooks/fz-native", headers, body,
                             frozenset({202}), "fz-native")  # fmt: skip
    lines = [b"POST /webhooks/fz-native HTTP/1.1", b"Host: fuzz", b"Connection: close"]
    lines += [f"{k}: {v}".encode() for k, v in headers.items()]
    lines += [b"X-Forwarded-Note: caf\xe9", f"Content-Length: {len(body)}".encode()]
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
    start = raw_log_start(kafka_settings)
    answer = await send(client, replace(request, raw=raw))
    assert answer.status == 202, answer.body
    (value,) = read_since(kafka_settings, start)
    assert RawEnvelope.model_validate_json(value).headers["x-forwarded-note"] == "caf?"


async def test_regression_authentic_latin1_body_is_202_then_dead_lettered(
    client: TestClient, kafka_settings: Settings
) -> None:
    """Found by this fuzzer: a Standard Webhooks body that is not UTF-8, validly signed over
    its bytes, was refused with 401; it is authentic, so 202, then a dead letter."""
    body = b"ISA*00*CAF\xc9 LATIN-1 X12"
    headers = {"Content-Type": "application/edi-x12"}
    headers |= signature_headers(SignatureScheme.STANDARD_WEBHOOKS, body, "msg_fz_l1body", _now())
    start = raw_log_start(kafka_settings)
    response = await client.post("/webhooks/fz-x12-214", data=body, headers=headers)
    assert response.status == 202, await response.text()
    (value,) = read_since(kafka_settings, start)
    letter = normalize_record(value, now=_now(), where="fuzz").dead_letter
    assert letter is not None and letter.error_type != "MapperCrash" and letter.reason


def _now() -> datetime:
    return datetime.now(UTC)


async def test_regression_authentic_empty_body_is_202_not_incomplete(
    client: TestClient, kafka_settings: Settings
) -> None:
    """Found by this fuzzer: a signed empty body (Content-Length: 0) was answered 400
    "body shorter than Content-Length"; it is complete and authentic: 202, dead-lettered."""
    headers = {"Content-Type": "text/plain"}
    headers |= signature_headers(SignatureScheme.STANDARD_WEBHOOKS, b"", "msg_fz_empty", _now())
    start = raw_log_start(kafka_settings)
    response = await client.post("/webhooks/fz-iata-fsu", data=b"", headers=headers)
    assert response.status == 202, await response.text()
    (value,) = read_since(kafka_settings, start)
    letter = normalize_record(value, now=_now(), where="fuzz").dead_letter
    assert letter is not None and letter.error_type != "MapperCrash" and letter.reason
