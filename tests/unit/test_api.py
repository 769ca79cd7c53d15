"""The seller API's handlers over a real SQLite read model (Kafka is the integration tests'
part: here writes go to a recording publish function, as ``hub.api_server`` wires aiokafka).

Every endpoint is checked for isolation: another seller's rows answer 404 and never
appear in a list.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub import topics
from hub.api import create_api_app
from hub.api_http import KafkaWriteError
from hub.api_projector import SCORECARD_CHANGELOG, SHIPMENT_CHANGELOG, apply_record
from hub.api_store import ApiStore, decode_cursor, encode_cursor
from hub.api_stream import AlertBroadcaster
from hub.hub_agents import StoredRecord
from hub.hub_messages import InboxMessage
from hub.kafka_clients import encode_model
from hub.scorecard import cards_value, shipment_cards
from hub.settings import Settings
from hub.shipment_runner import ShipmentRecord, add_event, advance
from hub.shipment_state import new_state
from schemas.alerts import Alert
from schemas.sellers import ApiKey, hash_key, new_api_key
from tests.factories import make_alert, make_plan, native_event

NOW = "2026-03-01T10:00:00+00:00"


@dataclass
class Recorder:
    """Stands in for the durable producer: what was written, or a broker outage."""

    writes: list[tuple[str, bytes, bytes | None]] = field(default_factory=list)
    down: bool = False

    async def __call__(self, topic: str, key: bytes, value: bytes | None) -> None:
        if self.down:
            raise KafkaWriteError("broker unavailable")
        self.writes.append((topic, key, value))


async def refuse_private(url: str) -> None:
    from hub.api_http import ApiError

    if "10.0.0.1" in url:
        raise ApiError(422, "unsafe_url", "the host resolves to a private address")


@dataclass
class World:
    client: TestClient
    store: ApiStore
    recorder: Recorder
    broadcaster: AlertBroadcaster
    keys: dict[str, str]
    offsets: dict[str, int] = field(default_factory=dict)

    def auth(self, seller: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[seller]}"}

    def project(self, topic: str, key: str, value: bytes | None, partition: int = 0) -> list:
        offset = self.offsets.get(f"{topic}/{partition}", 0)
        self.offsets[f"{topic}/{partition}"] = offset + 1
        with self.store.transaction() as db:
            return apply_record(db, topic, partition, offset, key.encode(), value)

    def alert(self, **changes: Any) -> Alert:
        alert = make_alert(**changes)
        logged = self.project(topics.ALERTS, alert.seller_id, encode_model(alert))
        self.broadcaster.publish(logged)
        return alert


def _key_record(seller: str) -> tuple[str, ApiKey]:
    key_id, full = new_api_key()
    record = ApiKey(key_id=key_id, seller_id=seller, secret_sha256=hash_key(full), created_at=NOW)
    return full, record


def _shipment(world: World, seller: str, shipment_id: str, *events: Any) -> None:
    plan = make_plan(shipment_id=shipment_id, seller_id=seller)
    world.project(topics.SHIPMENTS, shipment_id, encode_model(plan))
    record = ShipmentRecord(state=new_state(plan))
    for event in events:
        record, _ = add_event(record, event)
        message = InboxMessage(kind="event", event=event)
        world.project(topics.SHIPMENTS_INBOX, shipment_id, encode_model(message))
    if events:
        record, _ = advance(record, max(e.occurred_at for e in events))
    world.project(SHIPMENT_CHANGELOG, shipment_id, StoredRecord(0, record).dumps(None))
    world.project(SCORECARD_CHANGELOG, shipment_id, cards_value(shipment_cards(record.state)))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(
        api_rate_per_s=1000,
        api_rate_burst=1000,
        api_max_body_bytes=64 * 1024,
        api_sse_heartbeat_s=0.2,
    )
    store = ApiStore(tmp_path / "read.db")
    recorder = Recorder()
    broadcaster = AlertBroadcaster(max_queued=50)
    app = create_api_app(settings, store, recorder, broadcaster, refuse_private)
    client = TestClient(TestServer(app))
    await client.start_server()
    keys: dict[str, str] = {}
    world = World(client, store, recorder, broadcaster, keys)
    for seller in ("seller-a", "seller-b"):
        full, record = _key_record(seller)
        keys[seller] = full
        world.project(topics.API_KEYS, record.key_id, encode_model(record))
    plan_a = make_plan(shipment_id="SHP-A1", seller_id="seller-a")
    first_hawb = plan_a.legs[0].identifiers[0].key
    picked = native_event(
        "2026-03-01T08:00:00+00:00",
        "picked_up",
        first_hawb,
        plan_a.legs[0].party.id,
        plan_a.legs[0].party.role.value,
    )
    _shipment(world, "seller-a", "SHP-A1", picked)
    _shipment(world, "seller-a", "SHP-A2")
    _shipment(world, "seller-b", "SHP-B1")
    try:
        yield world
    finally:
        await client.close()
        store.close()


async def _json(response: Any) -> Any:
    assert response.content_type == "application/json", await response.text()
    return await response.json()


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic abc", "Bearer thk_nothex_secret", "Bearer thk_0123456789abcdef_x"],
)
async def test_requests_without_a_valid_key_are_401_with_a_challenge(
    world: World, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await world.client.get("/v1/shipments", headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await _json(response)
    assert body["error"]["code"] == "unauthorized"
    assert set(body["error"]) == {"code", "message", "request_id"}


async def test_a_revoked_key_stops_working_and_a_wrong_secret_never_did(world: World) -> None:
    full, record = _key_record("seller-a")
    world.project(topics.API_KEYS, record.key_id, encode_model(record))
    ok = await world.client.get("/v1/shipments", headers={"Authorization": f"Bearer {full}"})
    assert ok.status == 200
    forged = full[:-4] + ("AAAA" if not full.endswith("AAAA") else "BBBB")
    bad = await world.client.get("/v1/shipments", headers={"Authorization": f"Bearer {forged}"})
    assert bad.status == 401
    revoked = ApiKey.model_validate({**record.model_dump(), "revoked_at": NOW})
    world.project(topics.API_KEYS, record.key_id, encode_model(revoked))
    gone = await world.client.get("/v1/shipments", headers={"Authorization": f"Bearer {full}"})
    assert gone.status == 401


async def test_the_openapi_document_and_probes_need_no_key(world: World) -> None:
    response = await world.client.get("/v1/openapi.json")
    document = await _json(response)
    assert document["openapi"].startswith("3.")
    assert "/v1/alerts/stream" in document["paths"]


# --- isolation -----------------------------------------------------------------------------


async def test_every_read_endpoint_hides_another_sellers_rows(world: World) -> None:
    alert_a = world.alert(shipment_id="SHP-A1", seller_id="seller-a")
    world.alert(
        shipment_id="SHP-B1",
        seller_id="seller-b",
        leg="last_mile",
        party={"role": "last_mile_carrier", "id": "usps"},
    )
    created = await world.client.post(
        "/v1/subscriptions",
        json={"url": "https://hooks.example.com/a"},
        headers=world.auth("seller-a"),
    )
    sub_a = (await _json(created))["subscription_id"]
    b = world.auth("seller-b")
    for path in (
        "/v1/shipments/SHP-A1",
        f"/v1/alerts/{alert_a.alert_id}",
        f"/v1/subscriptions/{sub_a}",
    ):
        response = await world.client.get(path, headers=b)
        assert response.status == 404, path
        assert (await _json(response))["error"]["code"] == "not_found"
    shipments = await _json(await world.client.get("/v1/shipments", headers=b))
    assert [s["shipment_id"] for s in shipments["items"]] == ["SHP-B1"]
    alerts = await _json(await world.client.get("/v1/alerts", headers=b))
    assert {a["seller_id"] for a in alerts["items"]} == {"seller-b"}
    by_shipment = await _json(
        await world.client.get("/v1/alerts", params={"shipment_id": "SHP-A1"}, headers=b)
    )
    assert by_shipment["items"] == []
    subscriptions = await _json(await world.client.get("/v1/subscriptions", headers=b))
    assert subscriptions["items"] == []
    cards_a = await _json(await world.client.get("/v1/scorecards", headers=world.auth("seller-a")))
    cards_b = await _json(await world.client.get("/v1/scorecards", headers=b))
    assert sum(c["shipments"] for c in cards_a["items"]) > 0
    ids_b = {(c["party_role"], c["party_id"], c["shipments"]) for c in cards_b["items"]}
    assert all(count == 1 for _, _, count in ids_b)  # only SHP-B1 counts for seller-b


async def test_another_sellers_ids_cannot_be_written_or_deleted(world: World) -> None:
    created = await world.client.post(
        "/v1/subscriptions",
        json={"url": "https://hooks.example.com/a"},
        headers=world.auth("seller-a"),
    )
    sub_a = (await _json(created))["subscription_id"]
    writes_before = len(world.recorder.writes)
    b = world.auth("seller-b")
    deleted = await world.client.delete(f"/v1/subscriptions/{sub_a}", headers=b)
    assert deleted.status == 404
    taken = await world.client.post(
        "/v1/shipments",
        json=make_plan(shipment_id="SHP-A1", seller_id="seller-b").model_dump(mode="json"),
        headers=b,
    )
    assert taken.status == 409
    assert "SHP-A1" not in (await taken.text()) or "seller-a" not in (await taken.text())
    assert len(world.recorder.writes) == writes_before
    still = await world.client.get(f"/v1/subscriptions/{sub_a}", headers=world.auth("seller-a"))
    assert still.status == 200


async def test_the_stream_carries_only_the_callers_alerts(world: World) -> None:
    first = world.alert(
        shipment_id="SHP-B1",
        seller_id="seller-b",
        leg="last_mile",
        party={"role": "last_mile_carrier", "id": "usps"},
    )
    position = "0-0"
    world.alert(shipment_id="SHP-A1", seller_id="seller-a")
    world.alert(
        shipment_id="SHP-B1",
        seller_id="seller-b",
        type="stall",
        rule="stall_limit",
        leg="last_mile",
        party={"role": "last_mile_carrier", "id": "usps"},
    )
    events = await _read_events(world, "seller-b", position, want=1)
    assert [json.loads(e["data"])["seller_id"] for e in events] == ["seller-b"]
    assert json.loads(events[0]["data"])["alert_id"] != first.alert_id


# --- shipments -----------------------------------------------------------------------------


async def test_registering_a_plan_is_idempotent_and_revisions_must_increase(world: World) -> None:
    a = world.auth("seller-a")
    plan = make_plan(shipment_id="SHP-NEW", seller_id="seller-a").model_dump(mode="json")
    del plan["seller_id"]  # filled in from the key
    created = await world.client.post("/v1/shipments", json=plan, headers=a)
    assert created.status == 201
    assert (await _json(created))["result"] == "created"
    ((topic, key, value),) = world.recorder.writes
    assert (topic, key) == (topics.SHIPMENTS, b"SHP-NEW")
    assert json.loads(value)["seller_id"] == "seller-a"
    again = await world.client.post("/v1/shipments", json=plan, headers=a)
    assert again.status == 200 and (await _json(again))["result"] == "unchanged"
    assert len(world.recorder.writes) == 1
    changed = {**plan, "promised_delivery_at": "2026-04-01T00:00:00+00:00"}
    stale = await world.client.post("/v1/shipments", json=changed, headers=a)
    assert stale.status == 409
    revised = await world.client.post("/v1/shipments", json={**changed, "revision": 2}, headers=a)
    assert revised.status == 200 and (await _json(revised))["result"] == "revised"
    shown = await _json(await world.client.get("/v1/shipments/SHP-NEW", headers=a))
    assert shown["plan"]["revision"] == 2 and shown["status"] == "registered"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b'{"shipment_id": "X"}', "application/json", 422, "invalid"),
        (b"shipment_id=X", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"[1, 2]", "application/json", 422, "invalid"),
        (b'{"a": "' + b"x" * 70_000 + b'"}', "application/json", 413, "request_entity_too_large"),
    ],
)
async def test_bad_plans_get_one_error_shape_and_write_nothing(
    world: World, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = await world.client.post(
        "/v1/shipments", data=body, headers={**world.auth("seller-a"), "Content-Type": content_type}
    )
    assert response.status == status
    error = (await _json(response))["error"]
    assert error["code"] == code and error["request_id"]
    assert "Traceback" not in error["message"]
    assert world.recorder.writes == []


async def test_a_plan_for_another_seller_id_is_refused(world: World) -> None:
    plan = make_plan(shipment_id="SHP-X", seller_id="seller-b").model_dump(mode="json")
    response = await world.client.post("/v1/shipments", json=plan, headers=world.auth("seller-a"))
    assert response.status == 422
    assert world.recorder.writes == []


async def test_with_kafka_down_a_write_is_503_with_retry_after_and_nothing_is_kept(
    world: World,
) -> None:
    world.recorder.down = True
    plan = make_plan(shipment_id="SHP-DOWN", seller_id="seller-a").model_dump(mode="json")
    response = await world.client.post("/v1/shipments", json=plan, headers=world.auth("seller-a"))
    assert response.status == 503 and response.headers["Retry-After"]
    missing = await world.client.get("/v1/shipments/SHP-DOWN", headers=world.auth("seller-a"))
    assert missing.status == 404


async def test_a_shipment_shows_plan_state_and_timeline(world: World) -> None:
    shown = await _json(
        await world.client.get("/v1/shipments/SHP-A1", headers=world.auth("seller-a"))
    )
    assert shown["status"] == "in_transit"
    assert shown["state"]["legs"]["first_mile"]["status"] == "active"
    assert [e["milestone"] for e in shown["timeline"]] == ["picked_up"]


async def test_shipment_lists_filter_by_status_and_page_with_cursors(world: World) -> None:
    a = world.auth("seller-a")
    for n in range(5):
        _shipment(world, "seller-a", f"SHP-P{n}")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await _json(await world.client.get("/v1/shipments", params=params, headers=a))
        seen += [s["shipment_id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 7
    moving = await _json(
        await world.client.get("/v1/shipments", params={"status": "in_transit"}, headers=a)
    )
    assert [s["shipment_id"] for s in moving["items"]] == ["SHP-A1"]
    for params in ({"limit": "0"}, {"limit": "201"}, {"cursor": "bogus"}, {"status": "lost"}):
        bad = await world.client.get("/v1/shipments", params=params, headers=a)
        assert bad.status == 400, params


# --- alerts --------------------------------------------------------------------------------


async def test_alerts_filter_page_and_show_their_latest_revision(world: World) -> None:
    a = world.auth("seller-a")
    delay = world.alert(shipment_id="SHP-A1", seller_id="seller-a")
    world.alert(
        shipment_id="SHP-A1",
        seller_id="seller-a",
        revision=2,
        state="updated",
        updated_at="2026-03-11T09:00:00-08:00",
    )
    world.alert(
        shipment_id="SHP-A2",
        seller_id="seller-a",
        type="stall",
        rule="stall_limit",
        party={"role": "customs_broker", "id": "broker-jfk"},
        opened_at="2026-03-12T09:00:00+00:00",
        updated_at="2026-03-12T09:00:00+00:00",
    )
    one = await _json(await world.client.get(f"/v1/alerts/{delay.alert_id}", headers=a))
    assert one["revision"] == 2 and one["state"] == "updated"
    stalls = await _json(await world.client.get("/v1/alerts", params={"type": "stall"}, headers=a))
    assert [x["type"] for x in stalls["items"]] == ["stall"]
    first = await _json(await world.client.get("/v1/alerts", params={"limit": "1"}, headers=a))
    assert first["items"][0]["type"] == "stall"  # newest opened first
    rest = await _json(
        await world.client.get(
            "/v1/alerts", params={"limit": "1", "cursor": first["next_cursor"]}, headers=a
        )
    )
    assert rest["items"][0]["alert_id"] == delay.alert_id and rest["next_cursor"] is None
    broker = await _json(
        await world.client.get(
            "/v1/alerts",
            params={"party_role": "customs_broker", "party_id": "broker-lax"},
            headers=a,
        )
    )
    assert len(broker["items"]) == 1


async def _read_events(world: World, seller: str, last_id: str | None, want: int) -> list[dict]:
    headers = {**world.auth(seller), **({"Last-Event-ID": last_id} if last_id else {})}
    events: list[dict] = []
    async with world.client.get("/v1/alerts/stream", headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        current: dict[str, str] = {}

        async def read() -> None:
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "data" in current:
                        events.append(dict(current))
                    current.clear()
                    if len(events) >= want:
                        return
                    continue
                name, _, value = line.partition(":")
                if name:
                    current[name] = value.lstrip()

        await asyncio.wait_for(read(), timeout=5)
    return events


async def test_the_stream_resumes_after_last_event_id_without_gaps_or_repeats(
    world: World,
) -> None:
    shipments = [f"SHP-S{n}" for n in range(4)]
    for shipment in shipments:
        world.alert(shipment_id=shipment, seller_id="seller-a")
    world.alert(shipment_id="SHP-S1", seller_id="seller-a")  # published twice: streamed once
    first = await _read_events(world, "seller-a", "0-0", want=1)
    assert [e["id"] for e in first] == ["0-1"]
    rest = await _read_events(world, "seller-a", first[-1]["id"], want=2)
    assert [json.loads(e["data"])["shipment_id"] for e in rest] == ["SHP-S2", "SHP-S3"]
    assert [e["event"] for e in rest] == ["alert", "alert"]


async def test_the_stream_sends_live_alerts_and_heartbeats(world: World) -> None:
    headers = world.auth("seller-a")
    async with world.client.get("/v1/alerts/stream", headers=headers) as response:
        lines: list[str] = []

        async def read_until_data() -> None:
            async for raw in response.content:
                lines.append(raw.decode().rstrip("\r\n"))
                if lines[-1].startswith("data:"):
                    return

        reader = asyncio.create_task(read_until_data())
        await asyncio.sleep(0.5)  # heartbeats every 0.2 s meanwhile
        world.alert(shipment_id="SHP-LIVE", seller_id="seller-a")
        await asyncio.wait_for(reader, timeout=5)
    assert any(line.startswith(":") for line in lines), lines  # heartbeat comments
    assert json.loads(lines[-1][5:])["shipment_id"] == "SHP-LIVE"


async def test_a_malformed_last_event_id_is_400(world: World) -> None:
    response = await world.client.get(
        "/v1/alerts/stream", headers={**world.auth("seller-a"), "Last-Event-ID": "yesterday"}
    )
    assert response.status == 400


# --- subscriptions -------------------------------------------------------------------------


async def test_a_subscription_shows_its_secret_once_and_can_be_deleted(world: World) -> None:
    a = world.auth("seller-a")
    created = await world.client.post(
        "/v1/subscriptions",
        json={"url": "https://hooks.example.com/trackhub", "alert_types": ["stall", "delay"]},
        headers=a,
    )
    assert created.status == 201
    body = await _json(created)
    assert body["secret"].startswith("whsec_") and body["alert_types"] == ["delay", "stall"]
    (topic, key, value) = world.recorder.writes[-1]
    assert topic == topics.SUBSCRIPTIONS and json.loads(value)["secret"] == body["secret"]
    listed = await _json(await world.client.get("/v1/subscriptions", headers=a))
    assert [s["subscription_id"] for s in listed["items"]] == [body["subscription_id"]]
    assert "secret" not in json.dumps(listed)
    one = await _json(
        await world.client.get(f"/v1/subscriptions/{body['subscription_id']}", headers=a)
    )
    assert "secret" not in one and one["disabled_at"] is None
    deleted = await world.client.delete(f"/v1/subscriptions/{body['subscription_id']}", headers=a)
    assert deleted.status == 204
    assert world.recorder.writes[-1] == (topics.SUBSCRIPTIONS, key, None)  # a tombstone
    gone = await world.client.get(f"/v1/subscriptions/{body['subscription_id']}", headers=a)
    assert gone.status == 404


async def test_a_disabled_subscription_shows_why(world: World) -> None:
    a = world.auth("seller-a")
    created = await _json(
        await world.client.post(
            "/v1/subscriptions", json={"url": "https://hooks.example.com/x"}, headers=a
        )
    )
    _, key, value = world.recorder.writes[-1]
    record = json.loads(value)
    record.update(disabled_at=NOW, disabled_reason="endpoint answered 410 Gone")
    world.project(topics.SUBSCRIPTIONS, key.decode(), json.dumps(record).encode())
    one = await _json(
        await world.client.get(f"/v1/subscriptions/{created['subscription_id']}", headers=a)
    )
    assert one["disabled_reason"] == "endpoint answered 410 Gone"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"url": "https://10.0.0.1/hook"}, 422),
        ({"url": "https://hooks.example.com/x", "alert_types": ["nope"]}, 422),
        ({"alert_types": []}, 422),
    ],
)
async def test_bad_subscriptions_are_refused(world: World, body: dict, status: int) -> None:
    response = await world.client.post(
        "/v1/subscriptions", json=body, headers=world.auth("seller-a")
    )
    assert response.status == status
    assert world.recorder.writes == []


# --- limits and errors ---------------------------------------------------------------------


async def test_each_key_has_its_own_rate_limit(tmp_path: Path) -> None:
    settings = Settings(api_rate_per_s=0.5, api_rate_burst=3)
    store = ApiStore(tmp_path / "read.db")
    app = create_api_app(settings, store, Recorder(), AlertBroadcaster(), refuse_private)
    keys = {}
    with store.transaction() as db:
        for n, seller in enumerate(("s1", "s2")):
            full, record = _key_record(seller)
            keys[seller] = full
            apply_record(db, topics.API_KEYS, 0, n, record.key_id.encode(), encode_model(record))
    async with TestClient(TestServer(app)) as client:
        statuses = []
        for _ in range(4):
            response = await client.get(
                "/v1/shipments", headers={"Authorization": f"Bearer {keys['s1']}"}
            )
            statuses.append(response.status)
        assert statuses == [200, 200, 200, 429]
        assert int(response.headers["Retry-After"]) >= 1
        assert (await response.json())["error"]["code"] == "rate_limited"
        other = await client.get("/v1/shipments", headers={"Authorization": f"Bearer {keys['s2']}"})
        assert other.status == 200
    store.close()


async def test_unknown_routes_and_methods_answer_in_the_error_shape(world: World) -> None:
    a = world.auth("seller-a")
    for method, path, status in (("GET", "/v1/nothing", 404), ("PUT", "/v1/shipments", 405)):
        response = await world.client.request(method, path, headers=a)
        assert response.status == status
        assert set((await _json(response))["error"]) == {"code", "message", "request_id"}


async def test_an_internal_failure_is_an_opaque_500(world: World) -> None:
    world.store.close()  # every query now raises sqlite3.ProgrammingError
    response = await world.client.get("/v1/shipments", headers={})
    assert response.status in (401, 500)
    text = await response.text()
    assert "sqlite" not in text.lower() and "Traceback" not in text


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    assert decode_cursor(encode_cursor(["2026-01-01", "alt_1"]), 2) == ["2026-01-01", "alt_1"]
    assert decode_cursor("bogus", 1) is None
    assert decode_cursor(encode_cursor([1]), 1) is None
    assert decode_cursor(encode_cursor(["a"]), 2) is None


def test_the_stream_closes_a_client_that_falls_too_far_behind() -> None:
    async def run() -> None:
        broadcaster = AlertBroadcaster(max_queued=2)
        queue = broadcaster.listen("s")
        from hub.api_store import LoggedAlert, StreamPosition

        for n in range(3):
            broadcaster.publish([LoggedAlert(StreamPosition(0, n), "s", "{}")])
        items = [queue.get_nowait() for _ in range(queue.qsize())]
        assert items[-1] is None and broadcaster.connections == 0

    asyncio.run(run())


async def test_requests_and_streams_are_counted_by_operation_and_status_class(
    world: World,
) -> None:
    from prometheus_client import REGISTRY, generate_latest

    from tests.support.prom import sample_value

    def count(operation: str, status: str) -> float:
        page = generate_latest(REGISTRY).decode()
        return sample_value(page, "trackhub_api_requests_total", operation=operation, status=status)

    before_ok, before_404 = count("listShipments", "2xx"), count("getShipment", "4xx")
    before_other = count("other", "4xx")
    await world.client.get("/v1/shipments", headers=world.auth("seller-a"))
    await world.client.get("/v1/shipments/NOPE", headers=world.auth("seller-a"))
    await world.client.get("/healthz")  # probes are not API traffic
    assert count("listShipments", "2xx") == before_ok + 1
    assert count("getShipment", "4xx") == before_404 + 1
    assert count("other", "4xx") == before_other
    await world.client.get("/v1/nothing", headers=world.auth("seller-a"))
    assert count("other", "4xx") == before_other + 1


def test_closing_the_broadcaster_ends_every_stream() -> None:
    async def run() -> None:
        broadcaster = AlertBroadcaster()
        queues = [broadcaster.listen("s1"), broadcaster.listen("s1"), broadcaster.listen("s2")]
        broadcaster.close_all()
        assert [q.get_nowait() for q in queues] == [None, None, None]
        assert broadcaster.connections == 0

    asyncio.run(run())
