"""17TRACK webhooks (API v2): ``{"event": "TRACKING_UPDATED" | "TRACKING_STOPPED", "data"}``.

Body (``application/json``, signed with the ``sign`` header, see connectors/signatures.py)::

    {"event": "TRACKING_UPDATED",
     "data": {"number": "...", "carrier": 21051, "param": null, "tag": null,
              "track_info": {
                 "shipping_info": {"shipper_address": {"country": "CN", ...},
                                   "recipient_address": {"country": "US", ...}},
                 "latest_status": {"status": "InTransit", "sub_status": "InTransit_Other"},
                 "time_metrics": {"estimated_delivery_date": {"source", "from", "to"}},
                 "tracking": {"providers": [
                    {"provider": {"key": 21051, "name": "USPS", ...},
                     "latest_sync_time": "...Z",
                     "events": [{"time_iso": "...+08:00", "time_utc": "...Z",
                                 "time_raw": {...}, "description": "...", "location": "...",
                                 "stage": "PickedUp", "sub_status": "InTransit_PickedUp",
                                 "address": {"country": "CN", "city": ..., ...}}]}]}}}}

17TRACK relays the scans of one or more carriers ("providers", e.g. the origin post and
the destination carrier); each provider is a ``last_mile_carrier`` party named by its
name slugged (``China Post`` -> ``china-post``), or ``17track-<key>`` without a name.
Each provider event becomes one event. Its milestone comes, in this order, from the
event's ``sub_status`` (``SUB_STATUS_MILESTONES``; customs ones in ``CUSTOMS_SUB_STATUSES``),
its key ``stage`` (``STAGE_MILESTONES``), the main status the sub-status belongs to
(``STATUS_MILESTONES``), else ``info``. ``source_code`` is the code that decided (``event``
for an event with neither sub-status nor stage).
Customs sub-statuses cover import and export alike: an event in the shipper's country (and
not the recipient's) is export customs, anything else import customs.
``TRACKING_STOPPED`` (17TRACK stopped tracking the number) carries no tracking and yields
no events. Events carry no ids: an event's id is its content, so the history 17TRACK
resends with every update collapses onto the events already seen.

Times: ``time_iso`` is the local time with its offset and is kept as given. When it has no
offset but ``time_utc`` is given, the offset is their difference (kept only if it is a
real one, within ±14 h). Without ``time_iso``, ``time_utc`` is used as UTC, which is what
the field is defined to be. Anything else (no usable time) is rejected with
``SeventeenTrackTimestampError``; a local time is never read as UTC.

Estimate: ``time_metrics.estimated_delivery_date`` ``to`` (the end of the window, else
``from``) becomes one event, kind ``estimated``, milestone ``delivered``. 17TRACK does not
say when it computed the estimate; it is taken as issued at the latest provider sync
(``latest_sync_time``), else at our receipt, and attributed to the first provider (with
none, to the registered carrier ``17track-<carrier key>``). An estimate without an offset
is not emitted.

The body shape and the ``sign`` scheme follow 17TRACK's API v2 as implemented by
independent integrations; 17TRACK's own reference page was not reachable when this was
written, so both are worth a check against a real delivery.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
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
from schemas.events import EventKind, EventSource, RawEnvelope, TrackingEvent
from schemas.milestones import Milestone

NAME = "17track"
MAX_EVENTS = 1000
MAX_PROVIDERS = 20
MAX_OFFSET = timedelta(hours=14)

STATUS_MILESTONES: dict[str, Milestone] = {
    "NotFound": Milestone.INFO,
    "InfoReceived": Milestone.BOOKED,  # the carrier has the shipper's data, not the parcel
    "InTransit": Milestone.IN_TRANSIT,
    "Expired": Milestone.EXCEPTION,  # in transit too long without an end: someone should look
    "AvailableForPickup": Milestone.AVAILABLE_FOR_PICKUP,
    "OutForDelivery": Milestone.OUT_FOR_DELIVERY,
    "DeliveryFailure": Milestone.DELIVERY_ATTEMPTED,
    "Delivered": Milestone.DELIVERED,
    "Exception": Milestone.EXCEPTION,
}

SUB_STATUS_MILESTONES: dict[str, Milestone] = {
    "NotFound_Other": Milestone.INFO,
    "NotFound_InvalidCode": Milestone.INFO,
    "InfoReceived": Milestone.BOOKED,
    "InTransit_PickedUp": Milestone.CARRIER_RECEIVED,
    "InTransit_Other": Milestone.IN_TRANSIT,
    "InTransit_Departure": Milestone.LINE_HAUL_DEPARTED,  # left the origin country's port
    "InTransit_Arrival": Milestone.LINE_HAUL_ARRIVED,  # reached the destination's port
    "Expired_Other": Milestone.EXCEPTION,
    "AvailableForPickup_Other": Milestone.AVAILABLE_FOR_PICKUP,
    "OutForDelivery_Other": Milestone.OUT_FOR_DELIVERY,
    "DeliveryFailure_Other": Milestone.DELIVERY_ATTEMPTED,
    "DeliveryFailure_NoBody": Milestone.DELIVERY_ATTEMPTED,
    "DeliveryFailure_Security": Milestone.DELIVERY_ATTEMPTED,
    "DeliveryFailure_Rejected": Milestone.DELIVERY_ATTEMPTED,
    "DeliveryFailure_InvalidAddress": Milestone.DELIVERY_ATTEMPTED,
    "Delivered_Other": Milestone.DELIVERED,
    "Exception_Other": Milestone.EXCEPTION,
    "Exception_Returning": Milestone.RETURN_TO_SENDER,
    "Exception_Returned": Milestone.RETURNED,
    "Exception_NoBody": Milestone.EXCEPTION,
    "Exception_Security": Milestone.EXCEPTION,  # security, customs or fee issue: not only customs
    "Exception_Damage": Milestone.DAMAGED,
    "Exception_Rejected": Milestone.EXCEPTION,
    "Exception_Delayed": Milestone.EXCEPTION,
    "Exception_Lost": Milestone.LOST,
    "Exception_Destroyed": Milestone.LOST,
    "Exception_Cancel": Milestone.CANCELLED,
}

# Customs sub-statuses: (import milestone, export milestone).
CUSTOMS_SUB_STATUSES: dict[str, tuple[Milestone, Milestone]] = {
    "InTransit_CustomsProcessing": (
        Milestone.IMPORT_CUSTOMS_SUBMITTED,
        Milestone.EXPORT_CUSTOMS_SUBMITTED,
    ),
    "InTransit_CustomsReleased": (
        Milestone.IMPORT_CUSTOMS_RELEASED,
        Milestone.EXPORT_CUSTOMS_CLEARED,
    ),
    "InTransit_CustomsRequiringInformation": (
        Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED,
        Milestone.EXPORT_CUSTOMS_HELD,
    ),
}

# Key stages of an event (the same words as the tracking's "milestone" list).
STAGE_MILESTONES: dict[str, Milestone] = {
    "InfoReceived": Milestone.BOOKED,
    "PickedUp": Milestone.CARRIER_RECEIVED,
    "Departure": Milestone.LINE_HAUL_DEPARTED,
    "Arrival": Milestone.LINE_HAUL_ARRIVED,
    "AvailableForPickup": Milestone.AVAILABLE_FOR_PICKUP,
    "OutForDelivery": Milestone.OUT_FOR_DELIVERY,
    "Delivered": Milestone.DELIVERED,
    "Returning": Milestone.RETURN_TO_SENDER,
    "Returned": Milestone.RETURNED,
}

_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


class SeventeenTrackPayloadError(ConnectorError):
    """A 17TRACK body that is not a v2 tracking webhook."""


class SeventeenTrackTimestampError(SeventeenTrackPayloadError):
    """An event without a usable time (no offset and no UTC time, or not a timestamp)."""


def parse_seventeen_track_webhook(raw: RawEnvelope) -> list[TrackingEvent]:
    """Every provider event of the tracking, plus its delivery estimate when it has one."""
    body = decode_json_object(raw, SeventeenTrackPayloadError, "a webhook object")
    event = require(body, "event", SeventeenTrackPayloadError, "")
    data = require(body, "data", SeventeenTrackPayloadError, "", dict)
    number = require(data, "number", SeventeenTrackPayloadError, "data")
    if event == "TRACKING_STOPPED":
        return []
    if event != "TRACKING_UPDATED":
        raise SeventeenTrackPayloadError(f"unknown event {event[:40]!r}", path="event")
    info = require(data, "track_info", SeventeenTrackPayloadError, "data", dict)
    carrier = optional(data, "carrier", SeventeenTrackPayloadError, "data", int)
    shipment = _Shipment(raw, number, info, carrier)
    tracking_path = "data.track_info.tracking"
    tracking = optional(info, "tracking", SeventeenTrackPayloadError, "data.track_info", dict)
    providers = (
        optional(tracking, "providers", SeventeenTrackPayloadError, tracking_path, list)
        if tracking
        else None
    ) or []
    if len(providers) > MAX_PROVIDERS:
        raise SeventeenTrackPayloadError(f"{len(providers)} providers; at most {MAX_PROVIDERS}")
    events: list[TrackingEvent] = []
    for i, provider in enumerate(providers):
        events.extend(shipment.provider_events(provider, f"{tracking_path}.providers[{i}]"))
        if len(events) > MAX_EVENTS:
            raise SeventeenTrackPayloadError(f"more than {MAX_EVENTS} events")
    estimate = shipment.estimate_event(providers)
    if estimate is not None:
        events.append(estimate)
    return events


class _Shipment:
    """The tracked number and what all its events share."""

    def __init__(
        self, raw: RawEnvelope, number: str, info: dict[str, Any], carrier: int | None
    ) -> None:
        self.raw = raw
        self.carrier = carrier
        self.info = info
        self.identifiers = [{"kind": IdentifierKind.TRACKING_NUMBER, "value": number}]
        shipping = optional(
            info, "shipping_info", SeventeenTrackPayloadError, "data.track_info", dict
        )
        self.origin = _address_country(shipping, "shipper_address")
        self.destination = _address_country(shipping, "recipient_address")
        self.default_source: EventSource | None = None

    def provider_events(self, provider: Any, path: str) -> list[TrackingEvent]:
        if not isinstance(provider, dict):
            raise SeventeenTrackPayloadError(
                f"a provider is an object, got {type(provider).__name__}", path=path
            )
        source = _provider_source(provider, path)
        if self.default_source is None:
            self.default_source = source
        events = optional(provider, "events", SeventeenTrackPayloadError, path, list) or []
        if len(events) > MAX_EVENTS:
            raise SeventeenTrackPayloadError(f"{len(events)} events; at most {MAX_EVENTS}")
        return [self._event(source, event, f"{path}.events[{i}]") for i, event in enumerate(events)]

    def _event(self, source: EventSource, event: Any, path: str) -> TrackingEvent:
        if not isinstance(event, dict):
            raise SeventeenTrackPayloadError(
                f"an event is an object, got {type(event).__name__}", path=path
            )
        sub_status = optional(event, "sub_status", SeventeenTrackPayloadError, path)
        stage = optional(event, "stage", SeventeenTrackPayloadError, path)
        address = optional(event, "address", SeventeenTrackPayloadError, path, dict)
        country = _country(address, f"{path}.address")
        milestone, code = self.milestone_for(sub_status, stage, country)
        return build_event(
            self.raw,
            SeventeenTrackPayloadError,
            path,
            source=source,
            identifiers=self.identifiers,
            milestone=milestone,
            source_code=code,
            source_description=optional(event, "description", SeventeenTrackPayloadError, path),
            occurred_at=event_time(event, path),
            location=_location(address, country, f"{path}.address"),
        )

    def milestone_for(
        self, sub_status: str | None, stage: str | None, country: str | None
    ) -> tuple[Milestone, str]:
        """The milestone and the code that decided it (see the module docstring)."""
        if sub_status in CUSTOMS_SUB_STATUSES:
            import_milestone, export_milestone = CUSTOMS_SUB_STATUSES[sub_status]
            exporting = country is not None and country == self.origin != self.destination
            return (export_milestone if exporting else import_milestone), sub_status
        if sub_status in SUB_STATUS_MILESTONES:
            return SUB_STATUS_MILESTONES[sub_status], sub_status
        if stage in STAGE_MILESTONES:
            return STAGE_MILESTONES[stage], stage
        if sub_status:
            status = sub_status.split("_", 1)[0]
            return STATUS_MILESTONES.get(status, Milestone.INFO), sub_status
        return Milestone.INFO, stage or "event"

    def estimate_event(self, providers: list[Any]) -> TrackingEvent | None:
        metrics = optional(
            self.info, "time_metrics", SeventeenTrackPayloadError, "data.track_info", dict
        )
        path = "data.track_info.time_metrics"
        if not metrics:
            return None
        window = optional(
            metrics, "estimated_delivery_date", SeventeenTrackPayloadError, path, dict
        )
        if not window:
            return None
        path = f"{path}.estimated_delivery_date"
        for bound in ("to", "from"):
            value = optional(window, bound, SeventeenTrackPayloadError, path)
            if not value:
                continue
            estimated_at = _aware_or_none(value, f"{path}.{bound}")
            if estimated_at is None:
                return None
            source = self.default_source or self._carrier_source()
            return build_event(
                self.raw,
                SeventeenTrackPayloadError,
                path,
                source=source,
                identifiers=self.identifiers,
                milestone=Milestone.DELIVERED,
                kind=EventKind.ESTIMATED,
                source_code="estimated_delivery_date",
                reason_code=optional(window, "source", SeventeenTrackPayloadError, path),
                occurred_at=_issued_at(self.raw, providers),
                estimated_at=estimated_at,
            )
        return None

    def _carrier_source(self) -> EventSource:
        """With no provider listed: the carrier the number was registered with, by its
        17TRACK key, else 17TRACK itself."""
        if self.carrier is None:
            return source_of(NAME, {"role": PartyRole.AGGREGATOR, "id": NAME})
        party = {"role": PartyRole.LAST_MILE_CARRIER, "id": f"{NAME}-{self.carrier}"}
        try:
            return source_of(NAME, party)
        except ValueError:
            raise SeventeenTrackPayloadError(
                "carrier is not a valid key", path="data.carrier"
            ) from None


def event_time(event: dict[str, Any], path: str) -> datetime:
    """The local time of an event with its offset (see the module docstring)."""
    iso = event.get("time_iso")
    utc = event.get("time_utc")
    utc_moment = _utc_time(utc, f"{path}.time_utc") if utc not in (None, "") else None
    if iso in (None, ""):
        if utc_moment is None:
            raise SeventeenTrackTimestampError("event has no time_iso nor time_utc", path=path)
        return utc_moment
    local = _parse(iso, f"{path}.time_iso")
    if local.tzinfo is not None and local.utcoffset() is not None:
        return _checked(local, f"{path}.time_iso")
    if utc_moment is None:
        raise SeventeenTrackTimestampError(
            f"time_iso has no UTC offset and there is no time_utc: {iso[:40]!r}",
            path=f"{path}.time_iso",
        )
    offset = local - utc_moment.astimezone(UTC).replace(tzinfo=None)
    if abs(offset) > MAX_OFFSET or offset % timedelta(minutes=1):
        raise SeventeenTrackTimestampError(
            "time_iso and time_utc are not the same instant", path=f"{path}.time_iso"
        )
    return _checked(local.replace(tzinfo=timezone(offset)), f"{path}.time_iso")


def _parse(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise SeventeenTrackTimestampError(
            f"timestamp should be text, got {type(value).__name__}", path=path
        )
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise SeventeenTrackTimestampError(
            f"not an ISO 8601 timestamp: {value[:40]!r}", path=path
        ) from None


def _utc_time(value: Any, path: str) -> datetime:
    """``time_utc`` is UTC by definition: an explicit offset is kept, none means UTC."""
    moment = _parse(value, path)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _checked(moment, path)


def _aware_or_none(value: str, path: str) -> datetime | None:
    moment = _parse(value, path)
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    return _checked(moment, path)


def _checked(moment: datetime, path: str) -> datetime:
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise SeventeenTrackTimestampError("timestamp out of range", path=path) from None
    return moment


def _issued_at(raw: RawEnvelope, providers: list[Any]) -> datetime:
    syncs = []
    for i, provider in enumerate(providers):
        value = provider.get("latest_sync_time") if isinstance(provider, dict) else None
        if isinstance(value, str) and value:
            path = f"data.track_info.tracking.providers[{i}].latest_sync_time"
            syncs.append(parse_aware_datetime(value, SeventeenTrackTimestampError, path))
    return _checked(max(syncs), "latest_sync_time") if syncs else raw.received_at


def _provider_source(provider: dict[str, Any], path: str) -> EventSource:
    info = require(provider, "provider", SeventeenTrackPayloadError, path, dict)
    name = optional(info, "name", SeventeenTrackPayloadError, f"{path}.provider")
    key = optional(info, "key", SeventeenTrackPayloadError, f"{path}.provider", int)
    party_id = provider_slug(name) if name else ""
    if not party_id and key is not None:
        party_id = f"{NAME}-{key}"
    if not party_id:
        raise SeventeenTrackPayloadError("provider has neither name nor key", path=path)
    party = {"role": PartyRole.LAST_MILE_CARRIER, "id": party_id}
    if name and name.strip():
        party["name"] = name.strip()
    try:
        return source_of(NAME, party)
    except ValueError:  # pydantic refused the id or the name
        raise SeventeenTrackPayloadError("provider is not a valid party", path=path) from None


def provider_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._]+", "-", name.strip().lower()).strip("-._")[:64]


def _address_country(shipping: dict[str, Any] | None, key: str) -> str | None:
    if not shipping:
        return None
    path = "data.track_info.shipping_info"
    address = optional(shipping, key, SeventeenTrackPayloadError, path, dict)
    return _country(address, f"{path}.{key}")


def _country(address: dict[str, Any] | None, path: str) -> str | None:
    if not address:
        return None
    code = optional(address, "country", SeventeenTrackPayloadError, path)
    return code.strip().upper() if code and _COUNTRY.match(code.strip()) else None


def _location(
    address: dict[str, Any] | None, country: str | None, path: str
) -> dict[str, str] | None:
    if not address:
        return None
    return location_fields(
        city=optional(address, "city", SeventeenTrackPayloadError, path),
        postal_code=optional(address, "postal_code", SeventeenTrackPayloadError, path),
        country=country,
    )


CONNECTOR = Connector(
    name=NAME,
    parse=parse_seventeen_track_webhook,
    content_types=frozenset({"application/json"}),
    signature=SignatureScheme.SEVENTEEN_TRACK,
    description="17TRACK tracking webhooks, API v2 (TRACKING_UPDATED / TRACKING_STOPPED)",
)
