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

This module holds that mapping: the document context, the code table applied, the party,
the place and the split into ``TrackingEvent`` parts. Reading the body is
``connectors.epcis_document``, the code table's types ``connectors.epcis_codes``, GS1 keys
``connectors.gs1`` and CBV words ``connectors.cbv``; the names tests and callers import
from here (``CODES``, ``sscc_from_epc``, ``bare_term``, ...) are re-exported.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from pydantic import ValidationError

from connectors.base import (
    Connector,
    SignatureScheme,
    build_event,
    parse_aware_datetime,
    source_of,
)
from connectors.cbv import BIZSTEP, BTT, DISPOSITION, ERROR_REASON, SDT, bare_term
from connectors.epcis_codes import (
    CODES,
    CODES_FILE,
    BizStepRule,
    CodeTable,
    DispositionRule,
    Outcome,
    load_code_table,
)
from connectors.epcis_document import (
    TRACKED_TYPES,
    EpcisEvent,
    EPCISIdentifierError,
    EPCISPayloadError,
    field_text,
    in_zone,
    read_events,
    sscc_from_epc,
)
from connectors.gs1 import GLN, gln_from_uri, gs1_check_digit, transaction_reference
from schemas.common import Location, Party, PartyRole
from schemas.events import RawEnvelope, TrackingEvent
from schemas.milestones import Milestone

__all__ = [
    "BIZSTEP",
    "BTT",
    "CODES",
    "CODES_FILE",
    "CONNECTOR",
    "DISPOSITION",
    "ERROR_REASON",
    "GLN",
    "MAX_IDENTIFIERS",
    "NAME",
    "SDT",
    "TRACKED_TYPES",
    "BizStepRule",
    "CodeTable",
    "DispositionRule",
    "EPCISIdentifierError",
    "EPCISPayloadError",
    "Outcome",
    "bare_term",
    "gln_from_uri",
    "gs1_check_digit",
    "load_code_table",
    "parse_epcis_document",
    "sscc_from_epc",
    "transaction_reference",
]

NAME = "epcis"
MAX_IDENTIFIERS = 64  # TrackingEvent.identifiers max_length


def parse_epcis_document(raw: RawEnvelope) -> list[TrackingEvent]:
    """Every tracked event of the body, in document order (see the module docstring)."""
    events, master = read_events(raw)
    return _tracking_events(raw, events, master)


def _tracking_events(
    raw: RawEnvelope, events: list[EpcisEvent], master: dict[str, dict[str, str]]
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


def _outcome(event: EpcisEvent, at_stocking_site: bool, after_dispatch: bool) -> Outcome:
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
    event: EpcisEvent,
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
        reason = field_text(declaration, "reason", f"{event.path}.errorDeclaration")
        reason_code = bare_term(reason, ERROR_REASON)[:200] if reason else None
        where = f"{event.path}.errorDeclaration.declarationTime"
        declared = parse_aware_datetime(
            field_text(declaration, "declarationTime", where.rsplit(".", 1)[0], required=True),
            EPCISPayloadError,
            where,
        )
        occurred_at = in_zone(declared, occurred_at.tzinfo, where)
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
        try:
            source = source_of(NAME, party, _short_id(part_id))
        except ValidationError as exc:  # an eventID that is no Unicode text (a lone surrogate)
            raise EPCISPayloadError(f"eventID: {exc.errors()[0]['msg']}", path=event.path) from None
        built.append(
            build_event(
                raw,
                EPCISPayloadError,
                event.path,
                source=source,
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


def _describe(event: EpcisEvent) -> str:
    words = [event.event_type, event.action or "", event.biz_step or "(no bizStep)"]
    text = " ".join(w for w in words if w)
    if event.disposition:
        text += f", disposition {event.disposition}"
    if event.other_epcs:
        text += f"; {event.other_epcs} other EPC(s) not tracked"
    return text


def _party(
    raw: RawEnvelope, event: EpcisEvent, role: PartyRole, master: dict[str, dict[str, str]]
) -> Party:
    side = event.destinations if event.biz_step in CODES.observed_by_destination else event.sources
    for kind, uri in side:
        gln = gln_from_uri(uri) if kind == "possessing_party" else None
        if gln is not None:
            name = (master.get(uri) or master.get(gln.number) or {}).get("name")
            return Party(role=role, id=f"gln-{gln.number}", name=name or None)
    return Party(role=role, id=raw.source)


def _location(event: EpcisEvent, master: dict[str, dict[str, str]]) -> Location | None:
    where = event.read_point or event.biz_location
    if not where:  # neither given, or both blank
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
