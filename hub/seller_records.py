"""Reading and writing the seller API's compacted record topics.

``sellers.v1``, ``api-keys.v1`` and ``subscriptions.v1`` are small and compacted: a
writer publishes the whole record under its id (acks=all, flushed before returning), a
reader reads the topic from the start to its end offsets and keeps the last record per
key. The CLI uses these directly; the API and delivery processes follow the topics live.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from hub import topics
from hub.kafka_clients import create_producer, encode_key, encode_model, read_to_end
from hub.settings import Settings
from schemas.sellers import ApiKey, Seller, Subscription

Record = TypeVar("Record", bound=BaseModel)

RECORD_MODELS: dict[str, type[BaseModel]] = {
    topics.SELLERS: Seller,
    topics.API_KEYS: ApiKey,
    topics.SUBSCRIPTIONS: Subscription,
}


def publish_records(settings: Settings, topic: str, records: list[tuple[str, BaseModel]]) -> None:
    """Durably write ``(key, record)`` pairs; raises when the broker does not ack."""
    producer = create_producer(settings, purpose="seller-records")
    try:
        futures = [
            producer.send(topic, key=encode_key(key), value=encode_model(record))
            for key, record in records
        ]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()


def read_records(settings: Settings, topic: str, model: type[Record]) -> dict[str, Record]:
    """The latest record per key of a compacted topic, read to its current end."""
    latest: dict[str, Record] = {}
    for message in read_to_end(settings, topic, purpose="seller-records"):
        if message.key is None:
            continue
        key = message.key.decode()
        if message.value is None:
            latest.pop(key, None)
        else:
            latest[key] = model.model_validate_json(message.value)
    return latest
