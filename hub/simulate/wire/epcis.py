"""GS1 EPCIS 2.0 JSON-LD documents, as a shipper's, forwarder's or warehouse's system
captures them: the reverse of ``connectors.epcis``.

One ``EPCISDocument`` per call with an ``ObjectEvent`` (action ``OBSERVE``) per event in
``epcisBody.eventList``, and the places' names in ``epcisHeader.epcisMasterData`` when the
events give them.

What the caller may rely on:

- **Identifiers**: an ``sscc`` is written to ``epcList`` as an EPC URN
  (``urn:epc:id:sscc:<7-digit company prefix>.<extension digit + serial>``; the URN has no
  check digit, the connector recomputes it, so an SSCC with a wrong one is a
  ``ValueError``). An ``order_id``, ``bill_of_lading`` or ``shipment_ref`` is a business
  transaction (``po``, ``bol``, ``desadv``), as ``urn:epcglobal:cbv:bt:<GLN>:<id>`` when the
  party has a GLN, else as plain text. The connector reads SSCCs before transactions, so a
  transaction as first identifier means the event's SSCCs are left out; other kinds have no
  place in EPCIS (first: ``ValueError``; later: left out).
- **Party**: a party whose id is ``gln-<13-digit GLN>`` (valid check digit) is the
  ``possessing_party`` of the ``sourceList`` (of the ``destinationList`` for ``receiving``
  and ``accepting``, which the receiving side records) as a PGLN URN, and is read back with
  that id. Any other id cannot be written: the connector then names the envelope's source,
  so such an event must be sent under the source name equal to the party id. The role is
  not written at all: the connector derives it from the business step, so each milestone is
  encoded with the step that gives the party's role (table below), and a (milestone, role)
  pair no step gives is a ``ValueError``.
- **Milestones** (``SUPPORTED``) by role; disposition in brackets:

  ======================  ==============================  ==============================
  milestone               role                            bizStep [disposition]
  ======================  ==============================  ==============================
  picked_up               seller / forwarder              shipping / accepting
  line_haul_loaded ...    forwarder                       loading, departing, arriving,
  (departed, arrived,                                     unloading [in_transit]
  unloaded)
  warehouse_received      warehouse_operator              receiving [in_progress]
  warehouse_stocked       warehouse_operator              storing [sellable_not_accessible]
  warehouse_order_picked  warehouse_operator              picking [in_progress]
  exception               warehouse_operator              holding [from ``reason``]
                          seller / forwarder              shipping / transporting
                                                          [non_conformant, ...]
  damaged                 seller / forwarder / warehouse  shipping / unloading / receiving
                                                          [damaged]
  lost                    warehouse_operator              destroying [destroyed]
                          seller / forwarder              shipping / transporting [stolen]
  return_to_sender        seller / forwarder              shipping / departing [returned]
  returned                warehouse_operator              receiving [returned]
  cancelled               seller                          void_shipping
  info                    forwarder / warehouse_operator  transporting / inspecting
  ======================  ==============================  ==============================

  ``warehouse_dispatched`` is not in ``SUPPORTED``: EPCIS tells a warehouse's dispatch from a
  shipper's ``shipping`` only by a ``storing``/``stocking``/``picking`` event at the same
  site in the same document. ``encode`` writes it (``departing``) when the call holds such
  an event of the warehouse, and raises ``ValueError`` otherwise. Every event of a
  warehouse operator is placed at one site per call, so its steps see one another.
- **Where**: ``readPoint`` (and ``bizLocation``) is an SGLN of ``extra["gln"]``, else of a
  ``GLN <13 digits>`` in ``location.name``, else of the party's GLN; none without any.
  ``location`` name, city and country go to the master data of that SGLN.
- **Time**: ``eventTime`` is the instant in UTC, ``eventTimeZoneOffset`` the event's own
  offset, from which the connector rebuilds ``occurred_at``; milliseconds (or
  microseconds) when the instant has them.
- **Reason**: EPCIS has no free text for it; for an exception it picks the disposition
  (quantity/short -> ``mismatch_quantity``, expired, recalled, else ``non_conformant``).
- **Estimates**: EPCIS records facts only; ``estimated=True`` is a ``ValueError``.
- ``eventID`` is a ``urn:uuid`` derived from ``reference`` and the event's position.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.epcis import CODES, gs1_check_digit
from hub.simulate.wire import WireEvent
from hub.simulate.wire._common import code_from_reason, event_uuid
from schemas.common import Identifier, IdentifierKind, PartyRole
from schemas.milestones import Milestone

FORMAT = "epcis"
CONTENT_TYPE = "application/ld+json"

_R = PartyRole
# (milestone, role) -> (bizStep, disposition): the step whose row in the connector's table
# (connectors/epcis_codes.json) gives that milestone and role; exception's disposition is
# chosen from the reason
STEPS: dict[tuple[Milestone, PartyRole], tuple[str, str | None]] = {
    (Milestone.PICKED_UP, _R.SELLER): ("shipping", "in_transit"),
    (Milestone.PICKED_UP, _R.FORWARDER): ("accepting", "in_progress"),
    (Milestone.LINE_HAUL_LOADED, _R.FORWARDER): ("loading", "in_transit"),
    (Milestone.LINE_HAUL_DEPARTED, _R.FORWARDER): ("departing", "in_transit"),
    (Milestone.LINE_HAUL_ARRIVED, _R.FORWARDER): ("arriving", "in_transit"),
    (Milestone.LINE_HAUL_UNLOADED, _R.FORWARDER): ("unloading", "in_progress"),
    (Milestone.WAREHOUSE_RECEIVED, _R.WAREHOUSE_OPERATOR): ("receiving", "in_progress"),
    (Milestone.WAREHOUSE_STOCKED, _R.WAREHOUSE_OPERATOR): ("storing", "sellable_not_accessible"),
    (Milestone.WAREHOUSE_ORDER_PICKED, _R.WAREHOUSE_OPERATOR): ("picking", "in_progress"),
    (Milestone.EXCEPTION, _R.WAREHOUSE_OPERATOR): ("holding", None),
    (Milestone.EXCEPTION, _R.SELLER): ("shipping", None),
    (Milestone.EXCEPTION, _R.FORWARDER): ("transporting", None),
    (Milestone.DAMAGED, _R.SELLER): ("shipping", "damaged"),
    (Milestone.DAMAGED, _R.FORWARDER): ("unloading", "damaged"),
    (Milestone.DAMAGED, _R.WAREHOUSE_OPERATOR): ("receiving", "damaged"),
    (Milestone.LOST, _R.WAREHOUSE_OPERATOR): ("destroying", "destroyed"),
    (Milestone.LOST, _R.SELLER): ("shipping", "stolen"),
    (Milestone.LOST, _R.FORWARDER): ("transporting", "stolen"),
    (Milestone.RETURN_TO_SENDER, _R.SELLER): ("shipping", "returned"),
    (Milestone.RETURN_TO_SENDER, _R.FORWARDER): ("departing", "returned"),
    (Milestone.RETURNED, _R.WAREHOUSE_OPERATOR): ("receiving", "returned"),
    (Milestone.CANCELLED, _R.SELLER): ("void_shipping", None),
    (Milestone.INFO, _R.FORWARDER): ("transporting", "in_transit"),
    (Milestone.INFO, _R.WAREHOUSE_OPERATOR): ("inspecting", None),
}
# needs a stocking step at the same site in the same document (see the module docstring)
_DISPATCH = ("departing", "in_transit")
SUPPORTED: frozenset[Milestone] = frozenset(milestone for milestone, _ in STEPS)

# reason words -> the disposition of an exception; the first that matches wins
_EXCEPTION_DISPOSITIONS: tuple[tuple[str, str], ...] = (
    ("quantity", "mismatch_quantity"),
    ("short", "mismatch_quantity"),
    ("expir", "expired"),
    ("recall", "recalled"),
)
_DEFAULT_EXCEPTION = "non_conformant"
_TRANSACTION_TYPES: dict[IdentifierKind, str] = {
    kind: btt for btt, kind in CODES.biz_transaction_types.items()
}
_GLN_NAME = re.compile(r"GLN (\d{13})")
_COMPANY_PREFIX = 7  # digits of the GS1 company prefix assumed in SSCC and GLN URNs
_CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


def encode(events: Sequence[WireEvent], *, reference: str) -> bytes:
    """One EPCIS 2.0 document with an ObjectEvent per event (module docstring);
    ``ValueError`` for an event the connector would not read back unchanged."""
    if not events:
        raise ValueError("no events to encode")
    steps = [_step(event) for event in events]
    sites = _sites(events)
    stocking = {
        site
        for site, step in zip(sites, steps, strict=True)
        if site and step and step[0] in CODES.stocking_site_bizsteps
    }
    body: list[dict[str, Any]] = []
    for number, (event, step, site) in enumerate(zip(events, steps, sites, strict=True), 1):
        if step is None:  # a warehouse dispatch: only with a stocking step at its site
            if site is None or site not in stocking:
                raise ValueError(
                    "warehouse_dispatched in EPCIS needs the warehouse's storing, stocking or "
                    "picking event at the same site in the same call"
                )
            step = _DISPATCH
        body.append(_object_event(event, step, site, reference, number))
    document: dict[str, Any] = {
        "@context": _CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _utc(max(e.occurred_at for e in events)),
    }
    master = _master_data(events, sites)
    if master:
        document["epcisHeader"] = {"epcisMasterData": {"vocabularyList": master}}
    document["epcisBody"] = {"eventList": body}
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


def _step(event: WireEvent) -> tuple[str, str | None] | None:
    """(bizStep, disposition) for the event's milestone and party role; None for a
    warehouse dispatch, which depends on the document."""
    if event.estimated:
        raise ValueError("EPCIS records what happened; it has no estimates")
    role = event.party.role
    if event.milestone is Milestone.WAREHOUSE_DISPATCHED and role is _R.WAREHOUSE_OPERATOR:
        return None
    step = STEPS.get((event.milestone, role))
    if step is None:
        roles = [r.value for (m, r) in STEPS if m is event.milestone]
        raise ValueError(
            f"EPCIS gives {event.milestone.value} to "
            f"{', '.join(roles) if roles else 'no party'}, not to a {role.value}"
        )
    biz_step, disposition = step
    if event.milestone is Milestone.EXCEPTION:
        disposition = code_from_reason(event.reason, _EXCEPTION_DISPOSITIONS, _DEFAULT_EXCEPTION)
    return biz_step, disposition


def _party_gln(event: WireEvent) -> str | None:
    """The party's GLN when its id is ``gln-<13 digits>`` with a valid check digit."""
    match = re.fullmatch(r"gln-(\d{13})", event.party.id)
    if match is None:
        return None
    number = match.group(1)
    if gs1_check_digit(number[:12]) != number[12]:
        raise ValueError(f"party {event.party.id}: wrong GLN check digit")
    return number


def _sites(events: Sequence[WireEvent]) -> list[str | None]:
    """The GLN each event happens at; a warehouse operator's events share one site."""
    sites: list[str | None] = []
    warehouse_site: str | None = None
    for event in events:
        site = event.extra.get("gln")
        if site is None and event.location is not None and event.location.name:
            match = _GLN_NAME.search(event.location.name)
            site = match.group(1) if match else None
        if site is None:
            site = _party_gln(event)
        if site is not None and not (
            len(site) == 13 and site.isdigit() and gs1_check_digit(site[:12]) == site[12]
        ):
            raise ValueError(f"site GLN {site!r} is not 13 digits with a valid check digit")
        if event.party.role is _R.WAREHOUSE_OPERATOR:
            warehouse_site = warehouse_site or site
            site = warehouse_site
        sites.append(site)
    return sites


def _sgln(gln: str) -> str:
    return f"urn:epc:id:sgln:{gln[:_COMPANY_PREFIX]}.{gln[_COMPANY_PREFIX:12]}.0"


def _pgln(gln: str) -> str:
    return f"urn:epc:id:pgln:{gln[:_COMPANY_PREFIX]}.{gln[_COMPANY_PREFIX:12]}"


def _sscc_urn(identifier: Identifier) -> str:
    value = identifier.value
    if gs1_check_digit(value[:17]) != value[17]:
        raise ValueError(f"SSCC {value}: wrong check digit (the EPC URN would fix it silently)")
    prefix = value[1 : 1 + _COMPANY_PREFIX]
    return f"urn:epc:id:sscc:{prefix}.{value[0]}{value[1 + _COMPANY_PREFIX : 17]}"


def _identifiers(event: WireEvent) -> tuple[list[str], list[dict[str, str]]]:
    """(epcList, bizTransactionList): the first identifier is what the connector reads
    first, so with a transaction first no SSCC is written."""
    primary = event.identifiers[0]
    if primary.kind is not IdentifierKind.SSCC and primary.kind not in _TRANSACTION_TYPES:
        raise ValueError(f"EPCIS has no place for a {primary.kind.value} as first identifier")
    ssccs = primary.kind is IdentifierKind.SSCC
    issuer = _party_gln(event)
    epcs: list[str] = []
    transactions: list[dict[str, str]] = []
    for identifier in event.identifiers:
        if identifier.kind is IdentifierKind.SSCC:
            if ssccs:
                epcs.append(_sscc_urn(identifier))
        elif identifier.kind in _TRANSACTION_TYPES:
            value = f"urn:epcglobal:cbv:bt:{issuer}:{identifier.value}" if issuer else None
            transactions.append(
                {
                    "type": _TRANSACTION_TYPES[identifier.kind],
                    "bizTransaction": value or identifier.value,
                }
            )
    return epcs, transactions


def _object_event(
    event: WireEvent, step: tuple[str, str | None], site: str | None, reference: str, number: int
) -> dict[str, Any]:
    biz_step, disposition = step
    epcs, transactions = _identifiers(event)
    moment = event.occurred_at
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"occurred_at {moment!r} has no UTC offset")
    minutes, seconds = divmod(int(offset.total_seconds()), 60)
    if seconds or abs(minutes) > 14 * 60:
        raise ValueError(f"EPCIS offsets are ±hh:mm up to 14 h; {offset} is not")
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    event_id = event_uuid(reference, number)
    item: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{event_id}",
        "eventTime": _utc(moment),
        "eventTimeZoneOffset": f"{sign}{minutes // 60:02d}:{minutes % 60:02d}",
        "epcList": epcs,
        "action": "OBSERVE",
        "bizStep": biz_step,
    }
    if disposition:
        item["disposition"] = disposition
    if site:
        item["readPoint"] = {"id": _sgln(site)}
        item["bizLocation"] = {"id": _sgln(site)}
    if transactions:
        item["bizTransactionList"] = transactions
    gln = _party_gln(event)
    if gln is not None:
        side = "destination" if biz_step in CODES.observed_by_destination else "source"
        item[f"{side}List"] = [{"type": "possessing_party", side: _pgln(gln)}]
    return item


def _utc(moment: datetime) -> str:
    instant = moment.astimezone(UTC)
    spec = "seconds" if not instant.microsecond else "milliseconds"
    if instant.microsecond % 1000:
        spec = "microseconds"
    return instant.isoformat(timespec=spec).replace("+00:00", "Z")


def _master_data(events: Sequence[WireEvent], sites: list[str | None]) -> list[dict[str, Any]]:
    """BusinessLocation master data (name, city, country) of the sites the events name."""
    elements: dict[str, list[dict[str, str]]] = {}
    for event, site in zip(events, sites, strict=True):
        where = event.location
        if site is None or where is None or _sgln(site) in elements:
            continue
        name = where.name if where.name and not _GLN_NAME.fullmatch(where.name) else None
        attributes = [
            {"id": f"urn:epcglobal:cbv:mda#{key}", "attribute": value}
            for key, value in (("name", name), ("city", where.city), ("countryCode", where.country))
            if value
        ]
        if attributes:
            elements[_sgln(site)] = attributes
    if not elements:
        return []
    return [
        {
            "type": "urn:epcglobal:epcis:vtype:BusinessLocation",
            "vocabularyElementList": [
                {"id": site_id, "attributes": attributes}
                for site_id, attributes in elements.items()
            ],
        }
    ]
