"""``trackhub deliver`` on the real broker: subscriptions and alerts published to Kafka,
webhooks received by a local endpoint.

All delivery processes share the consumer group ``trackhub-delivery``, so no two run at
once: the tests of ``TestOneDeliveryProcess`` share one process (stopped with the class),
the later tests start their own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from hub import topics
from hub.seller_records import publish_records, read_records
from hub.settings import Settings
from schemas.alerts import Alert
from schemas.sellers import Subscription, new_subscription_id, new_subscription_secret
from tests.conftest import subprocess_env
from tests.factories import make_alert
from tests.support.delivery_process import DeliveryProcess
from tests.support.prom import sample_value
from tests.support.webhook_receiver import WebhookReceiver, wait_until

OPENED = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


def new_seller() -> str:
    return f"dlv-{uuid.uuid4().hex[:10]}"


def new_subscription(seller_id: str, url: str, **changes: object) -> Subscription:
    fields: dict[str, object] = {
        "subscription_id": new_subscription_id(),
        "seller_id": seller_id,
        "url": url,
        "secret": new_subscription_secret(),
        "created_at": datetime.now(UTC),
    }
    return Subscription.model_validate(fields | changes)


def alert_state(seller_id: str, shipment: str, revision: int = 1) -> Alert:
    """One state of the delay alert of ``shipment``: open, then updated revisions."""
    return make_alert(
        seller_id=seller_id,
        shipment_id=f"{seller_id}.{shipment}",
        state="open" if revision == 1 else "updated",
        revision=revision,
        opened_at=OPENED.isoformat(),
        updated_at=(OPENED + timedelta(hours=revision - 1)).isoformat(),
    )


async def publish_subscriptions(settings: Settings, *subs: Subscription) -> None:
    records = [(sub.subscription_id, sub) for sub in subs]
    await asyncio.to_thread(publish_records, settings, topics.SUBSCRIPTIONS, records)


async def publish_alerts(settings: Settings, *alerts: Alert) -> None:
    records = [(alert.seller_id, alert) for alert in alerts]
    await asyncio.to_thread(publish_records, settings, topics.ALERTS, records)


async def disabled_record(settings: Settings, subscription_id: str) -> Subscription:
    """Wait for the subscription's record on subscriptions.v1 to say it is disabled."""
    for _ in range(100):
        records = await asyncio.to_thread(
            read_records, settings, topics.SUBSCRIPTIONS, Subscription
        )
        record = records.get(subscription_id)
        if record is not None and record.disabled_at is not None:
            return record
        await asyncio.sleep(0.2)
    raise AssertionError(f"{subscription_id} was never published as disabled")


@pytest.fixture(scope="module")
def delivery_env(kafka_env: dict[str, str]) -> dict[str, str]:
    """``cli_env`` for processes shared by several tests."""
    return subprocess_env(kafka_env)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    started = await WebhookReceiver().start()
    yield started
    await started.stop()


def grew(before: str, after: str, name: str, **labels: str) -> float:
    return sample_value(after, name, **labels) - sample_value(before, name, **labels)


@pytest.fixture(scope="class")
def delivery(
    delivery_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeliveryProcess]:
    """One process for the tests of a class (stopped when the class ends). An attempt may
    take 5 s: a hung endpoint holds its slots that long."""
    folder = tmp_path_factory.mktemp("delivery")
    process = DeliveryProcess(delivery_env, folder, delivery_timeout_s="5").start()
    try:
        yield process
    finally:
        assert process.stop() == 0, "a clean stop on SIGTERM exits 0"


class TestOneDeliveryProcess:
    async def test_signed_standard_webhook_delivered_once(
        self, delivery: DeliveryProcess, receiver: WebhookReceiver, kafka_settings: Settings
    ) -> None:
        seller = new_seller()
        sub = new_subscription(seller, receiver.url(f"/hooks/{seller}?token=t0k3n"))
        await publish_subscriptions(kafka_settings, sub)
        alert = alert_state(seller, "SHP-1")
        await publish_alerts(kafka_settings, alert, alert)  # at-least-once: twice on alerts.v1
        await wait_until(lambda: receiver.requests, "the webhook")
        await asyncio.sleep(1.0)  # room for a duplicate to show up
        (received,) = receiver.requests
        assert received.path == f"/hooks/{seller}"
        assert received.headers["webhook-id"] == alert.delivery_id
        assert received.headers["Content-Type"] == "application/json"
        payload = Webhook(sub.secret).verify(received.body, received.headers)
        assert payload["type"] == "alert.open"
        assert payload["timestamp"] == "2026-03-10T17:00:00Z"
        assert Alert.model_validate(payload["data"]) == alert
        log = delivery.log.read_text() if delivery.log else ""
        assert sub.secret not in log and "t0k3n" not in log

    async def test_retries_after_errors_and_keeps_each_shipments_order(
        self, delivery: DeliveryProcess, receiver: WebhookReceiver, kafka_settings: Settings
    ) -> None:
        seller = new_seller()
        first, second = alert_state(seller, "SHP-1", 1), alert_state(seller, "SHP-1", 2)
        other = alert_state(seller, "SHP-2", 1)
        failures = {first.delivery_id: 2}

        def answer(request: web.Request) -> int:
            webhook_id = request.headers["webhook-id"]
            if failures.get(webhook_id, 0) > 0:
                failures[webhook_id] -= 1
                return 500
            return 200

        receiver.answer = answer
        await publish_subscriptions(kafka_settings, new_subscription(seller, receiver.url()))
        await publish_alerts(kafka_settings, first, second, other)
        await wait_until(
            lambda: {r.webhook_id for r in receiver.answered(200)} >= {second.delivery_id},
            "the second state of SHP-1",
        )
        shp1 = [
            (r.webhook_id, r.status) for r in receiver.requests if r.webhook_id != other.delivery_id
        ]
        assert shp1 == [
            (first.delivery_id, 500),
            (first.delivery_id, 500),
            (first.delivery_id, 200),
            (second.delivery_id, 200),
        ]
        attempts = [r.at for r in receiver.requests if r.webhook_id == first.delivery_id]
        assert attempts[1] - attempts[0] >= 0.3 * 0.8  # the schedule, less its jitter
        assert attempts[2] - attempts[1] >= 0.6 * 0.8
        # another shipment of the same seller does not wait for SHP-1's retries
        other_at = next(r.at for r in receiver.requests if r.webhook_id == other.delivery_id)
        assert other_at < attempts[2]

    async def test_410_disables_the_subscription_and_stops_deliveries(
        self, delivery: DeliveryProcess, receiver: WebhookReceiver, kafka_settings: Settings
    ) -> None:
        before = delivery.metrics()
        receiver.answer = lambda request: 410
        seller = new_seller()
        sub = new_subscription(seller, receiver.url())
        await publish_subscriptions(kafka_settings, sub)
        await publish_alerts(kafka_settings, alert_state(seller, "SHP-1"))
        record = await disabled_record(kafka_settings, sub.subscription_id)
        assert record.disabled_reason == "endpoint answered 410 Gone"
        assert record.model_dump(exclude={"disabled_at", "disabled_reason"}) == sub.model_dump(
            exclude={"disabled_at", "disabled_reason"}
        )
        await publish_alerts(kafka_settings, alert_state(seller, "SHP-2"))
        await asyncio.sleep(1.5)
        assert len(receiver.requests) == 1
        after = delivery.metrics()
        assert grew(before, after, "trackhub_subscriptions_disabled_total", reason="gone") == 1
        assert grew(before, after, "trackhub_webhook_deliveries_total", outcome="gone") == 1

    async def test_redirects_are_failures_and_never_followed(
        self, delivery: DeliveryProcess, receiver: WebhookReceiver, kafka_settings: Settings
    ) -> None:
        before = delivery.metrics()
        receiver.answer = lambda request: (
            web.Response(status=302, headers={"Location": receiver.url("/landed")})
            if request.path == "/hook"
            else 200
        )
        seller = new_seller()
        await publish_subscriptions(kafka_settings, new_subscription(seller, receiver.url()))
        await publish_alerts(kafka_settings, alert_state(seller, "SHP-1"))
        # the first attempt and the three retries of the schedule, then given up
        await wait_until(lambda: len(receiver.requests) >= 4, "four attempts", timeout_s=15)

        def given_up() -> bool:
            page = delivery.metrics()
            return (
                grew(
                    before,
                    page,
                    "trackhub_webhook_delivery_dropped_total",
                    reason="retries_exhausted",
                )
                >= 1
            )

        await wait_until(given_up, "the delivery to be given up", timeout_s=5)
        assert {r.path for r in receiver.requests} == {"/hook"}
        assert len(receiver.requests) == 4
        after = delivery.metrics()
        assert grew(before, after, "trackhub_webhook_deliveries_total", outcome="redirect") == 4

    async def test_a_hung_endpoint_does_not_delay_other_sellers(
        self, delivery: DeliveryProcess, kafka_settings: Settings
    ) -> None:
        hung, healthy = await WebhookReceiver().start(), await WebhookReceiver().start()
        try:
            hung.answer = lambda request: hung.hang()
            seller_a, seller_b = new_seller(), new_seller()
            await publish_subscriptions(
                kafka_settings,
                new_subscription(seller_a, hung.url()),
                new_subscription(seller_b, healthy.url()),
            )
            await publish_alerts(
                kafka_settings, *(alert_state(seller_a, f"SHP-{i}") for i in range(8))
            )
            await wait_until(lambda: hung.in_flight >= 4, "seller A's endpoint to hang")
            await publish_alerts(kafka_settings, alert_state(seller_b, "SHP-1"))
            published = asyncio.get_running_loop().time()  # durable on alerts.v1
            await wait_until(lambda: healthy.requests, "seller B's webhook", timeout_s=10)
            took = asyncio.get_running_loop().time() - published
            assert took < 1.5, f"seller B waited {took:.2f} s behind a hung endpoint"
            # seller A holds no more than its own slots (TRACKHUB_DELIVERY_PER_ENDPOINT)
            assert hung.max_in_flight == 4
        finally:
            await hung.stop()
            await healthy.stop()

    async def test_probes_and_metrics(
        self, delivery: DeliveryProcess, kafka_settings: Settings
    ) -> None:
        assert delivery.get("/healthz") == (200, '{"status": "ok"}')
        status, body = delivery.get("/readyz")
        checks = json.loads(body)["checks"]
        assert status == 200 and set(checks) == {"subscriptions", "alerts", "queue"}
        page = delivery.metrics()
        assert sample_value(page, "trackhub_webhook_deliveries_total", outcome="success") >= 4
        assert sample_value(page, "trackhub_webhook_delivery_latency_seconds_count") >= 4
        for gauge in ("trackhub_webhook_deliveries_pending", "trackhub_webhook_retries_pending"):
            assert gauge in page
        assert "dlv-" not in page and "sub_" not in page and "127.0.0.1" not in page


async def test_loopback_is_refused_at_connect_time_without_the_allowlist(
    delivery_env: dict[str, str],
    receiver: WebhookReceiver,
    kafka_settings: Settings,
    tmp_path: Path,
) -> None:
    """No allowlist: a subscription to this machine (by name or by address) is never
    called; its attempts fail as 'blocked' until the failure streak disables it."""
    delivery = DeliveryProcess(
        delivery_env, tmp_path, delivery_allow_networks="[]", delivery_disable_after_s="1.2"
    ).start()
    try:
        seller = new_seller()
        by_name = new_subscription(seller, receiver.url(host="localhost"))
        by_address = new_subscription(seller, receiver.url())
        await publish_subscriptions(kafka_settings, by_name, by_address)
        await publish_alerts(kafka_settings, alert_state(seller, "SHP-1"))
        for sub in (by_name, by_address):
            record = await disabled_record(kafka_settings, sub.subscription_id)
            assert record.disabled_reason is not None
            assert record.disabled_reason.startswith("no successful delivery for 1.2 s (last: ")
            assert "blocked address" in record.disabled_reason
            assert "loopback" in record.disabled_reason
        assert receiver.requests == []
        page = delivery.metrics()
        assert sample_value(page, "trackhub_webhook_deliveries_total", outcome="blocked") >= 8
        assert sample_value(page, "trackhub_subscriptions_disabled_total", reason="failing") == 2
    finally:
        assert delivery.stop() == 0


async def test_pending_deliveries_survive_kill_9(
    delivery_env: dict[str, str],
    receiver: WebhookReceiver,
    kafka_settings: Settings,
    tmp_path: Path,
) -> None:
    """Jobs pending when the process is killed are delivered after the restart, and so are
    alerts published while it was down; none lost, each shipment still in order."""
    seller = new_seller()
    receiver.answer = lambda request: 503
    await publish_subscriptions(kafka_settings, new_subscription(seller, receiver.url()))
    delivery = DeliveryProcess(delivery_env, tmp_path, delivery_retry_schedule_s="[2, 2, 2]")
    delivery.start()
    before_kill = [alert_state(seller, f"SHP-{i}", rev) for i in range(3) for rev in (1, 2)]
    while_down = [alert_state(seller, f"SHP-{i}", 1) for i in range(3, 5)]
    try:
        await publish_alerts(kafka_settings, *before_kill)
        heads = {a.delivery_id for a in before_kill if a.revision == 1}
        await wait_until(
            lambda: {r.webhook_id for r in receiver.requests} >= heads,
            "a first (failed) attempt of each shipment's first state",
        )
        delivery.kill()
        await publish_alerts(kafka_settings, *while_down)
        receiver.answer = lambda request: 200
        delivery.start()
        expected = {a.delivery_id for a in before_kill + while_down}
        await wait_until(
            lambda: {r.webhook_id for r in receiver.answered(200)} >= expected,
            "every alert state to be delivered after the restart",
            timeout_s=45,
        )
    finally:
        assert delivery.stop() == 0
    assert {r.webhook_id for r in receiver.requests} == expected  # nothing else was sent
    for i in range(3):
        first, second = (alert_state(seller, f"SHP-{i}", rev).delivery_id for rev in (1, 2))
        delivered_first = min(r.at for r in receiver.answered(200) if r.webhook_id == first)
        sent_second = min(r.at for r in receiver.requests if r.webhook_id == second)
        assert delivered_first <= sent_second, f"SHP-{i} out of order"
