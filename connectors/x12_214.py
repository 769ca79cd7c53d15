"""ANSI X12 214 (Transportation Carrier Shipment Status), as trucking and LTL carriers send it.

Body (``application/edi-x12``, also accepted as ``text/plain``): one or more interchanges
``ISA / GS (QM) / ST*214 ... SE / GE / IEA``, several transaction sets per group and several
``LX`` loops per set, version 004010 or later. Signed with Standard Webhooks, since X12
itself carries no signature. Separators and envelope checks are ``connectors/x12.py``'s: a
corrupt interchange (ISA shape, SE/GE/IEA counts, control numbers) raises
``X12EnvelopeError`` and none of it is mapped. The code tables are data:
``x12_214_codes.json``.

What a caller may rely on:
- One event per ``AT7``; its ``MS1``/``MS2`` follow it, ``L11``/``K1`` of its ``LX`` loop apply
  to every AT7 of the loop. ``K1`` remarks go into ``source_description``. ``AT8`` (weight
  and pieces) has no field in the common event and is not carried.
- Party: the B10 SCAC, lower-cased, as ``last_mile_carrier``: 214s come from the trucking
  and LTL carriers that move freight inside the destination market, and their milestones
  are the last-mile ones (custody taken = ``carrier_received``).
- Identifiers, primary first: B1001 PRO (``tracking_number``, issuer = SCAC), B1002
  shipment id, B1005/B1006, the heading ``L11``s, the loop's ``L11``s, then the AT7's MS2
  equipment (``container`` when ISO 6346-shaped, else ``shipment_ref`` issued by its owner).
  ``L11`` qualifiers map through the ``reference`` table; unknown ones become
  ``shipment_ref``, a ``shipment_ref`` shaped like an Amazon FBA id becomes ``fba_shipment``.
  ``L11`` inside an N1 loop describe that party and are not shipment references.
- Location: MS1 city, country (ISO alpha-2; alpha-3 is converted; a code that is neither is
  left out, not guessed; absent, it follows from a US/CA state) and postal code. The state
  has no field in ``Location``: it is used to find the time zone, not stored. An MS1 in
  coordinates gives no location (``Location`` has no coordinate fields either). Without
  MS1, a status that happens at the pick-up or delivery location by definition (AF, D1,
  ...) is placed at the N1 SF/SH or ST/CN address.
- Milestone: the ``status`` / ``appointment`` tables. An AT702 reason the ``reason`` table
  flags as an exception (weather, breakdown, missed delivery, ...) turns a progress status
  into ``exception``; it never overrides a terminal status (a delivery stays delivered, the
  reason is kept in ``reason_code``), an exception status, or an estimate. Normal reasons
  (NS, NA) are not repeated in ``reason_code``. Unknown status codes map to ``info``.
- Estimates: ``AG``, ``X2``, ``B6``, ``C1`` and every appointment (AT703 ``AA``/``AB``) are
  ``kind="estimated"`` with ``estimated_at`` = the AT7 date and time (end of that day when
  the time is absent); ``occurred_at`` is when the estimate was issued, the GS04/GS05
  creation time read in the same zone. An actual status without AT706 time is an error.
- Time (AT707, element 623): S/D codes and numeric codes are fixed offsets (ES -5, ED -4,
  ... UT/GM 0, ``13`` = -12). Zone codes (ET, CT, MT, PT, AT Alaska, HT Hawaii-Aleutian,
  NT Newfoundland, TT Atlantic) are that zone's prevailing clock, standard or daylight by
  date; when the place's own zone has the same standard offset it is used instead, so
  "MT" in Arizona has no daylight saving. ``LT`` or no code (the standard's "local time of
  the status") needs the place: state or province -> zone, else a one-zone country. When
  none of that is known, ``X12LocalTimeError`` says why. A state spanning two zones gets
  its most populous one (listed in the table); a time repeated or skipped by a daylight
  saving change is read as the first occurrence (PEP 495 ``fold=0``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from connectors.base import Connector, SignatureScheme, build_event, decode_text, source_of
from connectors.x12 import (
    Segment,
    TransactionSet,
    X12EnvelopeError,
    X12Error,
    X12SegmentError,
    read_transaction_sets,
    x12_date,
    x12_time,
)
from schemas.common import Identifier, IdentifierKind, PartyRole, normalize_identifier
from schemas.events import EventKind, RawEnvelope, TrackingEvent
from schemas.milestones import EXCEPTION_MILESTONES, TERMINAL_MILESTONES, Milestone

NAME = "x12_214"


class X12LocalTimeError(X12Error):
    """An AT7 time is local (AT707 ``LT`` or absent) and its place names no time zone."""


# --- code tables (x12_214_codes.json), checked when the module loads --------------------


@dataclass(frozen=True, slots=True)
class StatusCode:
    """What an AT701 status or AT703 appointment code means for us."""

    description: str | None
    milestone: Milestone
    kind: EventKind
    at: str | None  # "pickup" / "delivery": where the status happens by definition


@dataclass(frozen=True, slots=True)
class ReferenceQualifier:
    """An L11 / B1005 qualifier: ``kind`` None means "not a shipment reference"."""

    description: str
    kind: str | None
    issued_by_carrier: bool


def _offset(text: str) -> timezone:
    hours, minutes = text[1:].split(":")
    sign = -1 if text.startswith("-") else 1
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def _time_zone(entry: dict[str, Any]) -> tzinfo | None:
    if "offset" in entry:
        return _offset(entry["offset"])
    return ZoneInfo(entry["zone"]) if "zone" in entry else None


CODES: dict[str, Any] = json.loads(
    Path(__file__).with_name("x12_214_codes.json").read_text(encoding="utf-8")
)
STATUS_CODES = {
    code: StatusCode(
        e["description"], Milestone(e["milestone"]), EventKind(e.get("kind", "actual")), e.get("at")
    )
    for code, e in CODES["status"].items()
}
APPOINTMENT_CODES = {
    code: StatusCode(e["description"], Milestone(e["milestone"]), EventKind(e["kind"]), e.get("at"))
    for code, e in CODES["appointment"].items()
}
REASON_CODES: dict[str, tuple[str, bool]] = {
    code: (e["description"], bool(e["exception"])) for code, e in CODES["reason"].items()
}
NORMAL_REASONS = frozenset(CODES["normal_reasons"])
TIME_CODES: dict[str, tzinfo | None] = {c: _time_zone(e) for c, e in CODES["time_code"].items()}
LOCAL_ZONES: dict[str, dict[str, str]] = CODES["local_zone"]
COUNTRY_ZONES: dict[str, str] = CODES["country_zone"]
REFERENCE_QUALIFIERS = {
    q: ReferenceQualifier(e["description"], e.get("kind"), e.get("issuer") == "carrier")
    for q, e in CODES["reference"].items()
}
COUNTRY_ALPHA3: dict[str, str] = CODES["country_alpha3"]
_COUNTRY_ALPHA2 = frozenset(COUNTRY_ALPHA3.values())
_UNKNOWN_STATUS = StatusCode(None, Milestone.INFO, EventKind.ACTUAL, None)
_UNKNOWN_APPOINTMENT = StatusCode(None, Milestone.INFO, EventKind.ESTIMATED, None)
_ADDRESS_ENTITIES = {"pickup": ("SF", "SH"), "delivery": ("ST", "CN")}  # N101 codes, first wins
_NESTED_LOOP_STARTS = frozenset({"N1", "CD3"})  # L11s after these describe the nested loop
_END_OF_DAY = time(23, 59, 59)  # a date-only estimate: the latest moment of that day

# --- the 214 body ------------------------------------------------------------------------


@dataclass
class _Status:
    at7: Segment
    ms1: Segment | None = None
    ms2: Segment | None = None


@dataclass
class _Loop:
    """One LX loop: its statuses, and the references and remarks that apply to all of them."""

    lx: Segment
    statuses: list[_Status] = field(default_factory=list)
    references: list[Segment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    nested: bool = False


@dataclass
class _Shipment:
    b10: Segment
    references: list[Segment]
    addresses: dict[str, Segment]  # N101 entity code -> its N4
    loops: list[_Loop]


@dataclass(frozen=True, slots=True)
class _Place:
    city: str | None
    state: str | None
    country: str | None
    postal_code: str | None


def parse_x12_214(raw: RawEnvelope) -> list[TrackingEvent]:
    """Every AT7 of every transaction set as an event, or a typed ``X12Error``."""
    text = decode_text(raw, X12EnvelopeError, ("utf-8", "latin-1"))
    sets = read_transaction_sets(
        text, functional_id="QM", transaction_set="214", min_version="004010"
    )
    events = [event for ts in sets for event in _set_events(raw, ts)]
    if not events:
        raise X12SegmentError("the interchange holds no AT7 status to map")
    return events


def _set_events(raw: RawEnvelope, ts: TransactionSet) -> list[TrackingEvent]:
    shipment = _read_shipment(ts)
    scac = _scac(shipment.b10)
    header = _header_identifiers(shipment, scac)
    source = source_of(NAME, {"role": PartyRole.LAST_MILE_CARRIER.value, "id": scac.lower()})
    events = []
    for loop in shipment.loops:
        loop_ids = [i for ref in loop.references if (i := _l11(ref, scac)) is not None]
        for status in loop.statuses:
            equipment = _ms2_equipment(status.ms2) if status.ms2 else []
            identifiers = _unique([*header, *loop_ids, *equipment])
            fields = _status_fields(status, loop, shipment, ts)
            events.append(
                build_event(
                    raw,
                    X12SegmentError,
                    status.at7.path,
                    source=source,
                    identifiers=identifiers,
                    **fields,
                )
            )
    return events


def _read_shipment(ts: TransactionSet) -> _Shipment:
    b10: Segment | None = None
    references: list[Segment] = []
    addresses: dict[str, Segment] = {}
    entity: str | None = None
    loops: list[_Loop] = []
    for segment in ts.segments:
        if segment.id == "LX":
            loops.append(_Loop(segment))
        elif not loops:
            if segment.id == "B10":
                if b10 is not None:
                    raise X12SegmentError("a second B10 in one transaction set", path=segment.path)
                b10 = segment
            elif segment.id == "N1":
                entity = segment.value(1) or ""
            elif segment.id == "N4" and entity:
                addresses.setdefault(entity, segment)
            elif segment.id == "L11" and entity is None:
                references.append(segment)
            elif segment.id in ("AT7", "MS1", "MS2"):
                raise X12SegmentError(f"{segment.id} before any LX loop", path=segment.path)
        else:
            _add_to_loop(loops[-1], segment)
    if b10 is None:
        raise X12SegmentError("B10 is missing", path=f"ST {ts.control}")
    return _Shipment(b10, references, addresses, loops)


def _add_to_loop(loop: _Loop, segment: Segment) -> None:
    if segment.id == "AT7":
        loop.statuses.append(_Status(segment))
    elif segment.id in ("MS1", "MS2"):
        if not loop.statuses:
            raise X12SegmentError(f"{segment.id} comes before any AT7 of its LX", path=segment.path)
        status, attribute = loop.statuses[-1], segment.id.lower()
        if getattr(status, attribute) is not None:
            raise X12SegmentError(f"a second {segment.id} for one AT7", path=segment.path)
        setattr(status, attribute, segment)
    elif segment.id == "L11" and not loop.nested:
        loop.references.append(segment)
    elif segment.id == "K1":
        loop.remarks.extend(text for text in (segment.value(1), segment.value(2)) if text)
    elif segment.id in _NESTED_LOOP_STARTS:
        loop.nested = True


_SCAC = re.compile(r"[A-Z0-9]{2,4}")


def _scac(b10: Segment) -> str:
    scac = (b10.value(3) or "").upper()
    if not _SCAC.fullmatch(scac):
        raise X12SegmentError(
            f"B1003 {scac!r} is not a SCAC (2-4 letters or digits)"
            if scac
            else "B1003 (SCAC) is missing",
            path=b10.path,
        )
    return scac


# --- identifiers -------------------------------------------------------------------------

_FBA = re.compile(r"FBA[0-9A-Z]{6,12}")


def _header_identifiers(shipment: _Shipment, scac: str) -> list[Identifier]:
    b10 = shipment.b10
    found: list[Identifier | None] = []
    if pro := b10.value(1):
        found.append(_identifier(IdentifierKind.TRACKING_NUMBER, pro, scac, b10.path))
    if shipment_id := b10.value(2):
        found.append(_reference(None, shipment_id, scac, b10.path))
    qualifier, reference = b10.value(5), b10.value(6)
    if (qualifier is None) != (reference is None):
        raise X12SegmentError("B1005 and B1006 come together", path=b10.path)
    if qualifier and reference:
        found.append(_reference(qualifier, reference, scac, b10.path))
    found.extend(_l11(segment, scac) for segment in shipment.references)
    identifiers = [i for i in found if i is not None]
    if not identifiers:
        raise X12SegmentError(
            "no shipment reference: B10 has no B1001, B1002 or B1006 and no L11 names one",
            path=b10.path,
        )
    return identifiers


def _l11(segment: Segment, scac: str) -> Identifier | None:
    value, qualifier = segment.value(1), segment.value(2)
    if value is None and qualifier is None:
        return None  # a description only (L1103)
    if value is None or qualifier is None:
        raise X12SegmentError("L1101 and L1102 come together", path=segment.path)
    return _reference(qualifier, value, scac, segment.path)


def _reference(qualifier: str | None, value: str, scac: str, path: str) -> Identifier | None:
    """An identifier for a qualified reference; None when the qualifier names no shipment."""
    entry = REFERENCE_QUALIFIERS.get(qualifier or "")
    kind = entry.kind if entry else IdentifierKind.SHIPMENT_REF.value
    if kind is None:
        return None
    if kind == "equipment":
        return _equipment(None, value, None, path)
    if kind == "air_waybill":
        kind = "mawb" if _fits(IdentifierKind.MAWB, value) else "hawb"
    elif kind == IdentifierKind.SHIPMENT_REF and _FBA.fullmatch(value.upper()):
        kind = IdentifierKind.FBA_SHIPMENT.value
    issuer = scac if entry and entry.issued_by_carrier else None
    return _identifier(IdentifierKind(kind), value, issuer, path)


def _ms2_equipment(ms2: Segment) -> list[Identifier]:
    number = ms2.value(2)
    return [_equipment(ms2.value(1), number, ms2.value(4), ms2.path)] if number else []


def _equipment(owner: str | None, number: str, check: str | None, path: str) -> Identifier:
    """A container when the number (alone, or after its owner code) is ISO 6346-shaped;
    any other equipment (a trailer) is a ``shipment_ref`` issued by its owner."""
    owner = owner.upper() if owner else None
    spellings = [number, f"{owner}{number}", f"{owner}{number}{check}"] if owner else [number]
    for spelling in spellings:
        if _fits(IdentifierKind.CONTAINER, spelling):
            return _identifier(IdentifierKind.CONTAINER, spelling, None, path)
    return _identifier(IdentifierKind.SHIPMENT_REF, number, owner, path)


def _fits(kind: IdentifierKind, value: str) -> bool:
    try:
        normalize_identifier(kind, value)
    except ValueError:
        return False
    return True


def _identifier(kind: IdentifierKind, value: str, issuer: str | None, path: str) -> Identifier:
    try:
        return Identifier(kind=kind, value=value, issuer=issuer)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise X12SegmentError(
            f"{value[:40]!r} is not a {kind.value}: {reason}", path=path
        ) from None


def _unique(identifiers: list[Identifier]) -> list[Identifier]:
    """First occurrence of each (kind, value, issuer): several segments may repeat one."""
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for identifier in identifiers:
        if (identifier.key, identifier.issuer) not in seen:
            seen.add((identifier.key, identifier.issuer))
            unique.append(identifier)
    return unique


# --- one status --------------------------------------------------------------------------


def _status_fields(
    status: _Status, loop: _Loop, shipment: _Shipment, ts: TransactionSet
) -> dict[str, Any]:
    at7 = status.at7
    code, appointment = at7.value(1), at7.value(3)
    if code and appointment:
        raise X12SegmentError(
            "AT701 (status) and AT703 (appointment) exclude each other", path=at7.path
        )
    if code:
        entry, reason = STATUS_CODES.get(code, _UNKNOWN_STATUS), at7.value(2)
    elif appointment:
        entry, reason = APPOINTMENT_CODES.get(appointment, _UNKNOWN_APPOINTMENT), at7.value(4)
    else:
        raise X12SegmentError(
            "AT7 has neither a status (AT701) nor an appointment (AT703)", path=at7.path
        )
    estimate = entry.kind is not EventKind.ACTUAL
    day = x12_date(at7.value(5), "AT705", at7.path, X12SegmentError)
    clock = at7.value(6)
    if clock is None and not estimate:
        raise X12SegmentError(
            "AT706 (time) is missing: an actual status needs its time", path=at7.path
        )
    place = _status_place(status, entry, shipment)
    zone = _zone(at7.value(7), place, status)
    moment = _aware(
        day, x12_time(clock, "AT706", at7.path, X12SegmentError) if clock else _END_OF_DAY, zone
    )
    return {
        "milestone": _milestone(entry, reason),
        "kind": entry.kind,
        "source_code": code or appointment,
        "source_description": _description(entry, reason, loop.remarks),
        "reason_code": reason if reason not in NORMAL_REASONS else None,
        "occurred_at": _aware(*ts.created, zone) if estimate else moment,
        "estimated_at": moment if estimate else None,
        "location": _location(place),
    }


def _milestone(entry: StatusCode, reason: str | None) -> Milestone:
    """The table's milestone, or ``exception`` when an exception reason qualifies progress."""
    milestone = entry.milestone
    settled = milestone in TERMINAL_MILESTONES or milestone in EXCEPTION_MILESTONES
    if entry.kind is not EventKind.ACTUAL or settled or reason not in REASON_CODES:
        return milestone
    return Milestone.EXCEPTION if REASON_CODES[reason][1] else milestone


def _description(entry: StatusCode, reason: str | None, remarks: list[str]) -> str | None:
    text = entry.description
    if reason and reason not in NORMAL_REASONS:
        why = REASON_CODES[reason][0] if reason in REASON_CODES else f"reason {reason}"
        text = f"{text} ({why})" if text else why
    if remarks:
        text = f"{text}: {' / '.join(remarks)}" if text else " / ".join(remarks)
    return text


# --- places and time zones ---------------------------------------------------------------


def _status_place(status: _Status, entry: StatusCode, shipment: _Shipment) -> _Place | None:
    if status.ms1 is not None:
        return _ms1_place(status.ms1)
    for entity in _ADDRESS_ENTITIES.get(entry.at or "", ()):
        if (n4 := shipment.addresses.get(entity)) is not None:
            return _place(n4.value(1), n4.value(2), n4.value(4), n4.value(3))
    return None


def _ms1_place(ms1: Segment) -> _Place | None:
    city = ms1.value(1)
    if city is None:
        if any(ms1.value(n) for n in (4, 5, 9, 10)):
            return None  # coordinates: the common Location has no field for them
        raise X12SegmentError("MS1 has neither a city nor coordinates", path=ms1.path)
    return _place(city, ms1.value(2), ms1.value(3), ms1.value(8))


def _place(city: str | None, state: str | None, country: str | None, postal: str | None) -> _Place:
    state = state.upper() if state else None
    country = COUNTRY_ALPHA3.get(country.upper(), country.upper()) if country else None
    if country not in _COUNTRY_ALPHA2:  # absent, or no ISO 3166 code: left out, not guessed
        country = next((c for c, states in LOCAL_ZONES.items() if state in states), None)
    return _Place(city, state, country, postal)


def _location(place: _Place | None) -> dict[str, str] | None:
    if place is None:
        return None
    fields = {"city": place.city, "country": place.country, "postal_code": place.postal_code}
    return {k: v for k, v in fields.items() if v} or None


def _place_zone(place: _Place | None) -> ZoneInfo | None:
    if place is None or place.country is None:
        return None
    states = LOCAL_ZONES.get(place.country)
    zone = states.get(place.state or "") if states is not None else COUNTRY_ZONES.get(place.country)
    return ZoneInfo(zone) if zone else None


def _zone(code: str | None, place: _Place | None, status: _Status) -> tzinfo:
    """The zone of an AT7's date and time (see the module docstring)."""
    path = status.at7.path
    if code is not None and code not in TIME_CODES:
        raise X12SegmentError(f"AT707 {code!r} is not an X12 time code", path=path)
    named, local = TIME_CODES[code or "LT"], _place_zone(place)
    if named is None:
        if local is None:
            raise X12LocalTimeError(_unplaced(place, status), path=path)
        return local
    if isinstance(named, ZoneInfo) and local is not None and _standard(local) == _standard(named):
        return local
    return named


def _standard(zone: tzinfo) -> timedelta | None:
    return datetime(2026, 1, 15, 12, tzinfo=zone).utcoffset()


def _unplaced(place: _Place | None, status: _Status) -> str:
    head = "AT706 is local time (AT707 LT or absent), so the place must name its time zone"
    if place is None and status.ms1 is not None:
        return f"{head}, but MS1 gives coordinates only"
    if place is None:
        return f"{head}, but there is no MS1 (nor a pick-up/delivery N4 address)"
    where = ", ".join(p for p in (place.city, place.state, place.country) if p)
    return (
        f"{head}, but {where!r} names none: a US or Canadian state/province, "
        "or a country with a single time zone, is needed"
    )


def _aware(day: date, clock: time, zone: tzinfo) -> datetime:
    """The moment with its UTC offset fixed (not the zone object): the wire keeps offsets."""
    moment = datetime.combine(day, clock, tzinfo=zone)
    offset = moment.utcoffset()
    assert offset is not None  # every zone here is a fixed offset or an IANA zone
    return moment.replace(tzinfo=timezone(offset))


CONNECTOR = Connector(
    name=NAME,
    parse=parse_x12_214,
    content_types=frozenset({"application/edi-x12", "text/plain"}),
    signature=SignatureScheme.STANDARD_WEBHOOKS,
    description="ANSI X12 214 Transportation Carrier Shipment Status (004010 and later)",
    # a carrier's daily batch: ~2,000 transaction sets of ~1 KB each
    max_body_bytes=2 * 1024 * 1024,
)
