"""An EPCIS 2.0 body read into checked events, before any mapping to milestones.

Reading is where the wire format is enforced: the three body shapes (``EPCISDocument``,
``EPCISQueryDocument``, one bare event), the tracked event types, ``eventTime`` with
``eventTimeZoneOffset``, SSCCs (a malformed one refuses the document), the business
transactions the code table lists as identifiers, locations, source and destination
lists, ``errorDeclaration`` and master data. The result, one ``EpcisEvent`` per tracked
event, carries bare CBV words and GS1 numbers; ``connectors.epcis`` then applies the
document context and the code table. Kept apart from that mapping so each reads as one
job. Every problem raises ``EPCISPayloadError`` (or its ``EPCISIdentifierError``) with the
path into the body; the rules are described in the ``connectors.epcis`` docstring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from pydantic import ValidationError

from connectors import gs1
from connectors.base import ConnectorError, decode_json, optional, parse_aware_datetime
from connectors.cbv import BIZSTEP, BTT, DISPOSITION, SDT, bare_term
from connectors.epcis_codes import CODES
from connectors.gs1 import gln_from_uri, transaction_reference
from schemas.common import Identifier, IdentifierKind
from schemas.events import RawEnvelope

TRACKED_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "AssociationEvent")


class EPCISPayloadError(ConnectorError):
    """An EPCIS body that is not a 2.0 document (or event) this connector can read."""


class EPCISIdentifierError(EPCISPayloadError):
    """An SSCC that is malformed: wrong length, not digits, or a wrong check digit."""


def _event_type(value: str) -> str:
    for prefix in ("https://ref.gs1.org/epcis/", "http://ref.gs1.org/epcis/", "epcis:"):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def sscc_from_epc(epc: str) -> str | None:
    """``gs1.sscc_from_epc`` raising ``EPCISIdentifierError`` for a malformed SSCC."""
    return gs1.sscc_from_epc(epc, EPCISIdentifierError)


@dataclass(frozen=True, slots=True)
class EpcisEvent:
    """One tracked event, read and checked, before the document context is applied."""

    path: str
    event_type: str
    action: str | None
    biz_step: str | None
    disposition: str | None
    occurred_at: datetime
    event_id: str | None
    identifiers: tuple[Identifier, ...]
    other_epcs: int
    read_point: str | None
    biz_location: str | None
    sources: tuple[tuple[str, str], ...]  # (bare type, id)
    destinations: tuple[tuple[str, str], ...]
    error_declaration: Mapping[str, Any] | None

    @property
    def site(self) -> str | None:
        for where in (self.biz_location, self.read_point):
            if where:
                gln = gln_from_uri(where)
                return gln.number if gln else where
        return None


def read_events(raw: RawEnvelope) -> tuple[list[EpcisEvent], dict[str, dict[str, str]]]:
    """The tracked events of the body in document order, and the master data by id.

    A document in which no event can be tracked is refused with the reasons, so it reaches
    the dead-letter topic instead of vanishing.
    """
    body = decode_json(raw, EPCISPayloadError)
    items, paths, master = _event_list(body)
    events: list[EpcisEvent] = []
    skipped: dict[str, int] = {}
    for item, path in zip(items, paths, strict=True):
        event = _read_event(item, path, skipped)
        if event is not None:
            events.append(event)
    if not events:
        reasons = ", ".join(f"{n} {why}" for why, n in skipped.items())
        raise EPCISPayloadError(f"no event in the document can be tracked: {reasons}")
    return events, master


def _event_list(body: Any) -> tuple[list[Any], list[str], dict[str, dict[str, str]]]:
    """The events, the path of each in the body, and the master data by id."""
    if not isinstance(body, dict):
        raise EPCISPayloadError(f"expected an EPCIS document object, got {type(body).__name__}")
    doc_type = optional(body, "type", EPCISPayloadError, "")
    version = body.get("schemaVersion")
    if version is not None and not str(version).startswith("2"):
        raise EPCISPayloadError(f"EPCIS schemaVersion {str(version)[:20]!r}; this reads 2.x")
    if doc_type is not None and _event_type(doc_type) in (*TRACKED_TYPES, "TransformationEvent"):
        return [body], ["event"], {}
    epcis_body = body.get("epcisBody")
    if doc_type not in ("EPCISDocument", "EPCISQueryDocument") or not isinstance(epcis_body, dict):
        raise EPCISPayloadError(
            "expected an EPCISDocument or EPCISQueryDocument with an epcisBody object",
            path="type" if doc_type not in ("EPCISDocument", "EPCISQueryDocument") else "epcisBody",
        )
    path = "epcisBody"
    container: Any = epcis_body
    if doc_type == "EPCISQueryDocument":
        results = epcis_body.get("queryResults")
        container = results.get("resultsBody") if isinstance(results, dict) else None
        path = "epcisBody.queryResults.resultsBody"
        if not isinstance(container, dict):
            raise EPCISPayloadError("queryResults.resultsBody is missing", path="epcisBody")
    items = container.get("eventList")
    if not isinstance(items, list):
        got = "missing" if items is None else type(items).__name__
        raise EPCISPayloadError(f"eventList should be a list, got {got}", path=f"{path}.eventList")
    if not items:
        raise EPCISPayloadError("the document has no events", path=f"{path}.eventList")
    header = body.get("epcisHeader")
    master_data = header.get("epcisMasterData") if isinstance(header, dict) else None
    vocabularies = [
        master_data.get("vocabularyList") if isinstance(master_data, dict) else None,
        container.get("vocabularyList"),
    ]
    paths = [f"{path}.eventList[{i}]" for i in range(len(items))]
    return items, paths, _master_data(vocabularies)


def _master_data(vocabulary_lists: list[Any]) -> dict[str, dict[str, str]]:
    """id (and GLN) -> {name, city, countryCode, ...} from master data; what is malformed is
    skipped, since master data only decorates a location or a party."""
    found: dict[str, dict[str, str]] = {}
    vocabularies = [v for vs in vocabulary_lists if isinstance(vs, list) for v in vs]
    for vocabulary in vocabularies:
        elements = vocabulary.get("vocabularyElementList") if isinstance(vocabulary, dict) else []
        for element in elements if isinstance(elements, list) else []:
            if not isinstance(element, dict) or not isinstance(element.get("id"), str):
                continue
            attributes: dict[str, str] = {}
            listed = element.get("attributes")
            for attribute in listed if isinstance(listed, list) else []:
                if isinstance(attribute, dict) and isinstance(attribute.get("attribute"), str):
                    local = re.split(r"[#:/]", str(attribute.get("id")))[-1]
                    attributes.setdefault(local, attribute["attribute"].strip()[:200])
            found.setdefault(element["id"], attributes)
            gln = gln_from_uri(element["id"])
            if gln:
                found.setdefault(gln.number, attributes)
    return found


def _read_event(item: Any, path: str, skipped: dict[str, int]) -> EpcisEvent | None:
    if not isinstance(item, dict):
        raise EPCISPayloadError(f"an event is an object, got {type(item).__name__}", path=path)
    event_type = _event_type(field_text(item, "type", path, required=True) or "")
    if event_type not in TRACKED_TYPES:
        if event_type == "TransformationEvent":
            reason = "TransformationEvent (manufacturing, not tracked)"
        elif ":" in event_type:
            reason = "extension event type"
        else:
            raise EPCISPayloadError(f"unknown event type {event_type[:40]!r}", path=f"{path}.type")
        skipped[reason] = skipped.get(reason, 0) + 1
        return None
    occurred_at = _occurred_at(item, path)
    action = field_text(item, "action", path)
    if action is not None and action not in ("ADD", "OBSERVE", "DELETE"):
        raise EPCISPayloadError(
            f"action {action[:20]!r} is not ADD, OBSERVE or DELETE", path=f"{path}.action"
        )
    identifiers, other_epcs = _identifiers(item, path)
    if not identifiers:
        reason = f"{event_type} without an SSCC or a po/bol/desadv business transaction"
        skipped[reason] = skipped.get(reason, 0) + 1
        return None
    biz_step, disposition = field_text(item, "bizStep", path), field_text(item, "disposition", path)
    declaration = item.get("errorDeclaration")
    if declaration is not None and not isinstance(declaration, dict):
        raise EPCISPayloadError(
            "errorDeclaration should be an object", path=f"{path}.errorDeclaration"
        )
    return EpcisEvent(
        path=path,
        event_type=event_type,
        action=action,
        biz_step=bare_term(biz_step, BIZSTEP)[:200] if biz_step else None,
        disposition=bare_term(disposition, DISPOSITION)[:200] if disposition else None,
        occurred_at=occurred_at,
        event_id=field_text(item, "eventID", path),
        identifiers=tuple(identifiers),
        other_epcs=other_epcs,
        read_point=_location_id(item, "readPoint", path),
        biz_location=_location_id(item, "bizLocation", path),
        sources=_sources(item, "sourceList", "source", path),
        destinations=_sources(item, "destinationList", "destination", path),
        error_declaration=declaration,
    )


def field_text(
    item: Mapping[str, Any], key: str, path: str, *, required: bool = False
) -> str | None:
    """``item[key]`` stripped; None when absent or empty, an error when not text (or absent
    and ``required``)."""
    value = optional(item, key, EPCISPayloadError, path)
    text = value.strip() if isinstance(value, str) else None
    if required and not text:
        raise EPCISPayloadError(f"{key} is missing", path=f"{path}.{key}")
    return text or None  # blanks are empty too: an eventID " " is no id


def _strings(item: Mapping[str, Any], key: str, path: str) -> list[str]:
    values = optional(item, key, EPCISPayloadError, path, list) or []
    for value in values:
        if not isinstance(value, str):
            raise EPCISPayloadError(f"{key} should hold URIs as text", path=f"{path}.{key}")
    return [v.strip() for v in values]


def _occurred_at(item: Mapping[str, Any], path: str, key: str = "eventTime") -> datetime:
    moment = parse_aware_datetime(
        field_text(item, key, path, required=True) or "", EPCISPayloadError, f"{path}.{key}"
    )
    offset = field_text(item, "eventTimeZoneOffset", path)
    if offset is None:
        return moment
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", offset)
    if match is None or int(match.group(2)) > 14 or int(match.group(3)) > 59:
        raise EPCISPayloadError(
            f"eventTimeZoneOffset {offset[:20]!r} is not ±hh:mm", path=f"{path}.eventTimeZoneOffset"
        )
    sign = -1 if match.group(1) == "-" else 1
    zone = timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    return in_zone(moment, zone, f"{path}.{key}")


def in_zone(moment: datetime, zone: tzinfo | None, path: str) -> datetime:
    """The same instant shown in ``zone`` (a time at the edge of the calendar cannot be)."""
    try:
        return moment.astimezone(zone)
    except OverflowError:
        raise EPCISPayloadError("time is out of range", path=path) from None


def _identifiers(item: Mapping[str, Any], path: str) -> tuple[list[Identifier], int]:
    """Every SSCC (parent first), then the mapped business transactions; and how many EPCs
    were not SSCCs."""
    parent = field_text(item, "parentID", path)
    epcs = [("parentID", parent)] if parent else []
    for key in ("epcList", "childEPCs"):
        epcs.extend((key, epc) for epc in _strings(item, key, path))
    found: dict[tuple[str, str | None], Identifier] = {}
    other = 0
    for key, epc in epcs:
        try:
            sscc = sscc_from_epc(epc)
        except EPCISIdentifierError as exc:
            raise EPCISIdentifierError(exc.message, path=f"{path}.{key}") from None
        if sscc is None:
            other += 1
            continue
        identifier = Identifier(kind=IdentifierKind.SSCC, value=sscc)
        found.setdefault((identifier.key, None), identifier)
    transactions = optional(item, "bizTransactionList", EPCISPayloadError, path, list) or []
    for j, entry in enumerate(transactions):
        where = f"{path}.bizTransactionList[{j}]"
        if not isinstance(entry, dict):
            raise EPCISPayloadError("a business transaction is an object", path=where)
        value = field_text(entry, "bizTransaction", where, required=True) or ""
        btt = field_text(entry, "type", where)
        kind = CODES.biz_transaction_types.get(bare_term(btt, BTT)) if btt else None
        if kind is None:
            continue
        reference, issuer = transaction_reference(value)
        try:
            identifier = Identifier(kind=kind, value=reference, issuer=issuer)
        except ValidationError as exc:
            raise EPCISPayloadError(
                f"bizTransaction {value[:60]!r}: {exc.errors()[0]['msg']}", path=where
            ) from None
        found.setdefault((identifier.key, issuer), identifier)
    return list(found.values()), other


def _location_id(item: Mapping[str, Any], key: str, path: str) -> str | None:
    value = item.get(key)
    if isinstance(value, dict):
        return field_text(value, "id", f"{path}.{key}")
    if value is None or isinstance(value, str):
        return (value or "").strip() or None
    raise EPCISPayloadError(f"{key} should be an object with an id", path=f"{path}.{key}")


def _sources(
    item: Mapping[str, Any], key: str, field: str, path: str
) -> tuple[tuple[str, str], ...]:
    entries = optional(item, key, EPCISPayloadError, path, list) or []
    found = []
    for j, entry in enumerate(entries):
        where = f"{path}.{key}[{j}]"
        if not isinstance(entry, dict):
            raise EPCISPayloadError(f"a {field} is an object", path=where)
        kind = field_text(entry, "type", where, required=True) or ""
        found.append((bare_term(kind, SDT), field_text(entry, field, where, required=True) or ""))
    return tuple(found)
