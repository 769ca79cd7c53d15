"""ANSI X12 214 (Transportation Carrier Shipment Status), as a trucking or LTL carrier's
EDI system sends it: the reverse of ``connectors.x12_214``.

One interchange per call, version 004010, separators ``*`` (element), ``>`` (component,
ISA16) and ``~`` (segment, followed by a newline)::

    ISA*00*<10 spaces>*00*<10 spaces>*02*SAIA<11 spaces>*ZZ*TRACKHUB<7 spaces>*260303*1415*U*00401*
        482913377*0*P*>~                       (fixed width: 106 characters, terminator included)
    GS*QM*SAIA*TRACKHUB*20260303*1415*482913377*X*004010~
    ST*214*0001~
    B10*4471928350**SAIA~                      the shipment: PRO or shipment id, SCAC
    L11*HLCUSHA2403881*BM~                     its other references
    LX*1~ AT7*X6*NS***20260303*0815*LT~ MS1*JOLIET*IL*US~ [K1*...~]   one loop per event
    SE*<segments>*0001~ GE*1*<ctl>~ IEA*1*<ctl>~

ISA13, GS06 and (as IEA02, GE02) their echoes are one control number derived from
``reference`` (its digits when it is a number up to nine digits, else a stable hash), so
the same call gives the same body. SE01 counts the set's segments, ST through SE.

What the caller may rely on:

- **Party**: the B10 SCAC, read back lower-cased as role ``last_mile_carrier``; the party
  must be that role with a 2-4 character id of letters and digits (``saia`` -> ``SAIA``),
  else ``ValueError``. It is the interchange sender too (ISA06, GS02).
- **Identifiers**: the first identifier, the same for every event of the call, goes where
  the connector reads first: a ``tracking_number`` (the PRO) in B1001; a ``shipment_ref``
  or ``fba_shipment`` in B1002 (B1001 then empty: B10 needs one of the two). Any other
  kind first is a ``ValueError``. Other identifiers follow as heading ``L11``s (booking BN,
  bill of lading BM, MAWB/HAWB AW, container EQ, order id PO, tracking number CN, shipment
  reference SI); kinds without a qualifier the connector maps are left out.
- **Time**: AT705/AT706 are the date and time (HHMM, HHMMSS, or HHMMSS plus hundredths:
  finer instants are a ``ValueError``). AT707: ``LT`` (the standard's local time) when the
  place in MS1 names a time zone the connector knows (a US or Canadian state in
  ``extra["state"]``, or a one-zone country) and that zone's clock at that time is the
  event's instant (not the second pass of a repeated hour); else the numeric code of the
  event's whole-hour offset (``20`` = UTC-5, ``08`` = UTC+8); else ``UT`` with the time
  in UTC. The instant always survives; the parsed offset is the zone's or the code's.
- **Milestones** (``SUPPORTED``, AT701): carrier_received AF, in_transit X6,
  out_for_delivery AJ, delivery_attempted AH, available_for_pickup AW, delivered D1,
  exception SD, damaged A9, returned A3, cancelled CA, import_customs_released CT,
  import_customs_held PR, info XB.
- **Reason**: always a ``K1`` remark (into ``source_description``). On a status that an
  exception reason cannot turn into ``exception`` (terminal or exception milestones) it
  is also coded in AT702 (weather AO, address A2, missing documents BC, customs CA, ...,
  other BG); on a progress status AT702 stays ``NS`` so the milestone stays as given.
- **Estimates** (``estimated=True``): delivered AG (estimated delivery), carrier_received
  AA (pick-up appointment, AT703) and in_transit B6 (estimated arrival at terminal), with
  AT705/AT706 = ``occurred_at``, the predicted time. The connector takes the estimate's
  issue time from the group's creation time GS04/GS05 (read in the AT7's zone), so
  ``extra["issued_at"]`` (ISO 8601 with offset, required) is written there, and every
  estimate of one call must share it.
- **Location**: ``MS1`` with ``location.city``, ``extra["state"]`` and ``location.country``
  when the city is known; none otherwise.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from connectors.x12_214 import COUNTRY_ZONES, LOCAL_ZONES, TIME_CODES
from hub.simulate.wire import WireEvent
from hub.simulate.wire._common import code_from_reason
from schemas.common import Identifier, IdentifierKind, PartyRole
from schemas.milestones import EXCEPTION_MILESTONES, TERMINAL_MILESTONES, Milestone

FORMAT = "x12_214"
CONTENT_TYPE = "application/edi-x12"

_STATUS: dict[Milestone, str] = {
    Milestone.CARRIER_RECEIVED: "AF",
    Milestone.IN_TRANSIT: "X6",
    Milestone.OUT_FOR_DELIVERY: "AJ",
    Milestone.DELIVERY_ATTEMPTED: "AH",
    Milestone.AVAILABLE_FOR_PICKUP: "AW",
    Milestone.DELIVERED: "D1",
    Milestone.EXCEPTION: "SD",
    Milestone.DAMAGED: "A9",
    Milestone.RETURNED: "A3",
    Milestone.CANCELLED: "CA",
    Milestone.IMPORT_CUSTOMS_RELEASED: "CT",
    Milestone.IMPORT_CUSTOMS_HELD: "PR",
    Milestone.INFO: "XB",
}
# estimate -> (AT701 status or None, AT703 appointment or None)
_ESTIMATES: dict[Milestone, tuple[str | None, str | None]] = {
    Milestone.DELIVERED: ("AG", None),
    Milestone.CARRIER_RECEIVED: (None, "AA"),
    Milestone.IN_TRANSIT: ("B6", None),
}
SUPPORTED: frozenset[Milestone] = frozenset(_STATUS)

# reason words -> AT702 reason code (element 1651); the first that matches wins
_REASONS: tuple[tuple[str, str], ...] = (
    ("weather", "AO"),
    ("storm", "AO"),
    ("address", "A2"),
    ("document", "BC"),
    ("paperwork", "AR"),
    ("customs", "CA"),
    ("refused", "BS"),
    ("breakdown", "AI"),
    ("mechanical", "AI"),
    ("accident", "AF"),
    ("damage", "AK"),
    ("closed", "B1"),
    ("unavailable", "AQ"),
    ("not home", "AQ"),
    ("missed", "A1"),
    ("shortage", "S1"),
)
_OTHER_REASON = "BG"
_QUALIFIERS: dict[IdentifierKind, str] = {
    IdentifierKind.BOOKING: "BN",
    IdentifierKind.BILL_OF_LADING: "BM",
    IdentifierKind.MAWB: "AW",
    IdentifierKind.HAWB: "AW",
    IdentifierKind.CONTAINER: "EQ",
    IdentifierKind.ORDER_ID: "PO",
    IdentifierKind.TRACKING_NUMBER: "CN",
    IdentifierKind.SHIPMENT_REF: "SI",
    IdentifierKind.FBA_SHIPMENT: "SI",
}
_SCAC = re.compile(r"[a-z0-9]{2,4}")
_FBA = re.compile(r"FBA[0-9A-Z]{6,12}")  # the connector's reading of an FBA-shaped id
_UNSAFE = re.compile(r"[*~>^\r\n]+")  # the separators this encoder writes, and line ends
_RECEIVER = "TRACKHUB"
# fixed-offset AT707 codes by offset; whole hours only (4010 has no half-hour codes)
_OFFSET_CODES: dict[timedelta, str] = {
    zone.utcoffset(None): code
    for code, zone in TIME_CODES.items()
    if isinstance(zone, timezone) and code.isdigit() and int(code) <= 24
}


@dataclass(frozen=True, slots=True)
class _Clock:
    """How one AT7 writes its moment: the zone code and the zone it stands for."""

    code: str
    zone: tzinfo


def encode(events: Sequence[WireEvent], *, reference: str) -> bytes:
    """One interchange, one transaction set, one LX loop per event (module docstring);
    ``ValueError`` for an event the connector would not read back unchanged."""
    if not events:
        raise ValueError("no events to encode")
    scac = _scac(events)
    primary = _primary(events)
    control = _control_number(reference)
    loops: list[list[str]] = []
    issued: set[tuple[date, time]] = set()
    for number, event in enumerate(events, 1):
        loop, created = _loop(event, number)
        loops.append(loop)
        if created is not None:
            issued.add(created)
    if len(issued) > 1:
        raise ValueError(
            "the estimates of one 214 share its creation time (GS04/GS05): give them the "
            "same extra['issued_at'], or send them in separate calls"
        )
    # sent when the last fact happened or the estimates were made, not at a predicted time
    sent = _utc_parts(max(_issued_at(e) if e.estimated else e.occurred_at for e in events))
    created = issued.pop() if issued else (sent[0], sent[1].replace(second=0, microsecond=0))
    transaction = [
        "ST*214*0001",
        _b10(primary, scac),
        *_heading_references(events, primary),
        *(segment for loop in loops for segment in loop),
    ]
    transaction.append(f"SE*{len(transaction) + 1}*0001")
    segments = [
        _isa(scac, sent, control),
        f"GS*QM*{scac}*{_RECEIVER}*{created[0]:%Y%m%d}*{_clock(created[1])}*{control}*X*004010",
        *transaction,
        f"GE*1*{control}",
        f"IEA*1*{control:09d}",
    ]
    return "".join(f"{segment}~\n" for segment in segments).encode("ascii")


def _scac(events: Sequence[WireEvent]) -> str:
    party = events[0].party
    for event in events:
        if (event.party.role, event.party.id) != (party.role, party.id):
            raise ValueError("one 214 comes from one carrier: the events name two parties")
    if party.role is not PartyRole.LAST_MILE_CARRIER or not _SCAC.fullmatch(party.id):
        raise ValueError(
            "a 214 names its carrier by SCAC, read back as a last_mile_carrier: the party "
            f"must be that role with a 2-4 letter/digit id, not {party.role.value} {party.id!r}"
        )
    return party.id.upper()


def _primary(events: Sequence[WireEvent]) -> Identifier:
    primary = events[0].identifiers[0]
    for event in events:
        if event.identifiers[0] != primary:
            raise ValueError("one 214 is about one shipment: every event must start with it")
    if primary.kind is IdentifierKind.SHIPMENT_REF and _FBA.fullmatch(primary.value):
        raise ValueError(f"{primary.value} reads back as an fba_shipment, not a shipment_ref")
    if primary.kind is IdentifierKind.FBA_SHIPMENT and not _FBA.fullmatch(primary.value):
        raise ValueError(f"{primary.value} does not read back as an fba_shipment")
    if primary.kind not in (
        IdentifierKind.TRACKING_NUMBER,
        IdentifierKind.SHIPMENT_REF,
        IdentifierKind.FBA_SHIPMENT,
    ):
        raise ValueError(
            "a 214 is keyed by the carrier's PRO (tracking_number) or the shipment id "
            f"(shipment_ref, fba_shipment) in B10, not a {primary.kind.value}"
        )
    return primary


def _control_number(reference: str) -> int:
    if reference.isdigit() and 0 < int(reference) < 10**9:
        return int(reference)
    return int(hashlib.sha256(reference.encode("utf-8")).hexdigest(), 16) % (10**9 - 1) + 1


def _element(value: str) -> str:
    return _UNSAFE.sub(" ", value).strip()


def _isa(scac: str, sent: tuple[date, time], control: int) -> str:
    elements = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "02",
        f"{scac:<15}",
        "ZZ",
        f"{_RECEIVER:<15}",
        f"{sent[0]:%y%m%d}",
        f"{sent[1]:%H%M}",
        "U",
        "00401",
        f"{control:09d}",
        "0",
        "P",
        ">",
    ]
    return "*".join(elements)


def _b10(primary: Identifier, scac: str) -> str:
    if primary.kind is IdentifierKind.TRACKING_NUMBER:
        return f"B10*{_element(primary.value)}**{scac}"
    return f"B10**{_element(primary.value)}*{scac}"


def _heading_references(events: Sequence[WireEvent], primary: Identifier) -> list[str]:
    segments: list[str] = []
    seen = {primary}
    for event in events:
        for identifier in event.identifiers:
            qualifier = _QUALIFIERS.get(identifier.kind)
            if identifier in seen or qualifier is None:
                continue
            seen.add(identifier)
            segments.append(f"L11*{_element(identifier.value)}*{qualifier}")
    return segments


def _loop(event: WireEvent, number: int) -> tuple[list[str], tuple[date, time] | None]:
    """The LX loop of one event, and the estimate's issue time (GS04/GS05) if it is one."""
    state = (event.extra.get("state") or "").upper() or None
    country = event.location.country if event.location else None
    city = event.location.city if event.location else None
    place_zone = _place_zone(country, state) if city else None
    created: tuple[date, time] | None = None
    moment = event.occurred_at
    clock = _zone_clock(moment, place_zone)
    if event.estimated:
        if event.milestone not in _ESTIMATES:
            raise ValueError(f"a 214 has no estimate of {event.milestone.value}")
        status, appointment = _ESTIMATES[event.milestone]
        issued = _issued_at(event)
        created = _parts(issued, clock.zone)
        if _aware(*created, clock.zone) != issued:
            raise ValueError("the estimate's issue time cannot be written in its AT7's zone")
        codes = f"{status}*NS**" if status else f"**{appointment}*NA"
    else:
        if event.milestone not in _STATUS:
            raise ValueError(f"a 214 cannot carry {event.milestone.value}")
        codes = f"{_STATUS[event.milestone]}*{_reason_code(event)}**"
    day, at = _parts(moment, clock.zone)
    loop = [f"LX*{number}", f"AT7*{codes}*{day:%Y%m%d}*{_clock(at)}*{clock.code}"]
    if city:
        ms1 = ["MS1", _element(city.upper())[:30], state or "", country or ""]
        loop.append("*".join(ms1).rstrip("*"))
    if event.reason:
        text = _element(event.reason.upper())
        remarks = [part for part in (text[:30].strip(), text[30:60].strip()) if part]
        loop.append("*".join(["K1", *remarks]))
    return loop, created


def _reason_code(event: WireEvent) -> str:
    """AT702: normal, unless the status is one a reason cannot turn into ``exception``."""
    settled = event.milestone in TERMINAL_MILESTONES or event.milestone in EXCEPTION_MILESTONES
    if not event.reason or not settled:
        return "NS"
    return code_from_reason(event.reason, _REASONS, _OTHER_REASON)


def _issued_at(event: WireEvent) -> datetime:
    text = event.extra.get("issued_at")
    if not text:
        raise ValueError(
            "an estimated 214 status needs extra['issued_at'], when the estimate was made "
            "(the group's creation time; occurred_at is the predicted time)"
        )
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise ValueError(f"extra['issued_at'] {text!r} has no UTC offset")
    return moment


def _place_zone(country: str | None, state: str | None) -> ZoneInfo | None:
    """The zone the connector gives an MS1 place (state or province, else a one-zone
    country), or None."""
    if country is None:
        return None
    states = LOCAL_ZONES.get(country)
    name = states.get(state or "") if states is not None else COUNTRY_ZONES.get(country)
    return ZoneInfo(name) if name else None


def _zone_clock(moment: datetime, place_zone: ZoneInfo | None) -> _Clock:
    """``LT`` when the place's zone reads the local time back as this instant, else the
    whole-hour offset's code, else ``UT``."""
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no UTC offset")
    if place_zone is not None and _aware(*_parts(moment, place_zone), place_zone) == moment:
        return _Clock("LT", place_zone)
    offset = moment.utcoffset()
    if offset in _OFFSET_CODES:
        return _Clock(_OFFSET_CODES[offset], timezone(offset))
    return _Clock("UT", UTC)


def _parts(moment: datetime, zone: tzinfo) -> tuple[date, time]:
    local = moment.astimezone(zone)
    return local.date(), local.time().replace(tzinfo=None, fold=0)


def _utc_parts(moment: datetime) -> tuple[date, time]:
    return _parts(moment, UTC)


def _aware(day: date, clock: time, zone: tzinfo) -> datetime:
    """The connector's reading of a date and time in a zone (fold=0)."""
    return datetime.combine(day, clock, tzinfo=zone)


def _clock(at: time) -> str:
    """TM: HHMM, HHMMSS or HHMMSS plus hundredths."""
    if at.microsecond % 10_000:
        raise ValueError(f"X12 times stop at hundredths of a second; {at} is finer")
    if at.microsecond:
        return f"{at:%H%M%S}{at.microsecond // 10_000:02d}"
    return f"{at:%H%M%S}" if at.second else f"{at:%H%M}"
