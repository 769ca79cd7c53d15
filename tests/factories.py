"""Small builders of valid contract objects for tests; each test changes what it checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import (
    Alert,
    DeadLetter,
    RawEnvelope,
    ShipmentPlan,
    TrackingEvent,
)

RECEIVED = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def event_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source": {
            "connector": "easypost",
            "party": {"role": "last_mile_carrier", "id": "usps", "name": "USPS"},
            "source_event_id": None,
        },
        "identifiers": [
            {"kind": "tracking_number", "value": "9400111899223100001234"},
            {"kind": "order_id", "value": "SO-1001"},
        ],
        "milestone": "out_for_delivery",
        "source_code": "out_for_delivery",
        "source_description": "Out for Delivery, Expected Delivery by 8:00pm",
        "occurred_at": "2026-03-02T08:15:00-08:00",
        "received_at": RECEIVED.isoformat(),
        "location": {"city": "Los Angeles", "country": "us", "postal_code": "90001"},
    }
    data.update(changes)
    return data


def make_event(**changes: Any) -> TrackingEvent:
    return TrackingEvent.model_validate(event_data(**changes))


def make_envelope(body: bytes = b'{"result": {"id": "trk_1"}}', **changes: Any) -> RawEnvelope:
    fields: dict[str, Any] = {
        "source": "easypost",
        "format": "easypost",
        "reference": "hook_1",
        "received_at": RECEIVED,
        "content_type": "application/json",
        "headers": {"x-hmac-signature": "hmac-sha256-hex=abc", "user-agent": "EasyPost"},
        "signature_verified": True,
    }
    fields.update(changes)
    return RawEnvelope.from_body(body=body, **fields)


def make_dead_letter(**changes: Any) -> DeadLetter:
    fields: dict[str, Any] = {
        "stage": "normalize",
        "reason": "EasyPost tracker has no tracking_code",
        "error_type": "EasyPostPayloadError",
        "details": {"path": "result.tracking_code"},
        "failed_at": RECEIVED + timedelta(seconds=1),
        "raw": make_envelope(),
    }
    fields.update(changes)
    return DeadLetter.model_validate(fields)


def plan_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "shipment_id": "SHP-1",
        "seller_id": "seller-42",
        "integration_model": "seller_managed",
        "lane": {"origin": "CN", "destination": "US"},
        "mode": "air",
        "identifiers": [{"kind": "order_id", "value": "SO-1001"}],
        "legs": [
            {
                "leg": "first_mile",
                "party": {"role": "forwarder", "id": "fwd-sz"},
                "identifiers": [{"kind": "hawb", "value": "SZX1234567"}],
                "sla": {"max_duration": "P3D"},
                "stall_limit": "PT36H",
            },
            {
                "leg": "line_haul",
                "party": {"role": "forwarder", "id": "fwd-sz"},
                "identifiers": [{"kind": "mawb", "value": "176-12345675"}],
                "sla": {"max_duration": "P4D"},
            },
            {
                "leg": "import_customs",
                "party": {"role": "customs_broker", "id": "broker-lax"},
                "identifiers": [{"kind": "customs_entry", "value": "ABC-1234567-8"}],
                "sla": {"max_business_days": 2, "time_zone": "America/Los_Angeles"},
            },
            {
                "leg": "last_mile",
                "party": {"role": "last_mile_carrier", "id": "usps"},
                "identifiers": [{"kind": "tracking_number", "value": "9400111899223100001234"}],
                "sla": {"max_duration": "P5D"},
                "stall_limit": "P2D",
            },
        ],
        "handoffs": [
            {
                "from_leg": "import_customs",
                "to_leg": "last_mile",
                "window": "PT24H",
                "answerable": {"role": "customs_broker", "id": "broker-lax"},
            }
        ],
        "promised_delivery_at": "2026-03-20T23:59:59-08:00",
        "registered_at": "2026-03-01T09:00:00+08:00",
    }
    data.update(changes)
    return data


def make_plan(**changes: Any) -> ShipmentPlan:
    return ShipmentPlan.model_validate(plan_data(**changes))


def alert_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "delay",
        "rule": "leg_sla",
        "state": "open",
        "shipment_id": "SHP-1",
        "seller_id": "seller-42",
        "party": {"role": "customs_broker", "id": "broker-lax"},
        "leg": "import_customs",
        "summary": "Import customs not released within 2 business days",
        "evidence": [{"note": "entry submitted", "milestone": "import_customs_submitted"}],
        "deadline_at": "2026-03-10T17:00:00-08:00",
        "opened_at": "2026-03-10T17:00:00-08:00",
        "updated_at": "2026-03-10T17:00:00-08:00",
    }
    data.update(changes)
    return data


def make_alert(**changes: Any) -> Alert:
    return Alert.model_validate(alert_data(**changes))


def native_event(
    at: str, milestone: str, ident: str, party: str, role: str, **extra: Any
) -> TrackingEvent:
    """A native-format event with one ``kind:value`` identifier, received when it happened."""
    kind, value = ident.split(":", 1)
    return TrackingEvent.model_validate(
        {
            "source": {"connector": "native", "party": {"role": role, "id": party}},
            "identifiers": [{"kind": kind, "value": value}],
            "milestone": milestone,
            "source_code": milestone,
            "occurred_at": at,
            "received_at": at,
            **extra,
        }
    )
