"""Shipment plans: what a seller registers so the hub knows whose event is whose.

A plan names the legs of one shipment in journey order, who runs each leg, the identifiers
each leg reports under, the milestones that open and close it, its SLA and stall limit,
the handoff windows between legs and who answers for them, and the promised delivery date
of the whole shipment (``shipments.v1``, compacted, keyed by ``shipment_id``).
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from functools import cached_property
from itertools import pairwise
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, StringConstraints, field_validator, model_validator

from schemas.common import SCHEMA_VERSION, CountryCode, Identifier, Party, StrictModel
from schemas.milestones import Milestone

EntityId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
]


class Leg(StrEnum):
    """The legs of a cross-border journey, in journey order."""

    FIRST_MILE = "first_mile"
    EXPORT_CUSTOMS = "export_customs"
    LINE_HAUL = "line_haul"
    IMPORT_CUSTOMS = "import_customs"
    WAREHOUSE = "warehouse"
    LAST_MILE = "last_mile"


LEG_ORDER: dict[Leg, int] = {leg: i for i, leg in enumerate(Leg)}


class IntegrationModel(StrEnum):
    FULL_SERVICE = "full_service"  # one provider answers for every leg
    SELLER_MANAGED = "seller_managed"  # the seller contracts each leg separately
    OVERSEAS_WAREHOUSE = "overseas_warehouse"  # bulk first mile into a warehouse abroad
    FBA = "fba"  # bulk first mile into an Amazon fulfilment centre


class TransportMode(StrEnum):
    AIR = "air"
    OCEAN = "ocean"
    RAIL = "rail"
    TRUCK = "truck"
    EXPRESS = "express"


# The milestones that open and close each leg unless the plan says otherwise.
DEFAULT_OPENS_ON: dict[Leg, tuple[Milestone, ...]] = {
    Leg.FIRST_MILE: (Milestone.PICKED_UP, Milestone.RECEIVED_AT_ORIGIN_HUB),
    Leg.EXPORT_CUSTOMS: (Milestone.EXPORT_CUSTOMS_SUBMITTED,),
    Leg.LINE_HAUL: (Milestone.LINE_HAUL_LOADED, Milestone.LINE_HAUL_DEPARTED),
    Leg.IMPORT_CUSTOMS: (Milestone.IMPORT_CUSTOMS_SUBMITTED,),
    Leg.WAREHOUSE: (Milestone.WAREHOUSE_RECEIVED,),
    Leg.LAST_MILE: (Milestone.CARRIER_RECEIVED, Milestone.IN_TRANSIT),
}
DEFAULT_CLOSES_ON: dict[Leg, tuple[Milestone, ...]] = {
    Leg.FIRST_MILE: (Milestone.DEPARTED_ORIGIN,),
    Leg.EXPORT_CUSTOMS: (Milestone.EXPORT_CUSTOMS_CLEARED,),
    Leg.LINE_HAUL: (Milestone.LINE_HAUL_ARRIVED, Milestone.LINE_HAUL_UNLOADED),
    Leg.IMPORT_CUSTOMS: (Milestone.IMPORT_CUSTOMS_RELEASED,),
    Leg.WAREHOUSE: (Milestone.WAREHOUSE_DISPATCHED, Milestone.WAREHOUSE_STOCKED),
    Leg.LAST_MILE: (Milestone.DELIVERED,),
}

PositiveDuration = Annotated[timedelta, Field(gt=timedelta(0))]


def _check_time_zone(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None
    return name


class Sla(StrictModel):
    """A time limit: exactly one of a duration, a number of business days, or a deadline.

    Durations count from the leg's opening milestone. Business days skip Saturdays, Sundays
    and ``holidays`` in ``time_zone`` (the lane's calendar, usually the destination's).
    """

    max_duration: PositiveDuration | None = None
    max_business_days: Annotated[int, Field(ge=1, le=365)] | None = None
    deadline: AwareDatetime | None = None
    time_zone: str | None = Field(default=None, description="IANA zone, e.g. 'Europe/Berlin'")
    holidays: list[date] = Field(default_factory=list, max_length=400)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return _check_time_zone(value)

    @model_validator(mode="after")
    def _exactly_one_limit(self) -> Self:
        limits = [self.max_duration, self.max_business_days, self.deadline]
        if sum(limit is not None for limit in limits) != 1:
            raise ValueError(
                "an SLA needs exactly one of max_duration, max_business_days or deadline"
            )
        if self.max_business_days is not None and self.time_zone is None:
            raise ValueError("max_business_days needs time_zone (whose calendar counts)")
        return self


class PlannedLeg(StrictModel):
    leg: Leg
    party: Party = Field(description="Who runs the leg (and holds custody during it)")
    identifiers: list[Identifier] = Field(default_factory=list, max_length=64)
    opens_on: list[Milestone] = Field(min_length=1, description="Milestones that open the leg")
    closes_on: list[Milestone] = Field(min_length=1, description="Milestones that close it")
    sla: Sla | None = None
    stall_limit: PositiveDuration | None = Field(
        default=None, description="Longest silence allowed while the leg is active"
    )

    @model_validator(mode="before")
    @classmethod
    def _default_milestones(cls, data: Any) -> Any:
        if isinstance(data, dict) and "leg" in data:
            try:
                leg = Leg(data["leg"])
            except ValueError:
                return data  # the field validator reports the bad leg
            data = dict(data)
            data.setdefault("opens_on", list(DEFAULT_OPENS_ON[leg]))
            data.setdefault("closes_on", list(DEFAULT_CLOSES_ON[leg]))
        return data

    @model_validator(mode="after")
    def _open_and_close_differ(self) -> Self:
        both = set(self.opens_on) & set(self.closes_on)
        if both:
            raise ValueError(f"{self.leg.value}: {sorted(both)} both open and close the leg")
        return self


class Handoff(StrictModel):
    """The passing of custody from one leg to the next, within ``window``."""

    from_leg: Leg
    to_leg: Leg
    window: PositiveDuration
    answerable: Party | None = Field(
        default=None,
        description="Who answers for a missed handoff; by default the receiving leg's party "
        "(or the full-service provider)",
    )


class Lane(StrictModel):
    origin: CountryCode
    destination: CountryCode


class ShipmentPlan(StrictModel):
    """A seller's plan for one shipment. A higher ``revision`` replaces a lower one."""

    schema_version: Literal[1] = SCHEMA_VERSION
    shipment_id: EntityId
    seller_id: EntityId
    revision: Annotated[int, Field(ge=1)] = 1
    integration_model: IntegrationModel
    provider: Party | None = Field(
        default=None, description="The full-service provider answerable for every leg"
    )
    lane: Lane
    mode: TransportMode | None = None
    identifiers: list[Identifier] = Field(
        default_factory=list, max_length=64, description="Shipment-wide ids, e.g. the order id"
    )
    legs: list[PlannedLeg] = Field(min_length=1, max_length=len(Leg))
    handoffs: list[Handoff] = Field(default_factory=list)
    promised_delivery_at: AwareDatetime | None = None
    registered_at: AwareDatetime

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        legs = [planned.leg for planned in self.legs]
        if len(set(legs)) != len(legs):
            raise ValueError("a leg appears twice in legs")
        if legs != sorted(legs, key=LEG_ORDER.__getitem__):
            raise ValueError(f"legs must be in journey order {[leg.value for leg in Leg]}")
        self._check_model(legs)
        self._check_handoffs(legs)
        keys = [(i.key, i.issuer) for i in self.all_identifiers()]
        if not keys:
            raise ValueError("a plan needs at least one identifier (shipment-wide or per leg)")
        if len(set(keys)) != len(keys):
            raise ValueError("the same identifier is listed twice in the plan")
        return self

    def _check_model(self, legs: list[Leg]) -> None:
        model = self.integration_model
        if model is IntegrationModel.FULL_SERVICE and self.provider is None:
            raise ValueError("a full_service plan names its provider")
        if model is not IntegrationModel.FULL_SERVICE and self.provider is not None:
            raise ValueError("provider is only for full_service plans")
        needs_warehouse = model in (IntegrationModel.OVERSEAS_WAREHOUSE, IntegrationModel.FBA)
        if needs_warehouse and Leg.WAREHOUSE not in legs:
            raise ValueError(f"a {model.value} plan has a warehouse leg")

    def _check_handoffs(self, legs: list[Leg]) -> None:
        adjacent = set(pairwise(legs))
        seen: set[tuple[Leg, Leg]] = set()
        for handoff in self.handoffs:
            pair = (handoff.from_leg, handoff.to_leg)
            if pair not in adjacent:
                raise ValueError(
                    f"handoff {pair[0].value}->{pair[1].value} is not between consecutive legs"
                )
            if pair in seen:
                raise ValueError(f"handoff {pair[0].value}->{pair[1].value} is listed twice")
            seen.add(pair)

    def all_identifiers(self) -> list[Identifier]:
        """Every identifier of the shipment: shipment-wide first, then per leg in order."""
        return [*self.identifiers, *(i for planned in self.legs for i in planned.identifiers)]

    def planned_leg(self, leg: Leg) -> PlannedLeg | None:
        return self.legs_by_name.get(leg)

    @cached_property
    def legs_by_name(self) -> dict[Leg, PlannedLeg]:
        """The planned legs by leg (computed once: detection asks on every deadline)."""
        return {planned.leg: planned for planned in self.legs}

    def answerable_for_leg(self, leg: Leg) -> Party:
        """Who answers for a leg: the full-service provider, else the leg's own party."""
        planned = self.planned_leg(leg)
        if planned is None:
            raise KeyError(f"{self.shipment_id} has no {leg.value} leg")
        return self.provider or planned.party

    def answerable_for_handoff(self, from_leg: Leg, to_leg: Leg) -> Party:
        """Who answers for a handoff: the provider, the contract's party, else the receiver."""
        if self.provider is not None:
            return self.provider
        for handoff in self.handoffs:
            if (handoff.from_leg, handoff.to_leg) == (from_leg, to_leg) and handoff.answerable:
                return handoff.answerable
        return self.answerable_for_leg(to_leg)
