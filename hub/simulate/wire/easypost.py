"""EasyPost tracker webhooks, built from simulated events: the reverse of connectors/easypost.py.

One payload is one ``Event`` (``tracker.updated``) whose ``result`` is the ``Tracker`` of the
events' shipment: each actual event becomes one ``tracking_details`` entry, oldest first as
EasyPost lists them, and the tracker's own ``status``/``status_detail`` are the latest
detail's. Several events of one shipment go in one payload (the tracker's history).

Party: EasyPost speaks for the carrier only. What it can express is role
``last_mile_carrier`` with the carrier as id: the connector slugs the ``carrier`` field
(``USPS`` -> ``usps``, ``DHL Paket`` -> ``dhl-paket``). The carrier written is the party's
name when it slugs to the id, else EasyPost's spelling from ``CARRIER_NAMES``, else the id
itself; any other role, or an id no carrier name slugs to (``a--b``), is a ValueError.

Identifiers: the first one, which must be a tracking number, is the ``tracking_code``; a
tracker has no place for the others, so they are not sent.

Milestones: ``DETAIL_CODES`` holds, per milestone, the (status, status_detail) pair the
connector maps back to exactly that milestone. DELIVERY_ATTEMPTED and RETURNED have no
pair of their own (an attempt is a ``failure``/``delivery_exception``, which reads as
``exception``; ``return_to_sender`` covers both the way back and the arrival), and no
customs, line-haul or warehouse milestone has one: asking for those is a ValueError.

Estimates: the tracker's ``est_delivery_date`` is EasyPost's only estimate, so an
``estimated`` event must be ``delivered`` (one per payload); its ``occurred_at`` (the
predicted time) becomes ``est_delivery_date`` and the connector reads it back as an
``estimated`` event whose ``estimated_at`` is that instant. It is issued at the tracker's
``updated_at``: ``extra["issued_at"]`` (ISO 8601 with offset) when given, else the latest
actual event of the payload; with neither, ValueError.

Times: a detail's ``datetime`` keeps the event's local offset (UTC written ``Z``), as
EasyPost sends scans with enough location; the Event's and tracker's stamps are UTC.
Locations: city, postal code (``zip``) and ISO country travel; UN/LOCODE, IATA code and
facility name have no field and are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from connectors.easypost import slug
from hub.simulate.wire import WireEvent
from hub.simulate.wire._common import (
    delivery_estimate,
    digest,
    iso_local,
    iso_utc,
    issued_at,
    one_shipment,
)
from schemas.common import Location, Party, PartyRole
from schemas.milestones import Milestone

FORMAT = "easypost"
CONTENT_TYPE = "application/json"

# milestone -> (status, status_detail, message): a pair the connector maps back to it
DETAIL_CODES: dict[Milestone, tuple[str, str, str]] = {
    Milestone.INFO: ("unknown", "status_update", "Status update"),
    Milestone.BOOKED: ("pre_transit", "label_created", "Shipping Label Created"),
    Milestone.CARRIER_RECEIVED: (
        "in_transit",
        "received_at_origin_facility",
        "Accepted at origin facility",
    ),
    Milestone.IN_TRANSIT: ("in_transit", "arrived_at_facility", "Arrived at facility"),
    Milestone.OUT_FOR_DELIVERY: ("out_for_delivery", "out_for_delivery", "Out for Delivery"),
    Milestone.AVAILABLE_FOR_PICKUP: (
        "available_for_pickup",
        "arrived_at_pickup_location",
        "Available for Pickup",
    ),
    Milestone.DELIVERED: ("delivered", "arrived_at_destination", "Delivered"),
    Milestone.RETURN_TO_SENDER: ("return_to_sender", "return", "Return to Sender"),
    Milestone.EXCEPTION: ("failure", "delivery_exception", "Delivery Exception"),
    Milestone.DAMAGED: ("failure", "damaged", "Damaged"),
    Milestone.LOST: ("failure", "lost", "Lost"),
    Milestone.CANCELLED: ("cancelled", "cancelled", "Cancelled"),
}

SUPPORTED: frozenset[Milestone] = frozenset(DETAIL_CODES)

# EasyPost's carrier spellings, for parties given without a name
CARRIER_NAMES: dict[str, str] = {
    "usps": "USPS",
    "ups": "UPS",
    "fedex": "FedEx",
    "dhlexpress": "DHLExpress",
    "dhl-paket": "DHL Paket",
    "canadapost": "CanadaPost",
    "royalmail": "RoyalMail",
    "australiapost": "AustraliaPost",
    "ontrac": "OnTrac",
}


def encode(events: Sequence[WireEvent], *, reference: str) -> bytes:
    """One ``tracker.updated`` Event carrying every event of ``events`` (one shipment)."""
    first = one_shipment(
        events,
        keyed_by="an EasyPost tracker is keyed by a tracking number",
        one_number="one EasyPost tracker is one tracking number",
        one_party="one EasyPost tracker is one carrier",
    )
    tracking_code = first.identifiers[0].value
    carrier = carrier_name(first.party)
    actual = sorted((e for e in events if not e.estimated), key=lambda e: e.occurred_at)
    estimates = [e for e in events if e.estimated]
    for event in actual:
        if event.milestone not in DETAIL_CODES:
            raise ValueError(f"EasyPost has no status for {event.milestone.value}")
    estimate, issued = _estimate(estimates, actual)
    updated_at = issued or actual[-1].occurred_at
    created_at = min([e.occurred_at for e in actual] + [updated_at])
    status, status_detail = (
        DETAIL_CODES[actual[-1].milestone][:2] if actual else ("unknown", "unknown")
    )
    tracker = {
        "object": "Tracker",
        "id": f"trk_{digest(carrier, tracking_code)}",
        "mode": "production",
        "tracking_code": tracking_code,
        "status": status,
        "status_detail": status_detail,
        "created_at": iso_utc(created_at),
        "updated_at": iso_utc(updated_at),
        "signed_by": None,
        "weight": None,
        "est_delivery_date": _local(estimate.occurred_at) if estimate else None,
        "shipment_id": None,
        "carrier": carrier,
        "tracking_details": [_detail(event, carrier) for event in actual],
    }
    body = {
        "object": "Event",
        "id": f"evt_{digest(reference)}",
        "mode": "production",
        "description": "tracker.updated",
        "created_at": iso_utc(updated_at),
        "updated_at": iso_utc(updated_at),
        "pending_urls": [],
        "completed_urls": [],
        "result": tracker,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def carrier_name(party: Party) -> str:
    """The ``carrier`` EasyPost would write for ``party``, which the connector slugs back
    to the party's id; ValueError for a party EasyPost cannot speak for."""
    if party.role is not PartyRole.LAST_MILE_CARRIER:
        raise ValueError(f"EasyPost reports carriers only, not a {party.role.value}")
    for name in (party.name, CARRIER_NAMES.get(party.id), party.id):
        if name and slug(name) == party.id:
            return name
    raise ValueError(f"no EasyPost carrier name slugs to {party.id!r}")


def _estimate(
    estimates: list[WireEvent], actual: list[WireEvent]
) -> tuple[WireEvent | None, datetime | None]:
    """The estimate of the payload and when it was issued (the tracker's ``updated_at``)."""
    estimate = delivery_estimate(
        estimates,
        one_only="an EasyPost tracker carries one est_delivery_date",
        delivery_only="EasyPost estimates the delivery only (est_delivery_date)",
    )
    if estimate is None:
        return None, None
    latest = max(e.occurred_at for e in actual) if actual else None
    missing = "an estimate alone needs extra['issued_at'] (the tracker's updated_at)"
    return estimate, issued_at(estimate, latest, missing=missing)


def _detail(event: WireEvent, carrier: str) -> dict[str, object]:
    status, status_detail, message = DETAIL_CODES[event.milestone]
    return {
        "object": "TrackingDetail",
        "message": event.reason or message,
        "description": "",
        "status": status,
        "status_detail": status_detail,
        "datetime": _local(event.occurred_at),
        "source": carrier,
        "tracking_location": _tracking_location(event.location),
    }


def _tracking_location(location: Location | None) -> dict[str, object]:
    place = location or Location()
    return {
        "object": "TrackingLocation",
        "city": place.city,
        "state": None,
        "country": place.country,
        "zip": place.postal_code or None,
    }


def _local(moment: datetime) -> str:
    """ISO 8601 in the moment's own offset, ``Z`` for UTC; fractions only when present."""
    text = iso_local(moment)
    return text[:-6] + "Z" if text.endswith("+00:00") else text
