"""17TRACK webhooks (API v2), built from simulated events: the reverse of
connectors/seventeen_track.py.

One payload is one ``TRACKING_UPDATED`` webhook for the events' tracking number, with the
reporting carrier as its one provider: each actual event becomes one entry of that
provider's ``events``, newest first as 17TRACK lists them; ``latest_status``,
``latest_event`` and the key-stage ``milestone`` list are derived from them. Several events
of one shipment go in one payload (the provider's history).

Party: 17TRACK relays carriers ("providers"), and the connector names each by its provider
name slugged (``China Post`` -> ``china-post``) or, without a name, ``17track-<key>``. What
it can express is role ``last_mile_carrier`` with such an id. The provider name written is
the party's name when it slugs to the id, else the name in ``PROVIDERS``, else the id
itself; an id ``17track-<digits>`` is written as a provider with only that key. Any other
role, or an id no name slugs to, is a ValueError. ``PROVIDERS`` also gives the real
17TRACK carrier key of the carriers it lists; others are sent without a key.

Identifiers: the first one, which must be a tracking number, is ``number``; 17TRACK has no
field for the others.

Milestones: ``EVENT_CODES`` holds, per milestone, the (sub_status, key stage) the connector
maps back to exactly that milestone. Customs sub-statuses do not say import or export; the
connector reads an event in the shipper's country (and not the recipient's) as export. So
an export-customs event needs its ``location.country`` (it becomes the shipper address
country) and an import-customs event's country becomes the recipient address country; an
import-customs event located in the shipper's country is a ValueError. Customs holds,
inspection, duties, seizure and warehouse milestones have no sub-status of their own, nor
has ``info`` (``NotFound`` describes a number, not a scan): asking for those is a ValueError.

Estimates: 17TRACK estimates the delivery only (``time_metrics.estimated_delivery_date``),
so an ``estimated`` event must be ``delivered`` (one per payload); its ``occurred_at`` (the
predicted time, with its offset) is the window's ``to``, the window opening at the start of
that local day. The connector takes it as issued at the provider's ``latest_sync_time``:
``extra["issued_at"]`` when given, else the latest event of the payload; an estimate alone
without ``issued_at`` is a ValueError.

Times: ``time_iso`` keeps the event's local offset, ``time_utc`` is UTC (``Z``) and
``time_raw`` splits the local time as 17TRACK does. Locations: city, postal code and ISO
country travel in ``address``; UN/LOCODE, IATA code and facility name have no field.
``reference`` is not written: a 17TRACK webhook carries no message id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime

from connectors.seventeen_track import provider_slug  # the rule the connector reads
from hub.simulate.wire import WireEvent
from hub.simulate.wire._common import (
    customs_countries,
    delivery_estimate,
    iso_local,
    iso_utc,
    issued_at,
    one_shipment,
)
from schemas.common import Location, Party, PartyRole
from schemas.milestones import Milestone

FORMAT = "17track"
CONTENT_TYPE = "application/json"

# milestone -> (sub_status, key stage or None, description): what the connector maps back
EVENT_CODES: dict[Milestone, tuple[str, str | None, str]] = {
    Milestone.BOOKED: ("InfoReceived", "InfoReceived", "Shipment information received"),
    Milestone.CARRIER_RECEIVED: ("InTransit_PickedUp", "PickedUp", "Accepted by carrier"),
    Milestone.IN_TRANSIT: ("InTransit_Other", None, "In transit"),
    Milestone.LINE_HAUL_DEPARTED: ("InTransit_Departure", "Departure", "Departed from origin"),
    Milestone.LINE_HAUL_ARRIVED: ("InTransit_Arrival", "Arrival", "Arrived at destination"),
    Milestone.AVAILABLE_FOR_PICKUP: (
        "AvailableForPickup_Other",
        "AvailableForPickup",
        "Available for pickup",
    ),
    Milestone.OUT_FOR_DELIVERY: ("OutForDelivery_Other", "OutForDelivery", "Out for delivery"),
    Milestone.DELIVERY_ATTEMPTED: ("DeliveryFailure_Other", None, "Delivery attempted"),
    Milestone.DELIVERED: ("Delivered_Other", "Delivered", "Delivered"),
    Milestone.EXCEPTION: ("Exception_Other", None, "Shipment exception"),
    Milestone.RETURN_TO_SENDER: ("Exception_Returning", "Returning", "Returning to sender"),
    Milestone.RETURNED: ("Exception_Returned", "Returned", "Returned to sender"),
    Milestone.DAMAGED: ("Exception_Damage", None, "Shipment damaged"),
    Milestone.LOST: ("Exception_Lost", None, "Shipment lost"),
    Milestone.CANCELLED: ("Exception_Cancel", None, "Shipment cancelled"),
    Milestone.EXPORT_CUSTOMS_SUBMITTED: ("InTransit_CustomsProcessing", None, "Export customs"),
    Milestone.EXPORT_CUSTOMS_CLEARED: ("InTransit_CustomsReleased", None, "Export cleared"),
    Milestone.EXPORT_CUSTOMS_HELD: (
        "InTransit_CustomsRequiringInformation",
        None,
        "Export customs requires information",
    ),
    Milestone.IMPORT_CUSTOMS_SUBMITTED: ("InTransit_CustomsProcessing", None, "Import customs"),
    Milestone.IMPORT_CUSTOMS_RELEASED: ("InTransit_CustomsReleased", None, "Released by customs"),
    Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED: (
        "InTransit_CustomsRequiringInformation",
        None,
        "Customs requires information from the recipient",
    ),
}

SUPPORTED: frozenset[Milestone] = frozenset(EVENT_CODES)

# party id -> (17TRACK carrier key, provider name)
PROVIDERS: dict[str, tuple[int, str]] = {
    "usps": (21051, "USPS"),
    "china-post": (3011, "China Post"),
    "ups": (100002, "UPS"),
    "deutsche-post": (7041, "Deutsche Post"),
}

KEY_STAGES = (
    "InfoReceived",
    "PickedUp",
    "Departure",
    "Arrival",
    "AvailableForPickup",
    "OutForDelivery",
    "Delivered",
    "Returning",
    "Returned",
)

_KEY_ONLY = re.compile(r"^17track-(\d{1,9})$")


def encode(events: Sequence[WireEvent], *, reference: str) -> bytes:
    """One ``TRACKING_UPDATED`` webhook carrying every event of ``events`` (one shipment)."""
    first = one_shipment(
        events,
        keyed_by="a 17TRACK tracking is keyed by a tracking number",
        one_number="one 17TRACK webhook is one tracking number",
        one_party="one payload is one provider",
    )
    provider = provider_of(first.party)
    actual = sorted(
        (e for e in events if not e.estimated), key=lambda e: e.occurred_at, reverse=True
    )
    for event in actual:
        if event.milestone not in EVENT_CODES:
            raise ValueError(f"17TRACK has no sub-status for {event.milestone.value}")
    estimate, synced_at = _estimate([e for e in events if e.estimated], actual)
    shipper, recipient = customs_countries(
        actual,
        country_of=lambda place: place.country if place else None,
        export_needs_country="an export-customs event needs its location.country",
        newest_first=True,
    )
    wire_events = [_event(e) for e in actual]
    latest = wire_events[0] if wire_events else None
    if latest is not None:  # the latest event repeated, without its address and raw time
        latest = {k: v for k, v in latest.items() if k not in ("address", "time_raw")}
    latest_sub_status = latest["sub_status"] if latest else "NotFound_Other"
    info = {
        "shipping_info": {
            "shipper_address": _address(Location(country=shipper) if shipper else None),
            "recipient_address": _address(Location(country=recipient) if recipient else None),
        },
        "latest_status": {
            "status": str(latest_sub_status).split("_", 1)[0],
            "sub_status": latest_sub_status,
            "sub_status_descr": None,
        },
        "latest_event": latest,
        "time_metrics": {"estimated_delivery_date": _window(estimate)},
        "milestone": _key_stages(wire_events),
        "tracking": {
            "providers": [
                {
                    "provider": provider,
                    "service_type": None,
                    "latest_sync_status": "Success",
                    "latest_sync_time": iso_utc(synced_at),
                    "events": wire_events,
                }
            ]
        },
    }
    body = {
        "event": "TRACKING_UPDATED",
        "data": {
            "number": first.identifiers[0].value,
            "carrier": provider["key"],
            "param": None,
            "tag": None,
            "track_info": info,
        },
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def provider_of(party: Party) -> dict[str, object]:
    """The ``provider`` object 17TRACK would write for ``party``, which the connector reads
    back as that party; ValueError for a party 17TRACK cannot name."""
    if party.role is not PartyRole.LAST_MILE_CARRIER:
        raise ValueError(f"17TRACK relays carriers only, not a {party.role.value}")
    key_only = _KEY_ONLY.match(party.id)
    if key_only:
        key: int | None = int(key_only.group(1))
        name: str | None = None
    else:
        key, known = PROVIDERS.get(party.id, (None, None))
        names = (party.name, known, party.id)
        name = next((n for n in names if n and provider_slug(n) == party.id), None)
        if name is None:
            raise ValueError(f"no 17TRACK provider name slugs to {party.id!r}")
    return {
        "key": key,
        "name": name,
        "alias": name,
        "tel": None,
        "homepage": None,
        "country": None,
    }


def _estimate(
    estimates: list[WireEvent], actual: list[WireEvent]
) -> tuple[WireEvent | None, datetime]:
    """The estimate of the payload and the provider's ``latest_sync_time``."""
    estimate = delivery_estimate(
        estimates,
        one_only="a 17TRACK tracking carries one estimated delivery date",
        delivery_only="17TRACK estimates the delivery only",
    )
    if estimate is None:
        return None, actual[0].occurred_at  # not empty: the payload has an event
    latest = actual[0].occurred_at if actual else None
    missing = "an estimate alone needs extra['issued_at'] (the latest sync time)"
    return estimate, issued_at(estimate, latest, missing=missing)


def _window(estimate: WireEvent | None) -> dict[str, object]:
    if estimate is None:
        return {"source": None, "from": None, "to": None}
    to = estimate.occurred_at
    start = to.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"source": "17TRACK", "from": iso_local(start), "to": iso_local(to)}


def _event(event: WireEvent) -> dict[str, object]:
    sub_status, stage, description = EVENT_CODES[event.milestone]
    moment = event.occurred_at
    place = event.location or Location()
    local = iso_local(moment)
    return {
        "time_iso": local,
        "time_utc": iso_utc(moment),
        "time_raw": {
            "date": local[:10],
            "time": local[11:19],
            "timezone": local[-6:],
        },
        "description": event.reason or description,
        "location": ", ".join(p for p in (place.city, place.postal_code, place.country) if p),
        "stage": stage,
        "sub_status": sub_status,
        "address": _address(event.location),
    }


def _address(place: Location | None) -> dict[str, object]:
    return {
        "country": place.country if place else None,
        "state": None,
        "city": place.city if place else None,
        "street": None,
        "postal_code": (place.postal_code or None) if place else None,
        "coordinates": {"longitude": None, "latitude": None},
    }


def _key_stages(wire_events: list[dict[str, object]]) -> list[dict[str, object]]:
    """The tracking's key-stage list: each stage with the time of its first event."""
    reached: dict[object, dict[str, object]] = {}
    for event in reversed(wire_events):  # oldest first
        stage = event["stage"]
        if stage and stage not in reached:
            reached[stage] = event
    stages = []
    for stage in KEY_STAGES:
        event = reached.get(stage)
        stages.append(
            {
                "key_stage": stage,
                "time_iso": event["time_iso"] if event else None,
                "time_utc": event["time_utc"] if event else None,
                "time_raw": event["time_raw"]
                if event
                else {"date": None, "time": None, "timezone": None},
            }
        )
    return stages
