"""EasyPost tracker webhooks: an ``Event`` whose ``result`` is a ``Tracker``.

Body (``application/json``, signed with ``X-Hmac-Signature``, see connectors/signatures.py)::

    {"object": "Event", "id": "evt_...", "description": "tracker.updated",
     "result": {"object": "Tracker", "tracking_code": "...", "carrier": "USPS",
                "status": "in_transit", "status_detail": "arrived_at_facility",
                "est_delivery_date": "...", "updated_at": "...",
                "tracking_details": [{"status": ..., "status_detail": ..., "message": ...,
                                      "datetime": ..., "tracking_location":
                                      {"city", "state", "country", "zip"}}]}}

Each tracking detail becomes one event; the milestone comes from ``status``
(``STATUS_MILESTONES``) unless the status is not decisive (``DECISIVE_STATUSES``) and
``status_detail`` says something more specific (``STATUS_DETAIL_MILESTONES``).
``source_code`` is the status, ``reason_code`` the status detail. ``est_delivery_date``
becomes one more event, kind ``estimated``, milestone ``delivered``, issued at the
tracker's ``updated_at``. The party is the carrier (``last_mile_carrier``),
its id the carrier name slugged (``USPS`` -> ``usps``). A well-formed Event about anything
other than a tracker (``batch.*``, ``shipment.invoice.*``...) carries no tracking and
yields no events. A tracker's details carry no ids: an event's id is its content, so the
full history EasyPost resends with every update collapses onto the events already seen.

Times: EasyPost documents that a detail's ``datetime`` carries the local offset of the
scan when the carrier gave enough location, and is UTC (``Z``) otherwise; both are kept as
given. A timestamp without any offset is not documented; it is rejected with
``EasyPostTimestampError`` (the payload goes to the dead-letter topic with the path of the
bad value) and never read as UTC, because guessing a zone would move the event by hours.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.base import (
    Connector,
    ConnectorError,
    SignatureScheme,
    build_event,
    decode_json_object,
    location_fields,
    optional,
    parse_aware_datetime,
    require,
    source_of,
)
from schemas.common import IdentifierKind, PartyRole
from schemas.events import EventKind, RawEnvelope, TrackingEvent
from schemas.milestones import Milestone

NAME = "easypost"
MAX_DETAILS = 1000  # a tracker's whole history; real ones have tens

# Tracker.status, the fallback for every detail.
STATUS_MILESTONES: dict[str, Milestone] = {
    "unknown": Milestone.INFO,
    "pre_transit": Milestone.BOOKED,  # label created, the carrier does not have it yet
    "in_transit": Milestone.IN_TRANSIT,
    "out_for_delivery": Milestone.OUT_FOR_DELIVERY,
    "delivered": Milestone.DELIVERED,
    "available_for_pickup": Milestone.AVAILABLE_FOR_PICKUP,
    "return_to_sender": Milestone.RETURN_TO_SENDER,
    "failure": Milestone.EXCEPTION,
    "cancelled": Milestone.CANCELLED,
    "error": Milestone.INFO,  # EasyPost could not track it: says nothing about the parcel
}

# Statuses that decide the milestone whatever the detail says ("delivered" with detail
# "arrived_at_destination" is a delivery); the other statuses are refined by the detail.
DECISIVE_STATUSES: frozenset[str] = frozenset(
    {"delivered", "available_for_pickup", "out_for_delivery", "return_to_sender", "cancelled"}
)

# status_detail values specific enough to refine a non-decisive status. Generic ones
# (status_update, in_transit, out_for_delivery, unknown, return, refused,
# address_correction...) are absent on purpose: the status decides for them.
STATUS_DETAIL_MILESTONES: dict[str, Milestone] = {
    "label_created": Milestone.BOOKED,
    "received_at_origin_facility": Milestone.CARRIER_RECEIVED,
    "departed_origin_facility": Milestone.IN_TRANSIT,
    "arrived_at_facility": Milestone.IN_TRANSIT,
    "departed_facility": Milestone.IN_TRANSIT,
    "arrived_at_destination": Milestone.IN_TRANSIT,
    "received_at_destination_facility": Milestone.IN_TRANSIT,
    "transferred_to_destination_carrier": Milestone.IN_TRANSIT,
    "arrived_at_pickup_location": Milestone.AVAILABLE_FOR_PICKUP,
    "delivery_exception": Milestone.EXCEPTION,
    "transit_exception": Milestone.EXCEPTION,
    "delayed": Milestone.EXCEPTION,
    "weather_delay": Milestone.EXCEPTION,
    "missorted": Milestone.EXCEPTION,
    "held": Milestone.EXCEPTION,
    "awaiting_information": Milestone.EXCEPTION,
    "expired": Milestone.EXCEPTION,
    "damaged": Milestone.DAMAGED,
    "lost": Milestone.LOST,
    "cancelled": Milestone.CANCELLED,
}


class EasyPostPayloadError(ConnectorError):
    """An EasyPost body that is not a tracker Event as EasyPost documents it."""


class EasyPostTimestampError(EasyPostPayloadError):
    """A timestamp without a UTC offset (or not a timestamp at all)."""


def parse_easypost_webhook(raw: RawEnvelope) -> list[TrackingEvent]:
    """Every tracking detail of the tracker, plus its delivery estimate when it has one."""
    body = decode_json_object(raw, EasyPostPayloadError, "an Event object")
    if require(body, "object", EasyPostPayloadError, "") != "Event":
        raise EasyPostPayloadError("object is not 'Event'", path="object")
    description = require(body, "description", EasyPostPayloadError, "")
    if not description.startswith("tracker."):
        return []
    tracker = require(body, "result", EasyPostPayloadError, "", dict)
    if require(tracker, "object", EasyPostPayloadError, "result") != "Tracker":
        raise EasyPostPayloadError("result is not a Tracker", path="result.object")
    context = _TrackerContext.of(raw, tracker)
    details = optional(tracker, "tracking_details", EasyPostPayloadError, "result", list) or []
    if len(details) > MAX_DETAILS:
        raise EasyPostPayloadError(f"{len(details)} tracking details; at most {MAX_DETAILS}")
    events = [
        _detail_event(context, detail, f"result.tracking_details[{i}]")
        for i, detail in enumerate(details)
    ]
    estimate = _estimate_event(context, tracker)
    if estimate is not None:
        events.append(estimate)
    return events


class _TrackerContext:
    """What every event of one tracker shares."""

    def __init__(self, raw: RawEnvelope, tracking_code: str, party: dict[str, Any]) -> None:
        self.raw = raw
        self.identifiers = [{"kind": IdentifierKind.TRACKING_NUMBER, "value": tracking_code}]
        self.source = source_of(NAME, party)

    @classmethod
    def of(cls, raw: RawEnvelope, tracker: dict[str, Any]) -> _TrackerContext:
        tracking_code = require(tracker, "tracking_code", EasyPostPayloadError, "result")
        carrier = require(tracker, "carrier", EasyPostPayloadError, "result")
        party_id = slug(carrier)
        if not party_id:
            raise EasyPostPayloadError("carrier has no letters or digits", path="result.carrier")
        party = {"role": PartyRole.LAST_MILE_CARRIER, "id": party_id, "name": carrier.strip()}
        try:
            return cls(raw, tracking_code, party)
        except ValueError as exc:  # pydantic refused the party (too long a name, ...)
            raise EasyPostPayloadError(f"carrier: {exc}", path="result.carrier") from None


def _detail_event(context: _TrackerContext, detail: Any, path: str) -> TrackingEvent:
    if not isinstance(detail, dict):
        raise EasyPostPayloadError(f"a detail is an object, got {type(detail).__name__}", path=path)
    status = require(detail, "status", EasyPostPayloadError, path)
    status_detail = optional(detail, "status_detail", EasyPostPayloadError, path)
    return build_event(
        context.raw,
        EasyPostPayloadError,
        path,
        source=context.source,
        identifiers=context.identifiers,
        milestone=milestone_for(status, status_detail),
        source_code=status,
        reason_code=status_detail,
        source_description=optional(detail, "message", EasyPostPayloadError, path),
        occurred_at=aware_instant(detail.get("datetime"), f"{path}.datetime"),
        location=_location(detail.get("tracking_location"), f"{path}.tracking_location"),
    )


def _estimate_event(context: _TrackerContext, tracker: dict[str, Any]) -> TrackingEvent | None:
    estimate = tracker.get("est_delivery_date")
    if estimate is None or estimate == "":
        return None
    return build_event(
        context.raw,
        EasyPostPayloadError,
        "result.est_delivery_date",
        source=context.source,
        identifiers=context.identifiers,
        milestone=Milestone.DELIVERED,
        kind=EventKind.ESTIMATED,
        source_code="est_delivery_date",
        occurred_at=aware_instant(tracker.get("updated_at"), "result.updated_at"),
        estimated_at=aware_instant(estimate, "result.est_delivery_date"),
    )


def milestone_for(status: str, status_detail: str | None) -> Milestone:
    """The milestone of a (status, status_detail) pair: a decisive status, else a specific
    detail, else the status; unknown codes are ``info``."""
    if status not in DECISIVE_STATUSES and status_detail in STATUS_DETAIL_MILESTONES:
        return STATUS_DETAIL_MILESTONES[status_detail]
    return STATUS_MILESTONES.get(status, Milestone.INFO)


def aware_instant(value: Any, path: str) -> datetime:
    """A timestamp with its UTC offset that converts to UTC; else ``EasyPostTimestampError``."""
    if value is None or value == "":
        raise EasyPostTimestampError("timestamp is missing", path=path)
    moment = parse_aware_datetime(value, EasyPostTimestampError, path)
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise EasyPostTimestampError("timestamp out of range", path=path) from None
    return moment


_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def _location(value: Any, path: str) -> dict[str, str] | None:
    """City, postal code and an ISO 3166 alpha-2 country; any other country spelling is
    left out rather than guessed."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise EasyPostPayloadError(
            f"tracking_location is an object, got {type(value).__name__}", path=path
        )
    country = optional(value, "country", EasyPostPayloadError, path)
    return location_fields(
        city=optional(value, "city", EasyPostPayloadError, path),
        postal_code=optional(value, "zip", EasyPostPayloadError, path),
        country=country.strip() if country and _COUNTRY.match(country.strip()) else None,
    )


def slug(name: str) -> str:
    """A party id from a carrier name: lower case, runs of other characters become '-'."""
    return re.sub(r"[^a-z0-9._]+", "-", name.strip().lower()).strip("-._")[:64]


CONNECTOR = Connector(
    name=NAME,
    parse=parse_easypost_webhook,
    content_types=frozenset({"application/json"}),
    signature=SignatureScheme.EASYPOST,
    description="EasyPost tracker webhooks (Event with a Tracker result)",
)
