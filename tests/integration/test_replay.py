"""``trackhub replay`` re-normalizes the raw log: same events, same ids, bad ones dead-lettered."""

from __future__ import annotations

from connectors.registry import get_connector
from hub import topics
from hub.kafka_clients import create_producer, encode_key, encode_model
from hub.replay import ReplayStart, replay_raw_log
from hub.settings import Settings
from schemas.events import DeadLetter, TrackingEvent
from tests.connector_cases import connector_cases
from tests.support.kafka_reading import end_offsets, read_since


def _envelope(case: str):
    return next(c for c in connector_cases("native") if c.name == case).envelope()


def test_replay_writes_events_and_dead_letters(kafka_settings: Settings) -> None:
    good, bad = _envelope("delivered_journey"), _envelope("naive_time")
    raw_start = end_offsets(kafka_settings, topics.RAW)
    producer = create_producer(kafka_settings, purpose="test-replay-seed")
    try:
        for key, value in [
            (good.kafka_key, encode_model(good)),
            (bad.kafka_key, encode_model(bad)),
            ("junk", b"not an envelope"),
        ]:
            producer.send(topics.RAW, key=encode_key(key), value=value).get(30)
    finally:
        producer.close()
    events_start, dlq_start = (
        end_offsets(kafka_settings, topics.EVENTS),
        end_offsets(kafka_settings, topics.DLQ),
    )
    start = ",".join(f"{tp.partition}:{offset}" for tp, offset in raw_start.items())

    report = replay_raw_log(kafka_settings, ReplayStart.parse(start), progress=lambda _: None)

    assert report.records == 3
    assert report.dead_letters == 2
    events = [
        TrackingEvent.model_validate_json(v) for v in read_since(kafka_settings, events_start)
    ]
    letters = [DeadLetter.model_validate_json(v) for v in read_since(kafka_settings, dlq_start)]
    assert [e.event_id for e in events] == [e.event_id for e in get_connector("native").parse(good)]
    assert sorted(letter.error_type for letter in letters) == [
        "InvalidEnvelope",
        "NativePayloadError",
    ]
    assert report.events == len(events)


def test_replay_of_one_source_skips_the_others(kafka_settings: Settings) -> None:
    raw_start = end_offsets(kafka_settings, topics.RAW)
    good = _envelope("delivered_journey")
    producer = create_producer(kafka_settings, purpose="test-replay-source")
    try:
        producer.send(topics.RAW, key=encode_key(good.kafka_key), value=encode_model(good)).get(30)
    finally:
        producer.close()
    start = ",".join(f"{tp.partition}:{offset}" for tp, offset in raw_start.items())
    other = replay_raw_log(
        kafka_settings, ReplayStart.parse(start), source="easypost", dry_run=True, progress=print
    )
    assert (other.records, other.skipped_other_sources) == (0, 1)
    mine = replay_raw_log(
        kafka_settings, ReplayStart.parse(start), source="native", dry_run=True, progress=print
    )
    assert (mine.records, mine.events) == (1, 3)


def test_dry_run_writes_nothing(kafka_settings: Settings) -> None:
    events_start = end_offsets(kafka_settings, topics.EVENTS)
    report = replay_raw_log(
        kafka_settings, ReplayStart(offset=0), dry_run=True, progress=lambda _: None
    )
    assert report.records > 0
    assert read_since(kafka_settings, events_start) == []
