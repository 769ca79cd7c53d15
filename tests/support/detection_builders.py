"""Builders for the detection tests: plans per integration model, events by milestone, states.

Times are plain aware datetimes (the injected clock). ``T0`` is a Monday 00:00 UTC; the
factory plan (``tests.factories.plan_data``) is seller_managed CN->US air with legs
first_mile (fwd-sz, P3D, stall 36h), line_haul (fwd-sz, P4D), import_customs (broker-lax,
2 business days in Los Angeles) and last_mile (usps, P5D, stall 2d), one handoff
import_customs->last_mile (24h, answerable broker-lax) and a promise on 2026-03-21.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.detect.condition import Condition
from hub.shipment_state import ShipmentState, apply_event, new_state
from schemas.alerts import AlertType, HandoffRef
from schemas.common import Party, PartyRole
from schemas.events import TrackingEvent
from schemas.milestones import Milestone, MilestoneGroup, group_of
from schemas.shipments import Leg, ShipmentPlan
from tests.factories import plan_data

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # Monday
SECOND = timedelta(seconds=1)
PROMISE = datetime(2026, 3, 21, 7, 59, 59, tzinfo=UTC)  # the factory plan's promise

FWD = Party(role=PartyRole.FORWARDER, id="fwd-sz")
BROKER = Party(role=PartyRole.CUSTOMS_BROKER, id="broker-lax")
USPS = Party(role=PartyRole.LAST_MILE_CARRIER, id="usps")
SELLER = Party(role=PartyRole.SELLER, id="seller-42")
PROVIDER = Party(role=PartyRole.FULL_SERVICE_PROVIDER, id="cainiao")
WAREHOUSE_OP = Party(role=PartyRole.WAREHOUSE_OPERATOR, id="wh-ontario")
UPS = Party(role=PartyRole.LAST_MILE_CARRIER, id="ups")
AMAZON = Party(role=PartyRole.MARKETPLACE, id="amazon")
AGGREGATOR = Party(role=PartyRole.AGGREGATOR, id="track-relay")

ORDER = ("order_id", "SO-1001")
HAWB = ("hawb", "SZX1234567")
MAWB = ("mawb", "176-12345675")
ENTRY = ("customs_entry", "ABC-1234567-8")
TRACKING = ("tracking_number", "9400111899223100001234")

# Who reports a milestone by default (the factory plan's leg parties) and under what id.
_DEFAULT_SOURCE: dict[MilestoneGroup, tuple[Party, tuple[str, str]]] = {
    MilestoneGroup.FIRST_MILE: (FWD, HAWB),
    MilestoneGroup.EXPORT_CUSTOMS: (FWD, HAWB),
    MilestoneGroup.LINE_HAUL: (FWD, MAWB),
    MilestoneGroup.IMPORT_CUSTOMS: (BROKER, ENTRY),
    MilestoneGroup.WAREHOUSE: (WAREHOUSE_OP, ("shipment_ref", "WH-REF-1")),
    MilestoneGroup.LAST_MILE: (USPS, TRACKING),
    MilestoneGroup.RETURNS_EXCEPTIONS: (USPS, TRACKING),
}


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def event(
    milestone: Milestone | str,
    occurred_at: datetime,
    *,
    by: Party | None = None,
    ids: list[tuple[str, str]] | None = None,
    kind: str = "actual",
    estimated_at: datetime | None = None,
    reason: str | None = None,
    source_event_id: str | None = None,
) -> TrackingEvent:
    """A normalized event; party and identifier default to the factory plan's leg party."""
    milestone = Milestone(milestone)
    default_party, default_id = _DEFAULT_SOURCE[group_of(milestone)]
    party = by or default_party
    data: dict[str, Any] = {
        "source": {
            "connector": "native",
            "party": party.model_dump(mode="json", exclude_none=True),
            "source_event_id": source_event_id,
        },
        "identifiers": [{"kind": k, "value": v} for k, v in (ids or [default_id])],
        "milestone": milestone.value,
        "kind": kind,
        "source_code": milestone.value,
        "reason_code": reason,
        "occurred_at": occurred_at.isoformat(),
        "received_at": occurred_at.isoformat(),
    }
    if estimated_at is not None:
        data["estimated_at"] = estimated_at.isoformat()
    return TrackingEvent.model_validate(data)


def estimate(
    milestone: Milestone | str,
    issued_at: datetime,
    estimated_at: datetime,
    *,
    kind: str = "estimated",
    **kw: Any,
) -> TrackingEvent:
    """An estimate of ``milestone``, issued at ``issued_at`` (its ``occurred_at``)."""
    return event(milestone, issued_at, kind=kind, estimated_at=estimated_at, **kw)


def legs_with(base: dict[str, Any] | None = None, **per_leg: dict[str, Any]) -> list[dict]:
    """The legs of a plan's data with some fields of some legs replaced."""
    legs = (base or plan_data())["legs"]
    return [{**leg, **per_leg.get(leg["leg"], {})} for leg in legs]


def plan(**changes: Any) -> ShipmentPlan:
    """The factory plan (seller_managed) with top-level fields replaced."""
    return ShipmentPlan.model_validate(plan_data(**changes))


def parcel(n: int, **changes: Any) -> ShipmentPlan:
    """Shipment SHP-<n>: its own order, HAWB, entry and parcel number, the shared MAWB
    (a consolidation of several sellers' parcels)."""
    fields: dict[str, Any] = {
        "shipment_id": f"SHP-{n}",
        "identifiers": [{"kind": "order_id", "value": f"SO-{n}"}],
        "legs": legs_with(
            first_mile={"identifiers": [{"kind": "hawb", "value": f"SZX{n:07d}"}]},
            import_customs={"identifiers": [{"kind": "customs_entry", "value": f"ENT-{n}"}]},
            last_mile={"identifiers": [{"kind": "tracking_number", "value": f"TRK{n:06d}"}]},
        ),
    }
    fields.update(changes)
    return plan(**fields)


def plan_with_legs(per_leg: dict[str, dict[str, Any]], **changes: Any) -> ShipmentPlan:
    """The factory plan with some fields of some legs replaced."""
    return plan(legs=legs_with(**per_leg), **changes)


def full_service_plan(**changes: Any) -> ShipmentPlan:
    """The factory plan run by one provider; the leg parties stay (subcontractors)."""
    fields: dict[str, Any] = {
        "integration_model": "full_service",
        "provider": PROVIDER.model_dump(mode="json"),
    }
    fields.update(changes)
    return plan(**fields)


def _party(party: Party) -> dict[str, Any]:
    return party.model_dump(mode="json", exclude_none=True)


def overseas_warehouse_plan(**changes: Any) -> ShipmentPlan:
    """Bulk first mile into a warehouse abroad, then a parcel carrier from the warehouse."""
    base = plan_data()
    first_mile, line_haul, import_customs, _ = base["legs"]
    data = plan_data(
        shipment_id="SHP-OW-1",
        integration_model="overseas_warehouse",
        mode="ocean",
        legs=[
            first_mile,
            line_haul,
            import_customs,
            {
                "leg": "warehouse",
                "party": _party(WAREHOUSE_OP),
                "identifiers": [{"kind": "shipment_ref", "value": "WH-REF-1"}],
                "closes_on": ["warehouse_dispatched"],
                "sla": {"max_duration": "P2D"},
                "stall_limit": "P3D",
            },
            {
                "leg": "last_mile",
                "party": _party(UPS),
                "identifiers": [{"kind": "tracking_number", "value": "1Z999AA10123456784"}],
                "sla": {"max_duration": "P3D"},
            },
        ],
        handoffs=[
            {"from_leg": "import_customs", "to_leg": "warehouse", "window": "PT48H"},
            {"from_leg": "warehouse", "to_leg": "last_mile", "window": "PT24H"},
        ],
    )
    data.update(changes)
    return ShipmentPlan.model_validate(data)


def fba_plan(**changes: Any) -> ShipmentPlan:
    """Bulk first mile into an Amazon fulfilment centre (the journey ends at the FC)."""
    base = plan_data()
    first_mile, line_haul, import_customs, _ = base["legs"]
    data = plan_data(
        shipment_id="SHP-FBA-1",
        integration_model="fba",
        mode="ocean",
        legs=[
            first_mile,
            line_haul,
            import_customs,
            {
                "leg": "warehouse",
                "party": _party(AMAZON),
                "identifiers": [{"kind": "fba_shipment", "value": "FBA15ABCDEF"}],
                "closes_on": ["warehouse_stocked"],
                "sla": {"max_duration": "P3D"},
            },
        ],
        handoffs=[{"from_leg": "import_customs", "to_leg": "warehouse", "window": "P2D"}],
        promised_delivery_at=None,
    )
    data.update(changes)
    return ShipmentPlan.model_validate(data)


def state_of(shipment_plan: ShipmentPlan, *events: TrackingEvent) -> ShipmentState:
    """The state after applying ``events`` in the order given."""
    state = new_state(shipment_plan)
    for item in events:
        state = apply_event(state, item)
    return state


def find(
    conditions: list[Condition],
    type_: AlertType,
    rule: str,
    *,
    leg: Leg | None = None,
    handoff: tuple[Leg, Leg] | None = None,
) -> Condition | None:
    """The one condition of that type, rule and leg (or handoff), or None."""
    ref = HandoffRef(from_leg=handoff[0], to_leg=handoff[1]) if handoff else None
    matches = [
        c
        for c in conditions
        if c.type is type_ and c.rule == rule and c.leg is leg and c.handoff == ref
    ]
    assert len(matches) <= 1, matches
    return matches[0] if matches else None
