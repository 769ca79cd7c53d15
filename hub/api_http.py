"""The seller API's HTTP plumbing: app keys, the error shape, authentication and rate
limits (middlewares), and reading requests (JSON bodies, paging, query choices).

Every failure leaves as ``{"error": {"code", "message", "request_id"}}``; an unexpected
one as an opaque 500, logged with its request id. Kafka being unavailable for a write is
503 with ``Retry-After`` (nothing was written).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub import metrics
from hub.api_auth import TokenBuckets, bearer_key, key_lookup, retry_after_header
from hub.api_store import ApiStore, decode_cursor
from hub.api_stream import AlertBroadcaster
from hub.settings import Settings

log = logging.getLogger("trackhub.api")


# topic, key, value (None: a tombstone); returns once Kafka acknowledged (acks=all)
Publish = Callable[[str, bytes, bytes | None], Awaitable[None]]
UrlCheck = Callable[[str], Awaitable[None]]  # raises ApiError(422) for an unsafe URL

STORE = web.AppKey("store", ApiStore)
SETTINGS = web.AppKey("settings", Settings)
PUBLISH = web.AppKey("publish", Publish)  # type: ignore[arg-type]
BROADCASTER = web.AppKey("broadcaster", AlertBroadcaster)
BUCKETS = web.AppKey("buckets", TokenBuckets)
URL_CHECK = web.AppKey("url_check", UrlCheck)  # type: ignore[arg-type]
SELLER = web.RequestKey("seller", str)
REQUEST_ID = web.RequestKey("request_id", str)
OPS_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
PUBLIC_PATHS = OPS_PATHS | {"/v1/openapi.json"}
MAX_PAGE = 200


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class KafkaWriteError(Exception):
    """The durable publish failed or timed out: nothing was acknowledged."""


def _error(request_id: str, status: int, code: str, message: str, headers: Any = None) -> Any:
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    request_id = request.headers.get("x-request-id", "")[:64] or f"{random.getrandbits(96):024x}"
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    try:
        response = await handler(request)
    except ApiError as exc:
        response = _error(request_id, exc.status, exc.code, exc.message, exc.headers)
    except KafkaWriteError:
        response = _error(
            request_id,
            503,
            "unavailable",
            "storage unavailable; nothing was written",
            {"Retry-After": "5"},
        )
    except web.HTTPException as exc:  # aiohttp's own: 404 no route, 405, 413 body too large
        code = exc.reason.lower().replace(" ", "_")
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        response = _error(request_id, exc.status, code, exc.reason, allow)
    except Exception:
        log.exception("internal error (request %s)", request_id)
        response = _error(request_id, 500, "internal_error", "internal error")
    if not response.prepared:
        response.headers["X-Request-Id"] = request_id
    if request.path not in OPS_PATHS:
        operation = request.match_info.route.name or "other"
        metrics.API_REQUESTS.labels(operation, f"{response.status // 100}xx").inc()
        if operation != "streamAlerts":  # its time to first byte is observed by the handler
            metrics.API_REQUEST_SECONDS.labels(operation).observe(time.perf_counter() - started)
    return response


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Bearer key → seller; then the key's rate limit. Public paths pass untouched."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    challenge = {"WWW-Authenticate": 'Bearer realm="trackhub"'}
    presented = bearer_key(request.headers.get("Authorization"))
    lookup = key_lookup(presented) if presented else None
    seller = request.app[STORE].key_owner(*lookup) if lookup else None
    if seller is None:
        raise ApiError(401, "unauthorized", "a valid API key is required (Bearer)", challenge)
    wait_s = request.app[BUCKETS].take(lookup[0], time.monotonic())  # type: ignore[index]
    if wait_s > 0:
        raise ApiError(
            429,
            "rate_limited",
            "too many requests for this API key",
            {"Retry-After": retry_after_header(wait_s)},
        )
    request[SELLER] = seller
    return await handler(request)


def json_answer(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        body=model.model_dump_json(), status=status, content_type="application/json"
    )


async def read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "expected Content-Type application/json")
    raw = await request.read()  # bounded by client_max_size: 413 above it
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body is not JSON") from None


def invalid_body(exc: ValidationError) -> ApiError:
    first = exc.errors(include_url=False, include_input=False)[:5]
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in first]
    return ApiError(422, "invalid", "; ".join(parts))


def page_limit(request: web.Request) -> int:
    text = request.query.get("limit", "50")
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise ApiError(400, "invalid_query", f"limit is a whole number from 1 to {MAX_PAGE}")
    return int(text)


def page_cursor(request: web.Request, arity: int) -> list[Any] | None:
    text = request.query.get("cursor")
    if text is None:
        return None
    values = decode_cursor(text, arity)
    if values is None:
        raise ApiError(400, "invalid_query", "cursor is not one this API gave out")
    return values


def query_choice(request: web.Request, name: str, allowed: set[str]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise ApiError(400, "invalid_query", f"{name} is one of {', '.join(sorted(allowed))}")
    return value
