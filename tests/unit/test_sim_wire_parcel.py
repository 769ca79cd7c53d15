"""Parcel wire encoders (easypost, aftership, 17track, native) against their connectors.

The contract of ``hub.simulate.wire``: what an encoder writes, the connector of the same
name parses back with the same milestone, instant, primary identifier and reporting
party. Payloads are wrapped in a ``RawEnvelope`` the way the gateway does, and their
fields must be ones the recorded fixtures of that format have (no invented shape).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest

from connectors.registry import get_connector
from hub.simulate.wire import WireEvent, encoder
from schemas.common import Identifier, IdentifierKind, Location, Party, PartyRole
from schemas.events import EventKind, RawEnvelope, TrackingEvent
from schemas.milestones import Milestone, MilestoneGroup, group_of
from tests.connector_cases import FIXTURES, RECEIVED_AT

FORMATS = ("easypost", "aftership", "17track", "native")
AGGREGATORS = ("easypost", "aftership", "17track")

PACIFIC = timezone(timedelta(hours=-8))
CHINA = timezone(timedelta(hours=8))

USPS = Party(role=PartyRole.LAST_MILE_CARRIER, id="usps", name="USPS")
CHINA_POST = Party(role=PartyRole.LAST_MILE_CARRIER, id="china-post", name="China Post")
USPS_NUMBER = Identifier(kind=IdentifierKind.TRACKING_NUMBER, value="9400 1112 0206 1234 5678 90")
EPACKET = Identifier(kind=IdentifierKind.TRACKING_NUMBER, value="LB123456785CN")
ORDER = Identifier(kind=IdentifierKind.ORDER_ID, value="AMZ-113-5550001")

SAN_JOSE = Location(city="SAN JOSE", country="US", postal_code="95112")
LOS_ANGELES = Location(city="LOS ANGELES", country="US", postal_code="90009")
GUANGZHOU = Location(city="Guangzhou", country="CN")
SHENZHEN = Location(city="Shenzhen", country="CN", postal_code="518000")

EXPORT_CUSTOMS = frozenset(
    {
        Milestone.EXPORT_CUSTOMS_SUBMITTED,
        Milestone.EXPORT_CUSTOMS_HELD,
        Milestone.EXPORT_CUSTOMS_CLEARED,
    }
)


def _at(day: int, hour: int, minute: int = 0, tz: timezone = PACIFIC) -> datetime:
    return datetime(2026, 2, day, hour, minute, tzinfo=tz)


def _native_sender(milestone: Milestone) -> tuple[Party, tuple[Identifier, ...]]:
    """A realistic native sender for a milestone: whoever handles that leg."""
    group = group_of(milestone)
    mawb = Identifier(kind=IdentifierKind.MAWB, value="160 5550 1234")
    if group is MilestoneGroup.LINE_HAUL:
        return Party(role=PartyRole.CARRIER, id="cathay-cargo"), (mawb,)
    if group in (MilestoneGroup.IMPORT_CUSTOMS, MilestoneGroup.EXPORT_CUSTOMS):
        entry = Identifier(kind=IdentifierKind.CUSTOMS_ENTRY, value="ABC-1234567-8")
        return Party(role=PartyRole.CUSTOMS_BROKER, id="broker-lax"), (entry, mawb)
    if group is MilestoneGroup.WAREHOUSE:
        ref = Identifier(kind=IdentifierKind.SHIPMENT_REF, value="WH-ONT-20260227-0042")
        return Party(role=PartyRole.WAREHOUSE_OPERATOR, id="wh-ontario"), (ref,)
    tracking = Identifier(kind=IdentifierKind.TRACKING_NUMBER, value="YT2409012345678")
    return Party(role=PartyRole.FULL_SERVICE_PROVIDER, id="yunexpress", name="YunExpress"), (
        tracking,
        ORDER,
    )


def wire_event(format_name: str, milestone: Milestone, **fields: Any) -> WireEvent:
    """One realistic event of ``milestone`` as ``format_name``'s sender would have it."""
    exporting = milestone in EXPORT_CUSTOMS
    if format_name == "easypost":
        party, identifiers = USPS, (USPS_NUMBER,)
    elif format_name == "aftership":
        party, identifiers = (CHINA_POST if exporting else USPS), (EPACKET, ORDER)
    elif format_name == "17track":
        party, identifiers = (CHINA_POST if exporting else USPS), (EPACKET,)
    else:
        party, identifiers = _native_sender(milestone)
    defaults: dict[str, Any] = {
        "milestone": milestone,
        "occurred_at": _at(21, 18, 5, CHINA) if exporting else _at(27, 7, 58),
        "identifiers": identifiers,
        "party": party,
        "location": GUANGZHOU if exporting else SAN_JOSE,
    }
    return WireEvent(**{**defaults, **fields})


def parse(module: ModuleType, body: bytes) -> list[TrackingEvent]:
    """The connector's reading of ``body``, received as the gateway receives it."""
    connector = get_connector(module.FORMAT)
    assert connector.accepts(module.CONTENT_TYPE)
    raw = RawEnvelope.from_body(
        body=body,
        source=f"sim-{module.FORMAT}",
        format=connector.name,
        reference="sim-0001",
        received_at=RECEIVED_AT,
        content_type=module.CONTENT_TYPE,
        signature_verified=True,
    )
    return connector.parse(raw)


def actual(events: list[TrackingEvent]) -> list[TrackingEvent]:
    return [e for e in events if e.kind is EventKind.ACTUAL]


def assert_round_trip(parsed: TrackingEvent, sent: WireEvent) -> None:
    assert parsed.milestone is sent.milestone
    assert parsed.occurred_at == sent.occurred_at  # the instant
    assert parsed.occurred_at.utcoffset() == sent.occurred_at.utcoffset()  # local offset kept
    primary = parsed.identifiers[0]
    assert (primary.kind, primary.value) == (sent.identifiers[0].kind, sent.identifiers[0].value)
    assert (parsed.source.party.role, parsed.source.party.id) == (sent.party.role, sent.party.id)


# --- every supported milestone, one event at a time ---------------------------------------

ROUND_TRIP_CASES = [
    (name, milestone)
    for name in FORMATS
    for milestone in sorted(encoder(name).SUPPORTED, key=list(Milestone).index)
]


@pytest.mark.parametrize(
    ("format_name", "milestone"), ROUND_TRIP_CASES, ids=[f"{f}-{m}" for f, m in ROUND_TRIP_CASES]
)
def test_supported_milestone_round_trips(format_name: str, milestone: Milestone) -> None:
    module = encoder(format_name)
    sent = wire_event(format_name, milestone)
    parsed = parse(module, module.encode([sent], reference="sim-0001"))
    assert len(parsed) == 1, [e.milestone for e in parsed]
    assert_round_trip(parsed[0], sent)
    assert parsed[0].source.connector == format_name
    assert parsed[0].location is not None
    assert (parsed[0].location.city, parsed[0].location.country) == (
        sent.location.city if sent.location else None,
        sent.location.country if sent.location else None,
    )


def test_round_trip_cases_cover_the_parcel_milestones() -> None:
    by_format = {name: {m for f, m in ROUND_TRIP_CASES if f == name} for name in FORMATS}
    last_mile = {
        Milestone.CARRIER_RECEIVED,
        Milestone.IN_TRANSIT,
        Milestone.OUT_FOR_DELIVERY,
        Milestone.AVAILABLE_FOR_PICKUP,
        Milestone.DELIVERED,
        Milestone.RETURN_TO_SENDER,
        Milestone.EXCEPTION,
    }
    for name in AGGREGATORS:
        assert last_mile <= by_format[name], name
    assert by_format["native"] == set(Milestone)


@pytest.mark.parametrize("format_name", FORMATS)
def test_module_declares_its_connector(format_name: str) -> None:
    module = encoder(format_name)
    connector = get_connector(module.FORMAT)
    assert module.FORMAT == format_name == connector.name
    assert module.CONTENT_TYPE in connector.content_types
    assert connector.accepts(f"{module.CONTENT_TYPE}; charset=utf-8")
    assert module.SUPPORTED
    assert all(isinstance(m, Milestone) for m in module.SUPPORTED)


@pytest.mark.parametrize("format_name", AGGREGATORS)
def test_unsupported_milestones_are_refused(format_name: str) -> None:
    module = encoder(format_name)
    refused = set(Milestone) - module.SUPPORTED
    assert refused  # an aggregator cannot say everything
    for milestone in refused:
        with pytest.raises(ValueError):
            module.encode([wire_event(format_name, milestone)], reference="sim-0002")


# --- several events of one shipment in one payload ------------------------------------------


def journey(format_name: str) -> list[WireEvent]:
    """A shipment's history as the format's sender reports it, deliberately out of order."""
    if format_name == "easypost":
        steps = [
            (Milestone.OUT_FOR_DELIVERY, _at(27, 7, 58), SAN_JOSE),
            (Milestone.BOOKED, datetime(2026, 2, 24, 17, 10, tzinfo=UTC), None),
            (
                Milestone.CARRIER_RECEIVED,
                _at(25, 9, 41),
                Location(city="CITY OF INDUSTRY", country="US", postal_code="91715"),
            ),
            (Milestone.IN_TRANSIT, _at(26, 3, 12), Location(city="SAN JOSE CA DISTRIBUTION")),
            (Milestone.DELIVERED, _at(27, 14, 2), SAN_JOSE),
        ]
    elif format_name in ("aftership", "17track"):
        middle = (
            Milestone.LINE_HAUL_DEPARTED
            if format_name == "17track"
            else Milestone.LINE_HAUL_ARRIVED
        )
        steps = [
            (Milestone.DELIVERED, _at(27, 14, 2), SAN_JOSE),
            (Milestone.CARRIER_RECEIVED, _at(19, 9, 45, CHINA), SHENZHEN),
            (Milestone.EXPORT_CUSTOMS_CLEARED, _at(20, 21, 6, CHINA), GUANGZHOU),
            (middle, _at(22, 1, 15, CHINA), GUANGZHOU),
            (Milestone.IMPORT_CUSTOMS_RELEASED, _at(23, 18, 55), LOS_ANGELES),
            (Milestone.OUT_FOR_DELIVERY, _at(27, 7, 58), SAN_JOSE),
        ]
    else:
        steps = [
            (Milestone.PICKED_UP, _at(20, 16, 40, CHINA), SHENZHEN),
            (Milestone.WAREHOUSE_DISPATCHED, _at(25, 11, 0), Location(city="Ontario")),
            (Milestone.IMPORT_CUSTOMS_HELD, _at(23, 10, 12), LOS_ANGELES),
            (Milestone.DELIVERED, _at(27, 14, 2), SAN_JOSE),
        ]
    template = wire_event(format_name, Milestone.IN_TRANSIT)
    party = CHINA_POST if format_name in ("aftership", "17track") else template.party
    return [
        WireEvent(
            milestone=milestone,
            occurred_at=moment,
            identifiers=template.identifiers,
            party=party,
            location=location,
        )
        for milestone, moment, location in steps
    ]


def _timeline(events: list[Any]) -> list[tuple[Milestone, datetime, str | None, str | None]]:
    rows = [
        (
            e.milestone,
            e.occurred_at.astimezone(UTC),
            e.location.city if e.location else None,
            e.location.country if e.location else None,
        )
        for e in events
    ]
    return sorted(rows, key=lambda row: row[1])


@pytest.mark.parametrize("format_name", FORMATS)
def test_journey_in_one_payload(format_name: str) -> None:
    module = encoder(format_name)
    sent = journey(format_name)
    parsed = parse(module, module.encode(sent, reference="sim-0003"))
    assert len(parsed) == len(sent)
    assert _timeline(parsed) == _timeline(sent)
    for event in parsed:
        original = next(s for s in sent if s.milestone is event.milestone)
        assert_round_trip(event, original)


@pytest.mark.parametrize("format_name", ("easypost", "aftership"))
def test_history_is_listed_oldest_first(format_name: str) -> None:
    module = encoder(format_name)
    parsed = parse(module, module.encode(journey(format_name), reference="sim-0004"))
    instants = [e.occurred_at for e in parsed]
    assert instants == sorted(instants)


def test_17track_lists_history_newest_first_with_its_latest_status() -> None:
    module = encoder("17track")
    body = json.loads(module.encode(journey("17track"), reference="sim-0005"))
    info = body["data"]["track_info"]
    events = info["tracking"]["providers"][0]["events"]
    assert [e["time_utc"] for e in events] == sorted((e["time_utc"] for e in events), reverse=True)
    assert info["latest_status"] == {
        "status": "Delivered",
        "sub_status": "Delivered_Other",
        "sub_status_descr": None,
    }
    assert info["shipping_info"]["shipper_address"]["country"] == "CN"
    assert info["shipping_info"]["recipient_address"]["country"] == "US"
    assert body["data"]["carrier"] == 3011  # China Post's 17TRACK key


@pytest.mark.parametrize("format_name", AGGREGATORS)
def test_one_payload_is_one_shipment_and_one_party(format_name: str) -> None:
    module = encoder(format_name)
    first = wire_event(format_name, Milestone.IN_TRANSIT)
    other_number = Identifier(kind=IdentifierKind.TRACKING_NUMBER, value="1Z999AA10123456784")
    other_party = Party(role=PartyRole.LAST_MILE_CARRIER, id="ups", name="UPS")
    with pytest.raises(ValueError):
        module.encode(
            [first, WireEvent(**{**vars(first), "identifiers": (other_number,)})], reference="x"
        )
    with pytest.raises(ValueError):
        module.encode([first, WireEvent(**{**vars(first), "party": other_party})], reference="x")


@pytest.mark.parametrize("format_name", AGGREGATORS)
def test_parties_the_format_cannot_express_are_refused(format_name: str) -> None:
    module = encoder(format_name)
    forwarder = Party(role=PartyRole.FORWARDER, id="fwd-sz")
    with pytest.raises(ValueError):
        module.encode(
            [wire_event(format_name, Milestone.IN_TRANSIT, party=forwarder)], reference="x"
        )
    mawb = Identifier(kind=IdentifierKind.MAWB, value="160-55501234")
    with pytest.raises(ValueError):
        module.encode(
            [wire_event(format_name, Milestone.IN_TRANSIT, identifiers=(mawb,))], reference="x"
        )


@pytest.mark.parametrize(
    ("format_name", "party"),
    [
        ("easypost", Party(role=PartyRole.LAST_MILE_CARRIER, id="dhl-paket", name="DHL Paket")),
        ("easypost", Party(role=PartyRole.LAST_MILE_CARRIER, id="fedex")),
        ("aftership", Party(role=PartyRole.LAST_MILE_CARRIER, id="royal-mail")),
        ("17track", Party(role=PartyRole.LAST_MILE_CARRIER, id="deutsche-post")),
        ("17track", Party(role=PartyRole.LAST_MILE_CARRIER, id="17track-190271")),
        ("native", Party(role=PartyRole.FORWARDER, id="fwd-sz")),
    ],
    ids=lambda value: value if isinstance(value, str) else value.id,
)
def test_other_parties_round_trip(format_name: str, party: Party) -> None:
    module = encoder(format_name)
    sent = wire_event(format_name, Milestone.OUT_FOR_DELIVERY, party=party)
    (parsed,) = parse(module, module.encode([sent], reference="sim-0006"))
    assert_round_trip(parsed, sent)


def test_easypost_writes_the_carrier_as_easypost_spells_it() -> None:
    module = encoder("easypost")
    fedex = Party(role=PartyRole.LAST_MILE_CARRIER, id="fedex")
    body = json.loads(
        module.encode([wire_event("easypost", Milestone.DELIVERED, party=fedex)], reference="x")
    )
    assert body["result"]["carrier"] == "FedEx"
    unsluggable = Party(role=PartyRole.LAST_MILE_CARRIER, id="dhl--paket")
    with pytest.raises(ValueError):
        module.encode(
            [wire_event("easypost", Milestone.DELIVERED, party=unsluggable)], reference="x"
        )


@pytest.mark.parametrize("format_name", ("aftership", "17track"))
def test_customs_direction_needs_a_country(format_name: str) -> None:
    module = encoder(format_name)
    nowhere = wire_event(format_name, Milestone.EXPORT_CUSTOMS_CLEARED, location=None)
    with pytest.raises(ValueError):
        module.encode([nowhere], reference="x")
    # import customs where the export happened would read back as export
    export = wire_event(format_name, Milestone.EXPORT_CUSTOMS_SUBMITTED)
    clash = WireEvent(**{**vars(export), "milestone": Milestone.IMPORT_CUSTOMS_RELEASED})
    with pytest.raises(ValueError):
        module.encode([export, clash], reference="x")


def test_aftership_carries_the_order_id_as_second_identifier() -> None:
    module = encoder("aftership")
    (parsed,) = parse(
        module, module.encode([wire_event("aftership", Milestone.DELIVERED)], reference="x")
    )
    assert [(i.kind, i.value) for i in parsed.identifiers] == [
        (IdentifierKind.TRACKING_NUMBER, "LB123456785CN"),
        (IdentifierKind.ORDER_ID, "AMZ-113-5550001"),
    ]


def test_native_carries_every_identifier_and_the_reason() -> None:
    module = encoder("native")
    sent = wire_event(
        "native",
        Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED,
        reason="Commercial invoice missing",
        extra={"source_code": "HOLD", "source_event_id": "H-1"},
    )
    (parsed,) = parse(module, module.encode([sent], reference="x"))
    assert [i.key for i in parsed.identifiers] == [i.key for i in sent.identifiers]
    assert parsed.source_description == "Commercial invoice missing"
    assert parsed.source_code == "HOLD"
    assert parsed.source.source_event_id == "H-1"


# --- estimates --------------------------------------------------------------------------------


@pytest.mark.parametrize("format_name", FORMATS)
def test_delivery_estimate_round_trips(format_name: str) -> None:
    module = encoder(format_name)
    scan = wire_event(format_name, Milestone.OUT_FOR_DELIVERY)
    predicted = _at(27, 20, 0)
    estimate = wire_event(
        format_name, Milestone.DELIVERED, occurred_at=predicted, estimated=True, location=None
    )
    parsed = parse(module, module.encode([scan, estimate], reference="sim-0007"))
    (actual_event,) = actual(parsed)
    assert_round_trip(actual_event, scan)
    (estimated,) = [e for e in parsed if e.kind is EventKind.ESTIMATED]
    assert estimated.milestone is Milestone.DELIVERED
    assert estimated.estimated_at == predicted
    assert estimated.occurred_at == scan.occurred_at  # issued with the latest scan
    assert estimated.identifiers[0].key == scan.identifiers[0].key
    assert (estimated.source.party.role, estimated.source.party.id) == (
        scan.party.role,
        scan.party.id,
    )


@pytest.mark.parametrize("format_name", ("easypost", "17track", "native"))
def test_estimate_alone_is_issued_when_told(format_name: str) -> None:
    module = encoder(format_name)
    issued = "2026-02-25T06:43:08+00:00"
    estimate = wire_event(
        format_name,
        Milestone.DELIVERED,
        occurred_at=_at(27, 20, 0),
        estimated=True,
        extra={"issued_at": issued},
    )
    (parsed,) = parse(module, module.encode([estimate], reference="sim-0008"))
    assert parsed.kind is EventKind.ESTIMATED
    assert parsed.estimated_at == estimate.occurred_at
    assert parsed.occurred_at == datetime.fromisoformat(issued)
    with pytest.raises(ValueError):
        module.encode([WireEvent(**{**vars(estimate), "extra": {}})], reference="x")


def test_aftership_refuses_an_estimate_without_checkpoints() -> None:
    estimate = wire_event(
        "aftership",
        Milestone.DELIVERED,
        estimated=True,
        extra={"issued_at": "2026-02-25T06:43:08+00:00"},
    )
    with pytest.raises(ValueError):
        encoder("aftership").encode([estimate], reference="x")


@pytest.mark.parametrize("format_name", AGGREGATORS)
def test_aggregators_estimate_the_delivery_only(format_name: str) -> None:
    module = encoder(format_name)
    scan = wire_event(format_name, Milestone.IN_TRANSIT)
    eta = wire_event(format_name, Milestone.OUT_FOR_DELIVERY, estimated=True)
    with pytest.raises(ValueError):
        module.encode([scan, eta], reference="x")


def test_native_estimates_any_milestone() -> None:
    module = encoder("native")
    scan = wire_event("native", Milestone.LINE_HAUL_DEPARTED)
    eta = wire_event(
        "native", Milestone.LINE_HAUL_ARRIVED, occurred_at=_at(23, 6, 30), estimated=True
    )
    parsed = parse(module, module.encode([scan, eta], reference="x"))
    (estimated,) = [e for e in parsed if e.kind is EventKind.ESTIMATED]
    assert estimated.milestone is Milestone.LINE_HAUL_ARRIVED
    assert estimated.estimated_at == eta.occurred_at


# --- the payload looks like the provider's ---------------------------------------------------


def _paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Every field path of a JSON document (list items as ``[]``)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from _paths(inner, path)
    elif isinstance(value, list):
        for item in value:
            yield from _paths(item, f"{prefix}[]")


def _fixture_paths(format_name: str) -> set[str]:
    paths: set[str] = set()
    for path in (FIXTURES / format_name).glob("*.json"):
        if path.name.endswith(".expected.json"):
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue  # a deliberately broken payload
        if isinstance(document, list):  # native's bare-list form
            document = {"events": document}
        paths.update(_paths(document))
    return paths


@pytest.mark.parametrize("format_name", FORMATS)
def test_payload_fields_are_the_providers_own(format_name: str) -> None:
    module = encoder(format_name)
    history = journey(format_name)
    estimate = WireEvent(
        **{
            **vars(history[0]),
            "milestone": Milestone.DELIVERED,
            "occurred_at": _at(27, 20, 0),
            "estimated": True,
            "location": None,
        }
    )
    body = module.encode([*history, estimate], reference="sim-0009")
    written = set(_paths(json.loads(body)))
    invented = written - _fixture_paths(format_name)
    assert not invented, sorted(invented)


def test_times_keep_the_local_offset_on_the_wire() -> None:
    sent = [wire_event("easypost", Milestone.IN_TRANSIT)]
    detail = json.loads(encoder("easypost").encode(sent, reference="x"))["result"][
        "tracking_details"
    ][0]
    assert detail["datetime"] == "2026-02-27T07:58:00-08:00"
    checkpoint = json.loads(
        encoder("aftership").encode(
            [wire_event("aftership", Milestone.EXPORT_CUSTOMS_CLEARED)], reference="x"
        )
    )["msg"]["checkpoints"][0]
    assert checkpoint["checkpoint_time"] == "2026-02-21T18:05:00+08:00"
    assert checkpoint["country_iso3"] == "CHN"
    event = json.loads(
        encoder("17track").encode([wire_event("17track", Milestone.DELIVERED)], reference="x")
    )["data"]["track_info"]["tracking"]["providers"][0]["events"][0]
    assert (event["time_iso"], event["time_utc"]) == (
        "2026-02-27T07:58:00-08:00",
        "2026-02-27T15:58:00Z",
    )
    assert event["time_raw"] == {"date": "2026-02-27", "time": "07:58:00", "timezone": "-08:00"}
