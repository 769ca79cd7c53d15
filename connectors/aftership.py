"""AfterShip tracking webhooks: ``{event, event_id, is_tracking_first_tag, msg, ts}``.

``msg`` is the Tracking (``application/json``, signed with ``aftership-hmac-sha256``, see
connectors/signatures.py). Each of its ``checkpoints[]`` becomes one event; its milestone
comes from the checkpoint's ``subtag`` where AfterShip's sub-status says more than the
``tag`` (``SUBTAG_MILESTONES``, customs sub-statuses in ``CUSTOMS_SUBTAGS``), else from the
``tag`` (``TAG_MILESTONES``); ``source_code`` is the tag, ``reason_code`` the subtag. A
tracking with no checkpoint yet reports its own tag once, at its ``updated_at``. Newer API
versions (2026-07) give each checkpoint a ``hash``, used as the source event id; without
one an event's id is its content, so the full history resent with every update collapses.

Party: the carrier (``last_mile_carrier``) named by the checkpoint's ``slug`` (AfterShip's
courier code, already a slug), else the tracking's. Countries come as ISO 3166 alpha-3
(``country_iso3``, ``country_region`` in newer versions) and are converted with the small
``ISO3_TO_ISO2`` table; a code not in it leaves the country empty rather than guessed.
Customs sub-statuses do not say import or export: a checkpoint in the origin country (and
not the destination) is export customs, anything else import customs.

Times: ``checkpoint_time`` is the carrier's local time; AfterShip documents it as either
``YYYY-MM-DDTHH:mm:ss`` with the offset or without one. With the offset it is kept as
given. Without one the checkpoint's zone is unknown, so the payload is rejected with
``AfterShipTimestampError`` (dead-letter topic, path of the bad value), never read as UTC.

Estimates: the first present of ``latest_estimated_delivery.datetime``,
``courier_estimated_delivery_date.estimated_delivery_date``, ``expected_delivery`` and
``aftership_estimated_delivery_date.estimated_delivery_date`` becomes one event, kind
``estimated``, milestone ``delivered``, issued at the tracking's ``updated_at``. AfterShip
gives estimates in the recipient's time zone, often as a bare date. A value with an offset
is kept; a date (taken as 23:59:59 that day: "delivered by") or a time without offset is
placed in the UTC offset of the latest checkpoint in the destination country that has
one, the carrier's own statement of the local offset there. Without such a checkpoint
the estimate is not emitted (it stays in the raw record).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
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

NAME = "aftership"
MAX_CHECKPOINTS = 1000

TAG_MILESTONES: dict[str, Milestone] = {
    "Pending": Milestone.INFO,  # added, not tracked yet: says nothing about the parcel
    "InfoReceived": Milestone.BOOKED,  # the carrier has the shipper's data, not the parcel
    "InTransit": Milestone.IN_TRANSIT,
    "OutForDelivery": Milestone.OUT_FOR_DELIVERY,
    "AttemptFail": Milestone.DELIVERY_ATTEMPTED,
    "Delivered": Milestone.DELIVERED,
    "AvailableForPickup": Milestone.AVAILABLE_FOR_PICKUP,
    "Exception": Milestone.EXCEPTION,
    "Expired": Milestone.EXCEPTION,  # no information for 30 days: someone should look
}

# Sub-statuses that decide the milestone themselves (AfterShip "Delivery Sub-statuses").
# The others refine nothing we model and fall back to their tag; Exception_006 "held for
# payment" stays an exception: AfterShip does not say the payment is duties.
SUBTAG_MILESTONES: dict[str, Milestone] = {
    "InTransit_002": Milestone.CARRIER_RECEIVED,  # acceptance scan
    "InTransit_004": Milestone.LINE_HAUL_ARRIVED,  # arrived at the destination country
    "Exception_010": Milestone.RETURN_TO_SENDER,  # returning to sender
    "Exception_011": Milestone.RETURNED,  # returned to sender
    "Exception_012": Milestone.DAMAGED,
    "Exception_013": Milestone.LOST,
    "Exception_020": Milestone.CANCELLED,  # shipment cancelled (2026-07)
    "Exception_021": Milestone.LOST,  # shipment disposed: destroyed or discarded (2026-07)
}

# Customs sub-statuses: (import milestone, export milestone).
CUSTOMS_SUBTAGS: dict[str, tuple[Milestone, Milestone]] = {
    "InTransit_005": (Milestone.IMPORT_CUSTOMS_RELEASED, Milestone.EXPORT_CUSTOMS_CLEARED),
    "InTransit_006": (Milestone.IMPORT_CUSTOMS_SUBMITTED, Milestone.EXPORT_CUSTOMS_SUBMITTED),
    "Exception_004": (Milestone.IMPORT_CUSTOMS_HELD, Milestone.EXPORT_CUSTOMS_HELD),
    # incorrect / missing documents required by regulatory agencies (2026-07)
    "Exception_018": (
        Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED,
        Milestone.EXPORT_CUSTOMS_HELD,
    ),
}

# ISO 3166-1 alpha-3 -> alpha-2 for the countries of our lanes; others stay empty.
# fmt: off
ISO3_TO_ISO2: dict[str, str] = {
    "ARE": "AE", "AUS": "AU", "AUT": "AT", "BEL": "BE", "BRA": "BR", "CAN": "CA",
    "CHE": "CH", "CHN": "CN", "CZE": "CZ", "DEU": "DE", "DNK": "DK", "ESP": "ES",
    "FIN": "FI", "FRA": "FR", "GBR": "GB", "HKG": "HK", "IDN": "ID", "IND": "IN",
    "IRL": "IE", "ISR": "IL", "ITA": "IT", "JPN": "JP", "KOR": "KR", "MEX": "MX",
    "MYS": "MY", "NLD": "NL", "NOR": "NO", "NZL": "NZ", "PHL": "PH", "POL": "PL",
    "PRT": "PT", "SAU": "SA", "SGP": "SG", "SWE": "SE", "THA": "TH", "TUR": "TR",
    "TWN": "TW", "USA": "US", "VNM": "VN",
}
# fmt: on

ESTIMATE_FIELDS: tuple[tuple[str, str | None], ...] = (
    ("latest_estimated_delivery", "datetime"),
    ("courier_estimated_delivery_date", "estimated_delivery_date"),
    ("expected_delivery", None),
    ("aftership_estimated_delivery_date", "estimated_delivery_date"),
)

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class AfterShipPayloadError(ConnectorError):
    """An AfterShip body that is not a tracking webhook as AfterShip documents it."""


class AfterShipTimestampError(AfterShipPayloadError):
    """A checkpoint time without a UTC offset (or not a timestamp at all)."""


def parse_aftership_webhook(raw: RawEnvelope) -> list[TrackingEvent]:
    """Every checkpoint of the tracking, plus its delivery estimate when one can be placed."""
    body = decode_json_object(raw, AfterShipPayloadError, "a webhook object")
    require(body, "event", AfterShipPayloadError, "")
    msg = require(body, "msg", AfterShipPayloadError, "", dict)
    tracking = _Tracking(raw, msg, body.get("ts"))
    checkpoints = optional(msg, "checkpoints", AfterShipPayloadError, "msg", list) or []
    if len(checkpoints) > MAX_CHECKPOINTS:
        raise AfterShipPayloadError(f"{len(checkpoints)} checkpoints; at most {MAX_CHECKPOINTS}")
    events = [
        tracking.checkpoint_event(checkpoint, f"msg.checkpoints[{i}]")
        for i, checkpoint in enumerate(checkpoints)
    ]
    if not events:
        events.append(tracking.status_event())
    estimate = tracking.estimate_event(events)
    if estimate is not None:
        events.append(estimate)
    return events


class _Tracking:
    """The tracking (``msg``) and what all its events share."""

    def __init__(self, raw: RawEnvelope, msg: dict[str, Any], ts: Any) -> None:
        self.raw = raw
        self.msg = msg
        self.ts = ts
        self.slug = _slug_of(msg, "msg")
        number = require(msg, "tracking_number", AfterShipPayloadError, "msg")
        self.identifiers: list[dict[str, Any]] = [
            {"kind": IdentifierKind.TRACKING_NUMBER, "value": number}
        ]
        order_id = optional(msg, "order_id", AfterShipPayloadError, "msg")
        if order_id and order_id.strip():
            self.identifiers.append({"kind": IdentifierKind.ORDER_ID, "value": order_id})
        self.origin = _country(msg, ("origin_country_iso3", "origin_country_region"), "msg")
        self.destination = _country(
            msg, ("destination_country_iso3", "destination_country_region"), "msg"
        )

    def _source(self, slug: str, source_event_id: str | None, path: str) -> EventSource:
        party = {"role": PartyRole.LAST_MILE_CARRIER, "id": slug}
        try:
            return source_of(NAME, party, source_event_id)
        except ValueError:  # pydantic refused the slug or the id
            raise AfterShipPayloadError("slug or hash is not a valid id", path=path) from None

    def checkpoint_event(self, checkpoint: Any, path: str) -> TrackingEvent:
        if not isinstance(checkpoint, dict):
            raise AfterShipPayloadError(
                f"a checkpoint is an object, got {type(checkpoint).__name__}", path=path
            )
        tag = require(checkpoint, "tag", AfterShipPayloadError, path)
        subtag = optional(checkpoint, "subtag", AfterShipPayloadError, path)
        country = _country(checkpoint, ("country_iso3", "country_region"), path)
        slug = _slug_of(checkpoint, path) if checkpoint.get("slug") else self.slug
        source_event_id = optional(checkpoint, "hash", AfterShipPayloadError, path)
        message = optional(checkpoint, "message", AfterShipPayloadError, path)
        return build_event(
            self.raw,
            AfterShipPayloadError,
            path,
            source=self._source(slug, source_event_id, path),
            identifiers=self.identifiers,
            milestone=self.milestone_for(tag, subtag, country),
            source_code=tag,
            reason_code=subtag,
            source_description=message
            or optional(checkpoint, "subtag_message", AfterShipPayloadError, path),
            occurred_at=checkpoint_time(checkpoint.get("checkpoint_time"), path),
            location=_location(checkpoint, country, path),
        )

    def status_event(self) -> TrackingEvent:
        tag = require(self.msg, "tag", AfterShipPayloadError, "msg")
        subtag = optional(self.msg, "subtag", AfterShipPayloadError, "msg")
        return build_event(
            self.raw,
            AfterShipPayloadError,
            "msg",
            source=self._source(self.slug, None, "msg.slug"),
            identifiers=self.identifiers,
            milestone=self.milestone_for(tag, subtag, None),
            source_code=tag,
            reason_code=subtag,
            source_description=optional(self.msg, "subtag_message", AfterShipPayloadError, "msg"),
            occurred_at=self.issued_at(),
        )

    def issued_at(self) -> datetime:
        """When AfterShip last updated the tracking: ``msg.updated_at``, else ``ts``."""
        if self.msg.get("updated_at") is None and isinstance(self.ts, int):
            try:
                return datetime.fromtimestamp(self.ts, UTC)
            except (OverflowError, OSError, ValueError):
                raise AfterShipTimestampError("ts out of range", path="ts") from None
        return utc_time(self.msg.get("updated_at"), "msg.updated_at")

    def milestone_for(self, tag: str, subtag: str | None, country: str | None) -> Milestone:
        """Subtag first (customs ones by direction), then the tag; unknown codes are INFO."""
        if subtag in CUSTOMS_SUBTAGS:
            import_milestone, export_milestone = CUSTOMS_SUBTAGS[subtag]
            exporting = country is not None and country == self.origin != self.destination
            return export_milestone if exporting else import_milestone
        if subtag in SUBTAG_MILESTONES:
            return SUBTAG_MILESTONES[subtag]
        return TAG_MILESTONES.get(tag, Milestone.INFO)

    def estimate_event(self, events: list[TrackingEvent]) -> TrackingEvent | None:
        for field, inner in ESTIMATE_FIELDS:
            value = self.msg.get(field)
            path = f"msg.{field}"
            if inner is not None:
                if value is None:
                    continue
                if not isinstance(value, dict):
                    raise AfterShipPayloadError("estimate should be an object", path=path)
                value, path = value.get(inner), f"{path}.{inner}"
            if value is None or value == "":
                continue
            estimated_at = self._place_estimate(value, path, events)
            if estimated_at is None:
                return None
            return build_event(
                self.raw,
                AfterShipPayloadError,
                path,
                source=self._source(self.slug, None, "msg.slug"),
                identifiers=self.identifiers,
                milestone=Milestone.DELIVERED,
                kind=EventKind.ESTIMATED,
                source_code=field,
                occurred_at=self.issued_at(),
                estimated_at=estimated_at,
            )
        return None

    def _place_estimate(
        self, value: Any, path: str, events: list[TrackingEvent]
    ) -> datetime | None:
        if not isinstance(value, str):
            raise AfterShipTimestampError("estimate should be text", path=path)
        text = value.strip()
        try:
            if _DATE_ONLY.match(text):
                local = datetime.combine(date.fromisoformat(text), time(23, 59, 59))
            else:
                local = datetime.fromisoformat(text)
        except ValueError:
            raise AfterShipTimestampError(
                f"not an ISO 8601 date: {text[:40]!r}", path=path
            ) from None
        if local.tzinfo is not None and local.utcoffset() is not None:
            return _checked(local, path)
        offset = self._destination_offset(events)
        return None if offset is None else _checked(local.replace(tzinfo=offset), path)

    def _destination_offset(self, events: list[TrackingEvent]) -> Any:
        if self.destination is None:
            return None
        at_destination = [
            e
            for e in events
            if e.kind is EventKind.ACTUAL
            and e.location is not None
            and e.location.country == self.destination
        ]
        if not at_destination:
            return None
        latest = max(at_destination, key=lambda e: e.occurred_at)
        return latest.occurred_at.tzinfo


def checkpoint_time(value: Any, path: str) -> datetime:
    """A checkpoint's local time with its offset; without one, ``AfterShipTimestampError``."""
    if value is None or value == "":
        raise AfterShipTimestampError("checkpoint_time is missing", path=f"{path}.checkpoint_time")
    moment = parse_aware_datetime(value, AfterShipTimestampError, f"{path}.checkpoint_time")
    return _checked(moment, f"{path}.checkpoint_time")


def utc_time(value: Any, path: str) -> datetime:
    """``updated_at``: AfterShip documents it as ``YYYY-MM-DDTHH:mm:ssZ`` (UTC)."""
    if value is None or value == "":
        raise AfterShipTimestampError("timestamp is missing", path=path)
    return _checked(parse_aware_datetime(value, AfterShipTimestampError, path), path)


def _checked(moment: datetime, path: str) -> datetime:
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise AfterShipTimestampError("timestamp out of range", path=path) from None
    return moment


def _country(mapping: dict[str, Any], keys: tuple[str, ...], path: str) -> str | None:
    for key in keys:
        code = optional(mapping, key, AfterShipPayloadError, path)
        if code:
            return ISO3_TO_ISO2.get(code.strip().upper())
    return None


def _slug_of(mapping: dict[str, Any], path: str) -> str:
    slug = require(mapping, "slug", AfterShipPayloadError, path).strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", slug):
        raise AfterShipPayloadError(f"slug is not a courier code: {slug[:40]!r}", path=path)
    return slug


def _location(checkpoint: dict[str, Any], country: str | None, path: str) -> dict[str, str] | None:
    postal = optional(checkpoint, "zip", AfterShipPayloadError, path) or optional(
        checkpoint, "postal_code", AfterShipPayloadError, path
    )
    return location_fields(
        city=optional(checkpoint, "city", AfterShipPayloadError, path),
        postal_code=postal,
        country=country,
    )


CONNECTOR = Connector(
    name=NAME,
    parse=parse_aftership_webhook,
    content_types=frozenset({"application/json"}),
    signature=SignatureScheme.AFTERSHIP,
    description="AfterShip tracking webhooks (tracking_update / edd_revise)",
)
