"""trackhub.customs.v1: the published schema and document agree with the models, and what
the fixtures cannot show (every table row, the rules, tolerance of unknown fields)."""

from __future__ import annotations

import copy
import functools
import json
import random
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from connectors.customs import (
    CONNECTOR,
    FORMAT_V1,
    HOLD_MILESTONES,
    KNOWN_DECLARATION_TYPES,
    MAX_REFERENCES,
    RELEASE_MILESTONES,
    SCHEMA_PATH,
    STATUS_MILESTONES,
    CustomsDelivery,
    CustomsPayloadError,
    CustomsStatus,
    Direction,
    HoldReason,
    render_customs_format_json_schema,
)
from schemas.events import EventKind, RawEnvelope, TrackingEvent
from schemas.milestones import Milestone, MilestoneGroup, group_of
from tests.connector_cases import RECEIVED_AT, ConnectorCase, connector_cases

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "customs-format.md"
CASES = connector_cases("customs")
SUCCESS = [c for c in CASES if isinstance(c.expected(), list)]
MALFORMED = [c for c in CASES if isinstance(c.expected(), dict)]


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema())


def _schema_errors(body: Any) -> list[str]:
    return [error.message for error in _validator().iter_errors(body)]


def _envelope(body: Any, reference: str = "test") -> RawEnvelope:
    return RawEnvelope.from_body(
        body=json.dumps(body).encode(),
        source="broker-lax",
        format="customs",
        reference=reference,
        received_at=RECEIVED_AT,
        content_type="application/json",
        signature_verified=True,
    )


def _parse(body: Any) -> list[TrackingEvent]:
    return CONNECTOR.parse(_envelope(body))


def _content(events: list[TrackingEvent]) -> list[dict[str, Any]]:
    """The events without ``raw_id``, which names the body they came from."""
    return [event.model_dump(exclude={"raw_id"}) for event in events]


def _update(**changes: Any) -> dict[str, Any]:
    update: dict[str, Any] = {
        "update_id": "U-1",
        "broker": {"id": "pacific-gateway-customs", "name": "Pacific Gateway"},
        "direction": "import",
        "declaration": {"entry_number": "PGX-0418273-6", "type": "informal"},
        "country": "US",
        "office": {"unlocode": "USLAX", "code": "2720", "name": "LAX"},
        "references": {"mawbs": ["999-87654324"], "hawbs": ["SZXHK2602187"]},
        "status": "filed",
        "occurred_at": "2026-02-23T06:40:00-08:00",
    }
    update.update(changes)
    return {k: v for k, v in update.items() if v is not None}


def _delivery(*updates: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT_V1, "updates": list(updates) or [_update()]}


# --- the schema file ---------------------------------------------------------------------


def test_checked_in_schema_matches_the_models() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_customs_format_json_schema(), (
        "docs/customs-format.schema.json differs from the models: "
        "run `.venv/bin/python -m connectors.customs` and commit the file"
    )


def test_schema_is_valid_and_names_its_version() -> None:
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(f"/{FORMAT_V1}.schema.json")
    assert schema["properties"]["format"]["const"] == FORMAT_V1


@pytest.mark.parametrize("case", SUCCESS, ids=[c.name for c in SUCCESS])
def test_success_fixtures_validate_against_the_schema(case: ConnectorCase) -> None:
    assert _schema_errors(json.loads(case.payload.read_bytes())) == []


@pytest.mark.parametrize("case", MALFORMED, ids=[c.name for c in MALFORMED])
def test_malformed_fixtures_fail_the_schema_too(case: ConnectorCase) -> None:
    assert _schema_errors(json.loads(case.payload.read_bytes())) != []


# --- the rules: the hub and the schema refuse the same bodies ----------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    """Set (or with ``...`` delete) the value at a dotted path inside updates[0]."""

    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = body["updates"][0]
        for key in parents:
            target = target[key]
        if value is ...:
            del target[last]
        else:
            target[last] = value

    return mutate


RULES: list[tuple[str, Mutation, str]] = [
    ("hold without reason", _set("status", "hold"), "updates[0].hold_reason"),
    (
        "documents_requested with examination",
        lambda b: b["updates"][0].update(status="documents_requested", hold_reason="examination"),
        "updates[0].hold_reason",
    ),
    ("reason on filed", _set("hold_reason", "valuation"), "updates[0].hold_reason"),
    ("duties_assessed without duties", _set("status", "duties_assessed"), "updates[0].duties"),
    (
        "estimate after release",
        lambda b: b["updates"][0].update(
            status="released", expected_release_at="2026-02-24T12:00:00-08:00"
        ),
        "updates[0].expected_release_at",
    ),
    ("naive timestamp", _set("occurred_at", "2026-02-23T06:40:00"), "updates[0].occurred_at"),
    ("epoch number", _set("occurred_at", 1771857600), "updates[0].occurred_at"),
    ("bare date", _set("occurred_at", "2026-02-23"), "updates[0].occurred_at"),
    ("no occurred_at", _set("occurred_at", ...), "updates[0].occurred_at"),
    ("no update_id", _set("update_id", ...), "updates[0].update_id"),
    ("empty update_id", _set("update_id", ""), "updates[0].update_id"),
    ("upper-case status", _set("status", "RELEASED"), "updates[0].status"),
    ("unknown direction", _set("direction", "transit"), "updates[0].direction"),
    ("alpha-3 country", _set("country", "USA"), "updates[0].country"),
    ("bad UN/LOCODE", _set("office.unlocode", "LAX"), "updates[0].office.unlocode"),
    ("broker id with spaces", _set("broker.id", "pacific gateway"), "updates[0].broker.id"),
    (
        "no entry number",
        _set("declaration.entry_number", ...),
        "updates[0].declaration.entry_number",
    ),
    ("no declaration type", _set("declaration.type", ...), "updates[0].declaration.type"),
    ("references not a list", _set("references.hawbs", "SZX1"), "updates[0].references.hawbs"),
    ("short MAWB", _set("references.mawbs", ["999-123"]), "updates[0].references.mawbs[0]"),
    (
        "container shape",
        _set("references.containers", ["CSNX6412880"]),
        "updates[0].references.containers[0]",
    ),
    ("blank HAWB", _set("references.hawbs", ["  "]), "updates[0].references.hawbs[0]"),
    ("blank declaration type", _set("declaration.type", " "), "updates[0].declaration.type"),
    (
        "negative duties",
        lambda b: b["updates"][0].update(
            status="duties_assessed", duties={"amount": "-1.00", "currency": "USD"}
        ),
        "updates[0].duties.amount",
    ),
    (
        "currency not ISO 4217",
        lambda b: b["updates"][0].update(
            status="duties_assessed", duties={"amount": "1.00", "currency": "EURO"}
        ),
        "updates[0].duties.currency",
    ),
    ("no updates", lambda b: b.update(updates=[]), "updates"),
    ("no format", lambda b: b.pop("format"), "format"),
    ("later major version", lambda b: b.update(format="trackhub.customs.v2"), "format"),
]


@pytest.mark.parametrize(("mutate", "path"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_hub_and_schema_refuse_the_same_bodies(mutate: Mutation, path: str) -> None:
    body = _delivery()
    assert _schema_errors(body) == [] and _parse(body)
    mutate(body)
    with pytest.raises(CustomsPayloadError) as info:
        _parse(body)
    assert info.value.path == path
    assert _schema_errors(body), "the schema should state this rule too"


ODD_VALUES: list[Any] = [
    None, True, 0, -1, 1.5, "", " ", "x" * 250, [], {}, ["x"], {"a": 1}, "NaN", "1e5",
    "2026-02-23T06:40:00Z", "2026-02-23T06:40:00", "hold", "released", "examination",
    "documents_requested", "duties_assessed", "export", "ZZ", "999-87654324", "1" * 18,
]  # fmt: skip


def _leaf_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    return [path, *(p for key, child in children for p in _leaf_paths(child, (*path, key)))]


def test_the_schema_is_never_looser_than_the_hub() -> None:
    """Damaged fixtures: whatever the hub refuses, the schema refuses too (so a sender that
    validates is never dead-lettered), but for the rules JSON Schema cannot state."""
    rng = random.Random(20260302)
    bodies = [json.loads(c.payload.read_bytes()) for c in SUCCESS]
    refused = 0
    for _ in range(1000):
        body = copy.deepcopy(rng.choice(bodies))
        for _ in range(rng.randint(1, 3)):
            *parents, last = rng.choice(_leaf_paths(body)[1:])
            target = body
            for key in parents:
                target = target[key]
            target[last] = copy.deepcopy(rng.choice(ODD_VALUES))
        try:
            _parse(body)
        except CustomsPayloadError as exc:
            refused += 1
            if "appears twice" not in exc.message and "references; at most" not in exc.message:
                assert not _validator().is_valid(body), f"the schema accepts it: {exc}"
    assert refused > 700


def test_rules_only_the_hub_checks() -> None:
    """What JSON Schema cannot state: unique update ids, the total of references, dates."""
    duplicate = _delivery(_update(), _update(status="accepted"))
    too_many = _delivery(
        _update(
            references={
                "order_ids": [f"SO-{i}" for i in range(40)],
                "tracking_numbers": [f"TN{i}" for i in range(MAX_REFERENCES + 1 - 40)],
            }
        )
    )
    not_a_day = _delivery(_update(occurred_at="2026-02-30T06:40:00-08:00"))
    for body, path, words in [
        (duplicate, "updates", "update_id U-1 appears twice"),
        (too_many, "updates[0].references", "64 references; at most 63"),
        (not_a_day, "updates[0].occurred_at", "day value is outside expected range"),
    ]:
        with pytest.raises(CustomsPayloadError) as info:
            _parse(body)
        assert info.value.path == path
        assert words in info.value.message


def test_every_problem_is_in_the_details() -> None:
    body = _delivery(_update(status="hold", country="USA"), _update(update_id="U-2", status="x"))
    with pytest.raises(CustomsPayloadError) as info:
        _parse(body)
    problems = info.value.details["problems"]
    assert [p["path"] for p in problems] == [
        "updates[0].country",
        "updates[0].hold_reason",
        "updates[1].status",
    ]
    assert "(and 2 more)" in str(info.value)


@pytest.mark.parametrize("body", [[], "text", 3, None], ids=repr)
def test_a_body_that_is_not_an_object(body: Any) -> None:
    with pytest.raises(CustomsPayloadError, match="the body should be an object"):
        _parse(body)


# --- tolerant reader, strict schema ------------------------------------------------------


def test_unknown_fields_are_ignored_by_the_hub_and_refused_by_the_schema() -> None:
    plain = _delivery()
    extended = copy.deepcopy(plain)
    extended["sent_at"] = "2026-02-23T06:41:00-08:00"
    extended["updates"][0]["customs_system"] = "ACE"
    extended["updates"][0]["references"]["ssccs"] = ["001234560000000018"]
    extended["updates"][0]["broker"]["scac"] = "PGCB"
    assert _content(_parse(extended)) == _content(_parse(plain))
    assert len(_schema_errors(extended)) == 4


def test_extensions_are_the_senders_own_and_change_nothing() -> None:
    body = _delivery(_update(extensions={"job": "J-1", "nested": {"any": [1, 2]}}))
    assert _schema_errors(body) == []
    assert _content(_parse(body)) == _content(_parse(_delivery()))


# --- the status table --------------------------------------------------------------------


def test_the_table_covers_every_status_and_reason_in_both_directions() -> None:
    for direction in Direction:
        assert set(STATUS_MILESTONES[direction]) == set(CustomsStatus) - {CustomsStatus.HOLD}
        assert set(HOLD_MILESTONES[direction]) == set(HoldReason)


@pytest.mark.parametrize("direction", list(Direction))
def test_milestones_stay_on_their_leg(direction: Direction) -> None:
    leg = {
        Direction.IMPORT: MilestoneGroup.IMPORT_CUSTOMS,
        Direction.EXPORT: MilestoneGroup.EXPORT_CUSTOMS,
    }[direction]
    mapped = [
        *STATUS_MILESTONES[direction].values(),
        *HOLD_MILESTONES[direction].values(),
        RELEASE_MILESTONES[direction],
    ]
    assert {m for m in mapped if m is not Milestone.INFO and group_of(m) is not leg} == set()


STATUS_CASES = [
    (direction, status, reason)
    for direction in Direction
    for status in CustomsStatus
    for reason in (HoldReason if status is CustomsStatus.HOLD else [None])
]


@pytest.mark.parametrize(
    ("direction", "status", "reason"),
    STATUS_CASES,
    ids=[f"{d}-{s}-{r}" if r else f"{d}-{s}" for d, s, r in STATUS_CASES],
)
def test_parse_follows_the_table(
    direction: Direction, status: CustomsStatus, reason: HoldReason | None
) -> None:
    duties = (
        {"amount": "1.50", "currency": "usd"} if status is CustomsStatus.DUTIES_ASSESSED else None
    )
    body = _delivery(_update(direction=direction, status=status, hold_reason=reason, duties=duties))
    [event] = _parse(body)
    expected = (
        HOLD_MILESTONES[direction][reason] if reason else STATUS_MILESTONES[direction][status]
    )
    assert event.milestone is expected
    assert event.source_code == status.value
    assert event.reason_code == (reason.value if reason else None)


def test_the_brief_decisions() -> None:
    """The mappings a reader would ask about, spelled out."""
    assert HOLD_MILESTONES[Direction.IMPORT][HoldReason.EXAMINATION] is (
        Milestone.IMPORT_CUSTOMS_INSPECTION
    )
    assert HOLD_MILESTONES[Direction.IMPORT][HoldReason.DOCUMENTS_INCONSISTENT] is (
        Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED
    )
    assert HOLD_MILESTONES[Direction.IMPORT][HoldReason.VALUATION] is Milestone.IMPORT_CUSTOMS_HELD
    # a cancelled declaration is re-filed: it must not end the shipment
    assert STATUS_MILESTONES[Direction.IMPORT][CustomsStatus.CANCELLED] is Milestone.INFO


# --- events ------------------------------------------------------------------------------


def test_an_estimate_is_its_own_event_beside_the_fact() -> None:
    body = _delivery(
        _update(
            status="hold",
            hold_reason="examination",
            occurred_at="2026-02-26T11:05:00+00:00",
            expected_release_at="2026-02-27T15:00:00Z",
        )
    )
    fact, estimate = _parse(body)
    assert (fact.kind, fact.estimated_at) == (EventKind.ACTUAL, None)
    assert estimate.kind is EventKind.ESTIMATED
    assert estimate.milestone is Milestone.IMPORT_CUSTOMS_RELEASED
    assert estimate.estimated_at is not None and estimate.estimated_at.utcoffset() == timedelta(0)
    assert estimate.occurred_at == fact.occurred_at
    assert estimate.event_id != fact.event_id
    assert estimate.source.source_event_id == fact.source.source_event_id == "U-1"


def test_export_estimates_clearance() -> None:
    body = _delivery(
        _update(direction="export", status="accepted", expected_release_at="2026-02-24T06:00Z")
    )
    with pytest.raises(CustomsPayloadError, match="not an RFC 3339 timestamp"):
        _parse(body)  # seconds are required
    body["updates"][0]["expected_release_at"] = "2026-02-24T06:00:00+08:00"
    assert [e.milestone for e in _parse(body)] == [
        Milestone.EXPORT_CUSTOMS_SUBMITTED,
        Milestone.EXPORT_CUSTOMS_CLEARED,
    ]


def test_a_resent_update_is_the_same_event() -> None:
    update = _update(status="released", message="released")
    first = CONNECTOR.parse(_envelope(_delivery(update), reference="a"))
    again = CONNECTOR.parse(_envelope(_delivery(_update(update_id="U-0"), update), reference="b"))
    assert first[0].event_id == again[1].event_id
    assert first[0].raw_id != again[1].raw_id


def test_identifiers_entry_first_each_once_offset_kept() -> None:
    references = {
        "mawbs": ["999 8765 4324", "99987654324"],
        "containers": ["csnu 641288 0"],
        "tracking_numbers": ["9261 2901 0013"],
        "order_ids": ["SO-1"],
    }
    [event] = _parse(_delivery(_update(references=references)))
    assert [i.key for i in event.identifiers] == [
        "customs_entry:PGX-0418273-6",
        "mawb:999-87654324",
        "container:CSNU6412880",
        "tracking_number:926129010013",
        "order_id:SO-1",
    ]
    assert event.occurred_at.utcoffset() == timedelta(hours=-8)
    assert event.source.party.role.value == "customs_broker"
    assert event.source.party.id == "pacific-gateway-customs"


def test_description_and_location() -> None:
    update = _update(
        status="duties_assessed",
        message="Duty and MPF",
        duties={"amount": "48.2", "currency": "usd", "due_by": "2026-03-04T17:00:00-08:00"},
        office={"code": "2720"},
    )
    [event] = _parse(_delivery(update))
    assert event.source_description == (
        "Duty and MPF; duties 48.2 USD due by 2026-03-04T17:00:00-08:00"
    )
    assert event.location is not None
    assert (event.location.country, event.location.unlocode, event.location.name) == (
        "US",
        None,
        "2720",
    )


# --- the document ------------------------------------------------------------------------


def _doc() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for candidate in _models_in(field.annotation):
            names |= _field_names(candidate)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def test_the_document_describes_every_field_and_value() -> None:
    doc = _doc()
    names = _field_names(CustomsDelivery)
    assert {"update_id", "entry_number", "mawbs", "due_by"} <= names
    values = {*names, *CustomsStatus, *HoldReason, *Direction, *KNOWN_DECLARATION_TYPES}
    assert {v for v in values if f"`{v}`" not in doc} == set()


def _row(doc: str, value: str) -> str:
    rows = [line for line in doc.splitlines() if line.startswith(f"| `{value}` |")]
    assert len(rows) == 1, f"one table row for {value!r} in the document"
    return rows[0]


def test_the_document_tables_match_the_code_tables() -> None:
    doc = _doc()
    status_table = doc.split("## Statuses", 1)[1]
    for status in set(CustomsStatus) - {CustomsStatus.HOLD}:
        row = _row(status_table, status)
        for direction in Direction:
            assert f"`{STATUS_MILESTONES[direction][status]}`" in row, (status, direction)
    reason_table = doc.split("## Hold reasons", 1)[1]
    for reason in HoldReason:
        cells = _row(reason_table, reason).split("|")
        assert cells[3].strip() == f"`{HOLD_MILESTONES[Direction.IMPORT][reason]}`"
        assert cells[4].strip() == f"`{HOLD_MILESTONES[Direction.EXPORT][reason]}`"


def test_the_full_example_is_valid_and_reads_as_documented() -> None:
    example = _doc().split("## Full example", 1)[1]
    body = json.loads(re.search(r"```json\n(.*?)```", example, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert _schema_errors(body) == []
    events = _parse(body)
    assert [(e.milestone, e.kind) for e in events] == [
        (Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED, EventKind.ACTUAL),
        (Milestone.IMPORT_CUSTOMS_RELEASED, EventKind.ESTIMATED),
        (Milestone.IMPORT_CUSTOMS_DUTIES_DUE, EventKind.ACTUAL),
    ]
    assert events[2].source_description == "duties 48.20 USD due by 2026-03-04T17:00:00-08:00"
    assert f"`{events[0].reason_code}`" in example
