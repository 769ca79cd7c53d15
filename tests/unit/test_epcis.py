"""The EPCIS connector's rules that the fixtures do not spell out one by one: GS1 key
conversion, CBV vocabulary forms, the time-offset rule, the document context, splitting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from connectors import epcis
from connectors.base import SignatureScheme
from connectors.epcis import (
    CODES,
    GLN,
    EPCISIdentifierError,
    EPCISPayloadError,
    bare_term,
    gln_from_uri,
    gs1_check_digit,
    load_code_table,
    sscc_from_epc,
    transaction_reference,
)
from connectors.registry import get_connector
from schemas.events import RawEnvelope, TrackingEvent
from schemas.milestones import Milestone

RECEIVED = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)

# CBV 2.0 code lists, as the EPCIS 2.0 JSON Schema enumerates them
CBV_BIZSTEPS = {
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
    "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
    "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
    "installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
    "repackaging", "repairing", "replacing", "reserving", "retail_selling", "shipping",
    "staging_outbound", "stock_taking", "stocking", "storing", "transporting", "unloading",
    "unpacking", "void_shipping", "sensor_reporting", "sampling",
}  # fmt: skip
CBV_DISPOSITIONS = {
    "active", "container_closed", "damaged", "destroyed", "dispensed", "disposed", "encoded",
    "expired", "in_progress", "in_transit", "inactive", "no_pedigree_match",
    "non_sellable_other", "partially_dispensed", "recalled", "reserved", "retail_sold",
    "returned", "sellable_accessible", "sellable_not_accessible", "stolen", "unknown",
    "available", "completeness_verified", "completeness_inferred", "conformant",
    "container_open", "mismatch_instance", "mismatch_class", "mismatch_quantity",
    "needs_replacement", "non_conformant", "unavailable",
}  # fmt: skip
CBV_BTT = {"bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv",
           "rma", "testprd", "testres", "upevt"}  # fmt: skip


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2026-03-02T08:20:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sscc:0614141.1234567890"],
        "action": "OBSERVE",
        "bizStep": "receiving",
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def _parse(*events: dict[str, Any], **document: Any) -> list[TrackingEvent]:
    body = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-02T10:00:00Z",
        "epcisBody": {"eventList": list(events)},
        **document,
    }
    raw = RawEnvelope.from_body(
        body=json.dumps(body).encode(),
        source="epcis",
        format="epcis",
        reference="unit",
        received_at=RECEIVED,
        content_type="application/ld+json",
        signature_verified=True,
    )
    return epcis.parse_epcis_document(raw)


# --- the connector as the gateway sees it --------------------------------------------------


def test_connector_is_registered_with_json_ld_and_standard_webhooks() -> None:
    connector = get_connector("epcis")
    assert connector.accepts("application/ld+json; charset=utf-8")
    assert connector.accepts("application/json")
    assert not connector.accepts("application/xml")
    assert connector.signature is SignatureScheme.STANDARD_WEBHOOKS


# --- GS1 keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "check"),
    [("10614141234567890", "8"), ("0061414112345", "2"), ("629104150021", "3")],
)
def test_gs1_check_digit(digits: str, check: str) -> None:
    assert gs1_check_digit(digits) == check


@pytest.mark.parametrize(
    "epc",
    [
        "urn:epc:id:sscc:0614141.1234567890",  # the TDS example: extension digit 1 leads
        "https://id.gs1.org/00/106141412345678908",
        "https://example-logistics.jp/goods/00/106141412345678908?linkType=all",
        "URN:EPC:ID:SSCC:0614141.1234567890",
    ],
)
def test_sscc_from_urn_and_digital_link_agree(epc: str) -> None:
    assert sscc_from_epc(epc) == "106141412345678908"


def test_sscc_urn_with_a_twelve_digit_company_prefix() -> None:
    assert sscc_from_epc("urn:epc:id:sscc:061414112345.31234") == "306141411234512341"


@pytest.mark.parametrize(
    "epc",
    [
        "urn:epc:id:sgtin:0614141.107346.2017",
        "https://id.gs1.org/01/09521234543213/21/123",
        "urn:epc:id:grai:4012345.55555.98765",
        "https://example.com/things/42",
    ],
)
def test_other_epcs_are_not_ssccs(epc: str) -> None:
    assert sscc_from_epc(epc) is None


@pytest.mark.parametrize(
    ("epc", "message"),
    [
        ("urn:epc:id:sscc:0614141.12345", "not an SSCC URN"),
        ("urn:epc:id:sscc:0614141.123456789X", "not an SSCC URN"),
        ("urn:epc:id:sscc:06141.123456789012", "not an SSCC URN"),  # prefix under 6 digits
        ("urn:epc:id:sscc:0614141", "not an SSCC URN"),
        ("https://id.gs1.org/00/10614141234567890", "18 digits"),
        ("https://id.gs1.org/00/106141412345678909", "wrong SSCC check digit"),
    ],
)
def test_malformed_ssccs_are_refused(epc: str, message: str) -> None:
    with pytest.raises(EPCISIdentifierError, match=message):
        sscc_from_epc(epc)


@pytest.mark.parametrize(
    ("uri", "gln"),
    [
        ("urn:epc:id:sgln:0614141.12345.400", GLN("0614141123452", "400")),
        ("urn:epc:id:sgln:0614141.12345.0", GLN("0614141123452")),
        ("urn:epc:id:sgln:061414112345..0", GLN("0614141123452")),
        ("urn:epc:id:pgln:0614141.12345", GLN("0614141123452")),
        ("https://id.gs1.org/414/0614141123452/254/400", GLN("0614141123452", "400")),
        ("https://id.gs1.org/417/0614141123452", GLN("0614141123452")),
        ("https://id.gs1.org/414/0614141123453", None),  # wrong check digit
        ("urn:epc:id:sgln:0614141.123.0", None),
        ("geo:51.5,-0.12", None),
    ],
)
def test_gln_from_location_and_party_ids(uri: str, gln: GLN | None) -> None:
    assert gln_from_uri(uri) == gln


@pytest.mark.parametrize(
    ("value", "reference", "issuer"),
    [
        ("urn:epcglobal:cbv:bt:0614141000012:PO-4711", "PO-4711", "gln-0614141000012"),
        ("urn:epc:id:gsin:0614141.123456789", "06141411234567890", None),
        ("urn:epc:id:gdti:0614141.00001.1618034", "06141410000121618034", None),
        ("https://id.gs1.org/402/06141411234567890", "06141411234567890", None),
        ("http://transaction.acme.com/po/12345678", "12345678", None),
        ("SO-UK-204-5550123", "SO-UK-204-5550123", None),
    ],
)
def test_business_transaction_references(value: str, reference: str, issuer: str | None) -> None:
    assert transaction_reference(value) == (reference, issuer)


# --- CBV vocabulary forms -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "shipping",
        "urn:epcglobal:cbv:bizstep:shipping",
        "https://ref.gs1.org/cbv/BizStep-shipping",
        "http://ref.gs1.org/cbv/BizStep-shipping",
        "https://gs1.org/voc/BizStep-shipping",
        "https://ns.gs1.org/cbv/BizStep-shipping",
        "cbv:BizStep-shipping",
        " URN:EPCGLOBAL:CBV:BIZSTEP:SHIPPING ",
    ],
)
def test_every_bizstep_form_reduces_to_the_bare_word(value: str) -> None:
    assert bare_term(value, epcis.BIZSTEP) == "shipping"


def test_a_uri_of_another_vocabulary_is_kept_verbatim() -> None:
    assert bare_term("urn:epcglobal:cbv:disp:damaged", epcis.BIZSTEP) == (
        "urn:epcglobal:cbv:disp:damaged"
    )
    assert bare_term("https://ns.example.com/bizstep/relabel", epcis.BIZSTEP) == (
        "https://ns.example.com/bizstep/relabel"
    )
    assert bare_term("https://ref.gs1.org/cbv/Disp-in_transit", epcis.DISPOSITION) == "in_transit"


# --- the code table ---------------------------------------------------------------------------


def test_code_table_keys_are_cbv_terms() -> None:
    assert set(CODES.bizsteps) <= CBV_BIZSTEPS
    assert set(CODES.dispositions) <= CBV_DISPOSITIONS
    assert set(CODES.biz_transaction_types) <= CBV_BTT
    assert CODES.stocking_site_bizsteps <= set(CODES.bizsteps)
    assert CODES.observed_by_destination <= set(CODES.bizsteps)
    for rule in CODES.dispositions.values():
        assert set(rule.by_bizstep) <= set(CODES.bizsteps)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unlisted_bizstep": {"milestone": "teleported", "role": "seller"}}, "teleported"),
        ({"bizsteps": {"shipping": {"milestone": "picked_up", "role": "seller", "at_site": {}}}},
         "unknown bizStep row keys"),
    ],
)  # fmt: skip
def test_a_bad_code_table_fails_to_load(tmp_path: Path, change: dict, message: str) -> None:
    data = json.loads(epcis.CODES_FILE.read_text(encoding="utf-8"))
    data.update(change)
    path = tmp_path / "codes.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_code_table(path)


def test_unknown_or_missing_bizstep_is_info() -> None:
    unknown, missing = _parse(
        _event(bizStep="https://ns.example.com/bizstep/relabel"), _event(bizStep=None)
    )
    assert unknown.milestone is missing.milestone is Milestone.INFO
    assert unknown.source_code == "https://ns.example.com/bizstep/relabel"
    assert missing.source_code == "ObjectEvent"


def test_disposition_overrides_the_bizstep() -> None:
    damaged, returned_moving, returned_home = _parse(
        _event(disposition="urn:epcglobal:cbv:disp:damaged"),
        _event(bizStep="departing", disposition="returned"),
        _event(disposition="https://ref.gs1.org/cbv/Disp-returned"),
    )
    assert damaged.milestone is Milestone.DAMAGED
    assert damaged.reason_code == "damaged"
    assert returned_moving.milestone is Milestone.RETURN_TO_SENDER
    assert returned_home.milestone is Milestone.RETURNED


# --- time -------------------------------------------------------------------------------------


def test_occurred_at_is_the_same_instant_in_the_event_time_zone_offset() -> None:
    (event,) = _parse(_event(eventTime="2026-03-30T08:15:00Z", eventTimeZoneOffset="+01:00"))
    assert event.occurred_at == datetime(2026, 3, 30, 8, 15, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(hours=1)
    assert event.occurred_at.isoformat() == "2026-03-30T09:15:00+01:00"


def test_without_event_time_zone_offset_the_event_time_offset_is_kept() -> None:
    (event,) = _parse(_event(eventTime="2026-03-30T03:15:00-05:00", eventTimeZoneOffset=None))
    assert event.occurred_at.tzinfo == timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"eventTime": "2026-03-30T08:15:00"}, "no UTC offset"),
        ({"eventTime": "yesterday"}, "not an ISO 8601 timestamp"),
        ({"eventTimeZoneOffset": "+15:00"}, "is not ±hh:mm"),
        ({"eventTime": "0001-01-01T00:00:00Z", "eventTimeZoneOffset": "-05:00"}, "out of range"),
    ],
)
def test_bad_times_are_refused(changes: dict[str, str], message: str) -> None:
    with pytest.raises(EPCISPayloadError, match=message):
        _parse(_event(**changes))


# --- document context -----------------------------------------------------------------------


def test_shipping_is_first_mile_unless_the_document_stores_stock_at_that_site() -> None:
    shipping = _event(bizStep="shipping", readPoint={"id": "urn:epc:id:sgln:0614141.12345.7"})
    storing = _event(
        bizStep="storing",
        eventTime="2026-03-01T08:00:00Z",
        bizLocation={"id": "https://id.gs1.org/414/0614141123452"},
    )
    (alone,) = _parse(shipping)
    _, dispatched = _parse(storing, shipping)
    assert alone.milestone is Milestone.PICKED_UP
    assert dispatched.milestone is Milestone.WAREHOUSE_DISPATCHED
    assert dispatched.source.party.role == "warehouse_operator"


def test_departing_after_a_warehouse_dispatch_is_last_mile() -> None:
    site = {"id": "urn:epc:id:sgln:0614141.12345.0"}
    events = [
        _event(bizStep="departing", eventTime="2026-02-20T08:00:00Z"),
        _event(bizStep="picking", eventTime="2026-03-01T08:00:00Z", bizLocation=site),
        _event(bizStep="shipping", eventTime="2026-03-01T09:00:00Z", bizLocation=site),
        _event(bizStep="departing", eventTime="2026-03-01T20:00:00Z"),
    ]
    milestones = [e.milestone for e in _parse(*events)]
    assert milestones == [
        Milestone.LINE_HAUL_DEPARTED,
        Milestone.WAREHOUSE_ORDER_PICKED,
        Milestone.WAREHOUSE_DISPATCHED,
        Milestone.IN_TRANSIT,
    ]


def test_the_party_is_the_possessing_party_of_the_observing_side() -> None:
    transfer = {
        "sourceList": [
            {"type": "owning_party", "source": "urn:epc:id:pgln:0614141.00001"},
            {"type": "possessing_party", "source": "urn:epc:id:pgln:0614141.00002"},
        ],
        "destinationList": [
            {
                "type": "urn:epcglobal:cbv:sdt:possessing_party",
                "destination": "https://id.gs1.org/417/0614141123452",
            }
        ],
    }
    shipped, received = _parse(_event(bizStep="shipping", **transfer), _event(**transfer))
    assert shipped.source.party.id == "gln-0614141000029"
    assert received.source.party.id == "gln-0614141123452"
    (unnamed,) = _parse(_event(sourceList=[{"type": "possessing_party", "source": "ACME"}]))
    assert unnamed.source.party.id == "epcis"


def test_master_data_names_the_place_and_a_bad_country_is_dropped() -> None:
    header = {
        "epcisMasterData": {
            "vocabularyList": [
                {
                    "type": "urn:epcglobal:epcis:vtype:BusinessLocation",
                    "vocabularyElementList": [
                        {
                            "id": "urn:epc:id:sgln:0614141.12345.0",
                            "attributes": [
                                {"id": "urn:epcglobal:cbv:mda#name", "attribute": "Hub"},
                                {"id": "urn:epcglobal:cbv:mda#countryCode", "attribute": "GBR"},
                                {"id": "urn:epcglobal:cbv:mda:city", "attribute": "Leeds"},
                            ],
                        }
                    ],
                }
            ]
        }
    }
    (event,) = _parse(
        _event(readPoint={"id": "urn:epc:id:sgln:0614141.12345.9"}), epcisHeader=header
    )
    assert event.location is not None
    assert event.location.name == "Hub (GLN 0614141123452 ext 9)"
    assert event.location.city == "Leeds"
    assert event.location.country is None


# --- identifiers ------------------------------------------------------------------------------


def test_over_64_identifiers_are_split_and_keep_the_primary() -> None:
    children = [f"urn:epc:id:sscc:0614141.0{n:09d}" for n in range(100)]
    event = _event(
        type="AggregationEvent",
        eventID="urn:uuid:big-pallet",
        epcList=None,
        parentID="urn:epc:id:sscc:0614141.1234567890",
        childEPCs=children,
    )
    first, second = _parse(event)
    assert len(first.identifiers) == 64 and len(second.identifiers) == 38
    assert first.primary_identifier == second.primary_identifier
    assert first.primary_identifier.value == "106141412345678908"
    assert first.source.source_event_id == "urn:uuid:big-pallet"
    assert second.source.source_event_id == "urn:uuid:big-pallet#2"
    assert first.event_id != second.event_id
    keys = {i.key for e in (first, second) for i in e.identifiers}
    assert len(keys) == 101


def test_repeated_epcs_and_both_sscc_forms_collapse() -> None:
    (event,) = _parse(
        _event(
            epcList=[
                "urn:epc:id:sscc:0614141.1234567890",
                "https://id.gs1.org/00/106141412345678908",
                "urn:epc:id:sgtin:0614141.107346.2017",
            ]
        )
    )
    assert [i.value for i in event.identifiers] == ["106141412345678908"]
    assert "1 other EPC(s) not tracked" in (event.source_description or "")


def test_item_level_events_are_skipped_beside_tracked_ones() -> None:
    events = _parse(_event(epcList=["urn:epc:id:sgtin:0614141.107346.2017"]), _event())
    assert len(events) == 1


def test_an_event_id_over_200_characters_is_hashed() -> None:
    (event,) = _parse(_event(eventID="urn:example:" + "x" * 300))
    assert event.source.source_event_id is not None
    assert event.source.source_event_id.startswith("sha256:")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "expected an EPCIS document object"),
        ({"type": "EPCISDocument", "epcisBody": {"eventList": []}}, "has no events"),
        ({"type": "EPCISQueryDocument", "epcisBody": {}}, "resultsBody is missing"),
        ({"type": "Something", "epcisBody": {"eventList": [{}]}}, "expected an EPCISDocument"),
        ({"type": "EPCISDocument", "epcisBody": {"eventList": [{"type": "FooEvent"}]}},
         "unknown event type"),
        ({"type": "EPCISDocument", "epcisBody": {"eventList": [_event(action="MOVE")]}},
         "is not ADD, OBSERVE or DELETE"),
        ({"type": "EPCISDocument", "epcisBody": {"eventList": [_event(epcList="urn:x")]}},
         "epcList should be a list"),
        ({"type": "EPCISDocument", "epcisBody": {"eventList": [
            _event(bizTransactionList=[{"type": "po"}])]}}, "bizTransaction is missing"),
    ],
)  # fmt: skip
def test_malformed_documents_are_typed_errors(body: Any, message: str) -> None:
    raw = RawEnvelope.from_body(
        body=json.dumps(body).encode(),
        source="epcis",
        format="epcis",
        reference="unit",
        received_at=RECEIVED,
        content_type="application/json",
        signature_verified=True,
    )
    with pytest.raises(EPCISPayloadError, match=message):
        epcis.parse_epcis_document(raw)
