"""ShipmentPlan: what a valid plan looks like, and every way a plan is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import Leg, Milestone, ShipmentPlan
from tests.factories import make_plan, plan_data


def _legs(**per_leg: dict[str, Any]) -> list[dict[str, Any]]:
    legs = plan_data()["legs"]
    return [{**leg, **per_leg.get(leg["leg"], {})} for leg in legs]


def test_plan_round_trip_and_defaults() -> None:
    plan = make_plan()
    again = ShipmentPlan.model_validate_json(plan.model_dump_json())
    assert again == plan
    first = plan.planned_leg(Leg.FIRST_MILE)
    assert first is not None
    assert first.opens_on == [Milestone.PICKED_UP, Milestone.RECEIVED_AT_ORIGIN_HUB]
    assert first.closes_on == [Milestone.DEPARTED_ORIGIN]
    assert first.sla is not None and first.sla.max_duration == timedelta(days=3)
    assert first.stall_limit == timedelta(hours=36)
    assert '"max_duration":"P3D"' in plan.model_dump_json()


def test_all_identifiers_cover_shipment_and_legs() -> None:
    keys = [i.key for i in make_plan().all_identifiers()]
    assert keys == [
        "order_id:SO-1001",
        "hawb:SZX1234567",
        "mawb:176-12345675",
        "customs_entry:ABC-1234567-8",
        "tracking_number:9400111899223100001234",
    ]


def test_answerable_party_seller_managed() -> None:
    plan = make_plan()
    assert plan.answerable_for_leg(Leg.IMPORT_CUSTOMS).id == "broker-lax"
    # the contract names the broker for the customs -> last mile handoff
    assert plan.answerable_for_handoff(Leg.IMPORT_CUSTOMS, Leg.LAST_MILE).id == "broker-lax"
    # no contract entry: the receiving leg's party answers
    assert plan.answerable_for_handoff(Leg.FIRST_MILE, Leg.LINE_HAUL).id == "fwd-sz"
    with pytest.raises(KeyError):
        plan.answerable_for_leg(Leg.WAREHOUSE)


def test_full_service_provider_answers_for_everything() -> None:
    plan = make_plan(
        integration_model="full_service",
        provider={"role": "full_service_provider", "id": "yunexpress"},
    )
    for leg in plan.legs:
        assert plan.answerable_for_leg(leg.leg).id == "yunexpress"
    assert plan.answerable_for_handoff(Leg.IMPORT_CUSTOMS, Leg.LAST_MILE).id == "yunexpress"


def test_overseas_warehouse_plan() -> None:
    legs = [leg for leg in plan_data()["legs"] if leg["leg"] != "last_mile"] + [
        {"leg": "warehouse", "party": {"role": "warehouse_operator", "id": "wh-ontario"}},
        {"leg": "last_mile", "party": {"role": "last_mile_carrier", "id": "ups"}},
    ]
    plan = make_plan(integration_model="overseas_warehouse", legs=legs, handoffs=[])
    assert [leg.leg for leg in plan.legs][-2:] == [Leg.WAREHOUSE, Leg.LAST_MILE]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"legs": []}, "at least 1"),
        ({"legs": list(reversed(plan_data()["legs"]))}, "journey order"),
        ({"legs": plan_data()["legs"] + plan_data()["legs"][:1]}, "appears twice"),
        ({"integration_model": "full_service"}, "names its provider"),
        ({"provider": {"role": "full_service_provider", "id": "x"}}, "only for full_service"),
        ({"integration_model": "fba"}, "warehouse leg"),
        ({"integration_model": "drop_ship"}, "integration_model"),
        (
            {"handoffs": [{"from_leg": "first_mile", "to_leg": "last_mile", "window": "PT1H"}]},
            "not between consecutive legs",
        ),
        (
            {
                "handoffs": [
                    {"from_leg": "line_haul", "to_leg": "import_customs", "window": "PT1H"},
                    {"from_leg": "line_haul", "to_leg": "import_customs", "window": "PT2H"},
                ]
            },
            "listed twice",
        ),
        (
            {"handoffs": [{"from_leg": "line_haul", "to_leg": "import_customs", "window": "PT0S"}]},
            "greater than",
        ),
        ({"legs": _legs(first_mile={"sla": {}})}, "exactly one of"),
        (
            {
                "legs": _legs(
                    first_mile={"sla": {"max_duration": "P1D", "deadline": "2026-03-03T00:00:00Z"}}
                )
            },
            "exactly one of",
        ),
        ({"legs": _legs(first_mile={"sla": {"max_business_days": 2}})}, "needs time_zone"),
        (
            {
                "legs": _legs(
                    first_mile={"sla": {"max_business_days": 2, "time_zone": "Mars/Olympus"}}
                )
            },
            "unknown IANA time zone",
        ),
        ({"legs": _legs(first_mile={"sla": {"deadline": "2026-03-03T00:00:00"}})}, "timezone"),
        ({"legs": _legs(first_mile={"stall_limit": "-PT1H"})}, "greater than"),
        (
            {"legs": _legs(first_mile={"opens_on": ["delivered"], "closes_on": ["delivered"]})},
            "both open",
        ),
        ({"legs": _legs(first_mile={"opens_on": []})}, "at least 1"),
        (
            {"legs": _legs(last_mile={"identifiers": [{"kind": "order_id", "value": "so-1001"}]})},
            "listed twice",
        ),
        (
            {
                "identifiers": [],
                "legs": [{**leg, "identifiers": []} for leg in plan_data()["legs"]],
            },
            "at least one identifier",
        ),
        ({"lane": {"origin": "China", "destination": "US"}}, "origin"),
        ({"registered_at": "2026-03-01"}, "registered_at"),
        ({"seller_id": "seller 42"}, "seller_id"),
        ({"revision": 0}, "revision"),
    ],
)
def test_bad_plan_is_rejected_with_a_clear_error(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        make_plan(**changes)
    assert message in str(info.value)
