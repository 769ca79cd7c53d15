"""AfterShip tracking webhooks, built from simulated events: the reverse of
connectors/aftership.py.

One payload is one ``tracking_update`` webhook whose ``msg`` is the tracking of the events'
shipment: each actual event becomes one ``checkpoints[]`` entry, oldest first as AfterShip
lists them, and the tracking's ``tag``/``subtag`` are the latest checkpoint's. Several
events of one shipment go in one payload (the tracking's history).

Party: AfterShip names the carrier of every checkpoint by its courier code (``slug``). What
it can express is role ``last_mile_carrier`` with the courier slug as id (``usps``,
``china-post``); any other role is a ValueError.

Identifiers: the first one, which must be a tracking number, is ``tracking_number``; the
first ``order_id`` among the others travels as the tracking's ``order_id`` (the connector
reads it back as a second identifier); the rest have no field.

Milestones: ``CHECKPOINT_CODES`` holds, per milestone, the (tag, subtag) the connector maps
back to exactly that milestone. Customs sub-statuses do not say import or export; the
connector reads a checkpoint in the origin country (and not the destination) as export.
So an export-customs event needs its ``location.country`` (the tracking's
``origin_country_iso3`` is set to it) and an import-customs event's country becomes
``destination_country_iso3``; an import-customs event located in the origin country is a
ValueError (it would read as export). Import duties, inspection, seizure, warehouse and
line-haul departure have no sub-status of their own, nor has ``info`` (``Pending`` is a
tracking that has no checkpoint yet): asking for those is a ValueError.

Estimates: AfterShip estimates the delivery only, so an ``estimated`` event must be
``delivered`` (one per payload); its ``occurred_at`` (the predicted time, with its offset)
becomes ``latest_estimated_delivery.datetime``, issued at the tracking's ``updated_at``:
``extra["issued_at"]`` when given, else the latest checkpoint. An estimate needs at least
one checkpoint in the payload: a tracking without checkpoints makes the connector report
its tag as one more event, which the caller did not ask for (ValueError).

Times: ``checkpoint_time`` keeps the event's local offset (UTC written ``+00:00``);
``updated_at``, ``created_at`` and ``ts`` are UTC. Locations: city, postal code and the
country, written as ISO 3166 alpha-3 from the connector's own table; a country outside it
is left out rather than guessed (fatal only for an export-customs event).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

from connectors.aftership import ISO3_TO_ISO2
from hub.simulate.wire import WireEvent
from hub.simulate.wire._common import (
    customs_countries,
    delivery_estimate,
    digest,
    iso_local,
    iso_utc,
    issued_at,
    one_shipment,
)
from schemas.common import IdentifierKind, Location, PartyRole
from schemas.milestones import Milestone

FORMAT = "aftership"
CONTENT_TYPE = "application/json"

# milestone -> (tag, subtag, subtag_message): what the connector maps back to it
CHECKPOINT_CODES: dict[Milestone, tuple[str, str, str]] = {
    Milestone.BOOKED: ("InfoReceived", "InfoReceived_001", "Info Received"),
    Milestone.CARRIER_RECEIVED: ("InTransit", "InTransit_002", "Acceptance scan"),
    Milestone.IN_TRANSIT: ("InTransit", "InTransit_001", "In Transit"),
    Milestone.LINE_HAUL_ARRIVED: ("InTransit", "InTransit_004", "Arrived at destination country"),
    Milestone.OUT_FOR_DELIVERY: ("OutForDelivery", "OutForDelivery_001", "Out for Delivery"),
    Milestone.DELIVERY_ATTEMPTED: ("AttemptFail", "AttemptFail_001", "Failed Attempt"),
    Milestone.AVAILABLE_FOR_PICKUP: (
        "AvailableForPickup",
        "AvailableForPickup_001",
        "Available for pickup",
    ),
    Milestone.DELIVERED: ("Delivered", "Delivered_001", "Delivered"),
    Milestone.EXCEPTION: ("Exception", "Exception_001", "Exception"),
    Milestone.RETURN_TO_SENDER: ("Exception", "Exception_010", "Returning to sender"),
    Milestone.RETURNED: ("Exception", "Exception_011", "Returned to sender"),
    Milestone.DAMAGED: ("Exception", "Exception_012", "Shipment damage"),
    Milestone.LOST: ("Exception", "Exception_013", "Shipment lost"),
    Milestone.CANCELLED: ("Exception", "Exception_020", "Shipment cancelled"),
    Milestone.EXPORT_CUSTOMS_SUBMITTED: ("InTransit", "InTransit_006", "Customs clearance started"),
    Milestone.EXPORT_CUSTOMS_CLEARED: ("InTransit", "InTransit_005", "Customs clearance completed"),
    Milestone.EXPORT_CUSTOMS_HELD: ("Exception", "Exception_004", "Delayed (Customs clearance)"),
    Milestone.IMPORT_CUSTOMS_SUBMITTED: ("InTransit", "InTransit_006", "Customs clearance started"),
    Milestone.IMPORT_CUSTOMS_RELEASED: (
        "InTransit",
        "InTransit_005",
        "Customs clearance completed",
    ),
    Milestone.IMPORT_CUSTOMS_HELD: ("Exception", "Exception_004", "Delayed (Customs clearance)"),
    Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED: (
        "Exception",
        "Exception_018",
        "Incorrect / missing documents",
    ),
}

SUPPORTED: frozenset[Milestone] = frozenset(CHECKPOINT_CODES)

# the connector's table reversed: every country written is one it reads back
ISO2_TO_ISO3: dict[str, str] = {iso2: iso3 for iso3, iso2 in ISO3_TO_ISO2.items()}


def encode(events: Sequence[WireEvent], *, reference: str) -> bytes:
    """One ``tracking_update`` webhook carrying every event of ``events`` (one shipment)."""
    if events and events[0].party.role is not PartyRole.LAST_MILE_CARRIER:
        raise ValueError(f"AfterShip reports carriers only, not a {events[0].party.role.value}")
    first = one_shipment(
        events,
        keyed_by="an AfterShip tracking is keyed by a tracking number",
        one_number="one AfterShip tracking is one tracking number",
        one_party="one payload is one courier",
    )
    courier = first.party.id
    actual = sorted((e for e in events if not e.estimated), key=lambda e: e.occurred_at)
    for event in actual:
        if event.milestone not in CHECKPOINT_CODES:
            raise ValueError(f"AfterShip has no sub-status for {event.milestone.value}")
    if not actual:
        raise ValueError("an AfterShip tracking without checkpoints reports its tag as an event")
    estimate, updated_at = _estimate([e for e in events if e.estimated], actual)
    origin, destination = customs_countries(
        actual,
        country_of=_iso3,
        export_needs_country=(
            "an export-customs checkpoint needs a location.country AfterShip can write"
        ),
    )
    tag, subtag, subtag_message = CHECKPOINT_CODES[actual[-1].milestone]
    order_id = next(
        (i.value for i in first.identifiers[1:] if i.kind is IdentifierKind.ORDER_ID), None
    )
    number = first.identifiers[0].value
    msg = {
        "id": digest(courier, number),
        "tracking_number": number,
        "slug": courier,
        "active": tag not in ("Delivered", "Expired"),
        "order_id": order_id,
        "origin_country_iso3": origin,
        "destination_country_iso3": destination,
        "tag": tag,
        "subtag": subtag,
        "subtag_message": subtag_message,
        "created_at": iso_utc(actual[0].occurred_at),
        "updated_at": iso_utc(updated_at),
        "expected_delivery": None,
        "latest_estimated_delivery": _estimate_field(estimate),
        "checkpoints": [_checkpoint(event, courier) for event in actual],
    }
    body = {
        "event": "tracking_update",
        "event_id": str(uuid.UUID(digest(reference), version=4)),
        "is_tracking_first_tag": sum(_codes(e)[0] == tag for e in actual) == 1,
        "msg": msg,
        "ts": int(updated_at.timestamp()),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _codes(event: WireEvent) -> tuple[str, str, str]:
    return CHECKPOINT_CODES[event.milestone]


def _estimate(
    estimates: list[WireEvent], actual: list[WireEvent]
) -> tuple[WireEvent | None, datetime]:
    """The estimate of the payload and the tracking's ``updated_at`` (when it was issued)."""
    latest = actual[-1].occurred_at
    estimate = delivery_estimate(
        estimates,
        one_only="an AfterShip tracking carries one latest estimated delivery",
        delivery_only="AfterShip estimates the delivery only",
    )
    if estimate is None:
        return None, latest
    return estimate, issued_at(estimate, latest)


def _estimate_field(estimate: WireEvent | None) -> dict[str, object] | None:
    if estimate is None:
        return None
    return {
        "type": "specific",
        "source": "Carrier EDD",
        "datetime": iso_local(estimate.occurred_at),
        "datetime_min": None,
        "datetime_max": None,
    }


def _checkpoint(event: WireEvent, courier: str) -> dict[str, object]:
    tag, subtag, subtag_message = _codes(event)
    place = event.location or Location()
    country = _iso3(place)
    return {
        "slug": courier,
        "created_at": iso_utc(event.occurred_at),
        "checkpoint_time": iso_local(event.occurred_at),
        "city": place.city,
        "state": None,
        "zip": place.postal_code or None,
        "location": ", ".join(p for p in (place.city, country) if p) or None,
        "country_iso3": country,
        "message": event.reason or subtag_message,
        "tag": tag,
        "subtag": subtag,
        "subtag_message": subtag_message,
    }


def _iso3(location: Location | None) -> str | None:
    if location is None or location.country is None:
        return None
    return ISO2_TO_ISO3.get(location.country)
