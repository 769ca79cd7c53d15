"""The seller API (aiohttp): shipments, alerts, the alert stream, subscriptions, scorecards.

``create_api_app`` builds the application from its parts (read model, a durable publish
function, the alert fan-out, a URL check), so tests run it without Kafka and the server
(``hub.api_server``) wires the real ones. Every route is declared once in ``OPERATIONS``
(method, path, models); the OpenAPI document is generated from that table. The handlers
are in ``hub.api_handlers``; the error shape, authentication and rate limits in
``hub.api_http``.

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

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from hub.api_auth import TokenBuckets
from hub.api_handlers import (
    ALERT_FILTERS,
    create_subscription,
    delete_subscription,
    get_alert,
    get_shipment,
    get_subscription,
    list_alerts,
    list_scorecards,
    list_shipments,
    list_subscriptions,
    register_shipment,
    stream_alerts,
)
from hub.api_http import (
    BROADCASTER,
    BUCKETS,
    MAX_PAGE,
    PUBLISH,
    SETTINGS,
    STORE,
    URL_CHECK,
    Publish,
    UrlCheck,
    auth_middleware,
    error_middleware,
)
from hub.api_models import (
    AlertPage,
    RegisterResult,
    ScorecardList,
    ShipmentDetail,
    ShipmentPage,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionRequest,
    SubscriptionView,
)
from hub.api_store import SHIPMENT_STATUSES, ApiStore
from hub.api_stream import AlertBroadcaster
from hub.settings import Settings
from schemas.alerts import Alert
from schemas.shipments import ShipmentPlan

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
