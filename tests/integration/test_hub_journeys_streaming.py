"""Every journey of ``tests/journeys/`` through the real broker and a faust worker gives
the alerts of the offline engine on the same data.

The journeys run together, as a hub sees its traffic: all of their plans and events merged
into one stream in arrival order (each event at its time plus a random delay below the
allowed lateness, each plan at its registration, so a plan registered late finds its
events parked), with some events delivered twice. The inbox partitions' watermarks are
shared by every shipment on them, which is why the journeys cannot run one after the other:
their time ranges overlap. Each item is sent once the previous one reached the shipments'
partitions, as sources reporting minutes or hours apart would be; then the hub's clock is
moved to the latest journey's end and the alerts on ``alerts.v1`` must equal the offline
run's, every field, with no alert state published twice with different content; and the
scorecards summed from the workers' table equal the offline ones.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from kafka import TopicPartition

from hub import topics
from hub.hub_control import advance_clock, register_plans
from hub.kafka_clients import create_consumer, create_producer, encode_key, encode_model
from hub.offline import alert_row, run_offline
from hub.scorecard import Scorecard, build_scorecards, cards_from_value, merge_cards
from hub.settings import Settings
from hub.topics import TABLE_SCORECARD_SHARES, TABLE_WATERMARKS, changelog_topic
from schemas.alerts import Alert
from schemas.events import TrackingEvent
from schemas.shipments import IntegrationModel, ShipmentPlan
from tests.support.hub_worker import InboxWatcher, inbox_start, start_worker, stop_worker
from tests.support.journeys import Journey, arrivals, load_journeys
from tests.support.kafka_reading import end_offsets, read_since

LATENESS = timedelta(minutes=10)  # the worker's default TRACKHUB_HUB_LATENESS_S
REDELIVERED = 0.15  # share of events a source delivers a second time


def _compatible(journeys: list[Journey]) -> tuple[list[Journey], list[str]]:
    """The journeys that can share one hub: a journey reusing another's shipment id or
    identifier (a variant of the same story) is left out, and named."""
    kept: list[Journey] = []
    left_out: list[str] = []
    shipment_ids: set[str] = set()
    keys: set[str] = set()
    for journey in journeys:
        plans = journey.plans()
        mine = {i.key for plan in plans for i in plan.all_identifiers()}
        ids = {plan.shipment_id for plan in plans}
        if mine & keys or ids & shipment_ids:
            left_out.append(journey.name)
            continue
        kept.append(journey)
        keys |= mine
        shipment_ids |= ids
    return kept, left_out


def _rows(alerts: list[Alert]) -> Counter[str]:
    return Counter(json.dumps(alert_row(a), sort_keys=True) for a in alerts)


def _latest(alerts: list[Alert]) -> list[Alert]:
    latest: dict[str, Alert] = {}
    for alert in alerts:
        if alert.alert_id not in latest or alert.revision > latest[alert.alert_id].revision:
            latest[alert.alert_id] = alert
    return list(latest.values())


def _publish(settings: Settings, event: TrackingEvent) -> None:
    producer = create_producer(settings, purpose="test-journeys")
    try:
        key = encode_key(event.primary_identifier.key)
        producer.send(topics.EVENTS, key=key, value=encode_model(event)).get(timeout=30)
    finally:
        producer.close()


class Router:
    """Where the hub must route each item, worked out from the plans sent so far (the
    resolve rules of ``hub.hub_agents.resolve_outputs``): what the test waits for."""

    def __init__(self) -> None:
        self.owners: dict[str, set[str]] = {}
        self.parked: dict[str, TrackingEvent] = {}

    def plan(self, plan: ShipmentPlan) -> Counter[tuple[str, str]]:
        keys = {i.key for i in plan.all_identifiers()}
        for key in keys:
            self.owners.setdefault(key, set()).add(plan.shipment_id)
        return Counter(
            (plan.shipment_id, event.event_id)
            for event in self.parked.values()
            if any(i.key in keys for i in event.identifiers)
        )

    def event(self, event: TrackingEvent) -> Counter[tuple[str, str]]:
        for identifier in event.identifiers:
            owners = self.owners.get(identifier.key)
            if owners:
                return Counter((shipment_id, event.event_id) for shipment_id in owners)
        self.parked[event.event_id] = event
        return Counter()


def _table(settings: Settings, table: str) -> dict[str, bytes]:
    """A hub table as its changelog holds it: the latest value per key (deleted: none)."""
    topic = changelog_topic(table)
    values: dict[str, bytes | None] = {}
    consumer = create_consumer(settings, group_id=None, purpose="test-table")
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    values[record.key.decode()] = record.value
    finally:
        consumer.close()
    return {key: value for key, value in values.items() if value}


def _scorecard_rows(cards: list[Scorecard]) -> list[dict]:
    return [card.row() for card in cards]


@pytest.mark.hub_clock_first
def test_journeys_through_the_broker_give_the_offline_alerts(
    kafka_settings: Settings, cli_env: dict[str, str]
) -> None:
    journeys, left_out = _compatible(load_journeys())
    assert len(journeys) >= 12, f"left out: {left_out}"
    plans = [plan for journey in journeys for plan in journey.plans()]
    assert {plan.integration_model for plan in plans} == set(IntegrationModel)
    events = [event for journey in journeys for event in journey.events()]
    now = max(journey.now() for journey in journeys)
    offline = run_offline(plans, events, now=now)
    expected = _rows(offline.alerts)
    expected_cards = _scorecard_rows(build_scorecards(offline.engine.states.values()))
    assert {json.loads(row)["type"] for row in expected} >= {
        "delay",
        "eta_slip",
        "stall",
        "handoff_gap",
        "responsibility_breach",
        "exception",
    }

    start = min(at for journey in journeys for at, _ in arrivals(journey, 1, LATENESS))
    for partition, raw in _table(kafka_settings, TABLE_WATERMARKS).items():
        for mark in filter(None, json.loads(raw).values()):
            assert datetime.fromisoformat(mark) < start, (
                f"the hub's clock on {partition} is already at {mark}, after the journeys "
                "start: this test must run before tests that move the clock"
            )

    rng = random.Random("journeys-through-the-broker")
    stream = sorted(
        (item for journey in journeys for item in arrivals(journey, 1, LATENESS)),
        key=lambda arrival: arrival[0],
    )
    alerts_start = end_offsets(kafka_settings, topics.ALERTS)
    watcher = InboxWatcher(kafka_settings, inbox_start(kafka_settings))
    router = Router()
    worker = start_worker(cli_env)
    try:
        for _, item in stream:
            if isinstance(item, ShipmentPlan):
                claimed = router.plan(item)
                register_plans(kafka_settings, [item])
                watcher.wait(plans=Counter([item.shipment_id]), events=claimed, timeout_s=120)
                continue
            deliveries = 2 if rng.random() < REDELIVERED else 1
            wanted = router.event(item)
            for _ in range(deliveries):
                _publish(kafka_settings, item)
            watcher.wait(events=watcher.events + wanted, timeout_s=120)
        advance_clock(kafka_settings, now)

        deadline = time.monotonic() + 120
        published: list[Alert] = []
        while time.monotonic() < deadline:
            published = [
                Alert.model_validate_json(value)
                for value in read_since(kafka_settings, alerts_start)
            ]
            if _rows(_latest(published)) == expected:
                break
            time.sleep(1)
        got = _rows(_latest(published))
        assert got == expected, (
            f"streaming only: {sorted(got - expected)}\noffline only: {sorted(expected - got)}"
        )
        # at-least-once may publish one state twice, never two contents under one state
        by_delivery: dict[str, Alert] = {}
        for alert in published:
            first = by_delivery.setdefault(alert.delivery_id, alert)
            assert first == alert, f"two different alerts published as {alert.delivery_id}"
        # the scorecards: the workers' per-shipment shares summed equal the offline ones
        mine = {plan.shipment_id for plan in plans}
        deadline = time.monotonic() + 60
        while True:
            shares = _table(kafka_settings, TABLE_SCORECARD_SHARES)
            streamed = _scorecard_rows(
                merge_cards(
                    card
                    for key, raw in shares.items()
                    if key in mine
                    for card in cards_from_value(raw)
                )
            )
            if streamed == expected_cards or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert streamed == expected_cards
        assert worker.poll() is None, "the worker died"
    finally:
        watcher.close()
        stop_worker(worker)
