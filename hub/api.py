"""The seller API (aiohttp): shipments, alerts, the alert stream, subscriptions, scorecards.

``create_api_app`` builds the application from its parts (read model, a durable publish
function, the alert fan-out, a URL check), so tests run it without Kafka and the server
(``hub.api_server``) wires the real ones. Every route is declared once in ``OPERATIONS``
(method, path, models); the OpenAPI document is generated from that table.

Guarantees a caller may rely on:
- Isolation: every read goes through ``ApiStore`` methods that filter by the caller's
  seller id; another seller's shipment, alert or subscription answers 404, never 403.
- Writes (plans, subscriptions) answer only after Kafka acknowledged them (acks=all);
  when Kafka is unavailable the answer is 503 with ``Retry-After`` and nothing was written.
- ``/v1/alerts/stream`` (SSE) resumes after ``Last-Event-ID`` with nothing missed or
  repeated: ids are ``alerts.v1`` coordinates, the same in every API process.
- Every error leaves as ``{"error": {"code", "message", "request_id"}}``; nothing internal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response
from pydantic import BaseModel, ValidationError

from hub import metrics, topics
from hub.api_auth import TokenBuckets, bearer_key, key_lookup, retry_after_header
from hub.api_models import (
    AlertPage,
    ErrorBody,
    RegisterResult,
    ScorecardList,
    ScorecardRow,
    ShipmentDetail,
    ShipmentPage,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionRequest,
    SubscriptionView,
)
from hub.api_projector import apply_value
from hub.api_store import SHIPMENT_STATUSES, ApiStore, StreamPosition, decode_cursor
from hub.api_stream import AlertBroadcaster
from hub.scorecard import cards_from_value, merge_cards
from hub.settings import Settings
from schemas.alerts import Alert, AlertState, AlertType
from schemas.common import PartyRole
from schemas.sellers import Subscription, new_subscription_id, new_subscription_secret
from schemas.shipments import ShipmentPlan

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


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        body=model.model_dump_json(), status=status, content_type="application/json"
    )


async def _body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "expected Content-Type application/json")
    raw = await request.read()  # bounded by client_max_size: 413 above it
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body is not JSON") from None


def _invalid(exc: ValidationError) -> ApiError:
    first = exc.errors(include_url=False, include_input=False)[:5]
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in first]
    return ApiError(422, "invalid", "; ".join(parts))


def _limit(request: web.Request) -> int:
    text = request.query.get("limit", "50")
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise ApiError(400, "invalid_query", f"limit is a whole number from 1 to {MAX_PAGE}")
    return int(text)


def _cursor(request: web.Request, arity: int) -> list[Any] | None:
    text = request.query.get("cursor")
    if text is None:
        return None
    values = decode_cursor(text, arity)
    if values is None:
        raise ApiError(400, "invalid_query", "cursor is not one this API gave out")
    return values


def _choice(request: web.Request, name: str, allowed: set[str]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise ApiError(400, "invalid_query", f"{name} is one of {', '.join(sorted(allowed))}")
    return value


# --- shipments ---------------------------------------------------------------------------


async def register_shipment(request: web.Request) -> web.Response:
    seller = request[SELLER]
    data = await _body(request)
    if isinstance(data, dict):
        data.setdefault("seller_id", seller)
    try:
        plan = ShipmentPlan.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if plan.seller_id != seller:
        raise ApiError(422, "invalid", "seller_id: must be your own seller id (or left out)")
    store = request.app[STORE]
    value = plan.model_dump_json().encode()
    existing = store.shipment_owner(plan.shipment_id)
    result, status = "created", 201
    if existing is not None:
        owner, revision, stored = existing
        if owner != seller:
            raise ApiError(409, "conflict", "shipment_id is not available; choose another")
        if plan.revision == revision and ShipmentPlan.model_validate_json(stored) == plan:
            return _json(
                RegisterResult(shipment_id=plan.shipment_id, revision=revision, result="unchanged")
            )
        if plan.revision <= revision:
            raise ApiError(
                409,
                "conflict",
                f"revision must be above {revision} to change a registered plan",
            )
        result, status = "revised", 200
    await request.app[PUBLISH](topics.SHIPMENTS, plan.shipment_id.encode(), value)
    with store.transaction() as db:  # read your own write before the projector sees it
        apply_value(db, topics.SHIPMENTS, plan.shipment_id, value)
    return _json(
        RegisterResult(shipment_id=plan.shipment_id, revision=plan.revision, result=result),
        status,
    )


async def list_shipments(request: web.Request) -> web.Response:
    status = _choice(request, "status", set(SHIPMENT_STATUSES))
    page = request.app[STORE].shipments(
        request[SELLER], status=status, cursor=_cursor(request, 1), limit=_limit(request)
    )
    return _json(
        ShipmentPage.model_validate({"items": page.items, "next_cursor": page.next_cursor})
    )


async def get_shipment(request: web.Request) -> web.Response:
    store = request.app[STORE]
    row = store.shipment(request[SELLER], request.match_info["shipment_id"])
    if row is None:
        raise ApiError(404, "not_found", "no such shipment")
    detail = ShipmentDetail.model_validate(
        {
            "shipment_id": row["shipment_id"],
            "status": row["status"],
            "plan": json.loads(row["plan"]),
            "state": json.loads(row["state"]) if row["state"] else None,
            "timeline": store.timeline(row["shipment_id"]),
        }
    )
    return _json(detail)


# --- alerts ------------------------------------------------------------------------------


ALERT_FILTERS = {
    "state": {s.value for s in AlertState},
    "type": {t.value for t in AlertType},
    "party_role": {r.value for r in PartyRole},
}


async def list_alerts(request: web.Request) -> web.Response:
    filters = {
        name: value
        for name, allowed in ALERT_FILTERS.items()
        if (value := _choice(request, name, allowed)) is not None
    }
    for name in ("shipment_id", "party_id"):
        if (value := request.query.get(name)) is not None:
            filters[name] = value
    page = request.app[STORE].alerts(
        request[SELLER], filters=filters, cursor=_cursor(request, 2), limit=_limit(request)
    )
    return _json(AlertPage.model_validate({"items": page.items, "next_cursor": page.next_cursor}))


async def get_alert(request: web.Request) -> web.Response:
    body = request.app[STORE].alert(request[SELLER], request.match_info["alert_id"])
    if body is None:
        raise ApiError(404, "not_found", "no such alert")
    return _json(Alert.model_validate(body))


async def stream_alerts(request: web.Request) -> web.StreamResponse:
    """SSE of the caller's alert states: after ``Last-Event-ID`` if given, then live."""
    seller = request[SELLER]
    resume_text = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    sent: StreamPosition | None = None
    if resume_text:
        sent = StreamPosition.parse(resume_text)
        if sent is None:
            raise ApiError(400, "invalid_query", "Last-Event-ID is not an id this API sent")
    app = request.app
    heartbeat = app[SETTINGS].api_sse_heartbeat_s
    listener = app[BROADCASTER].listen(seller)  # before the backlog read: nothing slips by
    started = time.perf_counter()
    metrics.API_SSE_CONNECTIONS.inc()
    try:
        async with sse_response(
            request, ping_interval=heartbeat, headers={"X-Request-Id": request[REQUEST_ID]}
        ) as response:
            metrics.API_REQUEST_SECONDS.labels("streamAlerts").observe(
                time.perf_counter() - started
            )
            while sent is not None:  # the backlog, in pages
                rows = app[STORE].alert_log_after(seller, sent, 500)
                for row in rows:
                    await response.send(row.body, id=str(row.position), event="alert")
                    sent = row.position
                if len(rows) < 500:
                    break
            while response.is_connected():
                try:
                    row = await asyncio.wait_for(listener.get(), timeout=heartbeat)
                except TimeoutError:
                    continue
                if row is None:
                    break  # fell too far behind: the client resumes from its last id
                if sent is not None and (row.position.partition, row.position.offset) <= (
                    sent.partition,
                    sent.offset,
                ):
                    continue
                await response.send(row.body, id=str(row.position), event="alert")
                sent = row.position
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        metrics.API_SSE_CONNECTIONS.dec()
        app[BROADCASTER].forget(seller, listener)
    return response


# --- subscriptions -----------------------------------------------------------------------


def _view(record: dict[str, Any]) -> SubscriptionView:
    return SubscriptionView.model_validate(
        {k: record.get(k) for k in SubscriptionView.model_fields}
    )


async def create_subscription(request: web.Request) -> web.Response:
    seller = request[SELLER]
    try:
        wanted = SubscriptionRequest.model_validate(await _body(request))
    except ValidationError as exc:
        raise _invalid(exc) from None
    await request.app[URL_CHECK](wanted.url)
    record = Subscription(
        subscription_id=new_subscription_id(),
        seller_id=seller,
        url=wanted.url,
        alert_types=sorted(set(wanted.alert_types)),
        secret=new_subscription_secret(),
        created_at=datetime.now(UTC),
    )
    value = record.model_dump_json().encode()
    await request.app[PUBLISH](topics.SUBSCRIPTIONS, record.subscription_id.encode(), value)
    with request.app[STORE].transaction() as db:
        apply_value(db, topics.SUBSCRIPTIONS, record.subscription_id, value)
    created = SubscriptionCreated.model_validate(
        {**_view(record.model_dump(mode="json")).model_dump(), "secret": record.secret}
    )
    return _json(created, 201)


async def list_subscriptions(request: web.Request) -> web.Response:
    rows = request.app[STORE].subscriptions(request[SELLER])
    return _json(SubscriptionList(items=[_view(r) for r in rows]))


async def get_subscription(request: web.Request) -> web.Response:
    row = request.app[STORE].subscription(request[SELLER], request.match_info["subscription_id"])
    if row is None:
        raise ApiError(404, "not_found", "no such subscription")
    return _json(_view(row))


async def delete_subscription(request: web.Request) -> web.Response:
    seller = request[SELLER]
    subscription_id = request.match_info["subscription_id"]
    store = request.app[STORE]
    row = store.subscription(seller, subscription_id)
    if row is None:
        raise ApiError(404, "not_found", "no such subscription")
    # a tombstone: compaction drops the record, every reader drops the subscription
    await request.app[PUBLISH](topics.SUBSCRIPTIONS, subscription_id.encode(), None)
    with store.transaction() as db:
        apply_value(db, topics.SUBSCRIPTIONS, subscription_id, None)
    return web.Response(status=204)


# --- scorecards --------------------------------------------------------------------------


async def list_scorecards(request: web.Request) -> web.Response:
    shares = request.app[STORE].scorecard_shares(request[SELLER])
    cards = merge_cards(card for raw in shares for card in cards_from_value(raw.encode()))
    role = _choice(request, "party_role", ALERT_FILTERS["party_role"])
    party_id, lane = request.query.get("party_id"), request.query.get("lane")
    rows = [
        ScorecardRow.model_validate(card.row())
        for card in cards
        if (role is None or card.party_role == role)
        and (party_id is None or card.party_id == party_id)
        and (lane is None or card.lane == lane)
    ]
    return _json(ScorecardList(items=rows))


# --- the route table ---------------------------------------------------------------------


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    enum: tuple[str, ...] | None = None
    integer: bool = False
    pattern: str | None = None


@dataclass(frozen=True)
class Operation:
    """One route: the handler, and what the OpenAPI document says about it."""

    method: str
    path: str
    operation_id: str
    summary: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    responses: dict[int, type[BaseModel] | None]
    request: type[BaseModel] | None = None
    query: tuple[QueryParam, ...] = ()
    stream: bool = False
    errors: tuple[int, ...] = field(default=(400, 401, 429))
    # OpenAPI links: response status -> (operation id, path parameter, runtime expression)
    links: tuple[tuple[int, str, str, str], ...] = ()


PAGING = (
    QueryParam("limit", f"Page size, 1 to {MAX_PAGE} (default 50)", integer=True),
    QueryParam("cursor", "The next_cursor of the previous page", pattern=r"^[A-Za-z0-9_-]+$"),
)
OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/v1/shipments",
        "registerShipment",
        "Register a shipment plan (idempotent by shipment_id; a higher revision revises it)",
        register_shipment,
        {201: RegisterResult, 200: RegisterResult},
        request=ShipmentPlan,
        errors=(400, 401, 409, 413, 415, 422, 429, 503),
        links=(
            (201, "getShipment", "shipment_id", "$response.body#/shipment_id"),
            (200, "getShipment", "shipment_id", "$response.body#/shipment_id"),
        ),
    ),
    Operation(
        "GET",
        "/v1/shipments",
        "listShipments",
        "Your shipments, by shipment_id",
        list_shipments,
        {200: ShipmentPage},
        query=(
            QueryParam("status", "Only shipments in this status", enum=SHIPMENT_STATUSES),
            *PAGING,
        ),
    ),
    Operation(
        "GET",
        "/v1/shipments/{shipment_id}",
        "getShipment",
        "A shipment: plan, current state and timeline of normalized events",
        get_shipment,
        {200: ShipmentDetail},
        errors=(401, 404, 429),
    ),
    Operation(
        "GET",
        "/v1/alerts",
        "listAlerts",
        "Your alerts, newest opened first",
        list_alerts,
        {200: AlertPage},
        query=(
            QueryParam(
                "state", "open, updated or resolved", enum=tuple(sorted(ALERT_FILTERS["state"]))
            ),
            QueryParam("type", "Alert type", enum=tuple(sorted(ALERT_FILTERS["type"]))),
            QueryParam("shipment_id", "Only this shipment's alerts"),
            QueryParam(
                "party_role",
                "Role of the answerable party",
                enum=tuple(sorted(ALERT_FILTERS["party_role"])),
            ),
            QueryParam("party_id", "Id of the answerable party"),
            *PAGING,
        ),
    ),
    Operation(
        "GET",
        "/v1/alerts/stream",
        "streamAlerts",
        "Server-Sent Events of your alert states (event 'alert', data: an Alert); "
        "send Last-Event-ID to resume after that event, or 0 to replay all retained",
        stream_alerts,
        {200: None},
        stream=True,
    ),
    Operation(
        "GET",
        "/v1/alerts/{alert_id}",
        "getAlert",
        "One alert, latest state",
        get_alert,
        {200: Alert},
        errors=(401, 404, 429),
    ),
    Operation(
        "POST",
        "/v1/subscriptions",
        "createSubscription",
        "Subscribe a webhook URL to alert types; the signing secret is returned once",
        create_subscription,
        {201: SubscriptionCreated},
        request=SubscriptionRequest,
        errors=(400, 401, 413, 415, 422, 429, 503),
        links=(
            (201, "getSubscription", "subscription_id", "$response.body#/subscription_id"),
            (201, "deleteSubscription", "subscription_id", "$response.body#/subscription_id"),
        ),
    ),
    Operation(
        "GET",
        "/v1/subscriptions",
        "listSubscriptions",
        "Your subscriptions",
        list_subscriptions,
        {200: SubscriptionList},
    ),
    Operation(
        "GET",
        "/v1/subscriptions/{subscription_id}",
        "getSubscription",
        "One subscription (disabled ones show why)",
        get_subscription,
        {200: SubscriptionView},
        errors=(401, 404, 429),
    ),
    Operation(
        "DELETE",
        "/v1/subscriptions/{subscription_id}",
        "deleteSubscription",
        "Stop and remove a subscription",
        delete_subscription,
        {204: None},
        errors=(401, 404, 429, 503),
    ),
    Operation(
        "GET",
        "/v1/scorecards",
        "listScorecards",
        "On-time performance of the parties on your shipments, per party and lane",
        list_scorecards,
        {200: ScorecardList},
        query=(
            QueryParam(
                "party_role", "Only this role", enum=tuple(sorted(ALERT_FILTERS["party_role"]))
            ),
            QueryParam("party_id", "Only this party"),
            QueryParam("lane", "Only this lane, e.g. CN-US"),
        ),
    ),
)


def create_api_app(
    settings: Settings,
    store: ApiStore,
    publish: Publish,
    broadcaster: AlertBroadcaster,
    url_check: UrlCheck,
) -> web.Application:
    from hub.api_openapi import openapi_document

    app = web.Application(
        middlewares=[error_middleware, auth_middleware],
        client_max_size=settings.api_max_body_bytes,
    )
    app[SETTINGS] = settings
    app[STORE] = store
    app[PUBLISH] = publish
    app[BROADCASTER] = broadcaster
    app[BUCKETS] = TokenBuckets(settings.api_rate_per_s, settings.api_rate_burst)
    app[URL_CHECK] = url_check
    document = json.dumps(openapi_document(OPERATIONS)).encode()

    async def serve_openapi(request: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    app.router.add_get("/v1/openapi.json", serve_openapi, name="openapi")
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, op.handler, name=op.operation_id)
    return app


__all__ = ["OPERATIONS", "ApiError", "ErrorBody", "KafkaWriteError", "create_api_app"]
