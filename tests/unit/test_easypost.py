"""EasyPost mapping rules the fixtures do not pin down one by one."""

from __future__ import annotations

import json

import pytest

from connectors.easypost import (
    DECISIVE_STATUSES,
    STATUS_MILESTONES,
    EasyPostTimestampError,
    milestone_for,
    parse_easypost_webhook,
)
from schemas.events import RawEnvelope
from schemas.milestones import Milestone
from tests.connector_cases import RECEIVED_AT


def _envelope(body: object) -> RawEnvelope:
    return RawEnvelope.from_body(
        body=json.dumps(body).encode(),
        source="easypost",
        format="easypost",
        reference="unit",
        received_at=RECEIVED_AT,
        content_type="application/json",
        signature_verified=True,
    )


def _event(datetime_value: object, **tracker: object) -> dict[str, object]:
    detail = {"status": "in_transit", "status_detail": "arrived_at_facility"}
    return {
        "object": "Event",
        "description": "tracker.updated",
        "result": {
            "object": "Tracker",
            "tracking_code": "9400111202061234567890",
            "carrier": "USPS",
            "updated_at": "2026-02-26T12:00:00Z",
            "tracking_details": [{**detail, "datetime": datetime_value}],
            **tracker,
        },
    }


def test_every_documented_status_has_a_milestone() -> None:
    documented = {
        "unknown", "pre_transit", "in_transit", "out_for_delivery", "delivered",
        "available_for_pickup", "return_to_sender", "failure", "cancelled", "error",
    }  # fmt: skip
    assert documented == set(STATUS_MILESTONES)
    assert DECISIVE_STATUSES.issubset(documented)


@pytest.mark.parametrize(
    ("status", "detail", "milestone"),
    [
        ("delivered", "arrived_at_destination", Milestone.DELIVERED),  # decisive status wins
        ("return_to_sender", "damaged", Milestone.RETURN_TO_SENDER),
        ("in_transit", "weather_delay", Milestone.EXCEPTION),  # the detail refines
        ("failure", "lost", Milestone.LOST),
        ("in_transit", "status_update", Milestone.IN_TRANSIT),  # generic detail: status
        ("in_transit", None, Milestone.IN_TRANSIT),
        ("something_new", "something_else", Milestone.INFO),  # unknown: nothing dropped
    ],
)
def test_milestone_for(status: str, detail: str | None, milestone: Milestone) -> None:
    assert milestone_for(status, detail) is milestone


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-26T05:40:00", "no UTC offset"),
        (None, "timestamp is missing"),
        (1772000000, "timestamp should be text"),
        ("9999-12-31T23:59:00-05:00", "out of range"),
    ],
)
def test_bad_detail_times_are_typed_errors(value: object, message: str) -> None:
    with pytest.raises(EasyPostTimestampError, match=message):
        parse_easypost_webhook(_envelope(_event(value)))


def test_utc_detail_time_is_kept_as_utc_and_naive_estimate_rejected() -> None:
    events = parse_easypost_webhook(_envelope(_event("2026-02-26T05:40:00Z")))
    assert [e.occurred_at.isoformat() for e in events] == ["2026-02-26T05:40:00+00:00"]
    with pytest.raises(EasyPostTimestampError, match="est_delivery_date"):
        parse_easypost_webhook(
            _envelope(_event("2026-02-26T05:40:00Z", est_delivery_date="2026-02-28T12:00:00"))
        )


def test_redelivered_history_keeps_its_event_ids() -> None:
    first = parse_easypost_webhook(_envelope(_event("2026-02-26T05:40:00-07:00")))
    again = parse_easypost_webhook(
        _envelope(_event("2026-02-26T05:40:00-07:00", updated_at="2026-02-27T00:00:00Z"))
    )
    assert first[0].event_id == again[0].event_id
