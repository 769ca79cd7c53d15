"""GS1 EPCIS 2.0 JSON / JSON-LD: supply-chain visibility events from warehouses and shippers.

Body (``application/ld+json`` or ``application/json``): an ``EPCISDocument``
(``epcisBody.eventList``), an ``EPCISQueryDocument`` as a subscription delivers it
(``epcisBody.queryResults.resultsBody.eventList``), or one bare event. Signed with Standard
Webhooks. ``@context``, ``creationDate`` and ``recordTime`` are not needed and not checked;
a ``schemaVersion`` that is not 2.x is refused (1.x JSON has another shape).

Which events are tracked: ``ObjectEvent``, ``AggregationEvent``, ``TransactionEvent`` and
``AssociationEvent`` each give one ``TrackingEvent`` (more when they name over 64
identifiers: the primary identifier is repeated in each part and ``source_event_id`` gets
``#2``, ``#3`` ...). A ``TransformationEvent`` is manufacturing (inputs become outputs), not
movement, and an extension event type (a URI) is unknown: both are skipped. Identifiers are
SSCCs (``epcList``, ``parentID``, ``childEPCs``; the parent first) as 18 digits, from an EPC
URN ``urn:epc:id:sscc:<company prefix>.<serial reference>`` (the serial reference starts
with the extension digit, and the URN has no check digit: it is computed) or a GS1 Digital
Link ``https://<any host>/00/<18 digits>`` (its check digit is verified, so both forms of one
SSCC always agree); then business transactions by type (``po`` -> order id, ``bol`` -> bill
of lading, ``desadv`` -> shipment ref; other and untyped ones are ignored), whose value is
taken from ``urn:epcglobal:cbv:bt:<GLN>:<id>`` (issuer ``gln-<GLN>``), GSIN/GINC/GDTI URNs
and Digital Links (their GS1 number), an http(s) URL (its last path segment) or plain text.
Item-level EPCs (SGTIN, GRAI, ...) and ``quantityList`` have no identifier kind here: an
event that names nothing else is skipped, and a document in which every event was skipped
is refused with the reasons, so it reaches the dead-letter topic instead of vanishing.

Time: ``occurred_at`` is the ``eventTime`` instant shown in ``eventTimeZoneOffset`` (the
local offset the spec says the event happened in), whatever offset ``eventTime`` was
written with (often ``Z``); without ``eventTimeZoneOffset`` the ``eventTime`` offset is kept.

Codes: ``bizStep``, ``disposition`` and the CBV type fields come bare (``shipping``) or as
URIs (``urn:epcglobal:cbv:bizstep:shipping``, ``https://ref.gs1.org/cbv/BizStep-shipping``,
``https://gs1.org/voc/BizStep-shipping``, ``cbv:BizStep-shipping``) and are reduced to the
bare word before the table (``epcis_codes.json``) is read; a non-CBV URI is kept verbatim.
``source_code`` is the bare bizStep (the event type when there is none), ``reason_code``
the bare disposition. The table is keyed by bizStep. The same CBV step means different legs
of a cross-border journey (the exporter's ``shipping`` is the first mile, the overseas
warehouse's is its dispatch), so a row may have two variants read from the rest of the
same document: *at a stocking site* when the event's site (the GLN of ``bizLocation``, else
of ``readPoint``; extension ignored) is one where the document has ``storing``,
``stocking`` or ``picking``; else *after a warehouse dispatch* when one of its identifiers
was dispatched from such a site at or before this event. A warehouse that sends one event
per document gets the plain column::

    bizStep               plain                  at a stocking site     after a dispatch
    shipping, consigning  picked_up              warehouse_dispatched   in_transit
    accepting             picked_up              carrier_received       carrier_received
    loading               line_haul_loaded       carrier_received       in_transit
    departing             line_haul_departed     warehouse_dispatched   in_transit
    transporting          info                                          in_transit
    arriving              line_haul_arrived      warehouse_received     in_transit
    unloading             line_haul_unloaded     warehouse_received     in_transit
    receiving             warehouse_received
    storing, stocking     warehouse_stocked
    picking               warehouse_order_picked
    holding               exception
    void_shipping         cancelled
    destroying            lost
    any other, or none    info

Then a disposition overrides the milestone: ``damaged`` -> damaged; ``stolen``,
``destroyed`` -> lost; ``returned`` -> return_to_sender on the moving steps above, returned
otherwise; ``recalled``, ``expired``, ``disposed``, ``non_conformant``,
``no_pedigree_match``, ``mismatch_*`` -> exception; any other (``in_transit``,
``in_progress``, ...) leaves it. An event carrying ``errorDeclaration`` becomes an ``info``
event ``error_declaration`` (reason code ``incorrect_data`` or ``did_not_occur``) at the
declaration time, with ``#error-declaration`` on its source event id so it does not
collapse into the event it retracts. ``persistentDisposition``, ``sensorElementList`` and
``ilmd`` are not read.

Who said it: the ``possessing_party`` of ``sourceList`` (of ``destinationList`` for the
receiving side: ``receiving``, ``accepting``) when it is a GLN (PGLN/SGLN URN or Digital
Link 417/414): party ``gln-<GLN>``; otherwise the envelope's source (sender) name. Its role
comes from the table row: seller for shipping, forwarder for accepting and the line-haul
steps, warehouse operator for the rest and at a stocking site, last-mile carrier after a
dispatch. Where: the ``readPoint`` (else ``bizLocation``) as ``GLN <13 digits>`` in
``Location.name`` (there is no GLN field), with the name, city and country from the
document's master data (``epcisHeader.epcisMasterData``, or the query result's
``vocabularyList``) when it has them; a ``location`` in the source or destination list is
not used. A malformed SSCC refuses the document (it would match nothing); a location or
party id that is not a valid GLN is kept as text or ignored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError

from connectors.base import (
    Connector,
    ConnectorError,
    SignatureScheme,
    build_event,
    decode_json,
    optional,
    parse_aware_datetime,
    source_of,
)
from schemas.common import Identifier, IdentifierKind, Location, Party, PartyRole
from schemas.events import RawEnvelope, TrackingEvent
from schemas.milestones import Milestone

NAME = "epcis"
CODES_FILE = Path(__file__).with_name("epcis_codes.json")
TRACKED_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "AssociationEvent")
MAX_IDENTIFIERS = 64  # TrackingEvent.identifiers max_length


class EPCISPayloadError(ConnectorError):
    """An EPCIS body that is not a 2.0 document (or event) this connector can read."""


class EPCISIdentifierError(EPCISPayloadError):
    """An SSCC that is malformed: wrong length, not digits, or a wrong check digit."""


# --- the code table (data in epcis_codes.json, checked when the module loads) --------------


@dataclass(frozen=True, slots=True)
class Outcome:
    milestone: Milestone
    role: PartyRole


@dataclass(frozen=True, slots=True)
class BizStepRule:
    plain: Outcome
    at_stocking_site: Outcome | None = None
    after_warehouse_dispatch: Outcome | None = None


@dataclass(frozen=True, slots=True)
class DispositionRule:
    milestone: Milestone
    by_bizstep: Mapping[str, Milestone]


@dataclass(frozen=True, slots=True)
class CodeTable:
    bizsteps: Mapping[str, BizStepRule]
    unlisted_bizstep: Outcome
    dispositions: Mapping[str, DispositionRule]
    stocking_site_bizsteps: frozenset[str]
    observed_by_destination: frozenset[str]
    biz_transaction_types: Mapping[str, IdentifierKind]


def load_code_table(path: Path = CODES_FILE) -> CodeTable:
    """The table, every milestone, role and identifier kind checked (a typo fails import)."""
    data = json.loads(path.read_text(encoding="utf-8"))

    def outcome(row: Mapping[str, Any]) -> Outcome:
        return Outcome(Milestone(row["milestone"]), PartyRole(row["role"]))

    def rule(row: Mapping[str, Any]) -> BizStepRule:
        variants = ("at_stocking_site", "after_warehouse_dispatch")
        unknown = set(row) - {"milestone", "role", *variants}
        if unknown:
            raise ValueError(f"{path.name}: unknown bizStep row keys {sorted(unknown)}")
        return BizStepRule(outcome(row), **{k: outcome(row[k]) for k in variants if k in row})

    return CodeTable(
        bizsteps={step: rule(row) for step, row in data["bizsteps"].items()},
        unlisted_bizstep=outcome(data["unlisted_bizstep"]),
        dispositions={
            disp: DispositionRule(
                Milestone(row["milestone"]),
                {step: Milestone(m) for step, m in row.get("by_bizstep", {}).items()},
            )
            for disp, row in data["dispositions"].items()
        },
        stocking_site_bizsteps=frozenset(data["stocking_site_bizsteps"]),
        observed_by_destination=frozenset(data["observed_by_destination"]),
        biz_transaction_types={
            btt: IdentifierKind(kind) for btt, kind in data["biz_transaction_types"].items()
        },
    )


CODES = load_code_table()

# --- CBV vocabulary values -----------------------------------------------------------------

_CBV_TERM = re.compile(
    r"^(?:urn:epcglobal:cbv:(?P<urn>[a-z]+):"
    r"|(?:https?://(?:www\.)?(?:ref\.gs1\.org/cbv/|ns\.gs1\.org/cbv/|gs1\.org/voc/)|cbv:|gs1:)"
    r"(?P<web>[A-Za-z]+)-)"
    r"(?P<term>[A-Za-z0-9_]+)$",
    re.IGNORECASE,
)
# CBV vocabularies by their word in URNs and web URIs (lower-cased): urn:epcglobal:cbv:disp:x,
# https://ref.gs1.org/cbv/Disp-x
BIZSTEP, DISPOSITION, BTT, SDT, ERROR_REASON = "bizstep", "disp", "btt", "sdt", "er"


def bare_term(value: str, vocabulary: str) -> str:
    """A CBV value as its bare word (``shipping``); a value of another vocabulary verbatim."""
    text = value.strip()
    match = _CBV_TERM.match(text)
    if match is None:
        return text if ":" in text else text.lower()
    if (match.group("urn") or match.group("web")).lower() != vocabulary:
        return text
    return match.group("term").lower()


def _event_type(value: str) -> str:
    for prefix in ("https://ref.gs1.org/epcis/", "http://ref.gs1.org/epcis/", "epcis:"):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


# --- GS1 keys: SSCC, GLN, business transaction ids -----------------------------------------


def gs1_check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of a key's digits (weights 3, 1, ... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _epc_urn_digits(urn: str, scheme: str, parts: int, total: int) -> list[str] | None:
    """The dot-separated fields of ``urn:epc:id:<scheme>:`` when the company prefix (6-12
    digits) and the next field are digits adding up to ``total``; None otherwise."""
    fields = urn[len(f"urn:epc:id:{scheme}:") :].split(".")
    if len(fields) != parts or not (6 <= len(fields[0]) <= 12):
        return None
    if not (fields[0] + fields[1]).isdigit() or len(fields[0]) + len(fields[1]) != total:
        return None
    return fields


def _digital_link(uri: str) -> list[str] | None:
    """The path segments of an http(s) URI (Digital Links may use any host and a prefix)."""
    if not uri.lower().startswith(("https://", "http://")):
        return None
    return [unquote(s) for s in urlsplit(uri).path.split("/") if s]


def sscc_from_epc(epc: str) -> str | None:
    """The 18-digit SSCC an EPC names, None when it names something else (an SGTIN, ...),
    ``EPCISIdentifierError`` when it claims to be an SSCC and is malformed."""
    if epc.lower().startswith("urn:epc:id:sscc:"):
        fields = _epc_urn_digits(epc, "sscc", 2, 17)
        if fields is None:
            raise EPCISIdentifierError(
                f"{epc[:60]!r} is not an SSCC URN (company prefix of 6-12 digits + serial "
                "reference, 17 digits together)"
            )
        company, serial = fields
        body = serial[0] + company + serial[1:]  # the extension digit leads the SSCC
        return body + gs1_check_digit(body)
    segments = _digital_link(epc)
    if not segments or len(segments) < 2 or segments[-2] != "00":
        return None
    value = segments[-1]
    if not (len(value) == 18 and value.isdigit()):
        raise EPCISIdentifierError(f"{epc[:80]!r}: an SSCC has 18 digits")
    if gs1_check_digit(value[:17]) != value[17]:
        raise EPCISIdentifierError(f"{epc[:80]!r}: wrong SSCC check digit")
    return value


@dataclass(frozen=True, slots=True)
class GLN:
    number: str  # 13 digits
    extension: str | None = None

    @property
    def label(self) -> str:
        return f"GLN {self.number}" + (f" ext {self.extension}" if self.extension else "")


def gln_from_uri(uri: str) -> GLN | None:
    """The GLN of an SGLN or PGLN URN or a Digital Link 414 (location) / 417 (party);
    None for anything else, including a GLN with a wrong check digit."""
    lowered = uri.lower()
    for scheme, parts in (("sgln", 3), ("pgln", 2)):
        if lowered.startswith(f"urn:epc:id:{scheme}:"):
            fields = _epc_urn_digits(uri, scheme, parts, 12)
            if fields is None:
                return None
            number = fields[0] + fields[1]
            extension = fields[2] if parts == 3 and fields[2] != "0" else None
            return GLN(number + gs1_check_digit(number), extension or None)
    segments = _digital_link(uri) or []
    for i, segment in enumerate(segments[:-1]):
        number = segments[i + 1]
        if segment in ("414", "417") and len(number) == 13 and number.isdigit():
            if gs1_check_digit(number[:12]) != number[12]:
                return None
            rest = segments[i + 2 :]
            extension = rest[1] if len(rest) >= 2 and rest[0] == "254" else None
            return GLN(number, extension)
    return None


def transaction_reference(value: str) -> tuple[str, str | None]:
    """(reference, issuer) of a bizTransaction value; see the module docstring."""
    text = value.strip()
    lowered = text.lower()
    if lowered.startswith("urn:epcglobal:cbv:bt:"):
        issuer, _, reference = text[len("urn:epcglobal:cbv:bt:") :].partition(":")
        if reference and len(issuer) == 13 and issuer.isdigit():
            return reference, f"gln-{issuer}"
        return reference or issuer, None
    for scheme, parts, check in (("gsin", 2, True), ("ginc", 2, False), ("gdti", 3, True)):
        if lowered.startswith(f"urn:epc:id:{scheme}:"):
            fields = text[len(f"urn:epc:id:{scheme}:") :].split(".")
            if len(fields) == parts:
                key = fields[0] + fields[1]
                key += gs1_check_digit(key) if check and key.isdigit() else ""
                return key + "".join(fields[2:]), None
            return text, None
    segments = _digital_link(text)
    if segments:
        for ai in ("253", "401", "402"):
            if ai in segments[:-1]:
                return segments[segments.index(ai) + 1], None
        return segments[-1], None
    return text, None


# --- the document --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Event:
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


def parse_epcis_document(raw: RawEnvelope) -> list[TrackingEvent]:
    """Every tracked event of the body, in document order (see the module docstring)."""
    body = decode_json(raw, EPCISPayloadError)
    items, paths, master = _event_list(body)
    events: list[_Event] = []
    skipped: dict[str, int] = {}
    for item, path in zip(items, paths, strict=True):
        event = _read_event(item, path, skipped)
        if event is not None:
            events.append(event)
    if not events:
        reasons = ", ".join(f"{n} {why}" for why, n in skipped.items())
        raise EPCISPayloadError(f"no event in the document can be tracked: {reasons}")
    return _tracking_events(raw, events, master)


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


def _read_event(item: Any, path: str, skipped: dict[str, int]) -> _Event | None:
    if not isinstance(item, dict):
        raise EPCISPayloadError(f"an event is an object, got {type(item).__name__}", path=path)
    event_type = _event_type(_text(item, "type", path, required=True) or "")
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
    action = _text(item, "action", path)
    if action is not None and action not in ("ADD", "OBSERVE", "DELETE"):
        raise EPCISPayloadError(
            f"action {action[:20]!r} is not ADD, OBSERVE or DELETE", path=f"{path}.action"
        )
    identifiers, other_epcs = _identifiers(item, path)
    if not identifiers:
        reason = f"{event_type} without an SSCC or a po/bol/desadv business transaction"
        skipped[reason] = skipped.get(reason, 0) + 1
        return None
    biz_step, disposition = _text(item, "bizStep", path), _text(item, "disposition", path)
    declaration = item.get("errorDeclaration")
    if declaration is not None and not isinstance(declaration, dict):
        raise EPCISPayloadError(
            "errorDeclaration should be an object", path=f"{path}.errorDeclaration"
        )
    return _Event(
        path=path,
        event_type=event_type,
        action=action,
        biz_step=bare_term(biz_step, BIZSTEP)[:200] if biz_step else None,
        disposition=bare_term(disposition, DISPOSITION)[:200] if disposition else None,
        occurred_at=occurred_at,
        event_id=_text(item, "eventID", path),
        identifiers=tuple(identifiers),
        other_epcs=other_epcs,
        read_point=_location_id(item, "readPoint", path),
        biz_location=_location_id(item, "bizLocation", path),
        sources=_sources(item, "sourceList", "source", path),
        destinations=_sources(item, "destinationList", "destination", path),
        error_declaration=declaration,
    )


def _text(item: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
    value = optional(item, key, EPCISPayloadError, path)
    if required and value is None:
        raise EPCISPayloadError(f"{key} is missing", path=f"{path}.{key}")
    return value.strip() if isinstance(value, str) else None


def _strings(item: Mapping[str, Any], key: str, path: str) -> list[str]:
    values = optional(item, key, EPCISPayloadError, path, list) or []
    for value in values:
        if not isinstance(value, str):
            raise EPCISPayloadError(f"{key} should hold URIs as text", path=f"{path}.{key}")
    return [v.strip() for v in values]


def _occurred_at(item: Mapping[str, Any], path: str, key: str = "eventTime") -> datetime:
    moment = parse_aware_datetime(
        _text(item, key, path, required=True) or "", EPCISPayloadError, f"{path}.{key}"
    )
    offset = _text(item, "eventTimeZoneOffset", path)
    if offset is None:
        return moment
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", offset)
    if match is None or int(match.group(2)) > 14 or int(match.group(3)) > 59:
        raise EPCISPayloadError(
            f"eventTimeZoneOffset {offset[:20]!r} is not ±hh:mm", path=f"{path}.eventTimeZoneOffset"
        )
    sign = -1 if match.group(1) == "-" else 1
    zone = timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    return _in_zone(moment, zone, f"{path}.{key}")


def _in_zone(moment: datetime, zone: tzinfo | None, path: str) -> datetime:
    """The same instant shown in ``zone`` (a time at the edge of the calendar cannot be)."""
    try:
        return moment.astimezone(zone)
    except OverflowError:
        raise EPCISPayloadError("time is out of range", path=path) from None


def _identifiers(item: Mapping[str, Any], path: str) -> tuple[list[Identifier], int]:
    """Every SSCC (parent first), then the mapped business transactions; and how many EPCs
    were not SSCCs."""
    parent = _text(item, "parentID", path)
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
        value = _text(entry, "bizTransaction", where, required=True) or ""
        btt = _text(entry, "type", where)
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
        return _text(value, "id", f"{path}.{key}")
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
        kind = _text(entry, "type", where, required=True) or ""
        found.append((bare_term(kind, SDT), _text(entry, field, where, required=True) or ""))
    return tuple(found)


# --- from events to tracking events --------------------------------------------------------


def _tracking_events(
    raw: RawEnvelope, events: list[_Event], master: dict[str, dict[str, str]]
) -> list[TrackingEvent]:
    facts = [e for e in events if e.error_declaration is None]
    stocking_sites = {
        e.site for e in facts if e.site and e.biz_step in CODES.stocking_site_bizsteps
    }
    dispatched: dict[str, datetime] = {}  # identifier key -> first dispatch from a stock site
    for e in facts:
        variant = CODES.bizsteps.get(e.biz_step or "", BizStepRule(CODES.unlisted_bizstep))
        site_outcome = variant.at_stocking_site
        if e.site not in stocking_sites or site_outcome is None:
            continue
        if site_outcome.milestone is Milestone.WAREHOUSE_DISPATCHED:
            for identifier in e.identifiers:
                previous = dispatched.get(identifier.key)
                if previous is None or e.occurred_at < previous:
                    dispatched[identifier.key] = e.occurred_at
    result: list[TrackingEvent] = []
    for e in events:
        after_dispatch = any(
            i.key in dispatched and dispatched[i.key] <= e.occurred_at for i in e.identifiers
        )
        result.extend(_to_tracking(raw, e, e.site in stocking_sites, after_dispatch, master))
    return result


def _outcome(event: _Event, at_stocking_site: bool, after_dispatch: bool) -> Outcome:
    rule = CODES.bizsteps.get(event.biz_step or "")
    outcome = CODES.unlisted_bizstep
    if rule is not None:
        if at_stocking_site and rule.at_stocking_site:
            outcome = rule.at_stocking_site
        elif after_dispatch and rule.after_warehouse_dispatch:
            outcome = rule.after_warehouse_dispatch
        else:
            outcome = rule.plain
    override = CODES.dispositions.get(event.disposition or "")
    if override is not None:
        milestone = override.by_bizstep.get(event.biz_step or "", override.milestone)
        outcome = Outcome(milestone, outcome.role)
    return outcome


def _to_tracking(
    raw: RawEnvelope,
    event: _Event,
    at_stocking_site: bool,
    after_dispatch: bool,
    master: dict[str, dict[str, str]],
) -> list[TrackingEvent]:
    outcome = _outcome(event, at_stocking_site, after_dispatch)
    milestone, source_code, reason_code = outcome.milestone, event.biz_step, event.disposition
    occurred_at, event_id = event.occurred_at, event.event_id
    description = _describe(event)
    if event.error_declaration is not None:
        declaration = event.error_declaration
        milestone, source_code = Milestone.INFO, "error_declaration"
        reason = _text(declaration, "reason", f"{event.path}.errorDeclaration")
        reason_code = bare_term(reason, ERROR_REASON)[:200] if reason else None
        where = f"{event.path}.errorDeclaration.declarationTime"
        declared = parse_aware_datetime(
            _text(declaration, "declarationTime", where.rsplit(".", 1)[0], required=True),
            EPCISPayloadError,
            where,
        )
        occurred_at = _in_zone(declared, occurred_at.tzinfo, where)
        event_id = f"{event_id}#error-declaration" if event_id else None
        corrective = declaration.get("correctiveEventIDs")
        description = f"declared in error: {description}"
        if isinstance(corrective, list) and corrective:
            description += "; corrected by " + ", ".join(map(str, corrective))
    try:
        party, location = _party(raw, event, outcome.role, master), _location(event, master)
    except ValidationError as exc:  # master data text the schema refuses
        raise EPCISPayloadError(
            f"party or location: {exc.errors()[0]['msg']}", path=event.path
        ) from None

    identifiers = list(event.identifiers)
    parts = [identifiers[:MAX_IDENTIFIERS]]
    rest = identifiers[MAX_IDENTIFIERS:]
    while rest:  # the primary identifier leads every part, so each part is keyed alike
        parts.append([identifiers[0], *rest[: MAX_IDENTIFIERS - 1]])
        rest = rest[MAX_IDENTIFIERS - 1 :]
    built = []
    for n, part in enumerate(parts, start=1):
        part_id = event_id if n == 1 or event_id is None else f"{event_id}#{n}"
        built.append(
            build_event(
                raw,
                EPCISPayloadError,
                event.path,
                source=source_of(NAME, party, _short_id(part_id)),
                identifiers=part,
                milestone=milestone,
                source_code=(source_code or event.event_type)[:200],
                source_description=description[:2000],
                reason_code=reason_code,
                occurred_at=occurred_at,
                location=location,
            )
        )
    return built


def _short_id(event_id: str | None) -> str | None:
    """The source's event id; one over 200 characters as its SHA-256 (still one per event)."""
    if event_id is None or len(event_id) <= 200:
        return event_id
    return "sha256:" + hashlib.sha256(event_id.encode("utf-8")).hexdigest()


def _describe(event: _Event) -> str:
    words = [event.event_type, event.action or "", event.biz_step or "(no bizStep)"]
    text = " ".join(w for w in words if w)
    if event.disposition:
        text += f", disposition {event.disposition}"
    if event.other_epcs:
        text += f"; {event.other_epcs} other EPC(s) not tracked"
    return text


def _party(
    raw: RawEnvelope, event: _Event, role: PartyRole, master: dict[str, dict[str, str]]
) -> Party:
    side = event.destinations if event.biz_step in CODES.observed_by_destination else event.sources
    for kind, uri in side:
        gln = gln_from_uri(uri) if kind == "possessing_party" else None
        if gln is not None:
            name = (master.get(uri) or master.get(gln.number) or {}).get("name")
            return Party(role=role, id=f"gln-{gln.number}", name=name or None)
    return Party(role=role, id=raw.source)


def _location(event: _Event, master: dict[str, dict[str, str]]) -> Location | None:
    where = event.read_point or event.biz_location
    if where is None:
        return None
    records = []
    for uri in (event.read_point, event.biz_location):
        if uri:
            gln = gln_from_uri(uri)
            records.append(master.get(uri) or (master.get(gln.number) if gln else None) or {})
    gln = gln_from_uri(where)
    label = gln.label if gln else where
    name = records[0].get("name")
    if name and gln:
        label = f"{name[:150]} ({label})"
    country = next((r["countryCode"] for r in records if "countryCode" in r), None)
    city = next((r["city"] for r in records if r.get("city")), None)
    if country is not None and not re.fullmatch(r"[A-Za-z]{2}", country):
        country = None
    return Location(name=label[:200], country=country, city=city)


CONNECTOR = Connector(
    name=NAME,
    parse=parse_epcis_document,
    content_types=frozenset({"application/ld+json", "application/json"}),
    signature=SignatureScheme.STANDARD_WEBHOOKS,
    description="GS1 EPCIS 2.0 JSON/JSON-LD documents (ObjectEvent, AggregationEvent, ...)",
    max_body_bytes=4 * 1024 * 1024,
)
