"""The signed webhook gateway: ``POST /webhooks/{source}``.

Delivery guarantee: **202 only after the ``RawEnvelope`` is durable** in
``tracking.raw.v1`` (acks=all, idempotent producer). Whatever got a 2xx is in the raw log;
whatever was not written got a 4xx/5xx and the sender retries. The gateway does not parse
payloads: an authentic body our mapper cannot read is still accepted (202), and the
normalizer dead-letters it with the reason so a fixed mapper can replay it.

Order of checks, cheapest and safest first: unknown source (404), no secret configured
(401, fail closed), content type (415), declared size (413), streamed size (413, before
the body is held whole), a body shorter than its Content-Length (400), signature on the
raw bytes (401), replayed webhook id (401), duplicate (200), write (202, or 503 with
``Retry-After`` while Kafka is unavailable).

Load shedding: a known source's webhook that arrives while ``gateway_max_in_flight``
others are being worked on (read, verified or waiting for Kafka) is answered 503
``overloaded`` with ``Retry-After`` at once, before its body is read: a burst beyond what
the gateway and Kafka can write costs each refused sender a retry, instead of making every
sender's answer, and the gateway's memory, grow with the queue.
Every error leaves as ``{"error": {"code", "message", "request_id"}}``; nothing internal
(exception text, stack, secret) is ever in a response or a log line.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram

from connectors.base import Connector
from connectors.delivery_memory import DeliveryMemory, Seen
from connectors.raw_log import RawLogUnavailable, RawLogWriter
from connectors.registry import get_connector
from connectors.signatures import SignatureError, verify_signature
from hub import metrics
from hub.log_setup import correlation
from hub.ops_http import Check, add_ops_routes
from hub.settings import Settings, SourceConfig
from schemas.events import RawEnvelope

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
OVERLOAD_RETRY_AFTER_S = 1  # a burst passes in seconds; senders spread their own retries
READ_CHUNK = 64 * 1024
DROPPED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})
MAX_KEPT_HEADERS = 60
MAX_HEADER_NAME_CHARS = 200  # RawEnvelope.headers' limits
MAX_HEADER_VALUE_CHARS = 8192


@dataclass(frozen=True, slots=True)
class ConfiguredSource:
    name: str
    connector: Connector
    secrets: tuple[str, ...]
    max_body_bytes: int
    metrics: SourceMetrics


@dataclass(frozen=True, slots=True)
class SourceMetrics:
    """A source's labelled series, looked up once: ``labels()`` on every request costs a
    lock and a dict lookup per series, a few percent of the gateway's CPU."""

    source: str
    body_bytes: Counter
    durable_seconds: Histogram
    last_accepted: Gauge
    received: dict[str, Counter]  # by outcome, filled as outcomes occur

    @classmethod
    def of(cls, source: str) -> SourceMetrics:
        return cls(
            source=source,
            body_bytes=metrics.WEBHOOK_BYTES.labels(source),
            durable_seconds=metrics.DURABLE_SECONDS.labels(source),
            last_accepted=metrics.SOURCE_LAST_ACCEPTED.labels(source),
            received={},
        )

    def count(self, outcome: str) -> None:
        child = self.received.get(outcome)
        if child is None:
            child = self.received[outcome] = metrics.WEBHOOKS_RECEIVED.labels(self.source, outcome)
        child.inc()


class GatewayError(Exception):
    """An answer other than success, in the one error shape."""

    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


SETTINGS = web.AppKey("settings", Settings)
SOURCES = web.AppKey("sources", dict[str, ConfiguredSource])
RAW_LOG = web.AppKey("raw_log", RawLogWriter)
MEMORY = web.AppKey("memory", DeliveryMemory)
CLOCK = web.AppKey("clock", Callable[[], datetime])
IN_FLIGHT = web.AppKey("in_flight", "InFlight")
REQUEST_ID = web.RequestKey("request_id", str)


@dataclass(slots=True)
class InFlight:
    """How many webhooks the gateway is working on, and the most it takes at once."""

    limit: int
    count: int = 0


def configured_sources(settings: Settings) -> dict[str, ConfiguredSource]:
    """Source name -> its connector, secrets and size limit, from the settings."""
    result = {}
    for name, config in settings.effective_sources().items():
        connector = get_connector(config.format)
        result[name] = ConfiguredSource(
            name=name,
            connector=connector,
            secrets=_secrets(config),
            max_body_bytes=min(connector.max_body_bytes, settings.gateway_max_body_bytes),
            metrics=SourceMetrics.of(name),
        )
    return result


def _secrets(config: SourceConfig) -> tuple[str, ...]:
    return tuple(s.get_secret_value() for s in config.secrets if s.get_secret_value())


def _error_body(request_id: str, code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "request_id": request_id}}


def _status_response(status: int, word: str, envelope_id: str) -> web.Response:
    """``{"status": word, "envelope_id": ...}`` without a JSON encoder: the success path
    answers thousands of times a second, and both values are ours (a word, ``raw_<hex>``)."""
    body = f'{{"status": "{word}", "envelope_id": "{envelope_id}"}}'.encode("ascii")
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def _new_request_id() -> str:
    # an id to correlate logs, not a secret: no system call per request for it
    return f"{random.getrandbits(96):024x}"


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure leaves in the one JSON shape; unexpected ones as an opaque 500."""
    request_id = request.headers.get("x-request-id", "")[:64] or _new_request_id()
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
        outcome = OUTCOME_OF_STATUS.get(response.status, "other")
    except GatewayError as exc:
        response = web.json_response(
            _error_body(request_id, exc.code, exc.message), status=exc.status, headers=exc.headers
        )
        outcome = exc.code
    except web.HTTPException as exc:  # aiohttp's own: 404 no route, 405, 413 from the parser
        code = exc.reason.lower().replace(" ", "_")
        response = web.json_response(_error_body(request_id, code, exc.reason), status=exc.status)
        outcome = "payload_too_large" if exc.status == 413 else "rejected"
    except Exception:
        log.exception("internal error (request %s)", request_id)
        response = web.json_response(
            _error_body(
                request_id, "internal_error", "internal error; the delivery was not accepted"
            ),
            status=500,
        )
        outcome = "internal_error"
    response.headers["X-Request-Id"] = request_id
    if request.match_info.route.name == WEBHOOK_ROUTE:
        source = request.app[SOURCES].get(request.match_info.get("source", ""))
        if source is not None:
            source.metrics.count(outcome)
        else:
            metrics.WEBHOOKS_RECEIVED.labels("unknown", outcome).inc()
    return response


WEBHOOK_ROUTE = "webhook"
# the outcome label of a success; failures are labelled with their error code
OUTCOME_OF_STATUS = {202: "accepted", 200: "duplicate"}


async def receive_webhook(request: web.Request) -> web.Response:
    source = request.app[SOURCES].get(request.match_info["source"])
    if source is None:
        raise GatewayError(404, "unknown_source", "no such webhook source")
    in_flight = request.app[IN_FLIGHT]
    if in_flight.count >= in_flight.limit:
        raise GatewayError(
            503,
            "overloaded",
            "too many webhooks in progress; retry later",
            **{"Retry-After": str(OVERLOAD_RETRY_AFTER_S)},
        )
    in_flight.count += 1
    metrics.WEBHOOKS_IN_FLIGHT.inc()
    try:
        return await _receive(request, source)
    finally:
        in_flight.count -= 1
        metrics.WEBHOOKS_IN_FLIGHT.dec()


async def _receive(request: web.Request, source: ConfiguredSource) -> web.Response:
    """Everything after the source and load checks, in the order of the module's doc."""
    started = time.perf_counter()
    if not source.secrets:
        metrics.SIGNATURE_FAILURES.labels(source.name, "no_secret").inc()
        raise GatewayError(401, "signature_invalid", "this source has no secret configured")
    content_type = request.headers.get("Content-Type", "")
    if not source.connector.accepts(content_type):
        accepted = ", ".join(sorted(source.connector.content_types))
        raise GatewayError(415, "unsupported_media_type", f"expected Content-Type {accepted}")
    body = await _read_body(request, source.max_body_bytes)
    source.metrics.body_bytes.inc(len(body))

    now = request.app[CLOCK]()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        delivery_id = verify_signature(
            source.connector.signature, source.secrets, headers, body, now
        )
    except SignatureError as exc:
        log.info("rejected webhook for %s: %s", source.name, exc)
        metrics.SIGNATURE_FAILURES.labels(source.name, exc.kind).inc()
        raise GatewayError(401, "signature_invalid", str(exc)) from None

    envelope = RawEnvelope.from_body(
        body=body,
        source=source.name,
        format=source.connector.name,
        reference=delivery_id or f"sha256-{hashlib.sha256(body).hexdigest()[:32]}",
        received_at=now,
        content_type=content_type[:200],
        headers=_kept_headers(headers, request[REQUEST_ID]),
        signature_verified=True,
    )
    memory = request.app[MEMORY]
    digest = envelope.body_sha256
    seen = memory.check(source.name, envelope.envelope_id, delivery_id, digest)
    if seen is Seen.REPLAYED_ID:
        metrics.SIGNATURE_FAILURES.labels(source.name, "replayed").inc()
        raise GatewayError(401, "signature_invalid", "webhook-id already used for another body")
    if seen is Seen.DUPLICATE:
        return _status_response(200, "duplicate", envelope.envelope_id)
    try:
        await request.app[RAW_LOG].write(envelope)
    except RawLogUnavailable:
        raise GatewayError(
            503,
            "unavailable",
            "cannot store the delivery now; retry later",
            **{"Retry-After": str(RETRY_AFTER_S)},
        ) from None
    memory.remember(source.name, envelope.envelope_id, delivery_id, digest)
    source.metrics.durable_seconds.observe(time.perf_counter() - started)
    source.metrics.last_accepted.set(time.time())
    if log.isEnabledFor(logging.DEBUG):
        with correlation(envelope.envelope_id):
            log.debug("accepted webhook from %s (request %s)", source.name, request[REQUEST_ID])
    return _status_response(202, "accepted", envelope.envelope_id)


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit``.

    With a Content-Length the HTTP framing holds the body to that length, so a declared
    length within the limit is read in one go; without one (chunked) it is counted while
    it streams in.
    """
    declared = request.content_length
    if declared is not None:
        if declared > limit:
            raise GatewayError(413, "payload_too_large", f"body over {limit} bytes")
        if declared == 0:  # aiohttp's readexactly(0) on an empty body raises, as if cut short
            return b""
        try:
            return await request.content.readexactly(declared)
        except asyncio.IncompleteReadError:
            raise GatewayError(400, "incomplete_body", "body shorter than Content-Length") from None
    too_large = GatewayError(413, "payload_too_large", f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _kept_headers(headers: dict[str, str], request_id: str) -> dict[str, str]:
    """The headers the envelope keeps: no credentials, at most ``MAX_KEPT_HEADERS``, names
    no longer than the envelope allows (a longer one is no header of any source's scheme:
    it is dropped rather than failing the delivery), values cut to 8 KiB."""
    kept = {
        name: _header_text(value[:MAX_HEADER_VALUE_CHARS])
        for name, value in list(headers.items())[:MAX_KEPT_HEADERS]
        if name not in DROPPED_HEADERS and len(name) <= MAX_HEADER_NAME_CHARS
    }
    kept["x-trackhub-request-id"] = request_id
    return kept


def _header_text(value: str) -> str:
    """A header value the envelope can hold: aiohttp passes bytes that are not UTF-8 (a
    Latin-1 value) on as lone surrogates, which no JSON string can carry; they become
    ``?`` instead of failing the delivery with a 500."""
    if value.isascii():
        return value
    return value.encode("utf-8", "replace").decode("utf-8")


async def _readiness(app: web.Application) -> list[Check]:
    reachable, detail = await app[RAW_LOG].reachable()
    return [Check("kafka", reachable, detail)]


def create_gateway_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    raw_log: RawLogWriter | None = None,
) -> web.Application:
    """The gateway's aiohttp app; the raw-log producer is opened and closed with it."""
    app = web.Application(
        middlewares=[error_middleware],
        # the framework's own cap sits above every source's limit; ours answers first
        client_max_size=settings.gateway_max_body_bytes + 1,
    )
    app[SETTINGS] = settings
    app[SOURCES] = configured_sources(settings)
    app[RAW_LOG] = raw_log or RawLogWriter(settings)
    app[MEMORY] = DeliveryMemory()
    app[CLOCK] = clock
    app[IN_FLIGHT] = InFlight(settings.gateway_max_in_flight)
    app.router.add_post("/webhooks/{source}", receive_webhook, name=WEBHOOK_ROUTE)
    add_ops_routes(app, functools.partial(_readiness, app))
    # every source has its series from the start, silent or not (SourceMetrics.of)
    app.cleanup_ctx.append(_close_raw_log)
    return app


async def _close_raw_log(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[RAW_LOG].close()


def _fast_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS): about twice the requests per core."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_gateway(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; in-flight requests finish (graceful shutdown)."""
    app = create_gateway_app(settings)
    log.info(
        "webhook gateway listening on http://%s:%d/webhooks/{source}",
        settings.gateway_host,
        settings.gateway_port,
    )
    # what start-up made (modules, settings, connectors) is never garbage: frozen out of
    # the collector's sight, a full collection walks only what requests have made
    gc.collect()
    gc.freeze()
    web.run_app(
        app,
        loop=_fast_event_loop(),
        host=settings.gateway_host,
        port=settings.gateway_port,
        shutdown_timeout=settings.gateway_kafka_timeout_s + 5,
        print=None,
        access_log=None,
    )
