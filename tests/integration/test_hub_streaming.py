"""The streaming hub on the real broker gives the alerts of the offline engine.

A worker process runs the faust agents; the test registers a plan, publishes its events
(shuffled, with a duplicate, and the plan after the events so they are parked first),
moves the hub's clock once every event has reached the shipment, and reads alerts.v1.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from kafka.partitioner.default import murmur2

from hub import topics
from hub.hub_control import advance_clock, register_plans
from hub.hub_messages import InboxMessage
from hub.kafka_clients import create_producer, encode_key, encode_model
from hub.offline import alert_row, run_offline
from hub.settings import Settings
from schemas.alerts import Alert
from schemas.events import DeadLetter, TrackingEvent
from schemas.shipments import ShipmentPlan
from tests.conftest import subprocess_env
from tests.factories import make_plan, native_event
from tests.support.hub_worker import start_worker, stop_worker
from tests.support.kafka_reading import end_offsets, group_backlog, read_since
from tests.support.private_broker import PrivateBroker, private_broker

NOW = datetime(2026, 3, 25, tzinfo=UTC)


def _journey(suffix: str):
    plan = make_plan(
        shipment_id=f"SHP-STREAM-{suffix}",
        identifiers=[{"kind": "order_id", "value": f"SO-{suffix}"}],
    )
    data = plan.model_dump(mode="json")
    for leg in data["legs"]:  # identifiers unique to this run
        for identifier in leg["identifiers"]:
            if identifier["kind"] == "hawb":
                identifier["value"] = f"SZX{suffix}"
            elif identifier["kind"] == "tracking_number":
                identifier["value"] = f"94001118992231{suffix}"
            elif identifier["kind"] == "customs_entry":
                identifier["value"] = f"ABC-{suffix}-8"
            elif identifier["kind"] == "mawb":
                identifier["value"] = f"176-{suffix}"
    plan = type(plan).model_validate(data)
    hawb, tn, entry = (
        f"hawb:SZX{suffix}",
        f"tracking_number:94001118992231{suffix}",
        f"customs_entry:ABC-{suffix}-8",
    )
    events = [
        native_event("2026-03-01T10:00:00+08:00", "picked_up", hawb, "fwd-sz", "forwarder"),
        native_event("2026-03-02T18:00:00+08:00", "departed_origin", hawb, "fwd-sz", "forwarder"),
        native_event(
            "2026-03-03T01:00:00+08:00",
            "line_haul_departed",
            f"mawb:176-{suffix}",
            "fwd-sz",
            "forwarder",
        ),
        native_event(
            "2026-03-03T09:00:00-08:00",
            "line_haul_arrived",
            f"mawb:176-{suffix}",
            "fwd-sz",
            "forwarder",
        ),
        native_event(
            "2026-03-03T12:00:00-08:00",
            "import_customs_submitted",
            entry,
            "broker-lax",
            "customs_broker",
        ),
        native_event(
            "2026-03-04T08:00:00-08:00",
            "import_customs_documents_requested",
            entry,
            "broker-lax",
            "customs_broker",
            reason_code="DOCS",
        ),
        native_event(
            "2026-03-09T15:00:00-08:00",
            "import_customs_released",
            entry,
            "broker-lax",
            "customs_broker",
        ),
        native_event(
            "2026-03-11T09:00:00-08:00", "carrier_received", tn, "usps", "last_mile_carrier"
        ),
    ]
    return plan, events


def _rows(alerts: list[Alert]) -> list[dict]:
    return sorted((alert_row(a) for a in alerts), key=lambda r: r["alert_id"])


@pytest.fixture
def worker(cli_env: dict[str, str]):
    process = start_worker(cli_env)
    yield process
    stop_worker(process)


def _wait_inbox_events(
    settings: Settings, start, shipment_id: str, expected: set[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        for value in read_since(settings, start):
            message = InboxMessage.model_validate_json(value)
            if message.event is not None:
                seen.add(message.event.event_id)
        if expected <= seen:
            return
        time.sleep(0.5)
    raise AssertionError(f"{len(expected - seen)} events never reached {shipment_id}")


@pytest.mark.parametrize("plan_first", [True, False], ids=["plan-first", "plan-late"])
def test_streaming_alerts_equal_offline_alerts(
    kafka_settings: Settings, worker, plan_first: bool
) -> None:
    suffix = f"{int(time.time() * 1000) % 10**8:08d}"
    plan, events = _journey(suffix)
    expected = _rows(run_offline([plan], events, now=NOW).alerts)
    assert {r["type"] for r in expected} >= {"delay", "exception", "handoff_gap", "stall"}

    alerts_start = end_offsets(kafka_settings, topics.ALERTS)
    inbox_start = end_offsets(kafka_settings, topics.SHIPMENTS_INBOX)
    # in event order (they are hours apart: far beyond the allowed lateness), plus a
    # duplicate delivery of one of them
    stream = [*events[:4], events[3], *events[4:]]
    if plan_first:
        register_plans(kafka_settings, [plan])
        # the hub works in event time: events of one shipment travel by different
        # identifiers (partitions), so the test lets each reach the shipment before the
        # next is sent, as a source reporting hours apart would
        _publish_in_order(kafka_settings, stream, inbox_start, plan.shipment_id)
    else:
        _publish(kafka_settings, stream)
        time.sleep(3)  # the events are parked before the plan claims them
        register_plans(kafka_settings, [plan])
    _wait_inbox_events(
        kafka_settings, inbox_start, plan.shipment_id, {e.event_id for e in events}, 120
    )
    advance_clock(kafka_settings, NOW)

    deadline = time.monotonic() + 90
    latest: dict[str, Alert] = {}
    while time.monotonic() < deadline:
        for value in read_since(kafka_settings, alerts_start):
            alert = Alert.model_validate_json(value)
            if alert.shipment_id != plan.shipment_id:
                continue
            if alert.alert_id not in latest or alert.revision > latest[alert.alert_id].revision:
                latest[alert.alert_id] = alert
        if _rows(list(latest.values())) == expected:
            break
        time.sleep(1)
    assert _rows(list(latest.values())) == expected, json.dumps(
        _rows(list(latest.values())), indent=1
    )
    assert worker.poll() is None, "the worker died"


def _publish(settings: Settings, batch: list[TrackingEvent]) -> None:
    producer = create_producer(settings, purpose="test-hub")
    try:
        for event in batch:
            key = encode_key(event.primary_identifier.key)
            producer.send(topics.EVENTS, key=key, value=encode_model(event))
        producer.flush()
    finally:
        producer.close()


def _publish_in_order(
    settings: Settings, batch: list[TrackingEvent], inbox_start, shipment_id: str
) -> None:
    """Each event reaches the shipment's partition before the next one is sent."""
    for event in batch:
        _publish(settings, [event])
        _wait_inbox_events(settings, inbox_start, shipment_id, {event.event_id}, 180)


def test_worker_killed_mid_journey_loses_no_deadline_and_repeats_no_alert(
    kafka_settings: Settings, cli_env: dict[str, str]
) -> None:
    suffix = f"{int(time.time() * 1000) % 10**8:08d}"
    plan, events = _journey(suffix)
    expected = _rows(run_offline([plan], events, now=NOW).alerts)
    alerts_start = end_offsets(kafka_settings, topics.ALERTS)
    inbox_start = end_offsets(kafka_settings, topics.SHIPMENTS_INBOX)

    first = start_worker(cli_env)
    try:
        register_plans(kafka_settings, [plan])
        _publish_in_order(kafka_settings, events[:5], inbox_start, plan.shipment_id)
        _wait_inbox_events(
            kafka_settings, inbox_start, plan.shipment_id, {e.event_id for e in events[:5]}, 120
        )
        time.sleep(3)  # let it process and commit some, then die without a goodbye
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    second = start_worker(cli_env)
    try:
        _publish_in_order(kafka_settings, events[5:], inbox_start, plan.shipment_id)
        _wait_inbox_events(
            kafka_settings, inbox_start, plan.shipment_id, {e.event_id for e in events}, 120
        )
        advance_clock(kafka_settings, NOW)
        deadline = time.monotonic() + 120
        transitions: list[Alert] = []
        while time.monotonic() < deadline:
            transitions = [
                a
                for a in map(Alert.model_validate_json, read_since(kafka_settings, alerts_start))
                if a.shipment_id == plan.shipment_id
            ]
            latest: dict[str, Alert] = {}
            for alert in transitions:
                if alert.alert_id not in latest or alert.revision > latest[alert.alert_id].revision:
                    latest[alert.alert_id] = alert
            if _rows(list(latest.values())) == expected:
                break
            time.sleep(1)
        assert _rows(list(latest.values())) == expected
        # at-least-once may publish one state twice; never two different states under one id
        by_delivery: dict[str, Alert] = {}
        for alert in transitions:
            seen = by_delivery.setdefault(alert.delivery_id, alert)
            assert seen == alert, f"two different alerts published as {alert.delivery_id}"
    finally:
        stop_worker(second)


def test_event_no_plan_claims_is_dead_lettered_when_its_parking_expires(
    kafka_settings: Settings, cli_env: dict[str, str]
) -> None:
    """Parked events age in event time; one no plan ever claimed goes to the DLQ once,
    with its reason, while a claimed one and a young one do not."""
    suffix = f"{int(time.time() * 1000) % 10**8:08d}"
    t0 = datetime(2026, 6, 1, 12, tzinfo=UTC)

    orphan = native_event(
        t0.isoformat(), "in_transit", f"tracking_number:ORPHAN{suffix}", "usps", "last_mile_carrier"
    )
    claimed = native_event(
        t0.isoformat(),
        "in_transit",
        f"tracking_number:CLAIMED{suffix}",
        "usps",
        "last_mile_carrier",
    )
    young = native_event(
        (t0 + timedelta(hours=3)).isoformat(),
        "in_transit",
        f"tracking_number:YOUNG{suffix}",
        "usps",
        "last_mile_carrier",
    )
    plan = make_plan(
        shipment_id=f"SHP-PARK-{suffix}",
        identifiers=[{"kind": "tracking_number", "value": f"CLAIMED{suffix}"}],
    )
    dlq_start = end_offsets(kafka_settings, topics.DLQ)
    worker = start_worker(cli_env, hub_parking_ttl_s="3600", hub_parking_sweep_s="1")
    try:
        _publish(kafka_settings, [orphan, claimed])
        time.sleep(3)  # parked before the plan claims one of them
        register_plans(kafka_settings, [plan])
        time.sleep(3)
        _publish(kafka_settings, [young])  # three hours later: the first two are past TTL
        mine = {orphan.event_id, claimed.event_id, young.event_id}

        def letters_for_mine() -> list[DeadLetter]:
            read = map(DeadLetter.model_validate_json, read_since(kafka_settings, dlq_start))
            return [d for d in read if d.event is not None and d.event.event_id in mine]

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not letters_for_mine():
            time.sleep(1)
        time.sleep(5)  # a few more sweeps: nothing else, nothing twice
        letters = letters_for_mine()
        assert [letter.event.event_id for letter in letters] == [orphan.event_id]
        (letter,) = letters
        assert letter.stage == "resolve" and "time to live" in letter.reason
        assert worker.poll() is None, "the worker died"
    finally:
        stop_worker(worker)


BACKLOG = 6000


def _same_partition_values(
    key: str, candidates: Iterator[str], kind: str, partitions: int
) -> Iterator[str]:
    """The candidate identifier values of ``kind`` whose events-topic key lands on the
    same partition as ``key`` (the producer's default murmur2 partitioning)."""

    def partition_of(k: str) -> int:
        return (murmur2(encode_key(k)) & 0x7FFFFFFF) % partitions

    target = partition_of(key)
    return (value for value in candidates if partition_of(f"{kind}:{value}") == target)


@pytest.fixture(scope="module")
def lag_broker() -> Iterator[PrivateBroker]:
    """A broker of the lag cases' own. On the session broker the hub's tables and inbox
    carry earlier tests' clock moves (the simulator's fake clock runs days ahead), and a
    worker that inherits a watermark in the future opens every deadline at once: a CI run
    saw this case's shipment get a promise delay 30 days early."""
    with private_broker("lag-hub") as broker:
        yield broker


@pytest.mark.parametrize("max_lag", [50, 10**9], ids=["held-back", "not-held-back"])
def test_absence_alerts_wait_while_the_hub_works_off_its_own_backlog(
    lag_broker: PrivateBroker, max_lag: int
) -> None:
    """Our outage is not a carrier's stall. The forwarder reported at -40 h and at -10 h
    (stall limit 36 h), but the hub was down: the second report waits behind a backlog
    of other traffic. A wall clock that moved the idle shipments' watermark to now would
    open a stall the second report then resolves; held back while the backlog exceeds
    TRACKHUB_HUB_MAX_LAG, no alert is published. With the threshold out of reach, the
    false stall appears: the setting is what prevents it."""
    kafka_settings, cli_env = lag_broker.settings, subprocess_env(lag_broker.env)
    suffix = f"{int(time.time() * 1000) % 10**8:08d}"
    now = datetime.now(UTC)
    shipment = _stalled_plan("LAG", suffix, now, last_mile=True)
    plan, picked, hawb = shipment.plan, shipment.picked, shipment.hawb
    at_hub = native_event(
        (now - timedelta(hours=10)).isoformat(),
        "received_at_origin_hub",
        f"hawb:{hawb}",
        "fwd-sz",
        "forwarder",
    )
    # the backlog shares the forwarder's events partition, so the second report is read
    # only after all of it, and the window it leaves is as long as the whole backlog
    numbers = _same_partition_values(
        f"hawb:{hawb}",
        (f"BACKLOG{suffix}{n:06d}" for n in range(10**6)),
        "tracking_number",
        kafka_settings.partitions,
    )
    backlog = [
        native_event(
            (now - timedelta(hours=12)).isoformat(),
            "in_transit",
            f"tracking_number:{number}",
            "usps",
            "last_mile_carrier",
        )
        for number in itertools.islice(numbers, BACKLOG)
    ]
    alerts_start = end_offsets(kafka_settings, topics.ALERTS)
    register_plans(kafka_settings, [plan])
    _publish(kafka_settings, [picked, *backlog, at_hub])
    # the plan was registered long ago (no grace to wait out), and a partition idle for
    # half a second follows wall time, checked every quarter second: the control's false
    # stall then needs under a second of the two or three the backlog takes (counted from
    # the worker's first backlog measurement, before which nothing follows wall time).
    # Held back, the worker follows wall time only once it has processed every record of
    # the backlog and its hops: no idle time is short enough to race the last report
    worker = start_worker(
        cli_env,
        hub_idle_after_s="0.5",
        hub_tick_interval_s="0.25",
        hub_plan_grace_s="0",
        hub_max_lag=str(max_lag),
        hub_lateness_s="60",
    )
    try:
        watcher_deadline = time.monotonic() + 180
        mine: list[Alert] = []
        caught_up = False
        while time.monotonic() < watcher_deadline:
            mine = [
                a
                for a in map(Alert.model_validate_json, read_since(kafka_settings, alerts_start))
                if a.shipment_id == plan.shipment_id
            ]
            caught_up = (
                group_backlog(kafka_settings, "trackhub", [topics.EVENTS, topics.RESOLVE]) == 0
            )
            if caught_up and (max_lag < BACKLOG or mine):
                break
            time.sleep(1)
        assert caught_up, "the worker did not work off the backlog"
        time.sleep(5)  # ticks after catching up: still nothing
        mine = [
            a
            for a in map(Alert.model_validate_json, read_since(kafka_settings, alerts_start))
            if a.shipment_id == plan.shipment_id
        ]
        if max_lag < BACKLOG:
            assert mine == [], [a.summary for a in mine]
            # held back no longer: a forwarder silent for 40 h now is a real stall, alerted
            silent = _stalled_plan("STL", suffix, now)
            register_plans(kafka_settings, [silent.plan])
            _publish(kafka_settings, [silent.picked])
            deadline = time.monotonic() + 60
            stalls: list[Alert] = []
            while not stalls and time.monotonic() < deadline:
                time.sleep(1)
                stalls = [
                    a
                    for a in map(
                        Alert.model_validate_json, read_since(kafka_settings, alerts_start)
                    )
                    if a.shipment_id == silent.plan.shipment_id and a.type.value == "stall"
                ]
            assert stalls, "absence alerts stayed held back after the backlog was worked off"
        else:
            assert {(a.type.value, a.state.value) for a in mine} >= {("stall", "open")}
        assert worker.poll() is None, "the worker died"
    finally:
        stop_worker(worker)


@dataclass(frozen=True)
class _Stalled:
    plan: ShipmentPlan
    picked: TrackingEvent
    hawb: str


def _stalled_plan(tag: str, suffix: str, now: datetime, *, last_mile: bool = False) -> _Stalled:
    """A shipment registered 41 h ago whose forwarder last reported 40 h ago (stall
    limit 36 h): stalled now, by wall time (its ``picked`` report once read)."""
    hawb = f"SZX{tag}{suffix}"
    legs = [
        {
            "leg": "first_mile",
            "party": {"role": "forwarder", "id": "fwd-sz"},
            "identifiers": [{"kind": "hawb", "value": hawb}],
            "sla": {"max_duration": "P3D"},
            "stall_limit": "PT36H",
        }
    ]
    if last_mile:
        legs.append(
            {
                "leg": "last_mile",
                "party": {"role": "last_mile_carrier", "id": "usps"},
                "identifiers": [{"kind": "tracking_number", "value": f"9400{tag}{suffix}"}],
                "sla": {"max_duration": "P5D"},
            }
        )
    plan = make_plan(
        shipment_id=f"SHP-{tag}-{suffix}",
        identifiers=[{"kind": "order_id", "value": f"SO-{tag}-{suffix}"}],
        legs=legs,
        handoffs=[],
        promised_delivery_at=(now + timedelta(days=30)).isoformat(),
        registered_at=(now - timedelta(hours=41)).isoformat(),
    )
    picked = native_event(
        (now - timedelta(hours=40)).isoformat(), "picked_up", f"hawb:{hawb}", "fwd-sz", "forwarder"
    )
    return _Stalled(plan, picked, hawb)
