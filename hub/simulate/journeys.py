"""Seeded cross-border journeys with injected faults, and the alerts each fault must cause.

``generate(config)`` is pure and repeatable: the same seed gives the same plans, the same
events (as ``WireEvent``, before any wire format) and the same ground truth. A journey
follows its plan: every leg opens, reports progress often enough never to stall, and
closes well inside its SLA; consecutive legs hand over well inside their windows; the
promise leaves room for any injected lateness. So a fault-free journey must raise no
alert, and each injected fault names exactly the alerts it must raise:

- ``late_leg``: one leg closes at 1.3x its SLA; delay (leg_sla) and
  responsibility_breach on that leg.
- ``lost_handoff``: the next leg opens 1.5x the window after the handover; handoff_gap
  and responsibility_breach on that handoff.
- ``customs_hold``: import customs reports a documents hold or an exam, then goes on;
  exception on import customs.
- ``failed_delivery``: the carrier reports a failed attempt, then delivers; exception on
  the last mile.
- ``stall``: one leg is silent for 1.5x its stall limit, inside its SLA; stall on it.
- ``late_plan``: the plan is registered after the first events; none (they are parked,
  then claimed).
- ``estimate_slip``: early in the last mile the carrier estimates delivery two days after
  the promise, then corrects it and delivers on time; eta_slip on the promise and on the
  last mile's SLA (both resolved by the correction).

Peak season is a lane's: every journey on ``peak_lanes`` takes 25% longer per leg, still
inside its SLAs, and must raise nothing more than it would off-season.

Transport faults (duplicate and out-of-order deliveries) are the runner's: they must
change nothing. Every alert is attributed to the party the plan makes answerable: the
full-service provider for everything in that model, else the leg's party, or the
handoff's contract party (default the receiving leg's).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub.simulate.wire import WireEvent
from schemas.alerts import AlertType
from schemas.common import Identifier, IdentifierKind, Location, Party, PartyRole
from schemas.milestones import Milestone
from schemas.shipments import IntegrationModel, Leg, ShipmentPlan, TransportMode

FAULTS = (
    "late_leg",
    "lost_handoff",
    "customs_hold",
    "failed_delivery",
    "stall",
    "late_plan",
    "estimate_slip",
)


@dataclass(frozen=True)
class LaneSpec:
    name: str  # "CN-US"
    origin: str
    destination: str
    origin_city: str
    destination_city: str
    origin_airport: str
    destination_airport: str


LANES: dict[str, LaneSpec] = {
    "CN-US": LaneSpec("CN-US", "CN", "US", "Shenzhen", "Los Angeles", "SZX", "LAX"),
    "CN-DE": LaneSpec("CN-DE", "CN", "DE", "Shanghai", "Frankfurt", "PVG", "FRA"),
    "UK-AU": LaneSpec("UK-AU", "GB", "AU", "London", "Sydney", "LHR", "SYD"),
    "CN-UK": LaneSpec("CN-UK", "CN", "GB", "Guangzhou", "London", "CAN", "LHR"),
}
TRANSIT_AIRPORT = ("HKG", "HK")

# Typical hours per leg by mode (the generator draws 55-80% of the SLA around these).
LEG_HOURS: dict[TransportMode, dict[Leg, float]] = {
    TransportMode.AIR: {
        Leg.FIRST_MILE: 30,
        Leg.EXPORT_CUSTOMS: 12,
        Leg.LINE_HAUL: 48,
        Leg.IMPORT_CUSTOMS: 24,
        Leg.WAREHOUSE: 48,
        Leg.LAST_MILE: 72,
    },
    TransportMode.EXPRESS: {
        Leg.FIRST_MILE: 12,
        Leg.EXPORT_CUSTOMS: 6,
        Leg.LINE_HAUL: 24,
        Leg.IMPORT_CUSTOMS: 8,
        Leg.WAREHOUSE: 24,
        Leg.LAST_MILE: 36,
    },
    TransportMode.OCEAN: {
        Leg.FIRST_MILE: 72,
        Leg.EXPORT_CUSTOMS: 24,
        Leg.LINE_HAUL: 24 * 20,
        Leg.IMPORT_CUSTOMS: 48,
        Leg.WAREHOUSE: 72,
        Leg.LAST_MILE: 96,
    },
    TransportMode.RAIL: {
        Leg.FIRST_MILE: 48,
        Leg.EXPORT_CUSTOMS: 24,
        Leg.LINE_HAUL: 24 * 14,
        Leg.IMPORT_CUSTOMS: 36,
        Leg.WAREHOUSE: 72,
        Leg.LAST_MILE: 72,
    },
}

LEGS_OF_MODEL: dict[IntegrationModel, tuple[Leg, ...]] = {
    IntegrationModel.FULL_SERVICE: (
        Leg.FIRST_MILE,
        Leg.EXPORT_CUSTOMS,
        Leg.LINE_HAUL,
        Leg.IMPORT_CUSTOMS,
        Leg.LAST_MILE,
    ),
    IntegrationModel.SELLER_MANAGED: (
        Leg.FIRST_MILE,
        Leg.LINE_HAUL,
        Leg.IMPORT_CUSTOMS,
        Leg.LAST_MILE,
    ),
    IntegrationModel.OVERSEAS_WAREHOUSE: (
        Leg.FIRST_MILE,
        Leg.LINE_HAUL,
        Leg.IMPORT_CUSTOMS,
        Leg.WAREHOUSE,
        Leg.LAST_MILE,
    ),
    IntegrationModel.FBA: (Leg.FIRST_MILE, Leg.LINE_HAUL, Leg.IMPORT_CUSTOMS, Leg.WAREHOUSE),
}

# The milestones a leg reports, in order: opening, progress (repeated), closing.
LEG_MILESTONES: dict[Leg, tuple[Milestone, Milestone, Milestone]] = {
    Leg.FIRST_MILE: (
        Milestone.PICKED_UP,
        Milestone.RECEIVED_AT_ORIGIN_HUB,
        Milestone.DEPARTED_ORIGIN,
    ),
    Leg.EXPORT_CUSTOMS: (
        Milestone.EXPORT_CUSTOMS_SUBMITTED,
        Milestone.EXPORT_CUSTOMS_SUBMITTED,
        Milestone.EXPORT_CUSTOMS_CLEARED,
    ),
    Leg.LINE_HAUL: (
        Milestone.LINE_HAUL_DEPARTED,
        Milestone.TRANSSHIPPED,
        Milestone.LINE_HAUL_ARRIVED,
    ),
    Leg.IMPORT_CUSTOMS: (
        Milestone.IMPORT_CUSTOMS_SUBMITTED,
        Milestone.IMPORT_CUSTOMS_ACCEPTED,
        Milestone.IMPORT_CUSTOMS_RELEASED,
    ),
    Leg.WAREHOUSE: (
        Milestone.WAREHOUSE_RECEIVED,
        Milestone.WAREHOUSE_ORDER_PICKED,
        Milestone.WAREHOUSE_DISPATCHED,
    ),
    Leg.LAST_MILE: (Milestone.CARRIER_RECEIVED, Milestone.OUT_FOR_DELIVERY, Milestone.DELIVERED),
}

SLA_FACTOR = 1.6  # SLA = typical hours x this; journeys take 55-80% of the SLA
HANDOFF_WINDOW = timedelta(hours=36)


@dataclass(frozen=True)
class SimConfig:
    seed: int = 7
    shipments: int = 40
    start: datetime | None = None  # first registration; default: ``end`` minus the span
    lanes: tuple[str, ...] = tuple(LANES)
    modes: tuple[TransportMode, ...] = (
        TransportMode.AIR,
        TransportMode.OCEAN,
        TransportMode.EXPRESS,
        TransportMode.RAIL,
    )
    models: tuple[IntegrationModel, ...] = tuple(IntegrationModel)
    fault_rates: dict[str, float] = field(
        default_factory=lambda: {
            "late_leg": 0.12,
            "lost_handoff": 0.08,
            "customs_hold": 0.08,
            "failed_delivery": 0.08,
            "stall": 0.08,
            "late_plan": 0.05,
            "estimate_slip": 0.06,
        }
    )
    spread_days: float = 10.0  # registrations are spread over this many days
    seller_count: int = 4
    peak_lanes: tuple[str, ...] = ("CN-US",)  # lanes in peak season: 25% slower legs
    # distinguishes the shipment ids and identifiers of runs on one hub (a second run
    # with the same seed would otherwise revise the first run's shipments)
    run: int = 0


@dataclass(frozen=True)
class ExpectedAlert:
    """What the ground truth says one fault must raise (compared by these fields)."""

    type: AlertType
    shipment_id: str
    leg: Leg | None
    handoff: tuple[Leg, Leg] | None
    party: Party


@dataclass
class SimJourney:
    plan: ShipmentPlan
    events: list[WireEvent]
    fault: str | None
    lane: str
    mode: TransportMode
    register_at: datetime  # when the plan is sent (late plans: after the first events)
    expected: list[ExpectedAlert] = field(default_factory=list)

    @property
    def ends_at(self) -> datetime:
        """The last fact (estimates predict later moments; they are sent when issued)."""
        return max(e.occurred_at for e in self.events if not e.estimated)


def _party(role: PartyRole, ident: str, name: str) -> Party:
    return Party(role=role, id=ident, name=name)


FORWARDERS = [("fwd-sz-cargo", "SZ Cargo Forwarding"), ("fwd-ningbo-link", "Ningbo Link")]
CARRIERS_BY_DEST = {
    "US": ("usps", "USPS"),
    "DE": ("dhl-paket", "DHL Paket"),
    "AU": ("auspost", "Australia Post"),
    "GB": ("royal-mail", "Royal Mail"),
}
OCEAN_CARRIERS = [("maersk", "Maersk"), ("one", "Ocean Network Express")]
# airline party ids as the FSU connector derives them from the air waybill prefix
AIRLINES = [("cx", "Cathay Pacific"), ("lh", "Lufthansa Cargo")]
AWB_PREFIX = {"cx": "160", "lh": "020"}
BROKERS_BY_DEST = {
    "US": ("broker-lax", "LAX Customs Brokers"),
    "DE": ("broker-fra", "FRA Zoll Service"),
    "AU": ("broker-syd", "Sydney Clearance"),
    "GB": ("broker-man", "Manchester Clearance"),
}
PROVIDERS = [("yunexpress", "YunExpress"), ("4px", "4PX Express")]


def _leg_party(
    leg: Leg, lane: LaneSpec, mode: TransportMode, model: IntegrationModel, rng: random.Random
) -> Party:
    if leg in (Leg.FIRST_MILE, Leg.EXPORT_CUSTOMS):
        return _party(PartyRole.FORWARDER, *rng.choice(FORWARDERS))
    if leg is Leg.LINE_HAUL:
        if mode is TransportMode.OCEAN:
            return _party(PartyRole.CARRIER, *rng.choice(OCEAN_CARRIERS))
        if mode is TransportMode.AIR:
            return _party(PartyRole.CARRIER, *rng.choice(AIRLINES))
        return _party(PartyRole.FORWARDER, *rng.choice(FORWARDERS))
    if leg is Leg.IMPORT_CUSTOMS:
        return _party(PartyRole.CUSTOMS_BROKER, *BROKERS_BY_DEST[lane.destination])
    if leg is Leg.WAREHOUSE:
        if model is IntegrationModel.FBA:
            return _party(PartyRole.MARKETPLACE, "amazon-fba", "Amazon FBA")
        return _party(
            PartyRole.WAREHOUSE_OPERATOR, "3pl-" + lane.destination.lower(), "Overseas 3PL"
        )
    return _party(PartyRole.LAST_MILE_CARRIER, *CARRIERS_BY_DEST[lane.destination])


def _identifier(leg: Leg, mode: TransportMode, n: int, party: Party) -> Identifier:
    if leg is Leg.LINE_HAUL and mode is TransportMode.OCEAN:
        return Identifier(kind=IdentifierKind.CONTAINER, value=_container(n))
    if leg is Leg.LINE_HAUL and mode is TransportMode.AIR:
        return Identifier(kind=IdentifierKind.MAWB, value=_mawb(AWB_PREFIX[party.id], n))
    if leg is Leg.IMPORT_CUSTOMS:
        return Identifier(kind=IdentifierKind.CUSTOMS_ENTRY, value=f"ENT{n:09d}")
    if leg is Leg.LAST_MILE:
        return Identifier(kind=IdentifierKind.TRACKING_NUMBER, value=f"9400SIM{n:013d}")
    if leg is Leg.WAREHOUSE:
        return Identifier(kind=IdentifierKind.SHIPMENT_REF, value=f"WH-{n:08d}")
    if leg is Leg.EXPORT_CUSTOMS:
        return Identifier(kind=IdentifierKind.SHIPMENT_REF, value=f"EXP-{n:08d}")
    if leg is Leg.LINE_HAUL:
        return Identifier(kind=IdentifierKind.BOOKING, value=f"BK{n:08d}")
    return Identifier(kind=IdentifierKind.HAWB, value=f"SIMH{n:08d}")


def _mawb(prefix: str, n: int) -> str:
    """An air waybill: the airline prefix, a 7-digit serial and its check digit (mod 7)."""
    serial = 1_000_000 + n % 8_999_999
    return f"{prefix}{serial:07d}{serial % 7}"


def _container(n: int) -> str:
    """An ISO 6346 container number with its check digit."""
    owner = "SIMU"
    serial = f"{n % 1_000_000:06d}"
    values = {c: v for c, v in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", _letter_values(), strict=True)}
    total = 0
    for i, ch in enumerate(owner + serial):
        value = values[ch] if ch.isalpha() else int(ch)
        total += value * 2**i
    return f"{owner}{serial}{total % 11 % 10}"


def _letter_values() -> list[int]:
    values, v = [], 10
    while len(values) < 26:
        if v % 11:
            values.append(v)
        v += 1
    return values


def generate(config: SimConfig, *, end: datetime) -> list[SimJourney]:
    """``config.shipments`` journeys, registrations spread over ``config.spread_days``
    and the last event no later than ``end`` (the simulation's final clock)."""
    rng = random.Random(config.seed)
    drafts = [_draft(config, n, rng) for n in range(config.shipments)]
    span = max(d.span for d in drafts) + timedelta(days=config.spread_days)
    start = config.start or (end - span - timedelta(hours=1))
    journeys = []
    for n, draft in enumerate(drafts):
        offset = timedelta(seconds=rng.uniform(0, config.spread_days * 86400))
        journeys.append(_build(config, n, draft, start + offset, rng))
    return journeys


@dataclass
class _Draft:
    lane: LaneSpec
    mode: TransportMode
    model: IntegrationModel
    fault: str | None
    legs: tuple[Leg, ...]
    span: timedelta


def _draft(config: SimConfig, n: int, rng: random.Random) -> _Draft:
    lane = LANES[rng.choice(config.lanes)]
    mode = rng.choice(config.modes)
    model = rng.choice(config.models)
    fault = None
    roll = rng.random()
    for name in FAULTS:
        rate = config.fault_rates.get(name, 0.0)
        if roll < rate:
            fault = name
            break
        roll -= rate
    legs = LEGS_OF_MODEL[model]
    if fault == "customs_hold" and Leg.IMPORT_CUSTOMS not in legs:
        fault = None
    if fault in ("failed_delivery", "estimate_slip") and Leg.LAST_MILE not in legs:
        fault = None
    hours = sum(LEG_HOURS[mode][leg] * SLA_FACTOR * 1.5 for leg in legs)
    span = timedelta(hours=hours) + HANDOFF_WINDOW * 2 * len(legs)
    return _Draft(lane, mode, model, fault, legs, span)


def _build(
    config: SimConfig, n: int, draft: _Draft, start: datetime, rng: random.Random
) -> SimJourney:
    shipment_id = f"SIM-{config.seed}-{n:05d}"
    if config.run:
        shipment_id = f"SIM-{config.seed}-{config.run:04d}-{n:05d}"
    uid = config.run * 10_000 + n  # identifiers unique across runs too
    seller_id = f"seller-sim-{n % config.seller_count + 1}"
    provider = None
    if draft.model is IntegrationModel.FULL_SERVICE:
        provider = _party(PartyRole.FULL_SERVICE_PROVIDER, *rng.choice(PROVIDERS))
    parties = {leg: _leg_party(leg, draft.lane, draft.mode, draft.model, rng) for leg in draft.legs}
    identifiers = {leg: _identifier(leg, draft.mode, uid, parties[leg]) for leg in draft.legs}
    slas = {leg: timedelta(hours=LEG_HOURS[draft.mode][leg] * SLA_FACTOR) for leg in draft.legs}
    stall_limits = {leg: min(slas[leg] * 0.4, timedelta(hours=72)) for leg in draft.legs}
    order = draft.legs
    fault_leg = rng.choice(order) if draft.fault in ("late_leg", "stall") else None
    fault_handoff = None
    if draft.fault == "lost_handoff":
        i = rng.randrange(len(order) - 1)
        fault_handoff = (order[i], order[i + 1])
    hold_kind = rng.choice(["documents", "exam"]) if draft.fault == "customs_hold" else None
    slow = 1.25 if draft.lane.name in config.peak_lanes else 1.0

    events: list[WireEvent] = []
    expected: list[ExpectedAlert] = []
    answerable = {leg: provider or parties[leg] for leg in order}
    at = start + timedelta(hours=rng.uniform(1, 6))  # registration, then the pickup
    for i, leg in enumerate(order):
        if i > 0:
            gap = timedelta(hours=rng.uniform(1, 8))
            if fault_handoff == (order[i - 1], leg):
                gap = HANDOFF_WINDOW * 1.5
                expected += [
                    ExpectedAlert(kind, shipment_id, None, fault_handoff, provider or parties[leg])
                    for kind in (AlertType.HANDOFF_GAP, AlertType.RESPONSIBILITY_BREACH)
                ]
            at += gap
        share = min(0.9, rng.uniform(0.55, 0.72) * slow)
        duration = slas[leg] * share
        if fault_leg is leg and draft.fault == "stall":
            duration = slas[leg] * 0.85  # room for a silence of 1.5 stall limits (0.6 SLA)
        if fault_leg is leg and draft.fault == "late_leg":
            duration = slas[leg] * 1.3
            expected += [
                ExpectedAlert(kind, shipment_id, leg, None, answerable[leg])
                for kind in (AlertType.DELAY, AlertType.RESPONSIBILITY_BREACH)
            ]
        events += _leg_events(
            leg,
            at,
            duration,
            stall_limits[leg],
            parties[leg],
            identifiers[leg],
            draft,
            stall=fault_leg is leg and draft.fault == "stall",
            hold_kind=hold_kind if leg is Leg.IMPORT_CUSTOMS else None,
            failed_attempt=draft.fault == "failed_delivery" and leg is Leg.LAST_MILE,
            rng=rng,
        )
        if fault_leg is leg and draft.fault == "stall":
            expected.append(ExpectedAlert(AlertType.STALL, shipment_id, leg, None, answerable[leg]))
        if hold_kind is not None and leg is Leg.IMPORT_CUSTOMS:
            expected.append(
                ExpectedAlert(AlertType.EXCEPTION, shipment_id, leg, None, answerable[leg])
            )
        if draft.fault == "failed_delivery" and leg is Leg.LAST_MILE:
            expected.append(
                ExpectedAlert(AlertType.EXCEPTION, shipment_id, leg, None, answerable[leg])
            )
        at += duration
    promise = at + timedelta(days=3)
    if draft.fault == "estimate_slip":
        events += _slipped_estimates(
            events, identifiers[Leg.LAST_MILE], parties[Leg.LAST_MILE], promise
        )
        expected += [
            ExpectedAlert(AlertType.ETA_SLIP, shipment_id, None, None, answerable[Leg.LAST_MILE]),
            ExpectedAlert(
                AlertType.ETA_SLIP, shipment_id, Leg.LAST_MILE, None, answerable[Leg.LAST_MILE]
            ),
        ]
    plan = _plan(
        shipment_id, seller_id, draft, provider, parties, identifiers, slas, stall_limits, start, at
    )
    register_at = start
    if draft.fault == "late_plan":
        register_at = events[1].occurred_at + timedelta(minutes=5)
    return SimJourney(plan, events, draft.fault, draft.lane.name, draft.mode, register_at, expected)


def _leg_events(
    leg: Leg,
    opened: datetime,
    duration: timedelta,
    stall_limit: timedelta,
    party: Party,
    identifier: Identifier,
    draft: _Draft,
    *,
    stall: bool,
    hold_kind: str | None,
    failed_attempt: bool,
    rng: random.Random,
) -> list[WireEvent]:
    """Opening, progress at most 0.6 stall limits apart (one silence of 1.5 limits when
    ``stall``), the fault's trouble and recovery, and the closing at ``opened + duration``."""
    first, progress, last = LEG_MILESTONES[leg]
    here = draft.lane
    origin = Location(country=here.origin, city=here.origin_city)
    destination = Location(country=here.destination, city=here.destination_city)
    if draft.mode is TransportMode.AIR:
        origin = origin.model_copy(update={"iata": here.origin_airport})
        destination = destination.model_copy(update={"iata": here.destination_airport})
    transit = Location(iata=TRANSIT_AIRPORT[0], country=TRANSIT_AIRPORT[1])
    closes = opened + duration
    step = stall_limit * 0.6
    moments: list[tuple[datetime, Milestone, str | None]] = [(opened, first, None)]
    at = opened
    if stall:
        at = opened + min(step, duration * 0.1)
        moments.append((at, progress, None))
        at = at + stall_limit * 1.5
        moments.append((at, progress, None))
    if hold_kind is not None:
        held = opened + min(step * 0.5, duration * 0.2)
        milestone = (
            Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED
            if hold_kind == "documents"
            else Milestone.IMPORT_CUSTOMS_INSPECTION
        )
        reason = "documents missing: commercial invoice" if hold_kind == "documents" else "exam"
        moments.append((held, milestone, reason))
        at = held + min(step * 0.5, duration * 0.2)
        moments.append((at, progress, None))
    if failed_attempt:
        out = opened + min(step * 0.5, duration * 0.3)
        moments.append((out, Milestone.OUT_FOR_DELIVERY, None))
        moments.append((out + timedelta(hours=4), Milestone.DELIVERY_ATTEMPTED, "no one home"))
        at = out + min(step * 0.8, duration * 0.5)
        moments.append((at, Milestone.OUT_FOR_DELIVERY, None))
    while closes - at > step:
        at = at + step * rng.uniform(0.6, 1.0)
        if closes - at < timedelta(minutes=30):
            break
        moments.append((at, progress, None))
    moments.append((closes, last, None))

    def where(milestone: Milestone) -> Location:
        if leg in (Leg.FIRST_MILE, Leg.EXPORT_CUSTOMS):
            return origin
        if leg is Leg.LINE_HAUL:
            if milestone is first:
                return origin
            return destination if milestone is last else transit
        return destination

    # an air waybill's route, which Cargo-IMP status lines are read against
    route = {}
    if leg is Leg.LINE_HAUL and draft.mode is TransportMode.AIR:
        route = {"origin": here.origin_airport, "destination": here.destination_airport}
    return [
        WireEvent(
            milestone=milestone,
            occurred_at=_minute(moment),
            identifiers=(identifier,),
            party=party,
            location=where(milestone),
            reason=reason,
            extra=dict(route),
        )
        for moment, milestone, reason in sorted(moments, key=lambda m: m[0])
    ]


def _minute(moment: datetime) -> datetime:
    """Whole minutes: what the coarsest formats (Cargo-IMP) can carry."""
    return moment.replace(second=0, microsecond=0)


def _plan(
    shipment_id: str,
    seller_id: str,
    draft: _Draft,
    provider: Party | None,
    parties: dict[Leg, Party],
    identifiers: dict[Leg, Identifier],
    slas: dict[Leg, timedelta],
    stall_limits: dict[Leg, timedelta],
    registered: datetime,
    ends: datetime,
) -> ShipmentPlan:
    legs = [
        {
            "leg": leg.value,
            "party": parties[leg].model_dump(mode="json"),
            "identifiers": [identifiers[leg].model_dump(mode="json")],
            "sla": {"max_duration": _iso(slas[leg])},
            "stall_limit": _iso(stall_limits[leg]),
        }
        for leg in draft.legs
    ]
    handoffs = [
        {"from_leg": a.value, "to_leg": b.value, "window": _iso(HANDOFF_WINDOW)}
        for a, b in zip(draft.legs, draft.legs[1:], strict=False)
    ]
    return ShipmentPlan.model_validate(
        {
            "shipment_id": shipment_id,
            "seller_id": seller_id,
            "integration_model": draft.model.value,
            "provider": provider.model_dump(mode="json") if provider else None,
            "lane": {"origin": draft.lane.origin, "destination": draft.lane.destination},
            "mode": draft.mode.value,
            "identifiers": [{"kind": "order_id", "value": f"SO-{shipment_id}"}],
            "legs": legs,
            "handoffs": handoffs,
            "promised_delivery_at": (ends + timedelta(days=3)).isoformat(),
            "registered_at": registered.isoformat(),
        }
    )


def _iso(value: timedelta) -> str:
    """An ISO 8601 duration in whole minutes (what plans carry)."""
    minutes = max(1, round(value.total_seconds() / 60))
    return f"PT{minutes // 60}H{minutes % 60}M"


def _slipped_estimates(
    events: list[WireEvent], identifier: Identifier, party: Party, promise: datetime
) -> list[WireEvent]:
    """A delivery estimate two days past the promise, issued early in the last mile, and
    its correction (the actual delivery time) issued before the delivery."""
    last_mile = [e for e in events if identifier in e.identifiers and not e.estimated]
    opened, delivered = last_mile[0].occurred_at, last_mile[-1].occurred_at
    issued = opened + (delivered - opened) * 0.1
    corrected = opened + (delivered - opened) * 0.3
    return [
        WireEvent(
            milestone=Milestone.DELIVERED,
            occurred_at=_minute(moment),
            identifiers=(identifier,),
            party=party,
            location=last_mile[-1].location,
            estimated=True,
            extra={"issued_at": _minute(at).isoformat()},
        )
        for moment, at in ((promise + timedelta(days=2), issued), (delivered, corrected))
    ]
