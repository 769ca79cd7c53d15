"""TrackingEvent, RawEnvelope and DeadLetter: round trips, ids, offsets, bad input."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from schemas import DeadLetter, EventKind, Milestone, RawEnvelope, TrackingEvent
from tests.factories import event_data, make_dead_letter, make_envelope, make_event


@pytest.mark.parametrize(
    "model",
    [make_event(), make_envelope(), make_dead_letter()],
    ids=["event", "envelope", "dead_letter"],
)
def test_json_round_trip_is_lossless(model: TrackingEvent | RawEnvelope | DeadLetter) -> None:
    text = model.model_dump_json()
    again = type(model).model_validate_json(text)
    assert again == model
    assert again.model_dump_json() == text


def test_occurred_at_keeps_its_utc_offset() -> None:
    event = make_event(occurred_at="2026-03-02T08:15:00+08:00")
    assert event.occurred_at.utcoffset() == timedelta(hours=8)
    assert '"occurred_at":"2026-03-02T08:15:00+08:00"' in event.model_dump_json()
    again = TrackingEvent.model_validate_json(event.model_dump_json())
    assert again.occurred_at.utcoffset() == timedelta(hours=8)


def test_event_id_is_deterministic_and_ignores_delivery_details() -> None:
    first = make_event()
    redelivered = make_event(received_at="2026-03-05T00:00:00Z", raw_id="raw_" + "a" * 32)
    assert first.event_id == redelivered.event_id
    assert first.event_id.startswith("evt_") and len(first.event_id) == 36


def test_event_id_same_instant_other_offset_is_same_event() -> None:
    local = make_event(occurred_at="2026-03-02T08:15:00-08:00")
    utc = make_event(occurred_at="2026-03-02T16:15:00+00:00")
    assert local.event_id == utc.event_id
    assert local.occurred_at.utcoffset() != utc.occurred_at.utcoffset()


@pytest.mark.parametrize(
    "change",
    [
        {"milestone": "delivered"},
        {"occurred_at": "2026-03-02T08:16:00-08:00"},
        {"source_code": "OFD"},
        {"identifiers": [{"kind": "tracking_number", "value": "9400111899223100009999"}]},
    ],
)
def test_event_id_changes_with_content(change: dict) -> None:
    assert make_event().event_id != make_event(**change).event_id


def test_event_id_uses_source_event_id_when_present() -> None:
    a = make_event(source={**event_data()["source"], "source_event_id": "E-1"})
    b = make_event(
        source={**event_data()["source"], "source_event_id": "E-1"},
        source_description="text changed on a re-send",
    )
    c = make_event(source={**event_data()["source"], "source_event_id": "E-2"})
    assert a.event_id == b.event_id != c.event_id


def test_identifier_order_does_not_change_event_id() -> None:
    ids = event_data()["identifiers"]
    assert make_event().event_id == make_event(identifiers=list(reversed(ids))).event_id


def test_given_event_id_is_kept() -> None:
    event = make_event()
    again = TrackingEvent.model_validate(event.model_dump())
    assert again.event_id == event.event_id


def test_identifiers_are_normalized() -> None:
    event = make_event(
        identifiers=[
            {"kind": "tracking_number", "value": " 9400 1118 9922 "},
            {"kind": "mawb", "value": "176 1234 5675"},
            {"kind": "container", "value": "msku 123456-7"},
        ]
    )
    assert [i.value for i in event.identifiers] == ["940011189922", "176-12345675", "MSKU1234567"]
    assert event.primary_identifier.key == "tracking_number:940011189922"


def test_estimate_keeps_three_times_apart() -> None:
    estimate = make_event(
        kind="estimated",
        milestone="delivered",
        occurred_at="2026-03-01T10:00:00+08:00",
        estimated_at="2026-03-04T18:00:00-08:00",
    )
    assert estimate.kind is EventKind.ESTIMATED
    assert estimate.estimated_at is not None
    assert estimate.estimated_at.utcoffset() == timedelta(hours=-8)
    later = make_event(
        kind="estimated",
        milestone="delivered",
        occurred_at="2026-03-01T10:00:00+08:00",
        estimated_at="2026-03-05T18:00:00-08:00",
    )
    assert later.event_id != estimate.event_id  # a moved estimate is a new event


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"occurred_at": "2026-03-02T08:15:00"}, "timezone"),
        ({"received_at": "not a date"}, "received_at"),
        ({"milestone": "teleported"}, "milestone"),
        ({"identifiers": []}, "at least 1"),
        ({"identifiers": [{"kind": "mawb", "value": "17612345"}]}, "MAWB"),
        ({"identifiers": [{"kind": "container", "value": "MSK1234567"}]}, "container"),
        ({"identifiers": [{"kind": "vin", "value": "X"}]}, "kind"),
        ({"color": "red"}, "Extra inputs are not permitted"),
        ({"kind": "estimated"}, "needs estimated_at"),
        ({"estimated_at": "2026-03-04T18:00:00Z"}, "only for estimated"),
        ({"location": {"unlocode": "US-LAX"}}, "unlocode"),
        (
            {"source": {"connector": "easy post!", "party": {"role": "carrier", "id": "x"}}},
            "connector",
        ),
        ({"event_id": "evt_123"}, "event_id"),
        (
            {
                "identifiers": [
                    {"kind": "order_id", "value": "A1"},
                    {"kind": "order_id", "value": " a1 "},
                ]
            },
            "same identifier twice",
        ),
    ],
)
def test_bad_event_is_rejected_with_a_clear_error(change: dict, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        make_event(**change)
    assert message in str(info.value)


def test_envelope_keeps_body_bytes_exactly() -> None:
    body = b"ISA*00*          *00*\r\n\xff\xfe not utf-8"
    envelope = make_envelope(body=body, content_type="application/edi-x12")
    again = RawEnvelope.model_validate_json(envelope.model_dump_json())
    assert again.body == body
    assert again.kafka_key == "easypost:hook_1"


def test_envelope_id_depends_on_source_and_body_only() -> None:
    a = make_envelope(body=b"x", received_at=datetime(2026, 1, 1, tzinfo=UTC))
    b = make_envelope(body=b"x", received_at=datetime(2026, 1, 2, tzinfo=UTC), reference="r2")
    c = make_envelope(body=b"y")
    d = make_envelope(body=b"x", source="aftership")
    assert a.envelope_id == b.envelope_id
    assert len({a.envelope_id, c.envelope_id, d.envelope_id}) == 3


def test_envelope_rejects_bad_base64_and_wrong_digest() -> None:
    fields = make_envelope().model_dump()
    with pytest.raises(ValidationError, match="not valid base64"):
        RawEnvelope.model_validate({**fields, "body_b64": "***"})
    with pytest.raises(ValidationError, match="does not match the body"):
        RawEnvelope.model_validate({**fields, "body_sha256": "0" * 64})


def test_envelope_rejects_oversized_body() -> None:
    huge = base64.b64encode(b"x" * (4 * 1024 * 1024 + 1)).decode()
    with pytest.raises(ValidationError, match="over the"):
        RawEnvelope.model_validate({**make_envelope().model_dump(), "body_b64": huge})
    with pytest.raises(ValidationError, match="over the"):  # the gateway's path too
        make_envelope(body=b"x" * (4 * 1024 * 1024 + 1))


@pytest.mark.parametrize(
    "body", [b"", b"x", b"{}", b"\xff\xfe\x00 latin-1", bytes(range(256)) * 40]
)
def test_from_body_gives_the_envelope_full_validation_gives(body: bytes) -> None:
    """from_body skips decoding what it encoded itself: the result must not differ."""
    fast = make_envelope(body=body)
    full = RawEnvelope.model_validate(fast.model_dump(exclude={"body_sha256", "envelope_id"}))
    assert fast == full
    assert fast.body == body
    with pytest.raises(ValidationError, match="String should have at most 200 characters"):
        make_envelope(body=body, content_type="x" * 201)  # the other fields still checked


def test_dead_letter_id_is_deterministic_and_keeps_raw() -> None:
    a = make_dead_letter()
    b = make_dead_letter(failed_at=datetime(2027, 1, 1, tzinfo=UTC))
    assert a.dead_letter_id == b.dead_letter_id
    assert a.raw.body == make_envelope().body
    other_stage = make_dead_letter(stage="resolve", event=make_event())
    assert other_stage.dead_letter_id != a.dead_letter_id


def test_dead_letter_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="reason"):
        make_dead_letter(reason="   ")


def test_every_milestone_value_is_a_stable_lower_snake_code() -> None:
    for milestone in Milestone:
        assert milestone.value == milestone.name.lower()


def test_event_times_must_have_whole_minute_offsets() -> None:
    """A zone's local mean time (an IANA zone before ~1900) has an offset with seconds,
    which JSON cannot carry: the event would change on its way through Kafka."""
    from zoneinfo import ZoneInfo

    lmt = datetime(1013, 1, 8, 14, 12, tzinfo=ZoneInfo("America/Chicago"))
    assert lmt.utcoffset() == -timedelta(hours=5, minutes=50, seconds=36)
    with pytest.raises(ValidationError, match="UTC offset -05:50:36 has seconds"):
        make_event(occurred_at=lmt)
    fine = make_event(occurred_at=datetime(2026, 1, 8, 14, 12, tzinfo=ZoneInfo("America/Chicago")))
    assert TrackingEvent.model_validate_json(fine.model_dump_json()) == fine
