"""The X12 214 connector's rules: separators, envelope checks, time zones, mapping tables.

The fixtures (tests/fixtures/x12_214) pin whole journeys; these tests pin each rule on a
small interchange built here with whatever separators the case needs.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import x12_214
from connectors.base import SignatureScheme
from connectors.x12 import ISA_LENGTH, X12EnvelopeError, X12SegmentError
from connectors.x12_214 import CONNECTOR, X12LocalTimeError
from schemas.common import IdentifierKind
from schemas.events import EventKind, RawEnvelope, TrackingEvent
from schemas.milestones import Milestone
from tests.connector_cases import RECEIVED_AT

SHIPMENT = """\
B10*PRO123*SID9*ABCD
L11*BOL77*BM
N1*SH*SHIPPER CO
N4*CHICAGO*IL*60601*US
N1*CN*CONSIGNEE CO
N4*ATLANTA*GA*30301*US
LX*1
AT7*AF*NS***20250715*0800*CT
MS1*CHICAGO*IL*US
LX*2
AT7*D1*NS***20250717*1430*LT
MS1*ATLANTA*GA*US
K1*SIGNED BY ME"""


def interchange(
    *sets: str,
    element: str = "*",
    component: str = ">",
    terminator: str = "~",
    repetition: str | None = None,
    line_end: str = "",
    usage: str = "P",
    version: str = "004010",
) -> str:
    """An interchange of one QM group holding ``sets`` (segments written with ``*``, one a
    line), with correct counts and control numbers, in the separators asked for."""
    isa12 = "00501" if repetition else "00401"
    isa = ["ISA", "00", " " * 10, "00", " " * 10, "02", "ABCD".ljust(15), "ZZ"]
    isa += ["TRACKHUB".ljust(15), "250717", "1800", repetition or "U", isa12, "000000042"]
    isa += ["0", usage, component]
    segments = [isa, ["GS", "QM", "ABCD", "TRACKHUB", "20250717", "1800", "7", "X", version]]
    for n, text in enumerate(sets, start=1):
        body = [["ST", "214", f"{n:04d}"], *(line.split("*") for line in text.splitlines())]
        segments += [*body, ["SE", str(len(body) + 1), f"{n:04d}"]]
    segments += [["GE", str(len(sets)), "7"], ["IEA", "1", "000000042"]]
    return "".join(element.join(s) + terminator + line_end for s in segments)


def parse(text: str | bytes) -> list[TrackingEvent]:
    body = text.encode("utf-8") if isinstance(text, str) else text
    raw = RawEnvelope.from_body(
        body=body,
        source="x12_214",
        format="x12_214",
        reference="unit",
        received_at=RECEIVED_AT,
        content_type="application/edi-x12",
        signature_verified=True,
    )
    return CONNECTOR.parse(raw)


def one(at7: str, ms1: str | None = "MS1*CHICAGO*IL*US", extra: str = "") -> TrackingEvent:
    """The single event of a shipment whose only status is ``at7``."""
    lines = ["B10*PRO123*SID9*ABCD", "N1*CN*CONSIGNEE CO", "N4*ATLANTA*GA*30301*US", "LX*1", at7]
    lines += [ms1] if ms1 else []
    lines += extra.splitlines()
    (event,) = parse(interchange("\n".join(lines)))
    return event


def dumps(events: list[TrackingEvent]) -> list[dict[str, object]]:
    return [e.model_dump(mode="json", exclude={"raw_id"}) for e in events]


BASELINE = dumps(parse(interchange(SHIPMENT)))


# --- separators --------------------------------------------------------------------------


def assert_reads_like_baseline(
    element: str, component: str, terminator: str, repetition: str | None
) -> None:
    text = interchange(
        SHIPMENT,
        element=element,
        component=component,
        terminator=terminator,
        repetition=repetition,
    )
    assert dumps(parse(text)) == BASELINE


@pytest.mark.parametrize(
    ("element", "component", "terminator", "repetition"),
    [
        ("|", "^", "\n", None),
        ("\x1d", "\x1f", "\x1e", None),  # ASCII group/unit/record separators
        ("!", "@", "#", None),
        ("*", ":", "~", "^"),  # 00501 with a repetition separator
        ("~", "*", "\r", None),  # the usual characters in other roles
    ],
)
def test_every_separator_comes_from_the_isa(
    element: str, component: str, terminator: str, repetition: str | None
) -> None:
    assert_reads_like_baseline(element, component, terminator, repetition)


SEPARATOR_POOL = [*"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "\n", "\r", "\x1c", "\x1d", "\x1e", "\x1f"]


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(SEPARATOR_POOL), min_size=4, max_size=4, unique=True))
def test_any_distinct_separators_read_the_same(chars: list[str]) -> None:
    element, component, terminator, repetition = chars
    assert_reads_like_baseline(element, component, terminator, repetition)


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_line_breaks_after_terminators_are_tolerated(line_end: str) -> None:
    assert dumps(parse(interchange(SHIPMENT, line_end=line_end))) == BASELINE


def test_a_newline_terminator_tolerates_crlf_files() -> None:
    text = interchange(SHIPMENT, element="|", terminator="\n").replace("\n", "\r\n")
    assert dumps(parse(text)) == BASELINE


def test_a_bom_and_leading_blank_lines_are_tolerated() -> None:
    assert dumps(parse(b"\xef\xbb\xbf\r\n" + interchange(SHIPMENT).encode())) == BASELINE


def test_isa11_is_a_standards_id_before_00402_and_a_separator_after() -> None:
    # 00401: ISA11 'U' is not a separator, so data full of U's reads fine (US, SHIPPER ...)
    assert parse(interchange(SHIPMENT))
    # 00501: ISA11 '^' is the repetition separator; a simple element may not hold it
    text = interchange(SHIPMENT.replace("SIGNED BY ME", "A^B"), repetition="^")
    with pytest.raises(X12SegmentError, match=r"K101 holds the repetition separator '\^'"):
        parse(text)


def test_a_component_separator_inside_a_simple_element_is_refused() -> None:
    with pytest.raises(X12SegmentError, match="AT701 holds the component separator"):
        parse(interchange(SHIPMENT.replace("AT7*AF", "AT7*AF>X")))


def test_several_interchanges_in_one_body() -> None:
    second = interchange(SHIPMENT, element="|", component="^", terminator="\n")
    events = parse(interchange(SHIPMENT, line_end="\n") + second)
    assert dumps(events) == BASELINE + BASELINE


# --- the ISA header ----------------------------------------------------------------------

GOOD = interchange(SHIPMENT)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the body is empty"),
        ("  \r\n", "the body is empty"),
        ("GS*QM*ABCD~", "expected an ISA segment"),
        (GOOD[: ISA_LENGTH - 1], "ISA is truncated: 105 of its 106 characters"),
        (GOOD.replace("ABCD           ", "ABCD", 1), "ISA is not fixed-width: ISA06 should be 15"),
        (GOOD.replace("*0*P*>~", "*0*P*>", 1), "segment terminator 'G' is a letter"),
        (GOOD.replace("*0*P*>~", "*0*P*~~", 1), "two separators are the same character"),
        (GOOD.replace("*0*P*>~", "*0*P**~", 1), "ISA has 17 elements, not 16"),
        (GOOD.replace("000000042*0", "00000004X*0", 1), "ISA13 '00000004X' is not 9 digits"),
        (GOOD.replace("*0*P*", "*0*X*", 1), "ISA15 'X' is neither P nor T"),
        (GOOD.replace("*0*P*", "*0*T*", 1), "ISA15 'T' marks test data"),
    ],
)
def test_a_bad_isa_is_an_envelope_error(text: str, message: str) -> None:
    with pytest.raises(X12EnvelopeError, match=message.replace("*", r"\*")):
        parse(text)


# --- envelope counts and control numbers -------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("SE*15*0001", "SE*14*0001", "SE01 says '14', but there are 15 segments in the set"),
        ("SE*15*0001", "SE*15*0009", "SE02 '0009' does not match ST02 '0001'"),
        ("GE*1*7", "GE*2*7", "GE01 says '2', but there are 1 transaction sets"),
        ("GE*1*7", "GE*1*8", "GE02 '8' does not match GS06 '7'"),
        ("IEA*1*", "IEA*3*", "IEA01 says '3', but there are 1 functional groups"),
        ("IEA*1*000000042", "IEA*1*000000043", "IEA02 '000000043' does not match ISA13"),
        ("SE*15*0001~", "", "transaction set '0001' has no SE"),
        ("GE*1*7~", "", "expected ST or GE, found IEA"),
        ("IEA*1*000000042~", "", "the interchange ends without IEA"),
        ("ST*214*0001", "ST*204*0001", "is a '204', not a 214"),
        ("GS*QM*", "GS*SM*", "GS01 'SM' is not QM"),
        ("*X*004010", "*X*003070", "GS08 version '003070' is older than 004010"),
        ("*20250717*1800*7*", "*20250732*1800*7*", "GS04 '20250732' is not a CCYYMMDD date"),
        ("LX*1~", "lx*1~", "not a segment: 'lx*1'"),
        ("LX*1~", "~", "not a segment: ''"),
        ("GS*QM*", "XX*QM*", "expected GS or IEA, found XX"),
    ],
)
def test_envelope_mismatches_are_envelope_errors(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(X12EnvelopeError, match=message.replace("*", r"\*")):
        parse(GOOD.replace(old, new, 1))


def test_two_transaction_sets_in_one_group_are_both_mapped() -> None:
    other = SHIPMENT.replace("PRO123", "PRO456")
    events = parse(interchange(SHIPMENT, other))
    assert [e.primary_identifier.value for e in events] == ["PRO123"] * 2 + ["PRO456"] * 2


def test_trailing_text_after_iea_is_refused() -> None:
    with pytest.raises(X12EnvelopeError, match="expected an ISA segment"):
        parse(GOOD + "\nHELLO")


# --- time ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "hours"),
    [
        ("ES", -5), ("ED", -4), ("CS", -6), ("CD", -5), ("MS", -7), ("MD", -6), ("PS", -8),
        ("PD", -7), ("AS", -9), ("AD", -8), ("HS", -10), ("HD", -9), ("NS", -3.5),
        ("ND", -2.5), ("TS", -4), ("TD", -3), ("UT", 0), ("GM", 0), ("01", 1), ("05", 5),
        ("12", 12), ("13", -12), ("20", -5), ("24", -1), ("25", -2.5), ("27", 5.5),
    ],
)  # fmt: skip
def test_standard_daylight_and_numeric_codes_are_fixed_offsets(code: str, hours: float) -> None:
    for day in ("20250115", "20250715"):  # the season never changes a fixed code
        event = one(f"AT7*X6*NS***{day}*1200*{code}")
        assert event.occurred_at.utcoffset() == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("code", "ms1", "january", "july"),
    [
        ("ET", "MS1*CHICAGO*IL*US", -5, -4),  # Eastern clock, whatever the place says
        ("CT", None, -6, -5),
        ("MT", "MS1*DENVER*CO*US", -7, -6),
        ("MT", "MS1*PHOENIX*AZ*US", -7, -7),  # Arizona's mountain clock has no DST
        ("PT", None, -8, -7),
        ("AT", None, -9, -8),  # X12 AT is Alaska Time, not Atlantic
        ("TT", None, -4, -3),  # Atlantic Time
        ("HT", None, -10, -10),  # Hawaii keeps standard time
        ("NT", None, -3.5, -2.5),
        ("ET", "MS1*KNOXVILLE*TN*US", -5, -4),  # TN's table zone is Central: ET wins
    ],
)
def test_zone_codes_follow_daylight_saving(
    code: str, ms1: str | None, january: float, july: float
) -> None:
    for day, hours in (("20250115", january), ("20250715", july)):
        event = one(f"AT7*X6*NS***{day}*1200*{code}", ms1=ms1)
        assert event.occurred_at.utcoffset() == timedelta(hours=hours), day


@pytest.mark.parametrize(
    ("ms1", "zone", "country"),
    [
        ("MS1*CHICAGO*IL*US", "America/Chicago", "US"),
        ("MS1*CHICAGO*IL", "America/Chicago", "US"),  # the country follows from the state
        ("MS1*TORONTO*ON", "America/Toronto", "CA"),
        ("MS1*REGINA*SK*CAN", "America/Regina", "CA"),
        ("MS1*ANCHORAGE*AK*USA", "America/Anchorage", "US"),
        ("MS1*SAN JUAN*PR*US", "America/Puerto_Rico", "US"),
        ("MS1*LONDON**GB", "Europe/London", "GB"),
        ("MS1*SHENZHEN**CHN", "Asia/Shanghai", "CN"),
    ],
)
@pytest.mark.parametrize("code", ["*LT", ""])  # AT707 LT, or absent: both local time
def test_local_time_is_placed_by_state_or_country(
    ms1: str, zone: str, country: str, code: str
) -> None:
    event = one(f"AT7*X6*NS***20250715*1200{code}", ms1=ms1)
    expected = ZoneInfo(zone).utcoffset(event.occurred_at.replace(tzinfo=None))
    assert event.occurred_at.utcoffset() == expected
    assert event.location is not None and event.location.country == country


@pytest.mark.parametrize(
    ("ms1", "message"),
    [
        ("MS1*SPRINGFIELD**US", r"'SPRINGFIELD, US' names none"),
        ("MS1*GUADALAJARA*JA*MX", r"'GUADALAJARA, JA, MX' names none"),
        ("MS1*TORONTO*ON*US", r"'TORONTO, ON, US' names none"),
        ("MS1****0873823*0415242*W*N", "MS1 gives coordinates only"),
        (None, r"there is no MS1 \(nor a pick-up/delivery N4 address\)"),
    ],
)
def test_unplaceable_local_time_is_a_typed_error(ms1: str | None, message: str) -> None:
    with pytest.raises(X12LocalTimeError, match=message):
        one("AT7*X6*NS***20250715*1200*LT", ms1=ms1)


def test_coordinates_with_a_fixed_code_map_without_location() -> None:
    event = one("AT7*X6*NS***20250715*1200*UT", ms1="MS1****0873823*0415242*W*N")
    assert event.location is None
    assert event.occurred_at.isoformat() == "2025-07-15T12:00:00+00:00"


def test_a_repeated_hour_reads_as_its_first_occurrence() -> None:
    event = one("AT7*X6*NS***20251102*0130*ET")  # 01:30 happens twice that night
    assert event.occurred_at.isoformat() == "2025-11-02T01:30:00-04:00"


@pytest.mark.parametrize(
    ("clock", "iso"),
    [
        ("0905", "09:05:00"),
        ("090507", "09:05:07"),
        ("0905075", "09:05:07.500000"),
        ("09050712", "09:05:07.120000"),
    ],
)
def test_time_formats(clock: str, iso: str) -> None:
    event = one(f"AT7*X6*NS***20250715*{clock}*UT")
    assert event.occurred_at.isoformat() == f"2025-07-15T{iso}+00:00"


@pytest.mark.parametrize(
    ("at7", "message"),
    [
        ("AT7*X6*NS***20250715*2460*UT", "AT706 '2460' is not an HHMM"),
        ("AT7*X6*NS***20250715*915*UT", "AT706 '915' is not an HHMM"),
        ("AT7*X6*NS***250715*0915*UT", "AT705 '250715' is not a CCYYMMDD date"),
        ("AT7*X6*NS***20250230*0915*UT", "AT705 '20250230' is not a CCYYMMDD date"),
        ("AT7*X6*NS***20250715*0915*ZZ", "AT707 'ZZ' is not an X12 time code"),
        ("AT7*X6*NS***20250715**UT", "AT706 \\(time\\) is missing"),
        ("AT7*X6*NS***20250715", "AT706 \\(time\\) is missing"),
        ("AT7*AF*NS*AB**20250715*1200*CT", "AT701 \\(status\\) and AT703 \\(appointment\\)"),
        ("AT7*****20250715*1200*CT", "AT7 has neither a status"),
    ],
)
def test_a_bad_at7_is_a_segment_error(at7: str, message: str) -> None:
    with pytest.raises(X12SegmentError, match=message):
        one(at7)


# --- statuses, reasons, estimates --------------------------------------------------------


@pytest.mark.parametrize(
    ("at7", "milestone", "reason"),
    [
        ("AT7*X1*AO***20250715*1200*CT", Milestone.EXCEPTION, "AO"),  # progress + weather
        ("AT7*X6*AI***20250715*1200*CT", Milestone.EXCEPTION, "AI"),  # mechanical breakdown
        ("AT7*X3*AY***20250715*1200*CT", Milestone.EXCEPTION, "AY"),  # info + missed pick-up
        ("AT7*X1*AZ***20250715*1200*CT", Milestone.OUT_FOR_DELIVERY, "AZ"),  # not an exception
        ("AT7*X6*Q9***20250715*1200*CT", Milestone.IN_TRANSIT, "Q9"),  # unknown: kept, no effect
        ("AT7*X6*NS***20250715*1200*CT", Milestone.IN_TRANSIT, None),  # normal: not repeated
        ("AT7*D1*S1***20250715*1200*CT", Milestone.DELIVERED, "S1"),  # terminal stays terminal
        ("AT7*SD*NS***20250715*1200*CT", Milestone.EXCEPTION, None),
        ("AT7*A9*AK***20250715*1200*CT", Milestone.DAMAGED, "AK"),  # already an exception
        ("AT7*AH*B1***20250715*1200*CT", Milestone.DELIVERY_ATTEMPTED, "B1"),
        ("AT7*ZZ*NS***20250715*1200*CT", Milestone.INFO, None),  # unknown status code
    ],
)
def test_reasons_qualify_progress_but_never_a_settled_status(
    at7: str, milestone: Milestone, reason: str | None
) -> None:
    event = one(at7)
    assert (event.milestone, event.reason_code) == (milestone, reason)
    assert event.kind is EventKind.ACTUAL


def test_descriptions_carry_the_reason_and_the_remarks() -> None:
    event = one("AT7*SD*AO***20250715*1200*CT", extra="K1*ROAD CLOSED*DETOUR\nK1*CALL AHEAD")
    assert event.source_description == (
        "Shipment Delayed (Weather or Natural Disaster Related): ROAD CLOSED / DETOUR / CALL AHEAD"
    )
    assert one("AT7*X6*Q9***20250715*1200*CT").source_description == (
        "En Route to Delivery Location (reason Q9)"
    )
    assert one("AT7*ZZ****20250715*1200*CT").source_description is None


@pytest.mark.parametrize(
    ("at7", "milestone", "source_code", "estimated"),
    [
        ("AT7*AG*NS***20250718*1500*CT", Milestone.DELIVERED, "AG", "2025-07-18T15:00:00-05:00"),
        ("AT7*AG*AO***20250718**CT", Milestone.DELIVERED, "AG", "2025-07-18T23:59:59-05:00"),
        ("AT7*X2*NS***20250718*1500*CT", Milestone.DELIVERED, "X2", "2025-07-18T15:00:00-05:00"),
        ("AT7***AB*NA*20250718*0800*CT", Milestone.DELIVERED, "AB", "2025-07-18T08:00:00-05:00"),
        (
            "AT7***AA**20250716*0700*ET",
            Milestone.CARRIER_RECEIVED,
            "AA",
            "2025-07-16T07:00:00-04:00",
        ),
        ("AT7*B6*NS***20250716*2200*CT", Milestone.IN_TRANSIT, "B6", "2025-07-16T22:00:00-05:00"),
        ("AT7***QQ**20250716*2200*CT", Milestone.INFO, "QQ", "2025-07-16T22:00:00-05:00"),
    ],
)
def test_estimates_and_appointments(
    at7: str, milestone: Milestone, source_code: str, estimated: str
) -> None:
    event = one(at7)
    assert event.kind is EventKind.ESTIMATED
    assert (event.milestone, event.source_code) == (milestone, source_code)
    assert event.estimated_at is not None and event.estimated_at.isoformat() == estimated
    # issued when the group was built (GS04/GS05, 2025-07-17 18:00), in the estimate's zone
    assert event.occurred_at.replace(tzinfo=None).isoformat() == "2025-07-17T18:00:00"
    assert event.occurred_at.utcoffset() == event.estimated_at.utcoffset()


# --- identifiers, party, location --------------------------------------------------------


@pytest.mark.parametrize(
    ("l11", "kind", "value", "issuer"),
    [
        ("L11*BOL 77*BM", IdentifierKind.BILL_OF_LADING, "BOL77", None),
        ("L11*PO-1*PO", IdentifierKind.ORDER_ID, "PO-1", None),
        ("L11*CUST 9*CR", IdentifierKind.SHIPMENT_REF, "CUST 9", None),
        ("L11*16055501234*AW", IdentifierKind.MAWB, "160-55501234", None),
        ("L11*HAWB12*AW", IdentifierKind.HAWB, "HAWB12", None),
        ("L11*BK1*BN", IdentifierKind.BOOKING, "BK1", None),
        ("L11*998877*CN", IdentifierKind.TRACKING_NUMBER, "998877", "ABCD"),
        ("L11*1Z999*2I", IdentifierKind.TRACKING_NUMBER, "1Z999", "ABCD"),
        ("L11*CSQU3054383*EQ", IdentifierKind.CONTAINER, "CSQU3054383", None),
        ("L11*TRL 53*EQ", IdentifierKind.SHIPMENT_REF, "TRL 53", None),
        ("L11*X7*YY", IdentifierKind.SHIPMENT_REF, "X7", None),  # unknown qualifier
        ("L11*FBA15DJCQS6W*ZZ", IdentifierKind.FBA_SHIPMENT, "FBA15DJCQS6W", None),
    ],
)
def test_l11_qualifiers_map_to_identifier_kinds(
    l11: str, kind: IdentifierKind, value: str, issuer: str | None
) -> None:
    event = one("AT7*X6*NS***20250715*1200*CT", extra=l11)
    assert event.identifiers[-1].model_dump() == {"kind": kind, "value": value, "issuer": issuer}


@pytest.mark.parametrize("qualifier", ["QN", "SN", "AO", "DK"])
def test_qualifiers_that_name_no_shipment_are_skipped(qualifier: str) -> None:
    event = one("AT7*X6*NS***20250715*1200*CT", extra=f"L11*4*{qualifier}")
    assert [i.value for i in event.identifiers] == ["PRO123", "SID9"]


def test_identifier_order_scope_and_duplicates() -> None:
    text = interchange(
        "B10*PRO123*SID9*abcd\nL11*PRO123*CN\nL11*O1*PO\nN1*SH*X\nL11*STORE5*ST\n"
        "LX*1\nAT7*X6*NS***20250715*1200*CT\nL11*O2*PO\nL11*O1*PO\nCD3*X\nL11*CARTON*ZZ\n"
        "LX*2\nAT7*D1*NS***20250716*1200*CT\nMS2*ABCD*53127"
    )
    first, second = parse(text)
    assert [i.key for i in first.identifiers] == [
        "tracking_number:PRO123",  # B1001, issued by the SCAC; the L11 CN repeats it
        "shipment_ref:SID9",
        "order_id:O1",
        "order_id:O2",  # the loop's L11s; none from the N1 loop or after the CD3 loop
    ]
    assert first.primary_identifier.issuer == "ABCD"
    assert second.identifiers[-1].model_dump() == {
        "kind": IdentifierKind.SHIPMENT_REF,
        "value": "53127",
        "issuer": "ABCD",  # a trailer: only unique per owner
    }
    assert first.source.party.model_dump() == {
        "role": "last_mile_carrier",
        "id": "abcd",
        "name": None,
    }


@pytest.mark.parametrize(
    "ms2", ["MS2*TGHU*771204*CN*6", "MS2*TGHU*7712046", "MS2*TGHU*TGHU7712046", "MS2**TGHU7712046"]
)
def test_container_equipment_is_recognized_in_every_spelling(ms2: str) -> None:
    event = one("AT7*X6*NS***20250715*1200*CT", extra=ms2)
    assert event.identifiers[-1].key == "container:TGHU7712046"


def test_b10_with_a_qualified_reference_instead_of_a_pro() -> None:
    text = interchange("B10**SHIP1*ABCD**BN*BK42\nLX*1\nAT7*X6*NS***20250715*1200*UT")
    (event,) = parse(text)
    assert [i.key for i in event.identifiers] == ["shipment_ref:SHIP1", "booking:BK42"]


@pytest.mark.parametrize(
    ("shipment", "message"),
    [
        ("L11*X*BM\nLX*1\nAT7*X6*NS***20250715*1200*UT", "B10 is missing"),
        ("B10*P1*S1\nLX*1\nAT7*X6*NS***20250715*1200*UT", "B1003 \\(SCAC\\)"),
        ("B10*P1*S1*ABCDE\nLX*1\nAT7*X6*NS***20250715*1200*UT", "B1003 'ABCDE' is not a SCAC"),
        ("B10***ABCD\nLX*1\nAT7*X6*NS***20250715*1200*UT", "no shipment reference"),
        ("B10*P1**ABCD**BN\nLX*1\nAT7*X6*NS***20250715*1200*UT", "B1005 and B1006 come together"),
        ("B10*P1**ABCD\nL11*X\nLX*1\nAT7*X6*NS***20250715*1200*UT", "L1101 and L1102 come together"),
        ("B10*P1**ABCD\nB10*P2**ABCD\nLX*1\nAT7*X6*NS***20250715*1200*UT", "a second B10"),
        ("B10*P1**ABCD\nAT7*X6*NS***20250715*1200*UT", "AT7 before any LX"),
        ("B10*P1**ABCD\nLX*1\nMS1*A*IL\nAT7*X6*NS***20250715*1200*UT", "MS1 comes before any AT7"),
        ("B10*P1**ABCD\nLX*1\nAT7*X6*NS***20250715*1200*UT\nMS1*A*IL\nMS1*B*IL", "a second MS1"),
        ("B10*P1**ABCD\nLX*1", "holds no AT7 status"),
        ("B10*P1**ABCD\nLX*1\nAT7*X6*NS***20250715*1200*UT\nMS1**IL", "MS1 has neither a city nor coordinates"),
        ("B10*P1**ABCD\nLX*1\nAT7*X6*NS***20250715*1200*UT\nMS1*A*IL*US*****" + "9" * 21, "postal_code"),
    ],
)  # fmt: skip
def test_bad_shipments_are_segment_errors(shipment: str, message: str) -> None:
    with pytest.raises(X12SegmentError, match=message):
        parse(interchange(shipment))


def test_statuses_at_a_pickup_or_delivery_place_fall_back_to_the_n1_address() -> None:
    text = interchange(
        "B10*PRO1**ABCD\nN1*SH*SHIPPER\nN4*RENO*NV*89502*US\nN1*SF*WAREHOUSE\nN4*SPARKS*NV*89431\n"
        "N1*CN*BUYER\nN4*BOISE*ID*83702*USA\n"
        "LX*1\nAT7*AF*NS***20250715*0800\nLX*2\nAT7*X6*NS***20250716*0800*UT\n"
        "LX*3\nAT7*D1*NS***20250717*0800"
    )
    pickup, moving, delivery = parse(text)
    assert pickup.location is not None and pickup.location.model_dump(exclude_none=True) == {
        "city": "SPARKS",  # ship-from (SF) before shipper (SH)
        "country": "US",
        "postal_code": "89431",
    }
    assert pickup.occurred_at.isoformat() == "2025-07-15T08:00:00-07:00"
    assert moving.location is None  # en route: no place by definition
    assert delivery.location is not None and delivery.location.city == "BOISE"
    assert delivery.occurred_at.isoformat() == "2025-07-17T08:00:00-06:00"


# --- the tables and the connector --------------------------------------------------------

X12_623_CODES = {f"{n:02d}" for n in range(1, 30)} | {
    f"{region}{suffix}" for region in "ACEHMNPT" for suffix in "SDT"
} | {"GM", "LT", "UT"}  # fmt: skip


def test_the_time_code_table_covers_element_623() -> None:
    assert set(x12_214.TIME_CODES) == X12_623_CODES


def test_every_zone_in_the_tables_exists() -> None:
    zones = [z for states in x12_214.LOCAL_ZONES.values() for z in states.values()]
    for zone in [*zones, *x12_214.COUNTRY_ZONES.values()]:
        ZoneInfo(zone)
    for country, states in x12_214.CODES["split_states"].items():
        assert set(states) <= set(x12_214.LOCAL_ZONES[country])


def test_reference_kinds_are_identifier_kinds_or_rules() -> None:
    kinds = {q.kind for q in x12_214.REFERENCE_QUALIFIERS.values()} - {None}
    assert kinds <= {k.value for k in IdentifierKind} | {"air_waybill", "equipment"}


def test_connector_contract() -> None:
    assert CONNECTOR.name == "x12_214"
    assert CONNECTOR.signature is SignatureScheme.STANDARD_WEBHOOKS
    assert CONNECTOR.accepts("application/EDI-X12; charset=utf-8")
    assert CONNECTOR.accepts("text/plain")
    assert not CONNECTOR.accepts("application/json")


@pytest.mark.parametrize(
    ("ms1", "country"),
    [
        ("MS1*PEORIA*IL*XX", "US"),  # not ISO 3166: left out, then known from the state
        ("MS1*SOMEWHERE**QQQ", None),
        ("MS1*MONTERREY*NL*MEX", "MX"),  # alpha-3 converted; NL here is Nuevo Leon, not Canada
    ],
)
def test_country_codes_are_converted_or_left_out(ms1: str, country: str | None) -> None:
    event = one("AT7*X6*NS***20250715*1200*UT", ms1=ms1)
    assert event.location is not None and event.location.country == country
