"""Feeding the running hub from outside: register plans, move its clock.

Plans go to ``shipments.v1`` (compacted, key shipment id). A clock move is one
``clock`` message to every partition of the hub's inbox: the fake clock of tests and the
simulator, which lets weeks of a journey pass in seconds (see ``hub.hub_agents``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kafka import KafkaProducer

from hub import topics
from hub.hub_messages import InboxMessage
from hub.kafka_clients import create_producer, encode_key, encode_model
from hub.settings import Settings
from schemas.shipments import ShipmentPlan


def register_plans(
    settings: Settings, plans: Iterable[ShipmentPlan], producer: KafkaProducer | None = None
) -> int:
    """Publish plans (durably, acks=all); returns how many. A caller sending often
    passes its own ``producer`` (left open)."""
    own = producer is None
    producer = producer or create_producer(settings, purpose="plans")
    count = 0
    try:
        for plan in plans:
            producer.send(
                topics.SHIPMENTS, key=encode_key(plan.shipment_id), value=encode_model(plan)
            )
            count += 1
        producer.flush()
    finally:
        if own:
            producer.close()
    return count


def advance_clock(settings: Settings, to: datetime, producer: KafkaProducer | None = None) -> None:
    """Move every inbox partition's watermark to ``to`` (never backwards)."""
    own = producer is None
    producer = producer or create_producer(settings, purpose="clock")
    value = encode_model(InboxMessage(kind="clock", until=to))
    try:
        for partition in range(settings.partitions):
            producer.send(topics.SHIPMENTS_INBOX, value=value, partition=partition)
        producer.flush()
    finally:
        if own:
            producer.close()
