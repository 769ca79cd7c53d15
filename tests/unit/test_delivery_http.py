"""One webhook attempt against a local receiver (no Kafka): the Standard Webhooks request,
its signature, and how each kind of answer or failure is classified. Also which
subscriptions an alert goes to."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from hub.delivery_feeds import CLOCK_SKEW_S, matching_subscriptions
from hub.delivery_http import WebhookSender, webhook_body
from hub.delivery_schedule import Outcome
from hub.settings import Settings
from schemas.sellers import Subscription, new_subscription_id, new_subscription_secret
from tests.conftest import _free_port
from tests.factories import make_alert
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    started = await WebhookReceiver().start()
    yield started
    await started.stop()


def subscription(url: str, **changes: object) -> Subscription:
    fields: dict[str, object] = {
        "subscription_id": new_subscription_id(),
        "seller_id": "seller-42",
        "url": url,
        "secret": new_subscription_secret(),
        "created_at": datetime.now(UTC),
    }
    fields.update(changes)
    return Subscription.model_validate(fields)


def settings(*, allow: bool = True, timeout_s: float = 2.0) -> Settings:
    return Settings(
        delivery_allow_http=True,
        delivery_allow_networks=["127.0.0.0/8"] if allow else [],
        delivery_timeout_s=timeout_s,
    )


@pytest.fixture
async def sender() -> AsyncIterator[WebhookSender]:
    opened = WebhookSender(settings())
    await opened.start()
    yield opened
    await opened.close()


def test_the_body_is_the_standard_webhooks_payload() -> None:
    alert = make_alert(state="updated", revision=2, updated_at="2026-03-11T09:00:00-08:00")
    body = json.loads(webhook_body(alert))
    assert body["type"] == "alert.updated"
    assert body["timestamp"] == "2026-03-11T17:00:00Z"
    assert body["data"] == json.loads(alert.model_dump_json())
    assert webhook_body(alert) == webhook_body(alert)  # the same bytes on every retry


async def test_a_signed_delivery(receiver: WebhookReceiver, sender: WebhookSender) -> None:
    sub = subscription(receiver.url("/hooks/trackhub?token=abc"))
    alert = make_alert()
    result = await sender.send(sub, alert.delivery_id, webhook_body(alert))
    assert result.outcome is Outcome.SUCCESS and result.detail == "HTTP 204"
    (received,) = receiver.requests
    headers, body = received.headers, received.body
    assert received.path == "/hooks/trackhub"
    assert headers["webhook-id"] == alert.delivery_id
    assert headers["Content-Type"] == "application/json"
    assert Webhook(sub.secret).verify(body, headers)["data"]["alert_id"] == alert.alert_id
    with pytest.raises(Exception, match="signature"):
        Webhook(new_subscription_secret()).verify(body, headers)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (500, Outcome.HTTP_5XX),
        (503, Outcome.HTTP_5XX),
        (400, Outcome.HTTP_4XX),
        (410, Outcome.GONE),
        (200, Outcome.SUCCESS),
    ],
)
async def test_answers(
    receiver: WebhookReceiver, sender: WebhookSender, status: int, outcome: Outcome
) -> None:
    receiver.answer = lambda request: status
    result = await sender.send(subscription(receiver.url()), "alt_x.1", b"{}")
    assert result.outcome is outcome


async def test_redirects_are_not_followed(receiver: WebhookReceiver, sender: WebhookSender) -> None:
    receiver.answer = lambda request: (
        web.Response(status=307, headers={"Location": receiver.url("/elsewhere")})
        if request.path == "/hook"
        else 200
    )
    result = await sender.send(subscription(receiver.url()), "alt_x.1", b"{}")
    assert result.outcome is Outcome.REDIRECT
    assert [r.path for r in receiver.requests] == ["/hook"]


async def test_a_hung_endpoint_times_out_within_the_limit(receiver: WebhookReceiver) -> None:
    receiver.answer = lambda request: receiver.hang()
    quick = WebhookSender(settings(timeout_s=0.5))
    await quick.start()
    try:
        started = asyncio.get_running_loop().time()
        result = await quick.send(subscription(receiver.url()), "alt_x.1", b"{}")
        assert result.outcome is Outcome.TIMEOUT
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        await quick.close()


async def test_connection_refused(sender: WebhookSender) -> None:
    result = await sender.send(subscription(f"http://127.0.0.1:{_free_port()}/h"), "a.1", b"{}")
    assert result.outcome is Outcome.CONNECT_ERROR


async def test_loopback_is_blocked_without_the_allowlist(receiver: WebhookReceiver) -> None:
    guarded = WebhookSender(settings(allow=False))
    await guarded.start()
    try:
        for url in (
            receiver.url(),  # a literal: checked before the request
            receiver.url(host="localhost"),  # a name: refused by the connector's resolver
            receiver.url(host="2130706433"),
        ):
            result = await guarded.send(subscription(url), "alt_x.1", b"{}")
            assert result.outcome is Outcome.BLOCKED, url
            assert "loopback" in result.detail
        assert receiver.requests == []
    finally:
        await guarded.close()


def test_which_subscriptions_get_an_alert() -> None:
    alert = make_alert(type="stall", rule="silence", leg="last_mile", seller_id="seller-42")
    published = datetime(2026, 3, 11, tzinfo=UTC).timestamp()
    before = datetime(2026, 3, 10, tzinfo=UTC)
    url = "https://hooks.example.com/h"
    every = subscription(url, created_at=before)
    stalls = subscription(url, created_at=before, alert_types=["stall", "delay"])
    delays = subscription(url, created_at=before, alert_types=["delay"])
    other_seller = subscription(url, created_at=before, seller_id="seller-7")
    disabled = subscription(
        url, created_at=before, disabled_at=before, disabled_reason="endpoint answered 410 Gone"
    )
    deleted = subscription(url, created_at=before, deleted_at=before)
    later = subscription(url, created_at=datetime(2026, 3, 12, tzinfo=UTC))
    just_after = subscription(
        url, created_at=datetime.fromtimestamp(published + CLOCK_SKEW_S - 1, UTC)
    )
    candidates = [every, stalls, delays, other_seller, disabled, deleted, later, just_after]
    chosen = matching_subscriptions(alert, published, candidates)
    assert chosen == [every, stalls, just_after]
    assert matching_subscriptions(alert, published - 2 * 86400, [every]) == []
