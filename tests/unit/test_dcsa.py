"""DCSA rules the fixtures do not show on their own: the code table, the fallbacks, 3.0."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.dcsa import CODES, DcsaPayloadError, parse_dcsa_events
from schemas.events import EventKind, RawEnvelope, TrackingEvent
from schemas.milestones import Milestone
from tests.connector_cases import RECEIVED_AT, connector_cases


def _parse(body: Any, source: str = "dcsa") -> list[TrackingEvent]:
    raw = RawEnvelope.from_body(
        body=json.dumps(body).encode(),
        source=source,
        format="dcsa",
        reference="t",
        received_at=RECEIVED_AT,
        content_type="application/json",
        signature_verified=True,
    )
    return parse_dcsa_events(raw)


def _fixture(name: str) -> Any:
    case = next(c for c in connector_cases("dcsa") if c.name == name)
    return json.loads(case.payload.read_bytes())


def _journey_event(index: int, **changes: Any) -> dict[str, Any]:
    event = _fixture("ocean_journey_cnytn_deham")[index]
    event.update(changes)
    return event


LOAD_AT_YANTIAN, DEPARTURE_FROM_YANTIAN = 1, 2


def test_every_milestone_and_kind_in_the_table_exists() -> None:
    named: list[str] = [c.get("milestone", "info") for c in CODES["classifiers"].values()]
    for group in ("transport", "equipment"):
        for entry in CODES[group].values():
            named += [
                entry[k] for k in ("milestone", "export", "import", "transshipment") if k in entry
            ]
    named += [entry["milestone"] for entry in CODES["shipment"]["codes"].values()]
    for document in CODES["shipment"]["documents"].values():
        for key in ("milestones", "export"):
            named += document.get(key, {}).values()
    unknown = [m for m in named if m not in Milestone.__members__.values()]
    assert not unknown, f"not milestones: {unknown}"
    assert {EventKind(c["kind"]) for c in CODES["classifiers"].values()} == set(EventKind)


def test_a_prediction_without_creation_time_was_issued_by_receipt_at_the_latest() -> None:
    estimate = _journey_event(DEPARTURE_FROM_YANTIAN, eventClassifierCode="EST")
    del estimate["eventCreatedDateTime"]
    (event,) = _parse([estimate])
    assert event.kind is EventKind.ESTIMATED
    assert event.occurred_at == RECEIVED_AT
    assert event.estimated_at is not None
    assert event.estimated_at.isoformat() == "2026-01-07T03:15:00+08:00"


def test_a_requested_time_is_never_a_plan_of_the_milestone() -> None:
    (event,) = _parse([_journey_event(DEPARTURE_FROM_YANTIAN, eventClassifierCode="REQ")])
    assert (event.kind, event.milestone) == (EventKind.PLANNED, Milestone.INFO)
    assert event.source_description is not None
    assert event.source_description.startswith("Requested: Departed")


def test_same_fact_twice_collapses_and_successive_estimates_do_not() -> None:
    fact = _journey_event(DEPARTURE_FROM_YANTIAN)
    first = _journey_event(DEPARTURE_FROM_YANTIAN, eventClassifierCode="EST")
    later = dict(first, eventDateTime="2026-01-07T09:00:00+08:00")
    events = _parse([fact, fact, first, later])
    assert events[0].event_id == events[1].event_id
    assert len({events[1].event_id, events[2].event_id, events[3].event_id}) == 3


@pytest.mark.parametrize("mode", ["TRUCK", "RAIL", "BARGE"])
def test_pre_and_on_carriage_never_open_or_close_the_ocean_leg(mode: str) -> None:
    load = _journey_event(LOAD_AT_YANTIAN)
    load["transportCall"] = dict(load["transportCall"], modeOfTransport=mode)
    (event,) = _parse([load])
    assert event.milestone is Milestone.INFO
    assert event.source_code == "LOAD"


def test_a_transshipment_flag_on_a_2x_event_is_honoured() -> None:
    (event,) = _parse([_journey_event(LOAD_AT_YANTIAN, isTransshipmentMove=True)])
    assert event.milestone is Milestone.TRANSSHIPPED


def test_party_is_the_carrier_code_when_given_else_the_configured_source() -> None:
    coded = _journey_event(LOAD_AT_YANTIAN, carrierCode="ONEY", carrierCodeListProvider="NMFTA")
    (with_code,) = _parse([coded])
    assert (with_code.source.party.id, with_code.source.party.name) == ("oney", "ONEY (NMFTA)")
    (without,) = _parse([_journey_event(LOAD_AT_YANTIAN)], source="one-line-eu")
    assert without.source.party.id == "one-line-eu"
    assert without.source.party.role.value == "carrier"


def test_one_event_object_is_accepted_as_a_body() -> None:
    (event,) = _parse(_journey_event(LOAD_AT_YANTIAN))
    assert event.milestone is Milestone.LINE_HAUL_LOADED


def test_an_empty_notification_has_no_events() -> None:
    assert _parse([]) == []
    assert _parse({"events": []}) == []


def test_v3_errors_name_the_v3_field() -> None:
    body = _fixture("v3_transshipment_and_export_hold")
    del body["events"][1]["eventClassification"]["eventClassifierCode"]
    with pytest.raises(DcsaPayloadError) as info:
        _parse(body)
    assert info.value.path == "events[1].eventClassification.eventClassifierCode"


def test_v3_retracted_event_yields_nothing_and_long_ids_are_hashed() -> None:
    body = _fixture("v3_transshipment_and_export_hold")
    body["events"][0]["eventID"] = "x" * 300
    events = _parse(body)
    assert len(events) == len(body["events"]) - 1  # the last one is retracted
    source_event_id = events[0].source.source_event_id
    assert source_event_id is not None
    assert source_event_id.startswith("sha256:")


def test_v3_beta_metadata_payload_events_are_refused_by_name() -> None:
    with pytest.raises(DcsaPayloadError, match=r"3\.0\.0-Beta-1"):
        _parse([{"metadata": {"eventID": "e1"}, "payload": {"equipmentEventTypeCode": "LOAD"}}])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"emptyIndicatorCode": "FULL"}, "emptyIndicatorCode 'FULL' is not EMPTY or LADEN"),
        ({"equipmentEventTypeCode": None}, "equipmentEventTypeCode is missing"),
        ({"eventDateTime": "0001-01-01T00:00:00+14:00"}, "timestamp out of range"),
        ({"documentReferences": "BKG"}, "should be a list"),
    ],
)
def test_bad_values_are_typed_errors_with_a_path(change: dict[str, Any], message: str) -> None:
    with pytest.raises(DcsaPayloadError, match=message) as info:
        _parse([_journey_event(LOAD_AT_YANTIAN, **change)])
    assert info.value.path is not None
    assert info.value.path.startswith("[0].")


def test_an_event_without_any_reference_is_refused() -> None:
    bare = _journey_event(LOAD_AT_YANTIAN)
    for key in ("equipmentReference", "documentReferences"):
        del bare[key]
    with pytest.raises(DcsaPayloadError, match="names no container"):
        _parse([bare])
