from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas import Alert, AlertType, HandoffRef, Leg
from schemas.alerts import compute_alert_id
from tests.factories import alert_data, make_alert


def test_alert_round_trip() -> None:
    alert = make_alert()
    assert Alert.model_validate_json(alert.model_dump_json()) == alert


def test_alert_id_is_the_condition_not_the_moment() -> None:
    opened = make_alert()
    updated = make_alert(
        state="updated", revision=2, updated_at="2026-03-11T09:00:00-08:00", summary="still held"
    )
    resolved = make_alert(
        state="resolved",
        revision=3,
        updated_at="2026-03-12T09:00:00-08:00",
        resolved_at="2026-03-12T09:00:00-08:00",
    )
    assert opened.alert_id == updated.alert_id == resolved.alert_id
    assert len({opened.delivery_id, updated.delivery_id, resolved.delivery_id}) == 3
    assert opened.alert_id == compute_alert_id(
        "SHP-1", AlertType.DELAY, "leg_sla", Leg.IMPORT_CUSTOMS, None
    )


def test_alert_id_differs_per_leg_handoff_rule_and_shipment() -> None:
    ids = {
        make_alert().alert_id,
        make_alert(leg="last_mile").alert_id,
        make_alert(rule="promise").alert_id,
        make_alert(shipment_id="SHP-2").alert_id,
        make_alert(
            type="handoff_gap",
            leg=None,
            handoff={"from_leg": "import_customs", "to_leg": "last_mile"},
        ).alert_id,
    }
    assert len(ids) == 5
    handoff = HandoffRef(from_leg=Leg.IMPORT_CUSTOMS, to_leg=Leg.LAST_MILE)
    assert compute_alert_id("S", AlertType.HANDOFF_GAP, "r", None, handoff).startswith("alt_")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"state": "resolved"}, "resolved_at is set exactly"),
        ({"resolved_at": "2026-03-12T09:00:00Z"}, "resolved_at is set exactly"),
        ({"updated_at": "2026-03-01T00:00:00Z"}, "before opened_at"),
        ({"handoff": {"from_leg": "import_customs", "to_leg": "last_mile"}}, "not both"),
        ({"alert_id": "alt_" + "0" * 32}, "does not match"),
        ({"type": "weather"}, "type"),
        ({"rule": "Leg SLA"}, "rule"),
        ({"revision": 0}, "revision"),
        ({"opened_at": "2026-03-10T17:00:00"}, "timezone"),
    ],
)
def test_bad_alert_is_rejected(changes: dict, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Alert.model_validate(alert_data(**changes))
    assert message in str(info.value)
