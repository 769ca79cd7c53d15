"""DCSA Track & Trace 3.0 events, as an ocean carrier posts them: the reverse of
``connectors.dcsa``.

The body is the T&T 3.0 ``POST /events`` request, ``{"events": [...]}``, one nested event
per ``WireEvent`` in call order (``eventRouting``, ``eventClassification``,
``equipmentDetails``, ``shipmentDetails``, ``transportDetails``). 3.0 rather than the 2.2
callback list because only 3.0 names the publisher (``eventRouting.originatingParty``);
a 2.2 event does not, and the connector would fall back to the envelope's source name.

What the caller may rely on:

- **Party**: role ``carrier`` only; its id is written as the SMDG liner code
  ``originatingParty.partyCode`` (``hlc`` -> ``HLC``), which the connector lower-cases back.
  Any other role, or an id that does not survive that round (``x.`` loses its dot), is a
  ``ValueError``.
- **Time**: ``eventDateTime`` is ``occurred_at`` as ISO 8601 with its own offset, so the
  instant and the offset survive. Seconds, or more digits when the instant has them.
- **Estimates** (``estimated=True``): transport and equipment milestones only (DCSA shipment
  events are facts). Classifier ``EST``, or ``PLN`` with ``extra["classifier"] = "PLN"``.
  ``occurred_at`` is the predicted time (``eventDateTime``, the connector's
  ``estimated_at``); ``extra["issued_at"]`` (ISO 8601 with offset), when the carrier made
  the estimate, is ``eventUpdatedDateTime``, the connector's ``occurred_at``. Without it
  the field is left out and the connector dates the estimate at the envelope's
  ``received_at``.
- **Identifiers**: the connector puts the container first, then the event's document, the
  other documents, then references, free-text ones (``shipment_ref``, ``order_id``) last.
  So the first identifier decides the layout: a container is ``equipmentReference``; a
  booking, bill of lading or customs entry is ``documentReference`` (``BKG``, ``TRD``,
  ``CUC``); a shipment ref or order id a shipment reference (``FF``, ``PO``). Other
  identifiers follow where they cannot outrank it (other containers as ``EQ`` references;
  nothing strong beside a free-text primary); kinds DCSA has no place for (MAWB, SSCC,
  parcel tracking numbers, ...) are left out, and as first identifier are a ``ValueError``.
- **Milestones** (``SUPPORTED``), with the move context the 3.0 fields carry:

  ============================  ============================================================
  line_haul_departed/arrived    TRANSPORT ``DEPA``/``ARRI``, vessel call
  line_haul_loaded/unloaded     EQUIPMENT ``LOAD`` (EXPORT) / ``DISC`` (IMPORT), vessel call
  transshipped                  EQUIPMENT ``DISC``, ``movementType`` TRANSSHIPMENT
  received_at_origin_hub        EQUIPMENT ``GTIN`` (EXPORT)
  departed_origin               EQUIPMENT ``GTOT`` (EXPORT)
  carrier_received              EQUIPMENT ``GTOT`` (IMPORT)
  picked_up / delivered         EQUIPMENT ``PICK`` (EXPORT) / ``DROP`` (IMPORT)
  available_for_pickup          EQUIPMENT ``AVPU`` (IMPORT)
  booked / cancelled            SHIPMENT ``BKG`` ``CONF`` / ``CANC``
  import_customs_*              SHIPMENT ``CUC`` ``SUBM``/``APPR``/``REQS``/``HOLD``/``REJE``/
                                ``RELS``, ``shipmentLocationType`` POD
  export_customs_*              SHIPMENT ``CUC`` ``SUBM``/``HOLD``/``RELS``, POL
  exception                     SHIPMENT ``HOLD`` of the booking or transport document
  info                          SHIPMENT ``RECE``/``ISSU`` of a document; ``STUF`` for a box
  ============================  ============================================================

  Equipment milestones need a container as first identifier. Shipment milestones need the
  document they are about as first identifier, or right behind a container: a booking
  (booked, cancelled), a customs entry (customs; a container without one still takes
  inspection and release, as the terminal's equipment events ``CUSI``/``CUSR``), a booking
  or bill of lading (exception). Anything else is a ``ValueError`` naming what is missing.
- **Reason**: ``shipmentDetails.reason`` (free text, read into ``source_description``).
- **Location**: ``eventLocation`` with the UN/LOCODE, name and address fields present.
- **Hints** (``extra``): ``vessel_name``, ``vessel_imo``, ``voyage``, ``classifier``,
  ``issued_at``.
- ``eventID`` is a UUID derived from ``reference`` and the event's position, so the same
  call encodes the same body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.simulate.wire import WireEvent
from hub.simulate.wire._common import event_uuid
from schemas.common import Identifier, IdentifierKind, PartyRole
from schemas.milestones import Milestone

FORMAT = "dcsa"
CONTENT_TYPE = "application/json"

# milestone -> (equipmentEventTypeCode, movementType)
_EQUIPMENT: dict[Milestone, tuple[str, str]] = {
    Milestone.LINE_HAUL_LOADED: ("LOAD", "EXPORT"),
    Milestone.LINE_HAUL_UNLOADED: ("DISC", "IMPORT"),
    Milestone.TRANSSHIPPED: ("DISC", "TRANSSHIPMENT"),
    Milestone.RECEIVED_AT_ORIGIN_HUB: ("GTIN", "EXPORT"),
    Milestone.DEPARTED_ORIGIN: ("GTOT", "EXPORT"),
    Milestone.CARRIER_RECEIVED: ("GTOT", "IMPORT"),
    Milestone.PICKED_UP: ("PICK", "EXPORT"),
    Milestone.DELIVERED: ("DROP", "IMPORT"),
    Milestone.AVAILABLE_FOR_PICKUP: ("AVPU", "IMPORT"),
}
_TRANSPORT: dict[Milestone, str] = {
    Milestone.LINE_HAUL_DEPARTED: "DEPA",
    Milestone.LINE_HAUL_ARRIVED: "ARRI",
}
_VESSEL_CODES = frozenset({"LOAD", "DISC", "ARRI", "DEPA"})  # the connector's vessel_only
# milestone -> (shipmentEventTypeCode, shipmentLocationType) of a CUC (customs) document
_CUSTOMS: dict[Milestone, tuple[str, str]] = {
    Milestone.IMPORT_CUSTOMS_SUBMITTED: ("SUBM", "POD"),
    Milestone.IMPORT_CUSTOMS_ACCEPTED: ("APPR", "POD"),
    Milestone.IMPORT_CUSTOMS_INSPECTION: ("REQS", "POD"),
    Milestone.IMPORT_CUSTOMS_HELD: ("HOLD", "POD"),
    Milestone.IMPORT_CUSTOMS_REJECTED: ("REJE", "POD"),
    Milestone.IMPORT_CUSTOMS_RELEASED: ("RELS", "POD"),
    Milestone.EXPORT_CUSTOMS_SUBMITTED: ("SUBM", "POL"),
    Milestone.EXPORT_CUSTOMS_HELD: ("HOLD", "POL"),
    Milestone.EXPORT_CUSTOMS_CLEARED: ("RELS", "POL"),
}
# a container without its customs entry: the terminal's customs equipment events
_CUSTOMS_EQUIPMENT: dict[Milestone, tuple[str, str]] = {
    Milestone.IMPORT_CUSTOMS_INSPECTION: ("CUSI", "IMPORT"),
    Milestone.IMPORT_CUSTOMS_RELEASED: ("CUSR", "IMPORT"),
    Milestone.EXPORT_CUSTOMS_HELD: ("CUSI", "EXPORT"),
    Milestone.EXPORT_CUSTOMS_CLEARED: ("CUSR", "EXPORT"),
}
# milestone -> (shipmentEventTypeCode, the document types that give it that meaning)
_DOCUMENT_EVENTS: dict[Milestone, tuple[str, tuple[str, ...]]] = {
    Milestone.BOOKED: ("CONF", ("BKG",)),
    Milestone.CANCELLED: ("CANC", ("BKG",)),
    Milestone.EXCEPTION: ("HOLD", ("TRD", "BKG")),
    Milestone.INFO: ("RECE", ("BKG", "TRD", "CUC")),
}
_INFO_CODES = {"TRD": "ISSU"}  # a transport document is issued, not received

SUPPORTED: frozenset[Milestone] = frozenset(
    {*_EQUIPMENT, *_TRANSPORT, *_CUSTOMS, *_DOCUMENT_EVENTS}
)

_DOCUMENT_TYPES: dict[IdentifierKind, str] = {
    IdentifierKind.BOOKING: "BKG",
    IdentifierKind.BILL_OF_LADING: "TRD",
    IdentifierKind.CUSTOMS_ENTRY: "CUC",
}
_REFERENCE_TYPES: dict[IdentifierKind, str] = {
    IdentifierKind.SHIPMENT_REF: "FF",
    IdentifierKind.ORDER_ID: "PO",
}
_NOT_SLUG = re.compile(r"[^a-z0-9._]+")  # how the connector turns a party code into an id


def encode(events: Sequence[WireEvent], *, reference: str) -> bytes:
    """One T&T 3.0 ``POST /events`` body holding ``events`` in order (see the module
    docstring); ``ValueError`` for an event DCSA cannot carry back unchanged."""
    if not events:
        raise ValueError("no events to encode")
    body = {"events": [_event(e, reference, n) for n, e in enumerate(events, 1)]}
    return json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8")


def _event(event: WireEvent, reference: str, number: int) -> dict[str, Any]:
    if event.milestone not in SUPPORTED:
        raise ValueError(f"DCSA cannot carry {event.milestone.value}")
    classification, equipment, shipment, vessel_call = _classification(event)
    if event.estimated and classification["eventTypeCode"] == "SHIPMENT":
        raise ValueError(
            f"{event.milestone.value} is a DCSA shipment event, and those are facts only"
        )
    classifier, event_time, updated = _times(event)
    classification["eventClassifierCode"] = classifier
    body: dict[str, Any] = {
        "eventRouting": {"originatingParty": _party(event)},
        "eventID": str(event_uuid(reference, number)),
        "eventDateTime": _iso(event_time),
    }
    if updated is not None:
        body["eventUpdatedDateTime"] = _iso(updated)
    location = _location(event)
    if location:
        body["eventLocation"] = location
    body["eventClassification"] = classification
    if equipment:
        body["equipmentDetails"] = equipment
    if event.reason:
        shipment["reason"] = event.reason[:500]
    if shipment:
        body["shipmentDetails"] = shipment
    if vessel_call:
        body["transportDetails"] = {"transportCall": _transport_call(event, reference)}
    return body


def _classification(
    event: WireEvent,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], bool]:
    """(eventClassification, equipmentDetails, shipmentDetails, whether a vessel call)."""
    milestone, primary = event.milestone, event.identifiers[0]
    container = primary if primary.kind is IdentifierKind.CONTAINER else None
    if milestone is Milestone.INFO and container is not None:
        return _equipment_event(event, "STUF", None)
    if milestone in _EQUIPMENT:
        code, movement = _EQUIPMENT[milestone]
        return _equipment_event(event, code, movement)
    if milestone in _TRANSPORT:
        code = _TRANSPORT[milestone]
        equipment = _laden(container, None) if container else {}
        shipment = _references(event, document=None)
        classification = {"eventTypeCode": "TRANSPORT", "transportEventTypeCode": code}
        return classification, equipment, shipment, True
    if milestone in _CUSTOMS:
        code, place = _CUSTOMS[milestone]
        document = _document(event, ("CUC",))
        if document is None and container is not None and milestone in _CUSTOMS_EQUIPMENT:
            return _equipment_event(event, *_CUSTOMS_EQUIPMENT[milestone])
        if document is None:
            raise ValueError(
                f"{milestone.value} in DCSA is a customs (CUC) document event: the first "
                "identifier must be the customs entry, or a container followed by it"
            )
        return _shipment_event(event, code, document, place)
    code, document_types = _DOCUMENT_EVENTS[milestone]
    document = _document(event, document_types)
    if document is None:
        kinds = " or ".join(k.value for k, t in _DOCUMENT_TYPES.items() if t in document_types)
        raise ValueError(
            f"{milestone.value} in DCSA is a document event: the first identifier must be "
            f"a {kinds}, or a container followed by one"
        )
    code = _INFO_CODES.get(document[0], code) if milestone is Milestone.INFO else code
    return _shipment_event(event, code, document, None)


def _equipment_event(
    event: WireEvent, code: str, movement: str | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], bool]:
    primary = event.identifiers[0]
    if primary.kind is not IdentifierKind.CONTAINER:
        raise ValueError(
            f"{event.milestone.value} is the DCSA equipment event {code}: the first "
            f"identifier must be a container, got {primary.kind.value}"
        )
    classification = {"eventTypeCode": "EQUIPMENT", "equipmentEventTypeCode": code}
    shipment = _references(event, document=None)
    return classification, _laden(primary, movement), shipment, code in _VESSEL_CODES


def _shipment_event(
    event: WireEvent, code: str, document: tuple[str, Identifier], place: str | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], bool]:
    primary = event.identifiers[0]
    equipment = _laden(primary, None) if primary.kind is IdentifierKind.CONTAINER else {}
    shipment = _references(event, document=document)
    if place:
        shipment["shipmentLocationType"] = place
    classification = {"eventTypeCode": "SHIPMENT", "shipmentEventTypeCode": code}
    return classification, equipment, shipment, False


def _laden(container: Identifier, movement: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {
        "equipmentReference": container.value,
        "ISOEquipmentCode": "45G1",
        "emptyIndicatorCode": "LADEN",  # an empty box's moves are not shipment progress
    }
    if movement:
        details["movementType"] = movement
    return details


def _document(event: WireEvent, types: tuple[str, ...]) -> tuple[str, Identifier] | None:
    """The (type, identifier) a document event is about: the first identifier when it is
    such a document; behind a container (which the connector reads first anyway) the first
    other identifier that is one."""
    primary, *others = event.identifiers
    candidates = others if primary.kind is IdentifierKind.CONTAINER else [primary]
    for identifier in candidates:
        doc_type = _DOCUMENT_TYPES.get(identifier.kind)
        if doc_type in types:
            return doc_type, identifier
    return None


def _references(event: WireEvent, document: tuple[str, Identifier] | None) -> dict[str, Any]:
    """``shipmentDetails`` references laid out so the connector reads the first identifier
    back first: its document leads, nothing strong sits beside a free-text one."""
    primary = event.identifiers[0]
    weak_primary = primary.kind in _REFERENCE_TYPES
    if primary.kind not in (*_DOCUMENT_TYPES, *_REFERENCE_TYPES, IdentifierKind.CONTAINER):
        raise ValueError(f"DCSA has no place for a {primary.kind.value} as first identifier")
    if document is None and primary.kind in _DOCUMENT_TYPES:
        document = (_DOCUMENT_TYPES[primary.kind], primary)
    documents: list[dict[str, str]] = []
    if document is not None:
        documents.append({"typeCode": document[0], "reference": document[1].value})
    references: list[dict[str, str]] = []
    for identifier in event.identifiers:
        if document is not None and identifier == document[1]:
            continue
        doc_type = _DOCUMENT_TYPES.get(identifier.kind)
        ref_type = _REFERENCE_TYPES.get(identifier.kind)
        if weak_primary and not ref_type:
            continue  # a strong identifier would be read before the free-text first one
        if doc_type:
            documents.append({"typeCode": doc_type, "reference": identifier.value})
        elif identifier.kind is IdentifierKind.CONTAINER and identifier != primary:
            references.append({"typeCode": "EQ", "reference": identifier.value})
        elif ref_type:
            references.append({"typeCode": ref_type, "reference": identifier.value})
    shipment: dict[str, Any] = {}
    if documents:  # the first is the event's own document (for a shipment event, its subject)
        shipment["documentReference"] = documents[0]
    if documents[1:]:
        shipment["additionalDocumentReferences"] = documents[1:]
    if references:
        shipment["shipmentReferences"] = references
    return shipment


def _party(event: WireEvent) -> dict[str, str]:
    party = event.party
    if party.role is not PartyRole.CARRIER:
        raise ValueError(f"a DCSA event comes from an ocean carrier, not a {party.role.value}")
    code = party.id.upper()
    if _NOT_SLUG.sub("-", code.lower()).strip("-._")[:64] != party.id:
        raise ValueError(f"party id {party.id!r} does not survive as a DCSA party code")
    return {
        "partyCode": code,
        "codeListProvider": "SMDG",
        "codeListName": "LCL",
        "partyFunction": "CA",  # UN/EDIFACT 3035: carrier
    }


def _times(event: WireEvent) -> tuple[str, datetime, datetime | None]:
    """(classifier, eventDateTime, eventUpdatedDateTime or None)."""
    if not event.estimated:
        return "ACT", event.occurred_at, event.occurred_at
    classifier = event.extra.get("classifier", "EST").upper()
    if classifier not in ("EST", "PLN"):
        raise ValueError(f"an estimate is EST or PLN, not {classifier!r}")
    text = event.extra.get("issued_at")
    if not text:
        return classifier, event.occurred_at, None
    issued = datetime.fromisoformat(text)
    if issued.utcoffset() is None:
        raise ValueError(f"extra['issued_at'] {text!r} has no UTC offset")
    return classifier, event.occurred_at, issued


def _iso(moment: datetime) -> str:
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no UTC offset")
    return moment.isoformat()


def _location(event: WireEvent) -> dict[str, Any]:
    where = event.location
    if where is None:
        return {}
    location: dict[str, Any] = {}
    if where.name:
        location["locationName"] = where.name[:100]
    if where.unlocode:
        location["UNLocationCode"] = where.unlocode
    address = {
        key: value
        for key, value in (
            ("city", where.city),
            ("postCode", where.postal_code),
            ("countryCode", where.country),
        )
        if value
    }
    if address:
        location["address"] = address
    if location and event.milestone in (*_TRANSPORT, *_EQUIPMENT):
        location["facilityTypeCode"] = "POTE" if where.unlocode else "CLOC"
    return location


def _transport_call(event: WireEvent, reference: str) -> dict[str, Any]:
    call: dict[str, Any] = {
        "transportCallReference": f"TC-{reference}"[:100],
        "modeOfTransport": "VESSEL",
    }
    if voyage := event.extra.get("voyage"):
        call["exportVoyageNumberOrReference"] = {"carrierVoyageNumber": voyage}
    vessel = {
        key: value
        for key, value in (
            ("vesselIMONumber", event.extra.get("vessel_imo")),
            ("vesselName", event.extra.get("vessel_name")),
        )
        if value
    }
    if vessel:
        call["vesselTransport"] = vessel
    return call
