"""The IATA FSU connector's rules that fixtures cannot show well: the year of a ``ddMMM``
date around the turn of the year, station offsets across DST, plans and placements in time
relative to ``received_at``, and the station-dependent mappings."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from connectors.base import ConnectorError, SignatureScheme
from connectors.iata_fsu import (
    AIRPORTS,
    LAYOUTS,
    STATUS_CODES,
    FsuDateError,
    FsuMessageError,
    FsuUnknownAirportError,
    infer_date,
    parse_iata_fsu,
    station_time,
)
from connectors.registry import get_connector
from schemas.common import IdentifierKind
from schemas.events import EventKind, RawEnvelope, TrackingEvent
from schemas.milestones import Milestone


def _parse(body: str, received_at: datetime, eol: str = "\r\n") -> list[TrackingEvent]:
    raw = RawEnvelope.from_body(
        body=body.strip("\n").replace("\n", eol).encode("ascii"),
        source="iata_fsu",
        format="iata_fsu",
        reference="unit",
        received_at=received_at,
        content_type="text/plain",
        signature_verified=True,
    )
    return parse_iata_fsu(raw)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _offset(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


MARCH = _utc(2026, 3, 2, 4, 0)


# --- the year of a ddMMM date ------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "month", "received_at", "expected"),
    [
        (30, 12, _utc(2026, 1, 2, 3, 0), date(2025, 12, 30)),  # December read in January
        (31, 12, _utc(2026, 1, 1, 0, 30), date(2025, 12, 31)),  # minutes after New Year
        (2, 1, _utc(2025, 12, 30, 22, 0), date(2026, 1, 2)),  # January read in December
        (1, 1, _utc(2026, 1, 1, 0, 0), date(2026, 1, 1)),
        (1, 1, _utc(2026, 6, 30), date(2026, 1, 1)),  # 180 days back beats 185 ahead
        (1, 1, _utc(2026, 7, 5), date(2027, 1, 1)),  # 180 days ahead beats 185 back
        (1, 3, _utc(2027, 8, 31), date(2027, 3, 1)),  # a tie (183 days) goes to the past
        (29, 2, _utc(2028, 3, 2), date(2028, 2, 29)),
        (29, 2, _utc(2027, 12, 15), date(2028, 2, 29)),  # the only leap year in reach
    ],
)
def test_the_year_is_the_one_closest_to_receipt(
    day: int, month: int, received_at: datetime, expected: date
) -> None:
    assert infer_date(day, month, received_at) == expected


def test_the_reference_is_the_utc_date_of_receipt() -> None:
    # 2025-12-31 20:00 in Los Angeles is 2026-01-01 04:00 UTC: 01JUL is 181 days ahead of
    # the UTC date and 184 behind it, whatever the receiving clock's offset.
    received = datetime(2025, 12, 31, 20, 0, tzinfo=_offset(-8))
    assert infer_date(1, 7, received) == date(2026, 7, 1)


@pytest.mark.parametrize(("day", "month"), [(31, 4), (29, 2), (0, 1), (32, 1)])
def test_a_day_that_exists_in_no_candidate_year_is_a_date_error(day: int, month: int) -> None:
    with pytest.raises(FsuDateError, match="is not a date in 2025-2027"):
        infer_date(day, month, MARCH)


def test_a_december_status_received_in_january_is_last_year() -> None:
    events = _parse(
        """
FSU/14
160-55501235PVGLAX/T1K10
DLV/30DEC1615/LAX/T1K10
RCF/CX880/02JAN0710/LAX/T1K10
""",
        received_at=_utc(2026, 1, 3, 9, 0),
    )
    assert [e.occurred_at for e in events] == [
        datetime(2025, 12, 30, 16, 15, tzinfo=_offset(-8)),
        datetime(2026, 1, 2, 7, 10, tzinfo=_offset(-8)),
    ]


def test_a_january_status_received_in_december_is_next_year() -> None:
    events = _parse(
        """
FSU/14
160-55501235PVGLAX/T1K10
DEP/CX880/01JAN/HKGLAX/T1K10/A0015
""",
        received_at=_utc(2025, 12, 31, 16, 30),  # 00:30 on 1 January in Hong Kong
    )
    assert events[0].occurred_at == datetime(2026, 1, 1, 0, 15, tzinfo=_offset(8))


def test_a_day_change_indicator_crosses_the_year() -> None:
    events = _parse(
        """
FSU/14
176-88120465DXBJFK/T1K10
ARR/EK201/31DEC2350-N/JFK/T1K10
DEP/EK202/31DEC/JFKDXB/T1K10/A0005-N
ARR/EK203/01JAN0550-P/DXB/T1K10
""",
        received_at=_utc(2026, 1, 2),
    )
    assert [e.occurred_at for e in events] == [
        datetime(2026, 1, 1, 23, 50, tzinfo=_offset(-5)),
        datetime(2026, 1, 1, 0, 5, tzinfo=_offset(-5)),
        datetime(2025, 12, 31, 5, 50, tzinfo=_offset(4)),
    ]


# --- station offsets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("airport", "local", "hours"),
    [
        ("LAX", datetime(2026, 2, 3, 20, 52), -8),
        ("LAX", datetime(2026, 7, 3, 20, 52), -7),
        ("FRA", datetime(2025, 10, 25, 12, 0), 2),
        ("FRA", datetime(2025, 10, 27, 12, 0), 1),
        ("FRA", datetime(2025, 10, 26, 2, 30), 2),  # ambiguous: the offset before the change
        ("LAX", datetime(2026, 3, 8, 2, 30), -8),  # skipped: the offset before the change
        ("SYD", datetime(2026, 1, 15, 9, 0), 11),  # southern summer
        ("PVG", datetime(2026, 7, 1, 9, 0), 8),
        ("LHR", datetime(2026, 1, 15, 9, 0), 0),
    ],
)
def test_station_time_keeps_the_local_offset_of_that_moment(
    airport: str, local: datetime, hours: int
) -> None:
    moment = station_time(airport, local)
    assert moment.replace(tzinfo=None) == local
    assert moment.utcoffset() == timedelta(hours=hours)


def test_an_unknown_station_is_a_typed_error_naming_it() -> None:
    with pytest.raises(FsuUnknownAirportError) as info:
        _parse(
            """
FSU/14
618-73112406SINNLU/T2K30.0
RCF/SQ7860/25FEB0945/NLU/T2K30.0
""",
            MARCH,
        )
    assert isinstance(info.value, ConnectorError)
    assert "NLU" in str(info.value)
    assert info.value.details == {"airport": "NLU"}
    assert info.value.path == "line 3"


def test_an_undated_line_at_an_unknown_station_needs_no_offset() -> None:
    (event,) = _parse(
        """
FSU/14
618-73112406SINNLU/T2K30.0
TRM/AM/NLU/T2K30.0
""",
        MARCH,
    )
    assert (event.milestone, event.occurred_at) == (Milestone.INFO, MARCH)
    assert event.location is not None and event.location.country is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("RCS/03FEB2460/PVG/T1", "2460 is not a time of day"),
        ("RCS/03FEB1275/PVG/T1", "1275 is not a time of day"),
        ("RCS/03FEX1200/PVG/T1", "FEX is not a month"),
        ("ARR/CX880/03FEB1200-Z/PVG/T1", "-Z is not a day change indicator"),
    ],
)
def test_impossible_times_are_date_errors(line: str, message: str) -> None:
    with pytest.raises(FsuDateError, match=message):
        _parse(f"FSU/14\n160-55501235PVGLAX/T1\n{line}", MARCH)


# --- placement in time relative to receipt -----------------------------------------------


def test_a_booking_is_a_planned_departure_known_since_receipt() -> None:
    (booked,) = _parse(
        """
FSU/14
020-44719021FRAORD/T5K120.0
BKD/LH8160/15MAR/FRAORD/T5K120.0/S1025/S1240
""",
        MARCH,
    )
    assert booked.milestone is Milestone.LINE_HAUL_DEPARTED
    assert booked.kind is EventKind.PLANNED
    assert booked.estimated_at == datetime(2026, 3, 15, 10, 25, tzinfo=_offset(1))
    assert booked.occurred_at == MARCH


def test_a_booking_reported_after_its_flight_was_issued_by_that_flight() -> None:
    (booked,) = _parse("FSU/14\n020-44719021FRAORD/T5\nBKD/LH8160/15FEB/FRAORD/T5/S1025", MARCH)
    assert booked.kind is EventKind.PLANNED
    assert (
        booked.occurred_at
        == booked.estimated_at
        == datetime(2026, 2, 15, 10, 25, tzinfo=_offset(1))
    )


def test_a_booking_without_a_flight_date_is_only_information() -> None:
    (booked,) = _parse("FSU/14\n020-44719021FRAORD/T5\nBKD/LH8160//FRAORD/T5", MARCH)
    assert (booked.milestone, booked.kind, booked.estimated_at) == (
        Milestone.INFO,
        EventKind.ACTUAL,
        None,
    )
    assert booked.occurred_at == MARCH


def test_a_manifest_is_never_placed_after_its_receipt() -> None:
    body = "FSU/14\n020-44719021FRAORD/T5\nMAN/LH8160/02MAR/FRAORD/T5/S1025/S1240"
    (early,) = _parse(body, received_at=_utc(2026, 3, 2, 7, 0))  # 08:00 in Frankfurt
    (late,) = _parse(body, received_at=_utc(2026, 3, 2, 12, 0))
    assert early.occurred_at == _utc(2026, 3, 2, 7, 0)
    assert late.occurred_at == datetime(2026, 3, 2, 10, 25, tzinfo=_offset(1))
    assert early.milestone is late.milestone is Milestone.LINE_HAUL_LOADED


def test_a_departure_uses_the_departure_time_and_its_day_change() -> None:
    (departed,) = _parse(
        "FSU/14\n172-66103844LUXORD/T4\nDEP/CV7711/20FEB/LUXORD/T4/A0010-N/E0510", MARCH
    )
    assert departed.occurred_at == datetime(2026, 2, 21, 0, 10, tzinfo=_offset(1))
    assert departed.location is not None and departed.location.iata == "LUX"


def test_a_date_without_a_time_is_midnight_at_the_station() -> None:
    (notified,) = _parse("FSU/14\n160-55501235PVGLAX/T1\nNFD/04FEB/LAX/T1", MARCH)
    assert notified.occurred_at == datetime(2026, 2, 4, 0, 0, tzinfo=_offset(-8))


# --- mappings that depend on the station -------------------------------------------------


@pytest.mark.parametrize(
    ("awb", "line", "milestone"),
    [
        ("160-55501235PVGLAX/T1", "CCD/04FEB1200/LAX/T1", Milestone.IMPORT_CUSTOMS_RELEASED),
        ("160-55501235PVGLAX/T1", "CCD/02FEB1200/PVG/T1", Milestone.EXPORT_CUSTOMS_CLEARED),
        ("160-55501235PVGLAX/T1", "CCD/03FEB1300/HKG/T1", Milestone.INFO),
        ("160-55501235/T1", "CCD/04FEB1200/LAX/T1", Milestone.IMPORT_CUSTOMS_RELEASED),
        ("160-55501235PVGLAX/T1", "CRC/02FEB1200/PVG/T1", Milestone.EXPORT_CUSTOMS_SUBMITTED),
        ("160-55501235PVGLAX/T1", "TGC/04FEB1200/LAX/T1", Milestone.IMPORT_CUSTOMS_SUBMITTED),
        ("160-55501235PVGLAX/T1", "ARR/CX880/03FEB2052/LAX/T1", Milestone.LINE_HAUL_ARRIVED),
        ("160-55501235PVGLAX/T1", "ARR/CX367/03FEB1208/HKG/T1", Milestone.TRANSSHIPPED),
        ("160-55501235/T1", "ARR/CX367/03FEB1208/HKG/T1", Milestone.LINE_HAUL_ARRIVED),
        ("160-55501235PVGLAX/T1", "RCF/CX367/03FEB1415/HKG/T1", Milestone.TRANSSHIPPED),
        ("160-55501235PVGLAX/T1", "RCF/CX880/03FEB2318/LAX/T1", Milestone.LINE_HAUL_UNLOADED),
        ("160-55501235PVGLAX/T1", "DLV/04FEB1430/LAX/T1/BROKER", Milestone.LINE_HAUL_UNLOADED),
        ("160-55501235PVGLAX/T1", "DDL/04FEB1630/LAX/T1/BROKER", Milestone.LINE_HAUL_UNLOADED),
    ],
)
def test_station_dependent_mappings(awb: str, line: str, milestone: Milestone) -> None:
    (event,) = _parse(f"FSU/14\n{awb}\n{line}", MARCH)
    assert event.milestone is milestone
    assert event.milestone is not Milestone.DELIVERED


@pytest.mark.parametrize(
    ("code", "milestone"),
    [
        ("MSCA", Milestone.EXCEPTION),
        ("OFLD", Milestone.EXCEPTION),
        ("FDCA", Milestone.INFO),
        ("DFLD", Milestone.INFO),
        ("ZZZZ", Milestone.EXCEPTION),
    ],
)
def test_a_discrepancy_maps_by_its_code(code: str, milestone: Milestone) -> None:
    (event,) = _parse(f"FSU/14\n784-33098170CANAMS/T8\nDIS/CZ345/05FEB0610/AMS/{code}/P2", MARCH)
    assert (event.milestone, event.reason_code, event.source_code) == (milestone, code, "DIS")


def test_an_unknown_code_is_information_placed_by_its_fields() -> None:
    (event,) = _parse("FSU/14\n157-53806270HKGDOH/P2K505.0T10\nFIW/QR8403/20FEB1039/DOH/P2", MARCH)
    assert (event.milestone, event.source_code) == (Milestone.INFO, "FIW")
    assert event.occurred_at == datetime(2026, 2, 20, 10, 39, tzinfo=_offset(3))


def test_an_unknown_code_without_date_and_airport_is_an_error() -> None:
    with pytest.raises(FsuMessageError, match="XYZ is unknown"):
        _parse("FSU/14\n157-53806270HKGDOH/T10\nXYZ/SOMETHING/ELSE", MARCH)


# --- identifiers, party, message shape ---------------------------------------------------


def test_identifiers_are_the_mawb_then_houses_and_mrns_from_oci_lines() -> None:
    (event,) = _parse(
        """
FSU/14
057-11004431CDGJFK/T7
RCS/01MAR0900/CDG/T7
OCI/FR/EXP/M/26FRX9Y8Z7W6V5U4T3
//HWB/I/ABC 123
//HWB/I/ABC123
/FR/ISS/RA/001-011
""",
        MARCH,
    )
    assert [(i.kind, i.value) for i in event.identifiers] == [
        (IdentifierKind.MAWB, "057-11004431"),
        (IdentifierKind.CUSTOMS_ENTRY, "26FRX9Y8Z7W6V5U4T3"),
        (IdentifierKind.HAWB, "ABC123"),
    ]
    assert event.primary_identifier.key == "mawb:057-11004431"


@pytest.mark.parametrize(
    ("prefix", "party_id", "name"),
    [
        ("160", "cx", "Cathay Pacific"),
        ("784", "cz", "China Southern"),
        ("555", "airline-555", None),
    ],
)
def test_the_party_is_the_airline_of_the_prefix(
    prefix: str, party_id: str, name: str | None
) -> None:
    (event,) = _parse(f"FSU/14\n{prefix}-55501235PVGLAX/T1\nRCS/01MAR0900/PVG/T1", MARCH)
    party = event.source.party
    assert (party.role.value, party.id, party.name) == ("carrier", party_id, name)
    assert event.source.connector == "iata_fsu"


def test_crlf_lf_a_type_b_envelope_and_blank_lines_read_the_same() -> None:
    body = "FSU/14\n160-55501235PVGLAX/T1\nRCS/01MAR0900/PVG/T1\nDEP/CX367/01MAR/PVGHKG/T1/A1200"
    crlf = _parse(body, MARCH, eol="\r\n")
    lf = _parse(body + "\n\n", MARCH, eol="\n")
    wrapped = _parse("QD LAXFMCX\n.PVGFMCX 011200\n" + body + "\n\n", MARCH)
    assert [e.event_id for e in crlf] == [e.event_id for e in lf] == [e.event_id for e in wrapped]
    assert len(crlf) == 2


def test_an_fsa_answer_reads_like_an_fsu() -> None:
    events = _parse(
        """
FSA/14
724-41237700LHRZRH/P20T30
RCF/LX319/26FEB0700/ZRH/T20
724-41237700LHRZRH/P10T30
TFD/BA/25FEB1100/LHR/T10
""",
        MARCH,
    )
    assert [(e.source_code, e.milestone) for e in events] == [
        ("RCF", Milestone.LINE_HAUL_UNLOADED),
        ("TFD", Milestone.TRANSSHIPPED),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "no FSU/<version> header"),
        ("FWB/17\n160-55501235PVGLAX/T1", "expected the header FSU/<version>"),
        ("FSU/14", "ends before the air waybill line"),
        ("FSU/14\n160-5550123PVGLAX/T1\nRCS/01MAR0900/PVG/T1", "expected the air waybill line"),
        ("FSU/14\n160-55501235PVGLAX/T1", "no status line"),
        ("FSU/14\n160-55501235PVGLAX/T1\n/CONTINUES NOTHING", "continuation line follows nothing"),
        (
            "FSU/14\n160-55501235PVGLAX/T1\nRCS/01MAR0900/PVG/T1\n160-11111110PVGLAX/T1",
            "a second air waybill",
        ),
        ("FSU/14\n160-55501235PVGLAX/T1\nRCS/01MAR0900/PVG/T1\nFSU/14", "a second message header"),
        ("FSU/14\n160-55501235PVGLAX/T1\nHELLO WORLD", "not a status, OCI, OSI or ULD line"),
        ("FSU/14\n160-55501235PVGLAX/T1\nRCS/01MAR0900", "field 3 (airport) is missing"),
        (
            "FSU/14\n160-55501235PVGLAX/T1\nDEP/CX367/01MAR/PVG/T1",
            "field 4 should be two airport codes",
        ),
        ("FSU/14\n160-55501235PVGLAX/T1\nRCS/01MAR0900/PVG/12 PCS", "field 4 should be pieces"),
    ],
)
def test_malformed_messages_are_typed_errors_saying_what_is_wrong(body: str, message: str) -> None:
    with pytest.raises(FsuMessageError, match=re.escape(message)):
        _parse(body, MARCH)


# --- tables and registration -------------------------------------------------------------


def test_the_table_covers_every_fsu_status_code_with_a_known_layout() -> None:
    codes = "BKD RCS MAN PRE DEP ARR RCF TFD RCT TRM NFD AWR AWD CCD DLV DDL DIS TGC CRC FOH"
    assert set(codes.split()) <= set(STATUS_CODES)
    assert {code.layout for code in STATUS_CODES.values()} <= set(LAYOUTS)
    hubs = "PVG HKG CAN SZX PEK LAX ORD JFK FRA LEJ AMS LHR CDG DXB DOH ICN NRT SYD MEL ANC CVG MIA ATL DFW SFO SEA EWR"
    assert set(hubs.split()) <= set(AIRPORTS)


def test_the_connector_is_registered_for_plain_text_signed_with_standard_webhooks() -> None:
    connector = get_connector("iata_fsu")
    assert connector.parse is parse_iata_fsu
    assert connector.accepts("text/plain; charset=us-ascii")
    assert not connector.accepts("application/json")
    assert connector.signature is SignatureScheme.STANDARD_WEBHOOKS
