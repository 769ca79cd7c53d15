"""DCSA Track & Trace events from ocean carriers: T&T 2.2 (primary), 2.3 and 3.0.

Body (``application/json``; the sender signs it with Standard Webhooks, not with DCSA's own
``Notification-Signature``):

* **2.x** (2.2 is the version carriers run): the subscription callback body, a JSON list
  of flat events ``{eventID, eventCreatedDateTime, eventType, eventClassifierCode,
  eventDateTime, transportEventTypeCode | equipmentEventTypeCode | shipmentEventTypeCode,
  transportCall, eventLocation, equipmentReference, emptyIndicatorCode, documentID,
  documentTypeCode, documentReferences, references, ...}``.
* **3.0**: ``{"events": [...]}`` (``POST /events``), each event nested
  (``eventClassification``, ``equipmentDetails``, ``shipmentDetails``,
  ``transportDetails``, ``eventRouting``). ``connectors.dcsa_payload`` renames those
  fields to the 2.x names, so one mapping serves both; error paths still name the 3.0
  fields. A retracted 3.0 event (``isRetracted``) yields no event: the hub has no
  retraction yet. The 3.0.0-Beta-1 ``metadata``/``payload`` form is refused with a message
  saying so.
* A single event object is accepted too.

Mapping (the table is data: ``connectors/dcsa_codes.json``):

* ``kind``: only ``ACT`` is a fact. ``EST`` is estimated and ``PLN`` planned, with
  ``estimated_at = eventDateTime`` and ``occurred_at`` = when the prediction was issued
  (``eventCreatedDateTime``; 3.0 ``eventUpdatedDateTime``; without either, the envelope's
  ``received_at``, the latest it can have been issued). ``REQ`` (a time someone *asked*
  for, not a carrier's plan) is planned with milestone ``info``, so no detector mistakes a
  wish for a commitment and no delay is charged to a carrier for missing it.
* Vessel ``ARRI``/``DEPA`` are ``line_haul_arrived``/``line_haul_departed`` at every port,
  the port of loading included: the vessel leaving the POL starts the line haul, it is not
  the first mile's ``departed_origin`` (the cargo left that leg at the terminal gate).
  ``LOAD``/``DISC`` are ``line_haul_loaded``/``line_haul_unloaded``. Truck, rail and barge
  calls (pre- and on-carriage, river feeders) are ``info``: they must not open or close
  the ocean leg.
* Transshipment: a 2.x event does not say whether a port is the POL, a hub or the POD, and
  one event cannot be interpreted from its neighbours without state (the same event may
  arrive alone or in any batch). So a 2.x discharge at a hub reads ``line_haul_unloaded``
  like one at the POD; ``location.country`` (from the UN/LOCODE) lets the hub compare it
  with the lane's destination. When the payload does say it (3.0
  ``equipmentDetails.movementType = TRANSSHIPMENT``, 3.0-beta ``isTransshipmentMove``),
  ``ARRI``/``LOAD``/``DISC``/gate moves there are ``transshipped``.
* Laden gate moves in a carrier feed are export gate-ins (``GTIN`` at the POL:
  ``received_at_origin_hub``) and import gate-outs (``GTOT`` at the POD: the trucker
  takes custody, ``carrier_received``); ``movementType``/``shipmentLocationType`` switch
  to the other reading when present. ``DROP`` laden is ``delivered`` (the container at the
  consignee), ``PICK`` laden ``picked_up``.
* Empty containers (``emptyIndicatorCode = EMPTY``: empty release before stuffing, empty
  return after stripping) are not shipment progress: ``info``, kept rather than dropped.
  Stuffing and stripping (``STUF``/``STRP``) move cargo inside one party's custody, at a
  shipper, a CFS or a warehouse the event does not tell apart: ``info`` as well.
* Shipment events are read per (``documentTypeCode``, ``shipmentEventTypeCode``):
  ``BKG CONF`` is ``booked``; customs documents (2.2 ``CUS``, 3.0 ``CUC``) give the
  customs milestones (``HOLD`` held, ``RELS``/``CMPL`` released, ``REQS`` inspection, ...),
  on the import side unless the payload places them at the origin (2.2 shipment events
  carry no location; carriers report destination customs far more often); any other
  ``HOLD`` is a carrier hold, ``exception``, as are ``REJE``/``DECL``.
* ``source_code``: the DCSA type code (``LOAD``, ``ARRI``); for shipment events the
  document type and status (``CUS.HOLD``), since a status means nothing without its
  document. ``reason_code``: ``delayReasonCode`` (SMDG). The classifier, vessel, voyage and
  the carrier's remark go to ``source_description``.
* Identifiers, most specific first: the container (ISO 6346; any other equipment
  reference is refused with its path), the event's own document, ``documentReferences``
  (``BKG``/``CBR`` booking, ``TRD`` bill of lading, ``CUS``/``CUC`` customs entry, other
  document ids as shipment references), ``carrierBookingReference``,
  ``transportDocumentReference``, then ``references`` (``EQ`` container, ``PO`` order id,
  ``BID`` booking, shipper/forwarder/customer references as shipment references).
  Reference types naming a party or a filing rather than the shipment (tax ids,
  export filings, empty release numbers) are left in the raw payload: one tax id would
  link every shipment of a company.
* Party (role ``carrier``): 3.0 ``eventRouting.originatingParty.partyCode`` or a
  ``carrierCode`` field, lower-cased; else the envelope's ``source``. A 2.x event does not
  name its publisher, and the vessel operator is not it (vessel sharing: a Hapag-Lloyd
  booking sails on ONE ships), so it is never used as the party.
* ``source_event_id`` is ``eventID`` (a 3.0 id over 200 characters becomes
  ``sha256:<hex>``). One bad event refuses the whole body with its path, as every
  connector does: the raw record waits in the dead-letter topic for a fixed mapper.

This module is the mapping; reading the body (its shapes, the 3.0 -> 2.x renaming, typed
field access) is ``connectors.dcsa_payload``, whose names callers import from here
(``DcsaPayloadError``, ``TYPE_CODE_FIELDS``, ``V3_FIELDS``) are re-exported.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import Connector, SignatureScheme, build_event, decode_json
from connectors.dcsa_payload import (
    TYPE_CODE_FIELDS,
    V3_FIELDS,
    V3_KEEP,
    DcsaPayloadError,
    EventFields,
    event_list,
    field_object,
    field_text,
    read_event,
)
from schemas.common import IdentifierKind, PartyRole, normalize_identifier
from schemas.events import EventKind, RawEnvelope, TrackingEvent
from schemas.milestones import Milestone

__all__ = [
    "CODES",
    "CONNECTOR",
    "DOCUMENT_KINDS",
    "DOCUMENT_TYPE_KEYS",
    "DOCUMENT_VALUE_KEYS",
    "MAX_EVENTS",
    "MOVE_CONTEXTS",
    "NAME",
    "REFERENCE_KINDS",
    "REFERENCE_TYPE_KEYS",
    "REFERENCE_VALUE_KEYS",
    "TYPE_CODE_FIELDS",
    "V3_FIELDS",
    "V3_KEEP",
    "VESSEL_MODES",
    "WEAK_KINDS",
    "DcsaPayloadError",
    "parse_dcsa_events",
]

NAME = "dcsa"
MAX_EVENTS = 2000  # a 3.0 POST or a polled page; carriers push a handful per callback
CODES: dict[str, Any] = json.loads(
    Path(__file__).with_name("dcsa_codes.json").read_text(encoding="utf-8")
)
VESSEL_MODES = frozenset({"VESSEL"})
DOCUMENT_KINDS = {
    "BKG": IdentifierKind.BOOKING,
    "CBR": IdentifierKind.BOOKING,
    "TRD": IdentifierKind.BILL_OF_LADING,
    "CUS": IdentifierKind.CUSTOMS_ENTRY,
    "CUC": IdentifierKind.CUSTOMS_ENTRY,
}
REFERENCE_KINDS = {
    "EQ": IdentifierKind.CONTAINER,
    "PO": IdentifierKind.ORDER_ID,
    "BID": IdentifierKind.BOOKING,
    "FF": IdentifierKind.SHIPMENT_REF,
    "SI": IdentifierKind.SHIPMENT_REF,
    "CR": IdentifierKind.SHIPMENT_REF,
    "AAO": IdentifierKind.SHIPMENT_REF,
    "CSI": IdentifierKind.SHIPMENT_REF,
    "BPR": IdentifierKind.SHIPMENT_REF,
}
WEAK_KINDS = frozenset({IdentifierKind.SHIPMENT_REF, IdentifierKind.ORDER_ID})
# 2.x spells reference objects {documentReferenceType, documentReferenceValue} and
# {referenceType, referenceValue}; 3.0 {typeCode, reference}; 3.0-beta {type, value}.
DOCUMENT_TYPE_KEYS = ("documentReferenceType", "typeCode", "type")
DOCUMENT_VALUE_KEYS = ("documentReferenceValue", "reference", "value")
REFERENCE_TYPE_KEYS = ("referenceType", "typeCode", "type")
REFERENCE_VALUE_KEYS = ("referenceValue", "reference", "value")
# Where a move happens, when the payload says so (3.0 movementType, shipmentLocationType).
MOVE_CONTEXTS = {
    "EXPORT": "export",
    "IMPORT": "import",
    "TRANSSHIPMENT": "transshipment",
    **dict.fromkeys(("PRE", "PCF", "ORI", "IEL", "FCD", "POL"), "export"),
    **dict.fromkeys(("POD", "PDE", "OIR"), "import"),
    **dict.fromkeys(("PTP", "RTP"), "transshipment"),
}


def parse_dcsa_events(raw: RawEnvelope) -> list[TrackingEvent]:
    """One ``TrackingEvent`` per DCSA event of the body, in payload order."""
    body = decode_json(raw, DcsaPayloadError)
    items = event_list(body)
    if len(items) > MAX_EVENTS:
        raise DcsaPayloadError(f"{len(items)} events in one body; at most {MAX_EVENTS}")
    events = []
    for item, path in items:
        event = _event(raw, read_event(item, path))
        if event is not None:
            events.append(event)
    return events


def _event(raw: RawEnvelope, read: EventFields) -> TrackingEvent | None:
    if read.fields.get("isRetracted") is True:
        return None
    event_type = read.code("eventType", required=True)
    if event_type not in TYPE_CODE_FIELDS:
        raise DcsaPayloadError(
            f"eventType {event_type[:40]!r} is not one of {', '.join(TYPE_CODE_FIELDS)}",
            path=read.where("eventType"),
        )
    classifier = read.code("eventClassifierCode", required=True)
    kind_entry = CODES["classifiers"].get(classifier)
    if kind_entry is None:
        raise DcsaPayloadError(
            f"eventClassifierCode {classifier[:40]!r} is not one of "
            f"{', '.join(CODES['classifiers'])}",
            path=read.where("eventClassifierCode"),
        )
    code = read.code(TYPE_CODE_FIELDS[event_type], required=True)
    milestone, name, source_code = _meaning(read, event_type, code)
    kind = EventKind(kind_entry["kind"])
    event_time = _instant(read, "eventDateTime", required=True)
    times: dict[str, datetime] = {"occurred_at": event_time}
    if kind is not EventKind.ACTUAL:
        issued = _instant(read, "eventCreatedDateTime", required=False)
        times = {"occurred_at": issued or raw.received_at, "estimated_at": event_time}
    return build_event(
        raw,
        DcsaPayloadError,
        read.path,
        source={
            "connector": NAME,
            "party": _party(raw, read),
            "source_event_id": _source_event_id(read),
        },
        identifiers=_identifiers(read),
        milestone=Milestone(kind_entry.get("milestone", milestone)),
        kind=kind,
        source_code=source_code,
        source_description=_description(read, classifier, kind_entry["name"], name),
        reason_code=_delay_reason(read),
        location=_location(read),
        **times,
    )


def _meaning(read: EventFields, event_type: str, code: str) -> tuple[str, str, str]:
    """(milestone, human name, source code) of the event's type code, from the table."""
    context = _move_context(read)
    if event_type == "SHIPMENT":
        document = read.code("documentTypeCode")
        entry = CODES["shipment"]["codes"].get(code, {})
        doc_entry = CODES["shipment"]["documents"].get(document, {})
        milestone = (
            doc_entry.get(context, {}).get(code)
            or doc_entry.get("milestones", {}).get(code)
            or entry.get("milestone", "info")
        )
        name = entry.get("name", code)
        if document:
            name = f"{doc_entry.get('name', document)}: {name}"
        return milestone, name, f"{document}.{code}" if document else code
    if event_type not in ("TRANSPORT", "EQUIPMENT"):
        return "info", f"{event_type} {code}", code
    entry = CODES[event_type.lower()].get(code, {})
    name = entry.get("name", code)
    if event_type == "EQUIPMENT" and _is_empty(read):
        return "info", f"{name} (empty)", code
    call_path = f"{read.where('transportCall')}.modeOfTransport"
    mode = field_text(read.obj("transportCall"), "modeOfTransport", call_path)
    if entry.get("vessel_only") and mode and mode.upper() not in VESSEL_MODES:
        return "info", f"{name} ({mode.lower()})", code
    return entry.get(context or "", entry.get("milestone", "info")), name, code


def _is_empty(read: EventFields) -> bool:
    indicator = read.code("emptyIndicatorCode")
    if indicator not in (None, "EMPTY", "LADEN"):
        raise DcsaPayloadError(
            f"emptyIndicatorCode {indicator[:40]!r} is not EMPTY or LADEN",
            path=read.where("emptyIndicatorCode"),
        )
    return indicator == "EMPTY"


def _move_context(read: EventFields) -> str | None:
    """``export``, ``import`` or ``transshipment`` when the payload says where; else None."""
    if read.fields.get("isTransshipmentMove") is True:
        return "transshipment"
    for key in ("movementType", "shipmentLocationType"):
        context = MOVE_CONTEXTS.get(read.code(key) or "")
        if context:
            return context
    return None


def _identifiers(read: EventFields) -> list[dict[str, Any]]:
    found: list[tuple[IdentifierKind, str | None, str]] = [
        (
            IdentifierKind.CONTAINER,
            read.text("equipmentReference"),
            read.where("equipmentReference"),
        )
    ]
    document = read.code("documentTypeCode")
    if document:
        kind = DOCUMENT_KINDS.get(document, IdentifierKind.SHIPMENT_REF)
        found.append((kind, read.text("documentID"), read.where("documentID")))
    for path, ref in read.items("documentReferences"):
        ref_type = (_pair(ref, path, DOCUMENT_TYPE_KEYS) or "").upper()
        value = _pair(ref, path, DOCUMENT_VALUE_KEYS)
        found.append((DOCUMENT_KINDS.get(ref_type, IdentifierKind.SHIPMENT_REF), value, path))
    for key, kind in (
        ("carrierBookingReference", IdentifierKind.BOOKING),
        ("transportDocumentReference", IdentifierKind.BILL_OF_LADING),
    ):
        found.append((kind, read.text(key), read.where(key)))
    for path, ref in read.items("references"):
        ref_type = (_pair(ref, path, REFERENCE_TYPE_KEYS) or "").upper()
        if ref_type in REFERENCE_KINDS:
            value = _pair(ref, path, REFERENCE_VALUE_KEYS)
            found.append((REFERENCE_KINDS[ref_type], value, path))
    identifiers: dict[tuple[IdentifierKind, str], dict[str, Any]] = {}
    for kind, value, path in found:
        if not value:
            continue
        try:
            normalized = normalize_identifier(kind, value)
        except ValueError as exc:
            raise DcsaPayloadError(str(exc), path=path) from None
        identifiers.setdefault((kind, normalized), {"kind": kind, "value": normalized})
    if not identifiers:
        raise DcsaPayloadError(
            "the event names no container, booking, transport document or reference",
            path=read.path or None,
        )
    # free-text references last: the primary identifier is the most specific one
    return sorted(identifiers.values(), key=lambda i: i["kind"] in WEAK_KINDS)


def _pair(ref: Any, path: str, keys: tuple[str, str, str]) -> str | None:
    """The first of ``keys`` present in a reference object (2.x and 3.0 spell them apart)."""
    if not isinstance(ref, dict):
        raise DcsaPayloadError(f"a reference is an object, got {type(ref).__name__}", path=path)
    for key in keys:
        if ref.get(key) is None:  # absent: skip building the path of an error
            continue
        value = field_text(ref, key, f"{path}.{key}")
        if value:
            return value
    return None


def _location(read: EventFields) -> dict[str, str] | None:
    """UN/LOCODE (its country too), facility and address from the event's location, or the
    transport call's (2.2 keeps it on the call, 2.3 in ``transportCall.location``)."""
    place_path, call_path = read.where("eventLocation"), read.where("transportCall")
    place, call = read.obj("eventLocation"), read.obj("transportCall")
    call_place = field_object(call, "location", f"{call_path}.location")
    facility_path = f"{place_path}.facility" if "facility" in place else place_path
    facility_here = field_object(place, "facility", f"{place_path}.facility") or place
    address = field_object(place, "address", f"{place_path}.address")
    places = ((place, place_path), (call, call_path), (call_place, f"{call_path}.location"))
    facilities = ((facility_here, facility_path), *places[1:])
    unlocode = _first(places, "UNLocationCode")
    named = _first((places[0], places[2]), "locationName") or _first(places[1:2], "otherFacility")
    facility = _first(facilities, "facilityCode")
    if facility:
        provider = _first(facilities, "facilityCodeListProvider")
        facility = f"{provider} {facility}" if provider else facility
        named = f"{named} ({facility})" if named else facility
    country = field_text(address, "countryCode", f"{place_path}.address.countryCode")
    if not country and unlocode and unlocode[:2].isalpha():
        country = unlocode[:2]
    fields = {
        "unlocode": unlocode,
        "country": country,
        "city": field_text(address, "city", f"{place_path}.address.city"),
        "postal_code": field_text(address, "postCode", f"{place_path}.address.postCode"),
        "name": named[:200] if named else None,
    }
    present = {key: value for key, value in fields.items() if value}
    return present or None


def _first(sources: tuple[tuple[dict[str, Any], str], ...], *keys: str) -> str | None:
    """The first of ``keys`` present in the first source that has one."""
    for mapping, path in sources:
        for key in keys:
            if mapping.get(key) is None:  # absent: skip building the path of an error
                continue
            value = field_text(mapping, key, f"{path}.{key}")
            if value:
                return value
    return None


def _description(read: EventFields, classifier: str, classifier_name: str, name: str) -> str:
    """What happened in words: classifier, event, vessel and voyage, the carrier's remark."""
    parts = [name if classifier == "ACT" else f"{classifier_name}: {name}"]
    call_path, call = read.where("transportCall"), read.obj("transportCall")
    vessel_key = "vessel" if "vessel" in call else "vesselTransport"  # 2.x / 3.0
    vessel = (
        (field_object(call, vessel_key, f"{call_path}.{vessel_key}"), f"{call_path}.{vessel_key}"),
    )
    voyage_path = f"{call_path}.exportVoyageNumberOrReference"  # 3.0
    voyages = (
        (call, call_path),
        (field_object(call, "exportVoyageNumberOrReference", voyage_path), voyage_path),
    )
    vessel_name, imo = _first(vessel, "vesselName"), _first(vessel, "vesselIMONumber")
    if vessel_name or imo:
        parts.append(" ".join(filter(None, ("vessel", vessel_name, imo and f"(IMO {imo})"))))
    voyage = _first(voyages, "exportVoyageNumber", "carrierVoyageNumber")
    if voyage:
        parts.append(f"voyage {voyage}")
    remark = read.text("changeRemark") or read.text("reason")
    if remark:
        parts.append(remark)
    return "; ".join(parts)[:2000]


def _delay_reason(read: EventFields) -> str | None:
    """SMDG delay reason code(s): one in 2.x, a list in 3.0."""
    value = read.fields.get("delayReasonCode")
    codes = value if isinstance(value, list) else [value]
    path = read.where("delayReasonCode")
    texts = [field_text({path: code}, path, path) for code in codes]
    return ",".join(t for t in texts if t)[:200] or None


_NOT_SLUG = re.compile(r"[^a-z0-9._]+")


def _party(raw: RawEnvelope, read: EventFields) -> dict[str, Any]:
    code = read.text("carrierCode")
    if code:
        party_id = _NOT_SLUG.sub("-", code.lower()).strip("-._")[:64]
        if not party_id:
            raise DcsaPayloadError(
                "carrier code has no letters or digits", path=read.where("carrierCode")
            )
        provider = read.text("carrierCodeListProvider")
        name = f"{code} ({provider})" if provider else code
        return {"role": PartyRole.CARRIER, "id": party_id, "name": name[:200]}
    return {"role": PartyRole.CARRIER, "id": raw.source}


def _source_event_id(read: EventFields) -> str | None:
    event_id = read.text("eventID")
    if event_id and len(event_id) > 200:
        return "sha256:" + hashlib.sha256(event_id.encode("utf-8")).hexdigest()
    return event_id


def _instant(read: EventFields, key: str, *, required: bool) -> datetime | None:
    """An ISO 8601 timestamp with its UTC offset, kept as given; else ``DcsaPayloadError``."""
    value = read.text(key, required=required)
    if value is None:
        return None
    path = read.where(key)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DcsaPayloadError(f"not an ISO 8601 timestamp: {value[:40]!r}", path=path) from None
    if moment.utcoffset() is None:
        raise DcsaPayloadError(f"timestamp has no UTC offset: {value[:40]!r}", path=path)
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise DcsaPayloadError(f"timestamp out of range: {value[:40]!r}", path=path) from None
    return moment


CONNECTOR = Connector(
    name=NAME,
    parse=parse_dcsa_events,
    content_types=frozenset({"application/json"}),
    signature=SignatureScheme.STANDARD_WEBHOOKS,
    description="DCSA Track & Trace 2.2 (and 2.3, 3.0) transport, equipment and shipment events",
    # ~1.5 KB per 2.2 event: MAX_EVENTS of them with room for long remarks and references
    max_body_bytes=4 * 1024 * 1024,
)
