"""AfterShip mapping rules the fixtures do not pin down one by one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.aftership import (
    CUSTOMS_SUBTAGS,
    SUBTAG_MILESTONES,
    TAG_MILESTONES,
    AfterShipTimestampError,
    parse_aftership_webhook,
)
from schemas.events import EventKind, RawEnvelope
from schemas.milestones import MILESTONE_GROUP, Milestone, MilestoneGroup
from tests.connector_cases import RECEIVED_AT


def _envelope(body: object) -> RawEnvelope:
    return RawEnvelope.from_body(
        body=json.dumps(body).encode(),
        source="aftership",
        format="aftership",
        reference="unit",
        received_at=RECEIVED_AT,
        content_type="application/json",
        signature_verified=True,
    )


def _webhook(checkpoints: list[dict[str, Any]], **msg: Any) -> dict[str, Any]:
    return {
        "event": "tracking_update",
        "event_id": "6f0c3a52-8d1e-4b7a-9c2f-51e0d8a4b713",
        "msg": {
            "tracking_number": "LB123456785CN",
            "slug": "usps",
            "tag": "InTransit",
            "origin_country_iso3": "CHN",
            "destination_country_iso3": "USA",
            "updated_at": "2026-02-27T22:31:05Z",
            "checkpoints": checkpoints,
            **msg,
        },
        "ts": 1772231465,
    }


def _checkpoint(**fields: Any) -> dict[str, Any]:
    return {"checkpoint_time": "2026-02-23T18:55:00-08:00", "tag": "InTransit", **fields}


def test_every_delivery_status_has_a_milestone() -> None:
    documented = {
        "Pending", "InfoReceived", "InTransit", "OutForDelivery", "AttemptFail",
        "Delivered", "AvailableForPickup", "Exception", "Expired",
    }  # fmt: skip
    assert documented == set(TAG_MILESTONES)
    assert not set(SUBTAG_MILESTONES) & set(CUSTOMS_SUBTAGS)
    for import_milestone, export_milestone in CUSTOMS_SUBTAGS.values():
        assert MILESTONE_GROUP[import_milestone] is MilestoneGroup.IMPORT_CUSTOMS
        assert MILESTONE_GROUP[export_milestone] is MilestoneGroup.EXPORT_CUSTOMS


@pytest.mark.parametrize(
    ("country", "milestone"),
    [
        ("CHN", Milestone.EXPORT_CUSTOMS_HELD),  # origin country: export customs
        ("USA", Milestone.IMPORT_CUSTOMS_HELD),
        ("BMU", Milestone.IMPORT_CUSTOMS_HELD),  # unknown code: no country, import by default
        (None, Milestone.IMPORT_CUSTOMS_HELD),
    ],
)
def test_customs_direction_follows_the_checkpoint_country(
    country: str | None, milestone: Milestone
) -> None:
    checkpoint = _checkpoint(tag="Exception", subtag="Exception_004", country_iso3=country)
    (event,) = parse_aftership_webhook(_envelope(_webhook([checkpoint])))
    assert event.milestone is milestone


def test_unknown_subtag_falls_back_to_the_tag() -> None:
    checkpoint = _checkpoint(tag="Exception", subtag="Exception_099")
    (event,) = parse_aftership_webhook(_envelope(_webhook([checkpoint])))
    assert (event.milestone, event.reason_code) == (Milestone.EXCEPTION, "Exception_099")


def test_date_only_estimate_without_a_destination_checkpoint_is_not_emitted() -> None:
    checkpoint = _checkpoint(country_iso3="CHN", checkpoint_time="2026-02-20T21:06:00+08:00")
    body = _webhook([checkpoint], expected_delivery="2026-02-27")
    events = parse_aftership_webhook(_envelope(body))
    assert [e.kind for e in events] == [EventKind.ACTUAL]


def test_estimate_with_offset_is_kept_and_naive_time_placed_at_destination_offset() -> None:
    checkpoint = _checkpoint(country_iso3="USA")
    with_offset = _webhook([checkpoint], expected_delivery="2026-02-28T12:00:00+09:00")
    naive = _webhook([checkpoint], expected_delivery="2026-02-28T12:00:00")
    (_, kept) = parse_aftership_webhook(_envelope(with_offset))
    (_, placed) = parse_aftership_webhook(_envelope(naive))
    assert kept.estimated_at is not None and kept.estimated_at.isoformat().endswith("+09:00")
    assert placed.estimated_at is not None
    assert placed.estimated_at.isoformat() == "2026-02-28T12:00:00-08:00"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-23T18:55:00", "no UTC offset"),
        ("", "checkpoint_time is missing"),
        ("0001-01-01T00:10:00+14:00", "out of range"),
    ],
)
def test_bad_checkpoint_times_are_typed_errors(value: str, message: str) -> None:
    with pytest.raises(AfterShipTimestampError, match=message):
        parse_aftership_webhook(_envelope(_webhook([_checkpoint(checkpoint_time=value)])))


def test_checkpoint_hash_is_the_source_event_id() -> None:
    checkpoint = _checkpoint(hash="9c1f0e7a5b3d4c2e")
    first = parse_aftership_webhook(_envelope(_webhook([checkpoint])))
    moved = parse_aftership_webhook(_envelope(_webhook([{**checkpoint, "city": "Carson"}])))
    assert first[0].source.source_event_id == "9c1f0e7a5b3d4c2e"
    assert first[0].event_id == moved[0].event_id
