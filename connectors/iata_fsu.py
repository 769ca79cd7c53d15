"""IATA Cargo-IMP FSU (status update) messages: one event per status line.

The wire format (Cargo-IMP manual, FSA/FSU specification; FSU/14 and earlier share it)::

    FSU/14                                        message header (FSA/<n>, the status answer
    160-55501235PVGLAX/T12K350.5                  to an FSR poll, has the same layout)
    DEP/CX367/03FEB/PVGHKG/T12K350.5/A0931/E1205  status lines: a three-letter code, then
    OCI/CN/EXP/M/...   OSI/...   ULD/...          fields separated by '/'; other lines; a
    /continuation                                 line starting with '/' continues the last

Lines end in CRLF (LF is accepted, blank lines are skipped), and a Type-B address and
origin line (``QD ...`` / ``.ORIGINX ddhhmm``) before the header are skipped. The standard
lets an FSU carry one status; batched feeds and FSA answers carry several, so every status
line becomes one event, in payload order. A message without any is an error.

What the caller may rely on:

- **Identifiers**: the master air waybill (``176-88120465``) first; then every house waybill
  and customs Movement Reference Number the OCI lines give (``//HWB/I/<house>`` and
  ``OCI/<country>/IMP|EXP|TRA/M/<MRN>``). FSU has no house waybill line of its own (house
  status travels in FZE/XFZB), so those are the only houses it can name.
- **Party**: the airline of the air waybill prefix (``160`` -> ``cx``, unknown ->
  ``airline-<prefix>``), role carrier: the contracting carrier answers for the whole air
  leg even when an interline partner handles a segment and sends the status.
- **Location**: the station of the status line (the departure airport for BKD, PRE, MAN and
  DEP, else the line's airport) as ``iata``, with its country when the airport table has it.
- **Dates**: status lines carry ``ddMMM`` without a year. The year is the one that puts the
  date closest to the UTC date of the envelope's ``received_at`` (so within about six
  months of it; a December date received in January is last year's, a January date
  received in December next year's; an exact tie goes to the earlier year). The rule is
  pure: replaying the raw topic gives the same years. A date that exists in none of the
  three candidate years (31APR, 29FEB away from leap years) is an ``FsuDateError``.
- **Times** are local to the station. ``occurred_at`` keeps the station's UTC offset for that
  local date and time, from the IANA zone in ``iata_fsu_codes.json`` (DST-aware; an
  ambiguous or skipped local time takes the offset in force before the change, zoneinfo's
  ``fold=0``). A station missing from that table, on a line whose time must be placed, is
  an ``FsuUnknownAirportError`` naming it: without an offset there is no instant, so the
  payload goes to the dead-letter topic and is replayed once the table is extended. Day
  change indicators (``-N`` next day, ``-P`` previous day, ``-S`` +2 ... ``-L`` +15)
  shift the date as the standard defines. A date without a time is 00:00 local.
- **Flight lines** (BKD, PRE, MAN, DEP) carry the flight's scheduled departure date and,
  optionally, departure and arrival times each marked S (scheduled), E (estimated) or
  A (actual). Their moment is that date at the departure time when given. DEP is a fact
  at that moment. PRE and MAN are recorded before the flight leaves, so they are placed at
  that moment or at ``received_at`` if that is earlier (never in the future of our
  receipt). BKD is a plan: ``kind=planned``, milestone ``line_haul_departed``,
  ``estimated_at`` the scheduled departure; the FSU does not say when the booking was
  made, so ``occurred_at`` (when the plan was issued) is placed like MAN's. A line without
  a date (always TRM, optionally the flight lines) is placed at ``received_at``; an
  undated BKD becomes ``info``.
- **Mapping** (table in ``iata_fsu_codes.json``): FOH, RCS -> received_at_origin_hub;
  PRE, MAN -> line_haul_loaded; DEP -> line_haul_departed; ARR -> line_haul_arrived and
  RCF -> line_haul_unloaded, but at a transit station (the air waybill names its route and
  the station is neither end) both are transshipped: arrived and unloaded close the line
  haul leg (``schemas.shipments.DEFAULT_CLOSES_ON``), which a transfer must not do.
  TFD, RCT -> transshipped. CRC and TGC -> customs submitted, CCD -> export customs
  cleared at the air waybill's origin, import customs released elsewhere (info at a transit
  station; without a route on the air waybill line, import). DLV and DDL deliver to the air
  waybill's consignee, which for our shipments is the destination forwarder or broker, not
  the buyer: they close the air leg (line_haul_unloaded), never ``delivered``. DIS takes its
  milestone from the discrepancy code (missing, offloaded, overcarried, shortshipped ->
  exception; found, definitely loaded -> info), the code going to ``reason_code``. NFD,
  AWD, AWR, TRM and any code the table does not know -> info.
- ``source_description`` is the status line verbatim with the continuation, ULD and OSI
  lines that follow it; there is no ``source_event_id``, the content hash deduplicates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import (
    Connector,
    ConnectorError,
    SignatureScheme,
    build_event,
    decode_text,
    source_of,
)
from schemas.common import IdentifierKind, normalize_identifier
from schemas.events import EventKind, EventSource, RawEnvelope, TrackingEvent
from schemas.milestones import Milestone

NAME = "iata_fsu"


class FsuMessageError(ConnectorError):
    """A body that is not a Cargo-IMP status message as the specification lays it out."""


class FsuDateError(FsuMessageError):
    """A status date or time that is no real moment (31APR, 2460, an unknown month)."""


class FsuUnknownAirportError(FsuMessageError):
    """A station missing from the time-zone table: its local times cannot be placed."""


# --- tables ------------------------------------------------------------------------------

# actual: the line's moment is the event's. at_or_before_receipt: recorded before the flight
# the line names, so placed at its moment or at receipt if earlier. planned: the same, and
# the moment is the plan's estimated_at.
TIMINGS = frozenset({"actual", "at_or_before_receipt", "planned"})

# Fields after the status code, in order, per the FSA/FSU specification; "?" = may be empty.
LAYOUTS: dict[str, tuple[str, ...]] = {
    "station": ("date", "airport", "quantity?"),
    "arrival": ("flight?", "date", "airport", "quantity?"),
    "departure": ("flight?", "date?", "route", "quantity?", "time?"),
    "carrier_station": ("carrier", "date", "airport", "quantity?"),
    "carrier_only": ("carrier", "airport", "quantity?"),
    "discrepancy": ("flight?", "date", "airport", "discrepancy", "quantity?"),
}
# A code the table does not know (carrier-specific ones such as FIW): the first of these
# shapes that fits its fields places it in time and space; its milestone is info.
GENERIC_LAYOUTS: tuple[tuple[str, ...], ...] = (
    ("date", "airport"),
    ("flight?", "date", "airport"),
    ("flight?", "date?", "route"),
)


@dataclass(frozen=True, slots=True)
class StatusCode:
    """One FSU status code: what it means, how its line is laid out, where it maps."""

    meaning: str
    layout: str
    milestone: Milestone
    at_origin: Milestone | None = None  # when the station is the air waybill's origin
    in_transit: Milestone | None = None  # when the route is known and the station is neither end
    timing: str = "actual"

    def milestone_at(self, station: str, origin: str | None, destination: str | None) -> Milestone:
        """The milestone at ``station`` of an air waybill from ``origin`` to ``destination``."""
        if station == origin and self.at_origin is not None:
            return self.at_origin
        if origin and destination and station not in (origin, destination) and self.in_transit:
            return self.in_transit
        return self.milestone


@dataclass(frozen=True, slots=True)
class Airport:
    """A station: its IANA time zone (local times in FSU are the station's) and country."""

    zone: ZoneInfo
    country: str


def _status_code(code: str, entry: dict[str, Any]) -> StatusCode:
    by_station = entry["milestone"]
    if not isinstance(by_station, dict):
        by_station = {"default": by_station}
    optional = {
        key: Milestone(by_station[key]) for key in ("at_origin", "in_transit") if key in by_station
    }
    status = StatusCode(
        entry["meaning"],
        entry["layout"],
        Milestone(by_station["default"]),
        timing=entry.get("timing", "actual"),
        **optional,
    )
    if status.layout not in LAYOUTS or status.timing not in TIMINGS:
        raise RuntimeError(f"iata_fsu_codes.json: {code} has an unknown layout or timing")
    return status


_TABLES: dict[str, Any] = json.loads(
    resources.files("connectors").joinpath("iata_fsu_codes.json").read_text(encoding="utf-8")
)
STATUS_CODES: dict[str, StatusCode] = {
    code: _status_code(code, entry) for code, entry in _TABLES["status_codes"].items()
}
DISCREPANCY_MILESTONES: dict[str, Milestone] = {
    code: Milestone(entry["milestone"]) for code, entry in _TABLES["discrepancy_codes"].items()
}
AIRLINES: dict[str, dict[str, str]] = _TABLES["airlines"]
AIRPORTS: dict[str, Airport] = {
    code: Airport(ZoneInfo(entry["tz"]), entry["country"])
    for code, entry in _TABLES["airports"].items()
}

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, 1)}
# Data element 205: P is the day before; N, S, T the next three; A to L days +4 to +15.
DAY_CHANGE = {"P": -1, "N": 1, "S": 2, "T": 3} | {
    letter: offset for offset, letter in enumerate("ABCDEFGHIJKL", 4)
}

# --- line grammar --------------------------------------------------------------------------

_QUANTITY = r"[TP]\d{1,4}(?:[KL]\d{1,7}(?:\.\d{1,6})?)?"
FIELD_PATTERNS: dict[str, re.Pattern[str]] = {
    "date": re.compile(r"(\d{2})([A-Z]{3})(\d{4})?(?:-([A-Z]))?", re.ASCII),
    "airport": re.compile(r"[A-Z]{3}", re.ASCII),
    "route": re.compile(r"[A-Z]{6}", re.ASCII),
    "flight": re.compile(r"[A-Z0-9]{2}\d{1,4}[A-Z]?", re.ASCII),
    "carrier": re.compile(r"[A-Z0-9]{2}", re.ASCII),
    "quantity": re.compile(_QUANTITY, re.ASCII),
    "time": re.compile(r"([SEA])(\d{4})(?:-([A-Z]))?", re.ASCII),
    "discrepancy": re.compile(r"[A-Z]{4}", re.ASCII),
}
FIELD_NAMES = {
    "date": "a date like 03FEB or 03FEB1430",
    "airport": "an IATA airport code",
    "route": "two airport codes like PVGLAX",
    "flight": "a flight like CX880",
    "carrier": "a two-character airline code",
    "quantity": "pieces like T12 or P4K80.5",
    "time": "a time like A1930 or S0500-N",
    "discrepancy": "a four-letter discrepancy code",
}
_HEADER = re.compile(r"FS[UA]/\d{1,3}", re.ASCII)
_TYPE_B_PREAMBLE = re.compile(r"Q[A-Z](?: [A-Z0-9]{7})+|\.[A-Z0-9]{7}(?: \S+)*", re.ASCII)
_CONSIGNMENT = re.compile(
    rf"(\d{{3}})-(\d{{8}})(?:([A-Z]{{3}})([A-Z]{{3}}))?(?:/{_QUANTITY}(?:T\d{{1,4}})?)?", re.ASCII
)
_STATUS = re.compile(r"[A-Z]{3}/", re.ASCII)
_FRAMING = "\x01\x02\x03\x1a \t\r\n"  # SOH/STX/ETX/SUB around a Type-B message

# Cargo-IMP caps a message at 3,500 characters; 64 KiB leaves room for an envelope and
# batched statuses while refusing what is clearly not one message.
MAX_BODY_BYTES = 64 * 1024


@dataclass(slots=True)
class _StatusLine:
    number: int
    code: str
    fields: dict[str, str]
    text: list[str]  # the line, then the continuation, ULD and OSI lines that follow it

    @property
    def station(self) -> str:
        return self.fields.get("airport") or self.fields["route"][:3]


# --- dates and times -----------------------------------------------------------------------


def infer_date(day: int, month: int, reference: datetime, path: str | None = None) -> date:
    """The date ``day``/``month`` in the year that puts it closest to ``reference``'s UTC date.

    Candidates are the reference year and the years either side; a tie goes to the earlier
    year (statuses report the past). ``FsuDateError`` when the day exists in none of them.
    """
    anchor = reference.astimezone(UTC).date()
    candidates = []
    for year in (anchor.year - 1, anchor.year, anchor.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    if not candidates:
        name = MONTH_NAMES[month - 1] if 1 <= month <= 12 else f"/{month}"
        raise FsuDateError(
            f"{day:02d}{name} is not a date in {anchor.year - 1}-{anchor.year + 1}", path=path
        )
    return min(candidates, key=lambda candidate: (abs((candidate - anchor).days), candidate))


def station_time(airport: str, local: datetime, path: str | None = None) -> datetime:
    """A station's naive local time as an aware datetime carrying that station's UTC offset."""
    station = AIRPORTS.get(airport)
    if station is None:
        raise FsuUnknownAirportError(
            f"airport {airport} is not in the time-zone table (connectors/iata_fsu_codes.json)",
            path=path,
            airport=airport,
        )
    offset = local.replace(tzinfo=station.zone).utcoffset() or timedelta(0)
    return local.replace(tzinfo=timezone(offset))


def _groups(kind: str, value: str) -> tuple[str, ...]:
    """The groups of a field already checked against its pattern."""
    match = FIELD_PATTERNS[kind].fullmatch(value)
    assert match is not None, f"{kind} field {value!r} was not validated"
    return match.groups()


def _status_moment(status: _StatusLine, reference: datetime, path: str) -> datetime | None:
    """When the line says its status happened (or, for BKD, will), or None when undated."""
    date_field = status.fields.get("date")
    if date_field is None:
        return None
    day, month_name, clock, change = _groups("date", date_field)
    month = MONTHS.get(month_name)
    if month is None:
        raise FsuDateError(f"{date_field}: {month_name} is not a month", path=path)
    status_date = infer_date(int(day), month, reference, path)
    if "time" in status.fields:  # the flight's departure time, relative to its date
        _, clock, change = _groups("time", status.fields["time"])
    hour, minute = (int(clock[:2]), int(clock[2:])) if clock else (0, 0)
    if hour > 23 or minute > 59:
        raise FsuDateError(f"{clock} is not a time of day", path=path)
    if change is not None and change not in DAY_CHANGE:
        raise FsuDateError(f"-{change} is not a day change indicator", path=path)
    try:
        local = datetime.combine(status_date, time(hour, minute))
        local += timedelta(days=DAY_CHANGE.get(change or "", 0))
    except OverflowError:
        raise FsuDateError(f"{date_field} falls outside the calendar", path=path) from None
    return station_time(status.station, local, path)


# --- reading the message -------------------------------------------------------------------


def _fields_by_kind(values: list[str], layout: tuple[str, ...], path: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for index, slot in enumerate(layout):
        kind = slot.rstrip("?")
        value = values[index].strip() if index < len(values) else ""
        if not value:
            if slot.endswith("?"):
                continue
            raise FsuMessageError(f"field {index + 2} ({kind}) is missing", path=path)
        if not FIELD_PATTERNS[kind].fullmatch(value):
            raise FsuMessageError(
                f"field {index + 2} should be {FIELD_NAMES[kind]}, got {value[:20]!r}", path=path
            )
        fields[kind] = value
    return fields


def _status_line(line: str, number: int) -> _StatusLine:
    path = f"line {number}"
    code, *values = line.split("/")
    known = STATUS_CODES.get(code)
    if known is not None:
        fields = _fields_by_kind(values, LAYOUTS[known.layout], path)
        return _StatusLine(number, code, fields, [line])
    for layout in GENERIC_LAYOUTS:
        try:
            return _StatusLine(number, code, _fields_by_kind(values, layout, path), [line])
        except FsuMessageError:
            continue
    raise FsuMessageError(
        f"status code {code} is unknown and its line has no date and airport", path=path
    )


def _oci_references(line: str) -> list[tuple[IdentifierKind, str]]:
    """House waybills and customs MRNs of an OCI line or its continuation.

    Both read ``<id or empty>/<country>/<information id>/<control id>/<text>``: an HWB
    entry with control id I names a house waybill, an IMP/EXP/TRA entry with M an MRN.
    """
    parts = line.split("/")
    if len(parts) < 5:
        return []
    information, control, value = parts[2], parts[3], "/".join(parts[4:]).strip()
    if not value:
        return []
    if information == "HWB" and control == "I":
        return [(IdentifierKind.HAWB, value)]
    if information in ("IMP", "EXP", "TRA") and control == "M":
        return [(IdentifierKind.CUSTOMS_ENTRY, value)]
    return []


def _header_index(lines: list[tuple[int, str]]) -> int:
    for index, (number, line) in enumerate(lines):
        if _HEADER.fullmatch(line):
            return index
        if index < 2 and _TYPE_B_PREAMBLE.fullmatch(line):
            continue
        raise FsuMessageError(
            f"expected the header FSU/<version>, got {line[:40]!r}", path=f"line {number}"
        )
    raise FsuMessageError("the body has no FSU/<version> header")


def _read_message(
    lines: list[tuple[int, str]],
) -> tuple[re.Match[str], list[_StatusLine], list[tuple[IdentifierKind, str]]]:
    """The consignment line, the status lines and the OCI references, in payload order."""
    start = _header_index(lines) + 1
    if start >= len(lines):
        raise FsuMessageError("the message ends before the air waybill line")
    number, line = lines[start]
    consignment = _CONSIGNMENT.fullmatch(line)
    if consignment is None:
        raise FsuMessageError(
            f"expected the air waybill line <prefix>-<serial><origin><destination>/T<pieces>, "
            f"got {line[:40]!r}",
            path=f"line {number}",
        )
    statuses: list[_StatusLine] = []
    references: list[tuple[IdentifierKind, str]] = []
    owner: str | None = None  # what a '/' continuation line continues
    for number, line in lines[start + 1 :]:
        if line.startswith("/"):
            if owner == "OCI":
                references.extend(_oci_references(line))
            elif owner is None:
                raise FsuMessageError("a continuation line follows nothing", path=f"line {number}")
            elif statuses:
                statuses[-1].text.append(line)
        elif again := _CONSIGNMENT.fullmatch(line):  # FSA: one line per part of a shipment
            if again.group(1, 2) != consignment.group(1, 2):
                raise FsuMessageError("a second air waybill in one message", path=f"line {number}")
            owner = None
        elif line.startswith("OCI/"):
            references.extend(_oci_references(line))
            owner = "OCI"
        elif line.startswith(("OSI/", "ULD/")):
            if statuses:
                statuses[-1].text.append(line)
            owner = "notes"
        elif _HEADER.fullmatch(line):
            raise FsuMessageError("a second message header in one body", path=f"line {number}")
        elif _STATUS.match(line):
            statuses.append(_status_line(line, number))
            owner = "status"
        else:
            raise FsuMessageError(
                f"not a status, OCI, OSI or ULD line: {line[:40]!r}", path=f"line {number}"
            )
    if not statuses:
        raise FsuMessageError("the message has no status line")
    return consignment, statuses, references


def _identifiers(mawb: str, references: list[tuple[IdentifierKind, str]]) -> list[dict[str, Any]]:
    identifiers: list[dict[str, Any]] = []
    seen: set[tuple[IdentifierKind, str]] = set()
    for kind, value in [(IdentifierKind.MAWB, mawb), *references]:
        try:
            normalized = normalize_identifier(kind, value)
        except ValueError as exc:
            raise FsuMessageError(f"OCI line: {exc}") from None
        if (kind, normalized) not in seen:
            seen.add((kind, normalized))
            identifiers.append({"kind": kind, "value": normalized})
    return identifiers


def _carrier(prefix: str) -> EventSource:
    airline = AIRLINES.get(prefix)
    party = (
        {"role": "carrier", "id": airline["id"], "name": airline["name"]}
        if airline
        else {"role": "carrier", "id": f"airline-{prefix}"}
    )
    return source_of(NAME, party)


def _event(
    raw: RawEnvelope,
    status: _StatusLine,
    route: tuple[str | None, str | None],
    source: EventSource,
    identifiers: list[dict[str, Any]],
) -> TrackingEvent:
    path = f"line {status.number}"
    code = STATUS_CODES.get(status.code)
    station = status.station
    if code is None:
        milestone, timing = Milestone.INFO, "actual"
    else:
        milestone = code.milestone_at(station, *route)
        timing = code.timing
    reason = status.fields.get("discrepancy")
    if reason is not None:
        milestone = DISCREPANCY_MILESTONES.get(reason, milestone)
    moment = _status_moment(status, raw.received_at, path)
    kind, estimated_at, occurred_at = EventKind.ACTUAL, None, moment or raw.received_at
    if moment is None and timing == "planned":
        milestone = Milestone.INFO  # a booking with no flight date predicts nothing
    elif moment is not None and timing != "actual":  # recorded before the flight it names
        occurred_at = min(moment, raw.received_at)
        if timing == "planned":
            kind, estimated_at = EventKind.PLANNED, moment
    airport = AIRPORTS.get(station)
    return build_event(
        raw,
        FsuMessageError,
        path,
        source=source,
        identifiers=identifiers,
        milestone=milestone,
        kind=kind,
        source_code=status.code,
        source_description="\n".join(status.text)[:2000],
        reason_code=reason,
        occurred_at=occurred_at,
        estimated_at=estimated_at,
        location={"iata": station, "country": airport.country if airport else None},
    )


def parse_iata_fsu(raw: RawEnvelope) -> list[TrackingEvent]:
    """Every status line of an FSU (or FSA) message as a ``TrackingEvent``, in order."""
    text = decode_text(raw, FsuMessageError, ("utf-8", "latin-1"))
    lines = [
        (number, line.strip(_FRAMING).upper())
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip(_FRAMING)
    ]
    consignment, statuses, references = _read_message(lines)
    prefix, serial, origin, destination = consignment.group(1, 2, 3, 4)
    identifiers = _identifiers(f"{prefix}-{serial}", references)
    source = _carrier(prefix)
    return [_event(raw, status, (origin, destination), source, identifiers) for status in statuses]


CONNECTOR = Connector(
    name=NAME,
    parse=parse_iata_fsu,
    content_types=frozenset({"text/plain"}),
    signature=SignatureScheme.STANDARD_WEBHOOKS,
    description="IATA Cargo-IMP FSU/FSA air cargo status messages (plain text)",
    max_body_bytes=MAX_BODY_BYTES,
)
