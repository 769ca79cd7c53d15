"""The freight wire encoders (DCSA, IATA FSU, X12 214, EPCIS, customs) against their
connectors: encode, wrap the body as the gateway does, parse, compare.

Every (format, supported milestone) pair round-trips one realistic event: the parsed event
has the same milestone, the same instant, the first identifier as its primary identifier
and the same reporting party. The envelope's source is a gateway name that is no party's
id, so a party can only come back from the payload itself.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connectors.gs1 import gs1_check_digit
from connectors.registry import get_connector
from hub.simulate.wire import WireEvent, encoder, epcis
from schemas.common import Identifier, IdentifierKind, Location, Party, PartyRole
from schemas.events import EventKind, RawEnvelope, TrackingEvent
from schemas.milestones import Milestone

FORMATS = ("dcsa", "iata_fsu", "x12_214", "epcis", "customs")
GATEWAY_SOURCE = "sim-gateway"
M = Milestone
K = IdentifierKind


def tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


# --- realistic identifiers, check digits computed ---------------------------------------


def container(owner_serial: str) -> Identifier:
    """ISO 6346: owner code + category + 6-digit serial, then the check digit."""
    letters = [v for v in range(10, 39) if v % 11][:26]
    values = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", letters, strict=True))
    total = sum((values[c] if c.isalpha() else int(c)) * 2**i for i, c in enumerate(owner_serial))
    return Identifier(kind=K.CONTAINER, value=f"{owner_serial}{total % 11 % 10}")


def mawb(prefix: str, serial: int) -> Identifier:
    """Airline prefix + 7-digit serial + its check digit (serial mod 7)."""
    return Identifier(kind=K.MAWB, value=f"{prefix}-{serial:07d}{serial % 7}")


def sscc(extension: str, company: str, serial: str) -> Identifier:
    body = extension + company + serial
    return Identifier(kind=K.SSCC, value=body + gs1_check_digit(body))


def gln(twelve: str) -> str:
    return twelve + gs1_check_digit(twelve)


def ident(kind: IdentifierKind, value: str) -> Identifier:
    return Identifier(kind=kind, value=value)


BOX = container("HLXU820517")
BOX_2 = container("TGBU461873")
BL = ident(K.BILL_OF_LADING, "HLCUYTN2601A7731")
BOOKING = ident(K.BOOKING, "78120455")
ENTRY_DE = ident(K.CUSTOMS_ENTRY, "26DE442108577301A9")
ORDER = ident(K.ORDER_ID, "PO-2026-00417")
AWB = mawb("160", 5550123)
HOUSE = ident(K.HAWB, "SZX7781234")
PRO = ident(K.TRACKING_NUMBER, "7700124001")
SSCC_1 = sscc("0", "6901234", "000000101")
SSCC_2 = sscc("0", "6901234", "000000102")
ENTRY_US = ident(K.CUSTOMS_ENTRY, "PGX-0420556-1")

HAPAG = Party(role=PartyRole.CARRIER, id="hlc", name="Hapag-Lloyd")
CATHAY = Party(role=PartyRole.CARRIER, id="cx", name="Cathay Pacific")
TRUCKER = Party(role=PartyRole.LAST_MILE_CARRIER, id="kwtr", name="Keystone Western")
BROKER = Party(role=PartyRole.CUSTOMS_BROKER, id="pacific-gateway-customs", name="PGC")
EPCIS_PARTIES = {
    PartyRole.SELLER: Party(role=PartyRole.SELLER, id=f"gln-{gln('690123400000')}"),
    PartyRole.FORWARDER: Party(role=PartyRole.FORWARDER, id=f"gln-{gln('693567800000')}"),
    PartyRole.WAREHOUSE_OPERATOR: Party(
        role=PartyRole.WAREHOUSE_OPERATOR, id=f"gln-{gln('501234500000')}"
    ),
}


# --- one realistic event per (format, milestone) ---------------------------------------


def dcsa_event(milestone: Milestone) -> WireEvent:
    """Container first for box moves; the document a shipment event is about first; a bill
    of lading first on vessel departures and arrivals."""
    if milestone in (M.BOOKED, M.CANCELLED):
        identifiers = (BOOKING, BL, ORDER)
    elif milestone.value.startswith(("import_customs", "export_customs")):
        identifiers = (ENTRY_DE, BOX, BL)
    elif milestone in (M.EXCEPTION, M.LINE_HAUL_DEPARTED, M.LINE_HAUL_ARRIVED):
        identifiers = (BL, BOOKING, BOX, ORDER)
    else:
        identifiers = (BOX, BL, BOOKING, ORDER, BOX_2)
    return WireEvent(
        milestone=milestone,
        occurred_at=datetime(2026, 1, 12, 7, 45, 30, tzinfo=tz(8)),
        identifiers=identifiers,
        party=HAPAG,
        location=Location(unlocode="CNYTN", name="Yantian International Container Terminals"),
        reason="Held for document check" if milestone is M.EXCEPTION else None,
        extra={"vessel_name": "ELBE HORIZON", "vessel_imo": "9893420", "voyage": "608W"},
    )


FSU_STATIONS = {
    M.RECEIVED_AT_ORIGIN_HUB: "PVG",
    M.LINE_HAUL_LOADED: "PVG",
    M.LINE_HAUL_DEPARTED: "PVG",
    M.EXPORT_CUSTOMS_SUBMITTED: "PVG",
    M.EXPORT_CUSTOMS_CLEARED: "PVG",
    M.TRANSSHIPPED: "HKG",
    M.EXCEPTION: "HKG",
}


def fsu_event(milestone: Milestone) -> WireEvent:
    """Shanghai to Los Angeles via Hong Kong; the time given in a third zone (+02:00)."""
    return WireEvent(
        milestone=milestone,
        occurred_at=datetime(2026, 2, 3, 9, 31, tzinfo=tz(2)),
        identifiers=(AWB, HOUSE, ENTRY_US),
        party=CATHAY,
        location=Location(iata=FSU_STATIONS.get(milestone, "LAX")),
        reason="Offloaded: no space on CX880" if milestone is M.EXCEPTION else None,
        extra={"origin": "PVG", "destination": "LAX", "flight": "CX880", "pieces": "12"},
    )


def x12_event(milestone: Milestone) -> WireEvent:
    """A Memphis LTL terminal, local time with the state that places it (AT707 LT)."""
    return WireEvent(
        milestone=milestone,
        occurred_at=datetime(2026, 2, 17, 13, 45, tzinfo=tz(-6)),
        identifiers=(PRO, ORDER, BL),
        party=TRUCKER,
        location=Location(city="Memphis", country="US", postal_code="38118"),
        reason="Road closed by ice storm" if milestone is M.EXCEPTION else None,
        extra={"state": "TN"},
    )


EPCIS_ROLES = {
    M.PICKED_UP: PartyRole.SELLER,
    M.CANCELLED: PartyRole.SELLER,
    M.RETURN_TO_SENDER: PartyRole.SELLER,
    M.LINE_HAUL_LOADED: PartyRole.FORWARDER,
    M.LINE_HAUL_DEPARTED: PartyRole.FORWARDER,
    M.LINE_HAUL_ARRIVED: PartyRole.FORWARDER,
    M.LINE_HAUL_UNLOADED: PartyRole.FORWARDER,
    M.DAMAGED: PartyRole.FORWARDER,
    M.INFO: PartyRole.FORWARDER,
}


def epcis_event(milestone: Milestone) -> WireEvent:
    role = EPCIS_ROLES.get(milestone, PartyRole.WAREHOUSE_OPERATOR)
    return WireEvent(
        milestone=milestone,
        occurred_at=datetime(2026, 3, 2, 8, 20, 15, 250000, tzinfo=tz(-5)),
        identifiers=(SSCC_1, SSCC_2, ORDER, BL),
        party=EPCIS_PARTIES[role],
        location=Location(name="Midlands Fulfilment Hub", city="Daventry", country="GB"),
        reason="quantity short by 2 cartons" if milestone is M.EXCEPTION else None,
    )


CUSTOMS_REASONS = {
    M.IMPORT_CUSTOMS_HELD: "Valuation query: declared value below market price",
    M.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED: "Commercial invoice missing",
    M.IMPORT_CUSTOMS_INSPECTION: "Selected for x-ray examination",
    M.EXPORT_CUSTOMS_HELD: "Export licence required for lithium batteries",
}


def customs_event(milestone: Milestone) -> WireEvent:
    export = milestone.value.startswith("export")
    return WireEvent(
        milestone=milestone,
        occurred_at=datetime(2026, 3, 2, 10, 5, tzinfo=tz(8 if export else -8)),
        identifiers=(ENTRY_US, AWB, HOUSE, PRO, ORDER),
        party=BROKER,
        location=(
            Location(country="CN", unlocode="CNSZX", name="Shenzhen Customs")
            if export
            else Location(country="US", unlocode="USLAX", name="Los Angeles International")
        ),
        reason=CUSTOMS_REASONS.get(milestone),
        extra={"declaration_type": "informal", "office_code": "2720"},
    )


def replace(event: WireEvent, **changes: object) -> WireEvent:
    return dataclasses.replace(event, **changes)  # type: ignore[arg-type]


EXAMPLES: dict[str, Callable[[Milestone], WireEvent]] = {
    "dcsa": dcsa_event,
    "iata_fsu": fsu_event,
    "x12_214": x12_event,
    "epcis": epcis_event,
    "customs": customs_event,
}


# --- the round trip ------------------------------------------------------------------------


def envelope(
    format_name: str,
    body: bytes,
    *,
    received_at: datetime,
    source: str = GATEWAY_SOURCE,
) -> RawEnvelope:
    """The body as the gateway stores it (see connectors/gateway.py)."""
    return RawEnvelope.from_body(
        body=body,
        source=source,
        format=format_name,
        reference="sim-delivery-0001",
        received_at=received_at,
        content_type=encoder(format_name).CONTENT_TYPE,
        signature_verified=True,
    )


def round_trip(
    format_name: str,
    events: Sequence[WireEvent],
    *,
    received_at: datetime | None = None,
    source: str = GATEWAY_SOURCE,
) -> tuple[bytes, list[TrackingEvent]]:
    body = encoder(format_name).encode(events, reference="SIM-20260302-0007")
    received = received_at or max(e.occurred_at for e in events) + timedelta(hours=3)
    raw = envelope(format_name, body, received_at=received.astimezone(UTC), source=source)
    return body, get_connector(format_name).parse(raw)


def assert_same(wire: WireEvent, parsed: TrackingEvent) -> None:
    assert parsed.milestone is wire.milestone
    if wire.estimated:
        assert parsed.kind in (EventKind.ESTIMATED, EventKind.PLANNED)
        assert parsed.estimated_at == wire.occurred_at  # the predicted instant
    else:
        assert parsed.kind is EventKind.ACTUAL
        assert parsed.occurred_at == wire.occurred_at  # aware: compares instants
    primary = parsed.primary_identifier
    assert (primary.kind, primary.value) == (wire.identifiers[0].kind, wire.identifiers[0].value)
    party = parsed.source.party
    assert (party.role, party.id) == (wire.party.role, wire.party.id)


CASES = [(f, m) for f in FORMATS for m in sorted(encoder(f).SUPPORTED)]


@pytest.mark.parametrize(("format_name", "milestone"), CASES, ids=[f"{f}-{m}" for f, m in CASES])
def test_every_supported_milestone_round_trips(format_name: str, milestone: Milestone) -> None:
    event = EXAMPLES[format_name](milestone)
    assert event.occurred_at.utcoffset() != timedelta(0)
    _, parsed = round_trip(format_name, [event])
    assert len(parsed) == 1
    assert_same(event, parsed[0])


@pytest.mark.parametrize("format_name", FORMATS)
def test_module_interface(format_name: str) -> None:
    module = encoder(format_name)
    connector = get_connector(module.FORMAT)
    assert format_name == module.FORMAT
    assert connector.accepts(module.CONTENT_TYPE)
    assert isinstance(module.SUPPORTED, frozenset) and module.SUPPORTED
    assert all(isinstance(m, Milestone) for m in module.SUPPORTED)


@pytest.mark.parametrize("format_name", FORMATS)
def test_same_call_same_bytes(format_name: str) -> None:
    """Control numbers and event ids come from ``reference``: a retry is the same body.
    (An FSU has no message reference: the same statuses are the same message.)"""
    event = EXAMPLES[format_name](sorted(encoder(format_name).SUPPORTED)[0])
    module = encoder(format_name)
    first = module.encode([event], reference="SIM-1")
    assert module.encode([event], reference="SIM-1") == first
    if format_name != "iata_fsu":
        assert module.encode([event], reference="SIM-2") != first


# --- several events in one payload ----------------------------------------------------------


def test_dcsa_journey_in_one_body() -> None:
    cst, cet = tz(8), tz(1)
    base = dcsa_event(M.LINE_HAUL_LOADED)

    def at(milestone: Milestone, when: datetime, *ids: Identifier, **kw: object) -> WireEvent:
        event = replace(base, milestone=milestone, occurred_at=when)
        return replace(event, identifiers=ids or (BOX, BL, BOOKING), **kw)

    events = [
        at(M.BOOKED, datetime(2025, 12, 18, 10, 24, tzinfo=cst), BOOKING, BL),
        at(M.RECEIVED_AT_ORIGIN_HUB, datetime(2026, 1, 5, 9, 12, tzinfo=cst)),
        at(M.LINE_HAUL_LOADED, datetime(2026, 1, 6, 22, 40, tzinfo=cst)),
        at(M.LINE_HAUL_DEPARTED, datetime(2026, 1, 7, 3, 15, tzinfo=cst), BL, BOOKING),
        at(M.TRANSSHIPPED, datetime(2026, 1, 12, 7, 45, tzinfo=cst)),
        at(
            M.LINE_HAUL_ARRIVED,
            datetime(2026, 2, 13, 5, 30, tzinfo=cet),
            estimated=True,
            extra={**base.extra, "issued_at": "2026-02-10T12:00:00+01:00"},
        ),
        at(M.LINE_HAUL_UNLOADED, datetime(2026, 2, 13, 16, 0, tzinfo=cet)),
        at(M.IMPORT_CUSTOMS_RELEASED, datetime(2026, 2, 14, 9, 5, tzinfo=cet), BOX, ENTRY_DE),
        at(M.CARRIER_RECEIVED, datetime(2026, 2, 16, 8, 0, tzinfo=cet)),
        at(M.DELIVERED, datetime(2026, 2, 16, 14, 30, tzinfo=cet)),
    ]
    body, parsed = round_trip("dcsa", events, received_at=datetime(2026, 2, 17, tzinfo=UTC))
    assert len(json.loads(body)["events"]) == len(events) == len(parsed)
    for wire, event in zip(events, parsed, strict=True):
        assert_same(wire, event)
    estimate = parsed[5]
    assert estimate.occurred_at == datetime(2026, 2, 10, 12, 0, tzinfo=cet)  # when issued
    assert len({e.source.source_event_id for e in parsed}) == len(parsed)


def test_fsu_several_status_lines_in_one_message() -> None:
    """A journey via Hong Kong; the route is inferred from the events (no hints)."""
    shanghai, hong_kong, los_angeles = tz(8), tz(8), tz(-8)

    def at(milestone: Milestone, station: str, when: datetime, **extra: str) -> WireEvent:
        return WireEvent(
            milestone=milestone,
            occurred_at=when,
            identifiers=(AWB, HOUSE),
            party=CATHAY,
            location=Location(iata=station),
            extra=extra,
        )

    events = [
        at(M.RECEIVED_AT_ORIGIN_HUB, "PVG", datetime(2026, 2, 2, 16, 30, tzinfo=shanghai)),
        at(M.EXPORT_CUSTOMS_CLEARED, "PVG", datetime(2026, 2, 2, 19, 30, tzinfo=shanghai)),
        at(
            M.LINE_HAUL_DEPARTED,
            "PVG",
            datetime(2026, 2, 3, 9, 31, tzinfo=shanghai),
            flight="CX367",
            next_station="HKG",
        ),
        at(M.TRANSSHIPPED, "HKG", datetime(2026, 2, 3, 14, 15, tzinfo=hong_kong)),
        at(
            M.LINE_HAUL_DEPARTED,
            "HKG",
            datetime(2026, 2, 3, 23, 55, tzinfo=hong_kong),
            flight="CX880",
        ),
        at(M.LINE_HAUL_ARRIVED, "LAX", datetime(2026, 2, 3, 20, 52, tzinfo=los_angeles)),
        at(M.LINE_HAUL_UNLOADED, "LAX", datetime(2026, 2, 3, 23, 18, tzinfo=los_angeles)),
        at(M.IMPORT_CUSTOMS_RELEASED, "LAX", datetime(2026, 2, 4, 14, 30, tzinfo=los_angeles)),
    ]
    body, parsed = round_trip("iata_fsu", events)
    text = body.decode("ascii")
    assert text.count("FSU/") == 1
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert lines[1] == "160-55501235PVGLAX/T1K12.5"
    assert "DEP/CX367/03FEB/PVGHKG/T1K12.5/A0931" in lines
    assert all(len(line) <= 69 for line in lines)
    assert len(parsed) == len(events)
    for wire, event in zip(events, parsed, strict=True):
        assert_same(wire, event)
        assert [i.value for i in event.identifiers] == [AWB.value, HOUSE.value]


def test_fsu_year_is_read_from_receipt() -> None:
    """A 30 December status received on 2 January reads back in the year before."""
    event = WireEvent(
        milestone=M.LINE_HAUL_ARRIVED,
        occurred_at=datetime(2025, 12, 30, 23, 50, tzinfo=tz(4)),
        identifiers=(mawb("176", 8812046),),
        party=Party(role=PartyRole.CARRIER, id="ek"),
        location=Location(iata="DXB"),
    )
    _, parsed = round_trip("iata_fsu", [event], received_at=datetime(2026, 1, 2, tzinfo=UTC))
    assert_same(event, parsed[0])
    assert parsed[0].occurred_at.year == 2025


def test_x12_several_at7_loops_with_every_time_code() -> None:
    base = x12_event(M.IN_TRANSIT)

    def at(milestone: Milestone, when: datetime, where: Location, **kw: object) -> WireEvent:
        return WireEvent(
            milestone=milestone,
            occurred_at=when,
            identifiers=(PRO, ORDER, BL),
            party=TRUCKER,
            location=where,
            **kw,  # type: ignore[arg-type]
        )

    memphis, tulsa = base.location, Location(city="Tulsa", country="US")
    assert memphis is not None
    events = [
        at(
            M.CARRIER_RECEIVED,
            datetime(2026, 2, 16, 16, 20, tzinfo=tz(-6)),
            memphis,
            extra=base.extra,
        ),
        at(M.IN_TRANSIT, datetime(2026, 2, 17, 3, 5, 30, tzinfo=tz(-5)), tulsa),  # code 20
        at(
            M.EXCEPTION,
            datetime(2026, 2, 17, 9, 0, tzinfo=tz(5.5)),
            tulsa,
            reason="Mechanical breakdown",
        ),  # UT
        at(
            M.DELIVERED,
            datetime(2026, 2, 19, 8, 0, tzinfo=tz(-6)),
            memphis,
            estimated=True,
            extra={"state": "TN", "issued_at": "2026-02-17T13:45:00-06:00"},
        ),
        at(
            M.DELIVERED,
            datetime(2026, 2, 18, 11, 5, 0, 250000, tzinfo=tz(-6)),
            memphis,
            extra=base.extra,
        ),
    ]
    body, parsed = round_trip("x12_214", events)
    segments = [s.strip() for s in body.decode("ascii").split("~") if s.strip()]
    assert len(segments[0]) == 105 and body.index(b"~") == 105  # ISA: 106 with its terminator
    assert [s[:3] for s in segments].count("ST*") == 1
    assert sum(s.startswith("LX*") for s in segments) == len(events)
    time_codes = [s.split("*")[7] for s in segments if s.startswith("AT7*")]
    assert time_codes == ["LT", "20", "UT", "LT", "LT"]
    assert len(parsed) == len(events)
    for wire, event in zip(events, parsed, strict=True):
        assert_same(wire, event)
    assert parsed[2].reason_code == "AI"
    assert "MECHANICAL BREAKDOWN" in (parsed[2].source_description or "")
    assert parsed[3].occurred_at == datetime(2026, 2, 17, 13, 45, tzinfo=tz(-6))  # issued


def test_x12_progress_reason_keeps_the_milestone() -> None:
    """A reason on in-transit is a remark, not an exception code that would flip it."""
    event = replace(x12_event(M.IN_TRANSIT), reason="Weather delay")
    _, parsed = round_trip("x12_214", [event])
    assert parsed[0].milestone is M.IN_TRANSIT
    assert parsed[0].reason_code is None
    assert "WEATHER DELAY" in (parsed[0].source_description or "")


def test_epcis_event_list_with_a_warehouse_dispatch() -> None:
    """A warehouse's day: its stocking and picking steps make ``departing`` a dispatch."""
    warehouse = EPCIS_PARTIES[PartyRole.WAREHOUSE_OPERATOR]
    london = UTC

    def at(milestone: Milestone, when: datetime, *ids: Identifier) -> WireEvent:
        return WireEvent(
            milestone=milestone,
            occurred_at=when,
            identifiers=ids or (SSCC_1, SSCC_2),
            party=warehouse,
            location=Location(name="Midlands Fulfilment Hub", city="Daventry", country="GB"),
        )

    events = [
        at(M.WAREHOUSE_RECEIVED, datetime(2026, 3, 2, 8, 20, tzinfo=london)),
        at(M.WAREHOUSE_STOCKED, datetime(2026, 3, 2, 11, 5, tzinfo=london)),
        at(M.WAREHOUSE_ORDER_PICKED, datetime(2026, 3, 5, 14, 12, tzinfo=london), SSCC_1, ORDER),
        at(M.WAREHOUSE_DISPATCHED, datetime(2026, 3, 5, 16, 40, tzinfo=london), SSCC_1, ORDER),
        at(M.DAMAGED, datetime(2026, 3, 5, 17, 0, tzinfo=london), SSCC_2),
    ]
    body, parsed = round_trip("epcis", events)
    document = json.loads(body)
    assert document["type"] == "EPCISDocument" and document["schemaVersion"] == "2.0"
    assert len(document["epcisBody"]["eventList"]) == len(events) == len(parsed)
    for wire, event in zip(events, parsed, strict=True):
        assert_same(wire, event)
    assert parsed[0].location is not None and parsed[0].location.city == "Daventry"


@pytest.mark.parametrize(
    ("milestone", "role"), sorted(epcis.STEPS), ids=[f"{m}-{r}" for m, r in sorted(epcis.STEPS)]
)
def test_epcis_every_role_a_step_gives(milestone: Milestone, role: PartyRole) -> None:
    """The role is the business step's, never written: each (milestone, role) the encoder
    offers reads back as both."""
    event = replace(epcis_event(milestone), party=EPCIS_PARTIES[role])
    _, parsed = round_trip("epcis", [event])
    assert_same(event, parsed[0])


def test_epcis_party_without_gln_comes_from_the_source() -> None:
    """A non-GLN party cannot be written; sent under its own source name it reads back."""
    party = Party(role=PartyRole.FORWARDER, id="fwd-sz-cargo")
    event = WireEvent(
        milestone=M.LINE_HAUL_DEPARTED,
        occurred_at=datetime(2026, 2, 21, 23, 10, tzinfo=tz(8)),
        identifiers=(BL, SSCC_1, ORDER),  # a transaction first: the SSCC is left out
        party=party,
    )
    body, parsed = round_trip("epcis", [event], source=party.id)
    assert "sourceList" not in body.decode()
    assert_same(event, parsed[0])
    assert [i.kind for i in parsed[0].identifiers] == [K.BILL_OF_LADING, K.ORDER_ID]


def test_customs_delivery_with_hold_estimate_and_duties() -> None:
    la = tz(-8)
    base = customs_event(M.IMPORT_CUSTOMS_SUBMITTED)

    def at(milestone: Milestone, when: datetime, **kw: object) -> WireEvent:
        return WireEvent(
            milestone=milestone,
            occurred_at=when,
            identifiers=base.identifiers,
            party=BROKER,
            location=base.location,
            **kw,  # type: ignore[arg-type]
        )

    events = [
        at(M.IMPORT_CUSTOMS_SUBMITTED, datetime(2026, 3, 2, 8, 0, tzinfo=la)),
        at(
            M.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED,
            datetime(2026, 3, 2, 10, 5, tzinfo=la),
            reason="Invoice value differs from the declared value; corrected invoice requested",
        ),
        at(
            M.IMPORT_CUSTOMS_RELEASED,
            datetime(2026, 3, 3, 15, 0, tzinfo=la),
            estimated=True,
            extra={"issued_at": "2026-03-02T10:05:00-08:00"},
        ),
        at(
            M.IMPORT_CUSTOMS_DUTIES_DUE,
            datetime(2026, 3, 2, 16, 40, tzinfo=la),
            extra={"duties_amount": "48.20"},
        ),
        at(M.IMPORT_CUSTOMS_DUTIES_PAID, datetime(2026, 3, 3, 9, 0, tzinfo=la)),
        at(M.IMPORT_CUSTOMS_RELEASED, datetime(2026, 3, 3, 14, 10, tzinfo=la)),
    ]
    body, parsed = round_trip("customs", events)
    updates = json.loads(body)["updates"]
    assert len(updates) == 5
    assert updates[1]["expected_release_at"] == "2026-03-03T15:00:00-08:00"
    assert len(parsed) == len(events)
    for wire, event in zip(events, parsed, strict=True):
        assert_same(wire, event)
    assert parsed[1].reason_code == "documents_inconsistent"
    assert parsed[2].occurred_at == datetime(2026, 3, 2, 10, 5, tzinfo=la)
    assert "48.20 USD" in (parsed[3].source_description or "")
    assert [i.kind for i in parsed[0].identifiers] == [
        K.CUSTOMS_ENTRY,
        K.MAWB,
        K.HAWB,
        K.TRACKING_NUMBER,
        K.ORDER_ID,
    ]


@pytest.mark.parametrize(
    ("milestone", "reason", "hold_reason"),
    [
        (M.IMPORT_CUSTOMS_HELD, "valuation: declared value too low", "valuation"),
        (M.IMPORT_CUSTOMS_HELD, "documents missing: commercial invoice", "other"),
        (M.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED, "documents missing", "documents_missing"),
        (M.IMPORT_CUSTOMS_INSPECTION, "exam", "examination"),
        (M.IMPORT_CUSTOMS_INSPECTION, None, None),
        (M.EXPORT_CUSTOMS_HELD, "restricted goods: batteries", "restricted_goods"),
    ],
)
def test_customs_hold_reason_never_changes_the_milestone(
    milestone: Milestone, reason: str | None, hold_reason: str | None
) -> None:
    event = replace(customs_event(milestone), reason=reason)
    _, parsed = round_trip("customs", [event])
    assert parsed[0].milestone is milestone
    assert parsed[0].reason_code == hold_reason
    if reason:
        assert reason in (parsed[0].source_description or "")


# --- estimates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("classifier", "kind"), [("EST", EventKind.ESTIMATED), ("PLN", EventKind.PLANNED)]
)
def test_dcsa_estimate(classifier: str, kind: EventKind) -> None:
    predicted = datetime(2026, 2, 14, 18, 0, tzinfo=tz(1))
    issued = datetime(2026, 1, 16, 4, 41, tzinfo=tz(8))
    event = WireEvent(
        milestone=M.LINE_HAUL_ARRIVED,
        occurred_at=predicted,
        identifiers=(BOX, BL),
        party=HAPAG,
        location=Location(unlocode="DEHAM"),
        estimated=True,
        extra={"issued_at": issued.isoformat(), "classifier": classifier},
    )
    body, parsed = round_trip("dcsa", [event], received_at=datetime(2026, 1, 16, 5, tzinfo=UTC))
    sent = json.loads(body)["events"][0]
    assert sent["eventClassification"]["eventClassifierCode"] == classifier
    assert_same(event, parsed[0])
    assert parsed[0].kind is kind
    assert parsed[0].estimated_at == predicted
    assert parsed[0].occurred_at == issued


def test_dcsa_estimate_without_issue_time_is_dated_at_receipt() -> None:
    event = replace(dcsa_event(M.LINE_HAUL_LOADED), estimated=True)
    received = datetime(2026, 1, 10, tzinfo=UTC)
    _, parsed = round_trip("dcsa", [event], received_at=received)
    assert_same(event, parsed[0])
    assert parsed[0].occurred_at == received


@pytest.mark.parametrize(
    ("format_name", "milestone"),
    [
        ("iata_fsu", M.LINE_HAUL_DEPARTED),
        ("epcis", M.LINE_HAUL_ARRIVED),
        ("dcsa", M.BOOKED),  # DCSA shipment events are facts only
        ("customs", M.IMPORT_CUSTOMS_ACCEPTED),  # only the release is estimated
        ("x12_214", M.DAMAGED),
    ],
)
def test_estimates_a_format_cannot_carry_are_refused(
    format_name: str, milestone: Milestone
) -> None:
    event = EXAMPLES[format_name](milestone)
    estimate = replace(
        event, estimated=True, extra={**event.extra, "issued_at": "2026-01-01T00:00:00Z"}
    )
    with pytest.raises(ValueError):
        encoder(format_name).encode([estimate], reference="SIM-1")


# --- what a format cannot say is refused, not mis-sent ------------------------------------


@pytest.mark.parametrize(
    ("format_name", "event", "message"),
    [
        ("dcsa", replace(dcsa_event(M.LINE_HAUL_LOADED), identifiers=(BL, BOX)), "container"),
        ("dcsa", replace(dcsa_event(M.BOOKED), identifiers=(BL,)), "booking"),
        (
            "dcsa",
            replace(
                dcsa_event(M.LINE_HAUL_ARRIVED),
                party=CATHAY.model_copy(update={"role": PartyRole.FORWARDER}),
            ),
            "carrier",
        ),
        (
            "iata_fsu",
            replace(
                fsu_event(M.LINE_HAUL_ARRIVED),
                party=Party(role=PartyRole.CARRIER, id="cathay-cargo"),
            ),
            "'cx'",
        ),
        (
            "iata_fsu",
            replace(
                fsu_event(M.LINE_HAUL_ARRIVED),
                occurred_at=datetime(2026, 2, 3, 9, 31, 20, tzinfo=UTC),
            ),
            "whole minutes",
        ),
        (
            "iata_fsu",
            replace(
                fsu_event(M.LINE_HAUL_ARRIVED), location=Location(country="US", city="Los Angeles")
            ),
            "location.iata",
        ),
        ("iata_fsu", replace(fsu_event(M.EXPORT_CUSTOMS_CLEARED), extra={}), "route"),
        ("iata_fsu", replace(fsu_event(M.LINE_HAUL_ARRIVED), identifiers=(BOX,)), "air waybill"),
        (
            "x12_214",
            replace(
                x12_event(M.DELIVERED),
                party=Party(role=PartyRole.LAST_MILE_CARRIER, id="dhl-paket"),
            ),
            "SCAC",
        ),
        ("x12_214", replace(x12_event(M.DELIVERED), identifiers=(BL, PRO)), "B10"),
        (
            "x12_214",
            replace(
                x12_event(M.DELIVERED),
                occurred_at=datetime(2026, 2, 17, 13, 45, 0, 1234, tzinfo=UTC),
            ),
            "hundredths",
        ),
        (
            "epcis",
            replace(epcis_event(M.WAREHOUSE_RECEIVED), party=EPCIS_PARTIES[PartyRole.SELLER]),
            "warehouse_operator",
        ),
        ("epcis", replace(epcis_event(M.WAREHOUSE_DISPATCHED), identifiers=(SSCC_1,)), "stocking"),
        (
            "epcis",
            replace(
                epcis_event(M.PICKED_UP),
                identifiers=(Identifier(kind=K.SSCC, value="069012340000001010"),),
            ),
            "check digit",
        ),
        (
            "customs",
            replace(customs_event(M.IMPORT_CUSTOMS_RELEASED), identifiers=(AWB, ENTRY_US)),
            "customs_entry",
        ),
        ("customs", replace(customs_event(M.IMPORT_CUSTOMS_RELEASED), location=None), "country"),
        (
            "customs",
            replace(customs_event(M.IMPORT_CUSTOMS_RELEASED), estimated=True),
            "status update",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_what_a_format_cannot_say_is_a_value_error(
    format_name: str, event: WireEvent, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        encoder(format_name).encode([event], reference="SIM-1")


def test_transshipment_by_interline_transfer() -> None:
    """Without a route that makes the station a transit one, FSU says TFD to the airline."""
    event = replace(fsu_event(M.TRANSSHIPPED), extra={"transfer_carrier": "AA"})
    body, parsed = round_trip("iata_fsu", [event])
    assert b"\r\nTFD/AA/03FEB1531/HKG/" in body
    assert_same(event, parsed[0])
