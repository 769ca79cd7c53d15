"""Send fuzzed requests to a gateway and check every answer, then check the raw log.

Every answer must be one the request allows (``GatewayRequest.expected``: 202/200 for a
validly signed body within the limit, 401, 404, 405, 413, 415, 400), never a 500; every
error in the one JSON shape with its request id; every 202 durable on ``tracking.raw.v1``
exactly once with the body byte for byte; a 200 only for a body already accepted; and
every accepted record, run through the normalize agent's own function
(``hub.normalize.normalize_record``), gives events or a dead letter with its reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp.test_utils import TestClient

from hub import topics
from hub.normalize import normalize_record
from hub.settings import Settings
from schemas.events import RawEnvelope
from tests.fuzz.gateway_cases import (
    GATEWAY_LIMIT,
    PLAIN_SECRET,
    GatewayRequest,
    fuzz_sources,
    gateway_request,
)
from tests.fuzz.oracle import unclear_reason
from tests.support.kafka_reading import end_offsets, read_since
from tests.support.signing import SECRET

PROTOCOL_400 = "raw_header_bytes"  # aiohttp's HTTP parser may answer these itself, as text
TRUNCATED = "truncated_raw"
NO_ANSWER = 0  # the connection closed without a response


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class GatewayReport:
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    accepted: dict[str, bytes] = field(default_factory=dict)  # envelope id -> body sent
    dead_lettered: set[str] = field(default_factory=set)  # envelope ids the normalizer refuses
    dead_letters: int = 0
    events: int = 0
    slowest_ms: float = 0.0
    seconds: float = 0.0

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(body), 16 * 1024):
        yield body[at : at + 16 * 1024]


async def _send_raw(client: TestClient, raw: bytes, cut_short: bool) -> Answer:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(raw)
        await writer.drain()
        if cut_short:  # the sender goes away mid-body: nobody is left to answer
            writer.write_eof()
        data = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, body, headers)


async def send(client: TestClient, request: GatewayRequest) -> Answer:
    if request.raw is not None:
        return await _send_raw(client, request.raw, request.kind == TRUNCATED)
    data = _chunks(request.body) if request.chunked else request.body
    async with client.request(
        request.method, request.path, headers=request.headers, data=data
    ) as response:
        headers = {name.lower(): value for name, value in response.headers.items()}
        return Answer(response.status, await response.read(), headers)


def answer_problems(request: GatewayRequest, answer: Answer, seen_before: bool) -> list[str]:
    """What is wrong with one answer (empty when it is right)."""
    where = f"#{request.index} {request.kind} {request.method} {request.path[:40]}"
    if answer.status not in request.expected:
        return [
            f"{where}: {answer.status}, expected {sorted(request.expected)}: {answer.body[:200]!r}"
        ]
    if (answer.status == 400 and request.kind == PROTOCOL_400) or answer.status == NO_ANSWER:
        return []
    try:
        payload = json.loads(answer.body)
    except ValueError:
        return [f"{where}: {answer.status} answer is not JSON: {answer.body[:200]!r}"]
    text = answer.body.decode("utf-8", errors="replace")
    if SECRET in text or PLAIN_SECRET in text or "Traceback" in text:
        return [f"{where}: the answer leaks a secret or a traceback"]
    if answer.status in (200, 202):
        word = "accepted" if answer.status == 202 else "duplicate"
        if payload.get("status") != word or not str(payload.get("envelope_id", "")).startswith(
            "raw_"
        ):
            return [f"{where}: success body {payload}"]
        if (answer.status == 200) != seen_before:
            return [
                f"{where}: {answer.status} but the body was {'' if seen_before else 'not '}accepted before"
            ]
        return []
    error = payload.get("error") if isinstance(payload, dict) else None
    if set(payload) != {"error"} or not isinstance(error, dict):
        return [f"{where}: error body not in the error shape: {payload}"]
    if set(error) != {"code", "message", "request_id"} or not error["message"]:
        return [f"{where}: error body fields {sorted(error)}"]
    # a header value loses its surrounding blanks on the wire; the JSON keeps them
    if answer.headers.get("x-request-id", "").strip() != str(error["request_id"]).strip():
        return [f"{where}: X-Request-Id does not match the error's request_id"]
    return []


async def fuzz_gateway(client: TestClient, seed: int, cases: int, report: GatewayReport) -> None:
    """Send ``cases`` requests of ``seed`` one after another and check each answer."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    accepted_bodies: set[tuple[str, str]] = set()
    for index in range(cases):
        request = gateway_request(seed, index, datetime.now(UTC))
        key = (request.source, hashlib.sha256(request.body).hexdigest())
        started = loop.time()
        answer = await send(client, request)
        report.slowest_ms = max(report.slowest_ms, (loop.time() - started) * 1000)
        report.statuses[answer.status] += 1
        report.kinds[request.kind] += 1
        report.problems += answer_problems(request, answer, key in accepted_bodies)
        if answer.status == 202:
            accepted_bodies.add(key)
            report.accepted[json.loads(answer.body)["envelope_id"]] = request.body
    report.seconds += loop.time() - began


def gateway_settings(base: Settings) -> Settings:
    """``base`` with the fuzz sources (one per format, one closed) and a 64 KiB limit."""
    fields = base.model_dump() | {
        "sources": fuzz_sources(),
        "gateway_max_body_bytes": GATEWAY_LIMIT,
    }
    return Settings(**fields)


def raw_log_start(settings: Settings) -> dict:
    return end_offsets(settings, topics.RAW)


def check_raw_log(settings: Settings, start: dict, report: GatewayReport) -> None:
    """Every 202 on the raw log once, byte for byte; nothing else of ours written; each
    record normalized by the agent's function into events or a clear dead letter."""
    now = datetime.now(UTC)
    found: Counter[str] = Counter()
    for value in read_since(settings, start):
        envelope = RawEnvelope.model_validate_json(value)
        if not envelope.source.startswith("fz-"):
            continue  # another test's delivery on the shared broker
        found[envelope.envelope_id] += 1
        sent = report.accepted.get(envelope.envelope_id)
        if sent is None:
            report.problems.append(f"{envelope.envelope_id} written without a 202")
        elif envelope.body != sent:
            report.problems.append(f"{envelope.envelope_id} body differs from what was sent")
        result = normalize_record(value, now=now, where="fuzz")
        letter = result.dead_letter
        if letter is None:
            report.events += len(result.events)
            continue
        report.dead_letters += 1
        report.dead_lettered.add(envelope.envelope_id)
        unclear = unclear_reason(letter.reason, letter.error_type)
        if letter.error_type == "MapperCrash" or unclear:
            report.problems.append(
                f"{envelope.envelope_id}: dead letter {letter.error_type}: {unclear or letter.reason}"
            )
    for envelope_id in report.accepted:
        if found[envelope_id] != 1:
            report.problems.append(
                f"{envelope_id} answered 202, on the raw log {found[envelope_id]} times"
            )
