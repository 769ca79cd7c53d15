"""The normalize step keeps every record: events, or a dead letter with its reason."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.base import Connector, SignatureScheme
from connectors.registry import get_connector
from hub.normalize import normalize_envelope, normalize_record
from schemas import DeadLetterStage
from tests.connector_cases import connector_cases
from tests.factories import make_envelope

NOW = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def _native(case: str):
    return next(c for c in connector_cases("native") if c.name == case).envelope()


def test_good_payload_gives_events_and_no_dead_letter() -> None:
    raw = _native("delivered_journey")
    result = normalize_record(raw.model_dump_json().encode(), now=NOW, where="t/0/1")
    assert result.dead_letter is None
    assert [e.milestone.value for e in result.events] == [
        "picked_up",
        "line_haul_departed",
        "delivered",
    ]


def test_mapper_error_is_dead_lettered_with_reason_and_raw() -> None:
    raw = _native("naive_time")
    result = normalize_envelope(raw, now=NOW)
    assert result.events == []
    letter = result.dead_letter
    assert letter is not None
    assert letter.stage is DeadLetterStage.NORMALIZE
    assert letter.error_type == "NativePayloadError"
    assert "timezone" in letter.reason
    assert letter.details["path"] == "events[0]"
    assert letter.raw == raw
    assert letter.failed_at == NOW


def test_unknown_format_is_dead_lettered() -> None:
    raw = make_envelope(format="carrier-pigeon")
    letter = normalize_envelope(raw, now=NOW).dead_letter
    assert letter is not None and letter.error_type == "UnknownSourceError"
    assert "carrier-pigeon" in letter.reason


def test_a_record_that_is_not_an_envelope_is_kept_whole() -> None:
    value = b"\x00\x01 definitely not json"
    letter = normalize_record(value, now=NOW, where="tracking.raw.v1/2/17").dead_letter
    assert letter is not None and letter.error_type == "InvalidEnvelope"
    assert letter.raw.body == value
    assert letter.details["record"] == "tracking.raw.v1/2/17"


def test_a_mapper_bug_is_dead_lettered_not_raised() -> None:
    def broken(raw):
        raise ZeroDivisionError("oops")

    fake = Connector(
        name="native",
        parse=broken,
        content_types=frozenset({"application/json"}),
        signature=SignatureScheme.STANDARD_WEBHOOKS,
        description="broken",
    )
    letter = normalize_envelope(
        _native("delivered_journey"), now=NOW, connector_for=lambda _: fake
    ).dead_letter
    assert letter is not None and letter.error_type == "MapperCrash"
    assert "ZeroDivisionError" in letter.reason
    assert "oops" not in letter.reason  # exception text can carry payload data; keep it out


def test_the_same_envelope_normalizes_to_the_same_ids() -> None:
    raw = _native("delivered_journey")
    first = [e.event_id for e in normalize_envelope(raw, now=NOW).events]
    again = [e.event_id for e in get_connector("native").parse(raw)]
    assert first == again
