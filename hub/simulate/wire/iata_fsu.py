"""IATA Cargo-IMP FSU status messages, as an airline's cargo system sends them: the reverse
of ``connectors.iata_fsu``.

One message per call (the events concern one air waybill)::

    FSU/14
    160-12345675PVGLAX/T12K350.5         the air waybill line (route when known, see below)
    RCS/02FEB1630/PVG/T12K350.5          one status line per event, in call order
    DEP/CX880/03FEB/PVGLAX/T12K350.5/A2355
    OCI/US/IMP/M/PGX-0420556-1           house waybills and customs entries, when given

Lines end in CRLF; text is upper-case ASCII. (The standard FSU carries one status; batched
feeds and FSA answers carry several, which the connector reads line by line, so a call with
several events is one message.) FSU has no message reference: ``reference`` only seeds the
default flight number, and the same statuses give the same bytes.

What the caller may rely on:

- **Identifier and party**: the first identifier must be the master air waybill, the same
  for every event of the call. The connector names the party from the air waybill's
  airline prefix (``160`` -> carrier ``cx``; a prefix its table lacks -> ``airline-<prefix>``),
  so the party must be role ``carrier`` with exactly that id; anything else is a
  ``ValueError``. The air waybill's check digit is written as given (the connector does
  not check it). House waybills and customs entries among the other identifiers travel in
  OCI lines; other kinds have no place in an FSU and are left out.
- **Time**: FSU writes a station's local date and time, ``ddMMMhhmm``, without year, zone or
  seconds. The station is ``location.iata`` (required, and in the connector's airport
  table, whose IANA zone gives the local time). The instant survives when: it falls on a
  whole minute; it is not the second pass of a local hour repeated at a daylight-saving
  change (the connector reads such a time as the first); and the payload reaches the hub
  within about six months of the status date (the connector takes the year that puts the
  local date closest to the UTC date of ``received_at``, ties to the earlier year). The
  parsed ``occurred_at`` carries the station's offset, not necessarily the one given.
  ``line_haul_loaded`` (MAN) is read at its moment or at receipt, whichever is earlier, so
  it must be received after it happened.
- **Route**: the air waybill line carries the route ``extra["origin"]`` /
  ``extra["destination"]`` (IATA codes) of the first event that gives them; without hints
  it is inferred: origin = the station of the first origin-side event (received at hub,
  export customs, loaded, departed), destination = that of the last destination-side one
  (arrived, unloaded, import customs, info); when either is missing the line has no route.
  The route decides what ARR, RCF, CRC and CCD mean (transit station, origin, elsewhere),
  so every event is checked against the connector's table with it, and one that would read
  back as another milestone is a ``ValueError`` saying which hint is missing.
- **Milestones** (``SUPPORTED``): received_at_origin_hub RCS; line_haul_loaded MAN;
  line_haul_departed DEP; line_haul_arrived ARR and line_haul_unloaded RCF (at the
  destination, or anywhere without a route); transshipped RCF at a transit station, or
  TFD with ``extra["transfer_carrier"]`` (the two-character airline taking over);
  export_customs_submitted / cleared CRC / CCD at the origin; import_customs_submitted /
  released CRC / CCD elsewhere; exception DIS with a discrepancy code (from ``reason``:
  offloaded OFLD, overcarried OVCD, shortshipped SSPD, missing air waybill MSAW, otherwise
  missing cargo MSCA); info NFD (consignee notified).
- **Flight lines** (MAN, DEP) name the flight's next station: ``extra["next_station"]``,
  else the air waybill destination. Flight number: ``extra["flight"]``, else the airline's
  code and a number derived from ``reference``. Pieces and weight:
  ``extra["pieces"]`` / ``extra["weight_kg"]`` of the first event.
- **Reason**: an OSI line after the status line (the connector keeps it in
  ``source_description``); for DIS it also picks the discrepancy code.
- **Estimates**: the only FSU prediction, BKD, cannot say when it was issued (the connector
  places it at receipt), so ``estimated=True`` is a ``ValueError``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from connectors.iata_fsu import (
    AIRLINES,
    AIRPORTS,
    DISCREPANCY_MILESTONES,
    MONTH_NAMES,
    STATUS_CODES,
)
from hub.simulate.wire import WireEvent
from hub.simulate.wire._common import code_from_reason
from schemas.common import Identifier, IdentifierKind, PartyRole
from schemas.milestones import Milestone

FORMAT = "iata_fsu"
CONTENT_TYPE = "text/plain"

_CODES: dict[Milestone, str] = {
    Milestone.RECEIVED_AT_ORIGIN_HUB: "RCS",
    Milestone.LINE_HAUL_LOADED: "MAN",
    Milestone.LINE_HAUL_DEPARTED: "DEP",
    Milestone.LINE_HAUL_ARRIVED: "ARR",
    Milestone.LINE_HAUL_UNLOADED: "RCF",
    Milestone.TRANSSHIPPED: "RCF",
    Milestone.EXPORT_CUSTOMS_SUBMITTED: "CRC",
    Milestone.EXPORT_CUSTOMS_CLEARED: "CCD",
    Milestone.IMPORT_CUSTOMS_SUBMITTED: "CRC",
    Milestone.IMPORT_CUSTOMS_RELEASED: "CCD",
    Milestone.EXCEPTION: "DIS",
    Milestone.INFO: "NFD",
}
SUPPORTED: frozenset[Milestone] = frozenset(_CODES)

_ORIGIN_SIDE = frozenset(
    {
        Milestone.RECEIVED_AT_ORIGIN_HUB,
        Milestone.EXPORT_CUSTOMS_SUBMITTED,
        Milestone.EXPORT_CUSTOMS_CLEARED,
        Milestone.LINE_HAUL_LOADED,
        Milestone.LINE_HAUL_DEPARTED,
    }
)
_DESTINATION_SIDE = frozenset(
    {
        Milestone.LINE_HAUL_ARRIVED,
        Milestone.LINE_HAUL_UNLOADED,
        Milestone.IMPORT_CUSTOMS_SUBMITTED,
        Milestone.IMPORT_CUSTOMS_RELEASED,
        Milestone.INFO,
    }
)
# reason words -> discrepancy code (data element 706); the first that matches wins
_DISCREPANCIES: tuple[tuple[str, str], ...] = (
    ("offload", "OFLD"),
    ("overcarr", "OVCD"),
    ("short", "SSPD"),
    ("air waybill", "MSAW"),
    ("awb", "MSAW"),
)
_DEFAULT_DISCREPANCY = "MSCA"
_NOT_TEXT = re.compile(r"[^A-Z0-9 .\-]+")  # Cargo-IMP free text: letters, digits, . - space
_TEXT_WIDTH = 65  # a line holds at most 69 characters; "OSI/" takes four
_AIRPORT = re.compile(r"[A-Z]{3}")
_CARRIER = re.compile(r"[A-Z0-9]{2}")
_FLIGHT = re.compile(r"[A-Z0-9]{2}\d{1,4}[A-Z]?")


def encode(events: Sequence[WireEvent], *, reference: str) -> bytes:
    """One FSU message with a status line per event, CRLF line ends (module docstring);
    ``ValueError`` for an event the connector would not read back unchanged."""
    if not events:
        raise ValueError("no events to encode")
    mawb = _mawb(events)
    route = _route(events)
    quantity = _quantity(events[0])
    flight = _default_flight(mawb, reference)
    lines = ["FSU/14", f"{mawb.value}{''.join(route) if route else ''}/{quantity}"]
    for event in events:
        lines.extend(_status_lines(event, route, quantity, flight))
    lines.extend(_oci_lines(events, route))
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _mawb(events: Sequence[WireEvent]) -> Identifier:
    """The air waybill of the message, checked against every event's first identifier and
    party (the connector names the carrier from the prefix)."""
    mawb = events[0].identifiers[0]
    if mawb.kind is not IdentifierKind.MAWB:
        raise ValueError(f"an FSU is about a master air waybill, not a {mawb.kind.value}")
    prefix = mawb.value[:3]
    airline = AIRLINES.get(prefix)
    carrier = airline["id"] if airline else f"airline-{prefix}"
    for event in events:
        if event.identifiers[0] != mawb:
            raise ValueError("one FSU carries one air waybill: every event must start with it")
        if event.party.role is not PartyRole.CARRIER or event.party.id != carrier:
            raise ValueError(
                f"an FSU for {mawb.value} speaks for the carrier {carrier!r} (from the prefix "
                f"{prefix}), not {event.party.role.value} {event.party.id!r}"
            )
        if event.estimated:
            raise ValueError(
                "FSU has no estimate that says when it was issued (BKD is read at receipt)"
            )
    return mawb


def _station(event: WireEvent) -> str:
    iata = event.location.iata if event.location else None
    if iata is None:
        raise ValueError(f"an FSU status needs its station: location.iata ({event.milestone})")
    if iata not in AIRPORTS:
        raise ValueError(f"station {iata} is not in the connector's airport table")
    return iata


def _hint(events: Sequence[WireEvent], key: str) -> str | None:
    for event in events:
        value = event.extra.get(key)
        if value:
            if not _AIRPORT.fullmatch(value.upper()):
                raise ValueError(f"extra[{key!r}] {value!r} is not an IATA airport code")
            return value.upper()
    return None


def _route(events: Sequence[WireEvent]) -> tuple[str, str] | None:
    """(origin, destination) of the air waybill line, or None to leave it out."""
    origin = _hint(events, "origin")
    if origin is None:
        origin = next((_station(e) for e in events if e.milestone in _ORIGIN_SIDE), None)
    destination = _hint(events, "destination")
    if destination is None:
        ends = [_station(e) for e in events if e.milestone in _DESTINATION_SIDE]
        destination = ends[-1] if ends else None
    if origin and destination and origin != destination:
        return origin, destination
    return None


def _quantity(event: WireEvent) -> str:
    pieces, weight = event.extra.get("pieces", "1"), event.extra.get("weight_kg", "12.5")
    try:
        count, kilos = int(pieces), float(weight)
    except ValueError:
        raise ValueError(f"pieces {pieces!r} / weight_kg {weight!r} are not numbers") from None
    if not (1 <= count <= 9999 and 0 < kilos < 10_000_000):
        raise ValueError(f"pieces {count} / weight {kilos} kg out of range")
    return f"T{count}K{kilos:.1f}"


def _default_flight(mawb: Identifier, reference: str) -> str | None:
    airline = AIRLINES.get(mawb.value[:3])
    if airline is None or not _CARRIER.fullmatch(airline["id"].upper()):
        return None  # the flight is optional where this encoder writes it
    number = int(hashlib.sha256(reference.encode("utf-8")).hexdigest(), 16) % 900 + 100
    return f"{airline['id'].upper()}{number}"


def _local(event: WireEvent, station: str) -> datetime:
    """The station's wall-clock time of the event, checked to read back as the same instant
    (whole minute; not the repeated hour of a daylight-saving change)."""
    moment = event.occurred_at
    if moment.utcoffset() is None:
        raise ValueError(f"occurred_at {moment!r} has no UTC offset")
    if moment.second or moment.microsecond:
        raise ValueError(f"FSU times are whole minutes; {moment.isoformat()} is not")
    zone: ZoneInfo = AIRPORTS[station].zone
    local = moment.astimezone(zone)
    naive = local.replace(tzinfo=None)
    if naive.replace(tzinfo=zone).utcoffset() != local.utcoffset():  # fold=0, as the connector
        raise ValueError(
            f"{moment.isoformat()} is the second pass of a local hour repeated at {station}'s "
            "daylight-saving change; FSU local time cannot name it"
        )
    return naive


def _date(local: datetime, with_time: bool) -> str:
    day = f"{local.day:02d}{MONTH_NAMES[local.month - 1]}"
    return f"{day}{local.hour:02d}{local.minute:02d}" if with_time else day


def _status_lines(
    event: WireEvent, route: tuple[str, str] | None, quantity: str, default_flight: str | None
) -> list[str]:
    station = _station(event)
    local = _local(event, station)
    origin, destination = route or (None, None)
    flight = (event.extra.get("flight") or default_flight or "").upper()
    if flight and not _FLIGHT.fullmatch(flight):
        raise ValueError(f"extra['flight'] {flight!r} is not a flight like CX880")
    code = _CODES.get(event.milestone)
    if code is None:
        raise ValueError(f"FSU cannot carry {event.milestone.value}")
    in_transit = bool(route) and station not in (origin, destination)
    if event.milestone is Milestone.TRANSSHIPPED and not in_transit:
        code = "TFD"
    fields: list[str]
    if code in ("MAN", "DEP"):
        next_station = (event.extra.get("next_station") or destination or "").upper()
        if not _AIRPORT.fullmatch(next_station) or next_station == station:
            raise ValueError(
                f"{code} at {station} needs the flight's next station: extra['next_station'] "
                "or the air waybill destination (extra['destination'])"
            )
        marker = "A" if code == "DEP" else "S"
        clock = f"{marker}{local.hour:02d}{local.minute:02d}"
        fields = [flight, _date(local, False), f"{station}{next_station}", quantity, clock]
    elif code in ("ARR", "RCF"):
        fields = [flight, _date(local, True), station, quantity]
    elif code == "TFD":
        carrier = event.extra.get("transfer_carrier", "").upper()
        if not _CARRIER.fullmatch(carrier):
            raise ValueError(
                f"transshipped at {station}: FSU says so at a transit station of the air "
                "waybill's route (extra['origin'] / extra['destination']) or as a transfer "
                "to another airline (extra['transfer_carrier'], two characters)"
            )
        fields = [carrier, _date(local, True), station, quantity]
    elif code == "DIS":
        discrepancy = code_from_reason(event.reason, _DISCREPANCIES, _DEFAULT_DISCREPANCY)
        fields = [flight, _date(local, True), station, discrepancy, quantity]
    else:
        fields = [_date(local, True), station, quantity]
    _check_reading(event, code, station, route, fields)
    lines = ["/".join([code, *fields])]
    if event.reason:
        lines.extend(_osi_lines(event.reason))
    return lines


def _check_reading(
    event: WireEvent, code: str, station: str, route: tuple[str, str] | None, fields: list[str]
) -> None:
    """The milestone the connector's own table gives this line, compared with the event's."""
    origin, destination = route or (None, None)
    reading = STATUS_CODES[code].milestone_at(station, origin, destination)
    if code == "DIS":
        reading = DISCREPANCY_MILESTONES.get(fields[3], reading)
    if reading is not event.milestone:
        where = f"route {origin}-{destination}" if route else "no route on the air waybill line"
        raise ValueError(
            f"{code} at {station} with {where} reads as {reading.value}, not "
            f"{event.milestone.value}: give the air waybill route in extra['origin'] / "
            "extra['destination']"
        )


def _text(value: str) -> str:
    return " ".join(_NOT_TEXT.sub(" ", value.upper()).split())


def _osi_lines(reason: str) -> list[str]:
    """The reason as an OSI line and '/' continuations, within the line width."""
    text = _text(reason)
    if not text:
        return []
    text = text[: 3 * _TEXT_WIDTH]
    chunks = [text[i : i + _TEXT_WIDTH] for i in range(0, len(text), _TEXT_WIDTH)]
    return [f"OSI/{chunks[0]}", *(f"/{chunk}" for chunk in chunks[1:])]


def _oci_lines(events: Sequence[WireEvent], route: tuple[str, str] | None) -> list[str]:
    """House waybills and customs entries of the events, in OCI lines (the connector adds
    them to every event of the message)."""
    seen: set[Identifier] = set()
    entries: list[str] = []
    for event in events:
        for identifier in event.identifiers[1:]:
            if identifier in seen:
                continue
            seen.add(identifier)
            value = _NOT_TEXT.sub("", identifier.value.upper().replace("/", "-"))
            if identifier.kind is IdentifierKind.HAWB and value:
                entries.append(f"/HWB/I/{value}")
            elif identifier.kind is IdentifierKind.CUSTOMS_ENTRY and value:
                station = route[1] if route else _station(event)
                entries.append(f"{AIRPORTS[station].country}/IMP/M/{value}")
    return [f"OCI/{entries[0]}", *(f"/{entry}" for entry in entries[1:])] if entries else []
