"""17TRACK mapping and time rules the fixtures do not pin down one by one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.seventeen_track import (
    CUSTOMS_SUB_STATUSES,
    STATUS_MILESTONES,
    SUB_STATUS_MILESTONES,
    SeventeenTrackTimestampError,
    parse_seventeen_track_webhook,
)
from schemas.events import RawEnvelope
from schemas.milestones import Milestone
from tests.connector_cases import RECEIVED_AT

MAIN_STATUSES = {
    "NotFound", "InfoReceived", "InTransit", "Expired", "AvailableForPickup",
    "OutForDelivery", "DeliveryFailure", "Delivered", "Exception",
}  # fmt: skip


def _envelope(body: object) -> RawEnvelope:
    return RawEnvelope.from_body(
        body=json.dumps(body).encode(),
        source="17track",
        format="17track",
        reference="unit",
        received_at=RECEIVED_AT,
        content_type="application/json",
        signature_verified=True,
    )


def _webhook(*events: dict[str, Any], **info: Any) -> dict[str, Any]:
    provider = {"provider": {"key": 3011, "name": "China Post"}, "events": list(events)}
    return {
        "event": "TRACKING_UPDATED",
        "data": {
            "number": "LB123456785CN",
            "carrier": 3011,
            "track_info": {
                "shipping_info": {
                    "shipper_address": {"country": "CN"},
                    "recipient_address": {"country": "US"},
                },
                "tracking": {"providers": [provider]},
                **info,
            },
        },
    }


def _parse_one(event: dict[str, Any]) -> Any:
    (parsed,) = parse_seventeen_track_webhook(_envelope(_webhook(event)))
    return parsed


def test_tables_cover_every_main_status_and_sub_status_prefix() -> None:
    assert set(STATUS_MILESTONES) == MAIN_STATUSES
    for code in [*SUB_STATUS_MILESTONES, *CUSTOMS_SUB_STATUSES]:
        assert code.split("_", 1)[0] in MAIN_STATUSES


@pytest.mark.parametrize(
    ("country", "milestone"),
    [
        ("CN", Milestone.EXPORT_CUSTOMS_CLEARED),
        ("US", Milestone.IMPORT_CUSTOMS_RELEASED),
        (None, Milestone.IMPORT_CUSTOMS_RELEASED),
    ],
)
def test_customs_direction_follows_the_event_country(
    country: str | None, milestone: Milestone
) -> None:
    event = {
        "time_iso": "2026-02-20T21:06:00+08:00",
        "sub_status": "InTransit_CustomsReleased",
        "address": {"country": country},
    }
    assert _parse_one(event).milestone is milestone


def test_sub_status_beats_stage_and_unknown_sub_status_uses_its_main_status() -> None:
    base = {"time_iso": "2026-02-20T21:06:00+08:00"}
    assert _parse_one({**base, "stage": "Delivered", "sub_status": "Exception_Lost"}).milestone is (
        Milestone.LOST
    )
    unknown = _parse_one({**base, "sub_status": "DeliveryFailure_NewReason"})
    assert (unknown.milestone, unknown.source_code) == (
        Milestone.DELIVERY_ATTEMPTED,
        "DeliveryFailure_NewReason",
    )


@pytest.mark.parametrize(
    ("time_iso", "time_utc", "expected"),
    [
        ("2026-02-20T21:06:00+08:00", "2026-02-20T13:06:00Z", "2026-02-20T21:06:00+08:00"),
        ("2026-02-20T21:06:00", "2026-02-20T13:06:00Z", "2026-02-20T21:06:00+08:00"),
        ("2026-02-20T08:06:00", "2026-02-20T13:36:00Z", "2026-02-20T08:06:00-05:30"),
        (None, "2026-02-20T13:06:00Z", "2026-02-20T13:06:00+00:00"),
        (None, "2026-02-20T13:06:00", "2026-02-20T13:06:00+00:00"),  # UTC by definition
    ],
)
def test_event_time_rules(time_iso: str | None, time_utc: str, expected: str) -> None:
    event = {"time_iso": time_iso, "time_utc": time_utc, "stage": "PickedUp"}
    assert _parse_one(event).occurred_at.isoformat() == expected


@pytest.mark.parametrize(
    ("time_iso", "time_utc", "message"),
    [
        ("2026-02-20T21:06:00", None, "no UTC offset and there is no time_utc"),
        ("2026-02-22T21:06:00", "2026-02-20T13:06:00Z", "not the same instant"),
        (None, None, "no time_iso nor time_utc"),
        ("yesterday", None, "not an ISO 8601 timestamp"),
    ],
)
def test_unusable_event_times_are_typed_errors(
    time_iso: str | None, time_utc: str | None, message: str
) -> None:
    event = {"time_iso": time_iso, "time_utc": time_utc, "stage": "PickedUp"}
    with pytest.raises(SeventeenTrackTimestampError, match=message):
        parse_seventeen_track_webhook(_envelope(_webhook(event)))


def test_estimate_without_offset_is_not_emitted_and_without_provider_uses_the_carrier() -> None:
    naive = {"estimated_delivery_date": {"source": "17TRACK", "from": "2026-03-01T00:00:00"}}
    assert parse_seventeen_track_webhook(_envelope(_webhook(time_metrics=naive))) == []
    window = {"estimated_delivery_date": {"from": "2026-03-01T00:00:00+01:00"}}
    body = _webhook(time_metrics=window)
    body["data"]["track_info"]["tracking"]["providers"] = []
    (estimate,) = parse_seventeen_track_webhook(_envelope(body))
    assert estimate.source.party.id == "17track-3011"
    assert estimate.occurred_at == RECEIVED_AT  # no provider sync time: our receipt
