"""The seller API's handlers: one per operation of ``hub.api.OPERATIONS``.

Reads go through ``ApiStore`` methods that take the caller's seller id, so another
seller's row is "not found" (404), never "forbidden". Writes publish to Kafka (the
``Publish`` function answers once acknowledged) and then apply the record to this
process's read model, so the caller reads its own write at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response
from pydantic import ValidationError

from hub import metrics, topics
from hub.api_http import (
    BROADCASTER,
    PUBLISH,
    REQUEST_ID,
    SELLER,
    SETTINGS,
    STORE,
    URL_CHECK,
    ApiError,
    invalid_body,
    json_answer,
    page_cursor,
    page_limit,
    query_choice,
    read_json,
)
from hub.api_models import (
    AlertPage,
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
from hub.api_store import SHIPMENT_STATUSES, StreamPosition
from hub.scorecard import cards_from_value, merge_cards
from schemas.alerts import Alert, AlertState, AlertType
from schemas.common import PartyRole
from schemas.sellers import Subscription, new_subscription_id, new_subscription_secret
from schemas.shipments import ShipmentPlan

# --- shipments ---------------------------------------------------------------------------


async def register_shipment(request: web.Request) -> web.Response:
    seller = request[SELLER]
    data = await read_json(request)
    if isinstance(data, dict):
        data.setdefault("seller_id", seller)
    try:
        plan = ShipmentPlan.model_validate(data)
    except ValidationError as exc:
        raise invalid_body(exc) from None
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
            return json_answer(
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
    return json_answer(
        RegisterResult(shipment_id=plan.shipment_id, revision=plan.revision, result=result),
        status,
    )


async def list_shipments(request: web.Request) -> web.Response:
    status = query_choice(request, "status", set(SHIPMENT_STATUSES))
    page = request.app[STORE].shipments(
        request[SELLER], status=status, cursor=page_cursor(request, 1), limit=page_limit(request)
    )
    return json_answer(
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
    return json_answer(detail)


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
        if (value := query_choice(request, name, allowed)) is not None
    }
    for name in ("shipment_id", "party_id"):
        if (value := request.query.get(name)) is not None:
            filters[name] = value
    page = request.app[STORE].alerts(
        request[SELLER], filters=filters, cursor=page_cursor(request, 2), limit=page_limit(request)
    )
    return json_answer(
        AlertPage.model_validate({"items": page.items, "next_cursor": page.next_cursor})
    )


async def get_alert(request: web.Request) -> web.Response:
    body = request.app[STORE].alert(request[SELLER], request.match_info["alert_id"])
    if body is None:
        raise ApiError(404, "not_found", "no such alert")
    return json_answer(Alert.model_validate(body))


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
        wanted = SubscriptionRequest.model_validate(await read_json(request))
    except ValidationError as exc:
        raise invalid_body(exc) from None
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
    return json_answer(created, 201)


async def list_subscriptions(request: web.Request) -> web.Response:
    rows = request.app[STORE].subscriptions(request[SELLER])
    return json_answer(SubscriptionList(items=[_view(r) for r in rows]))


async def get_subscription(request: web.Request) -> web.Response:
    row = request.app[STORE].subscription(request[SELLER], request.match_info["subscription_id"])
    if row is None:
        raise ApiError(404, "not_found", "no such subscription")
    return json_answer(_view(row))


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
    role = query_choice(request, "party_role", ALERT_FILTERS["party_role"])
    party_id, lane = request.query.get("party_id"), request.query.get("lane")
    rows = [
        ScorecardRow.model_validate(card.row())
        for card in cards
        if (role is None or card.party_role == role)
        and (party_id is None or card.party_id == party_id)
        and (lane is None or card.lane == lane)
    ]
    return json_answer(ScorecardList(items=rows))
