"""The resolve agent's step at one identifier: its owners and its parked events. Pure.

Runs at the identifier's partition of ``tracking.events.v1`` + ``hub.resolve.v1`` (both
keyed by identifier). The rules are those of ``hub.resolve`` (which the offline engine
uses), spread over partitions:

- an event goes to every owner of the first of its routing identifiers
  (``hub.resolve.routing_identifiers``) that has owners, looked up hop by hop in the
  identifiers' order; nobody owning any of them parks it under each;
- an event routed by a consolidating identifier (MAWB, container, B/L, booking) stays
  there too, already claimed, for plans that register on that identifier later;
- a plan's claim at an identifier releases the kept events whose first routing identifier
  the plan has is this one, in event order, marked ``replayed`` (they do not move the
  shipment partition's watermark); they stay for other plans sharing it;
- parked events are bounded: at most ``MAX_PARKED_PER_IDENTIFIER`` per identifier, and
  ``expire`` sweeps (sent by a worker timer) drop those older than the parking time to
  live in event time.

An event nobody ever claimed is dead-lettered when it leaves parking, once: from its
*home* identifier (its first), which learns of claims made at other identifiers through
``claimed`` notes. Nothing accepted is lost silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from hub import topics
from hub.hub_messages import InboxMessage, ResolveMessage
from hub.kafka_clients import encode_key, encode_model
from hub.resolve import is_consolidating_key, routing_identifiers
from schemas.events import DeadLetter, DeadLetterStage, RawEnvelope, TrackingEvent

MAX_PARKED_PER_IDENTIFIER = 200
Send = tuple[str, bytes, bytes]  # (topic, key, value)


@dataclass
class Parked:
    """What waits at one identifier: events, oldest first, and the ids of those whose
    home this is that a plan has claimed (here or elsewhere)."""

    events: list[TrackingEvent] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)

    def dumps(self) -> bytes:
        events = b",".join(encode_model(e) for e in self.events)
        claimed = json.dumps(sorted(self.claimed)).encode()
        return b'{"claimed":' + claimed + b',"events":[' + events + b"]}"

    @classmethod
    def loads(cls, raw: bytes | None) -> Parked:
        if not raw:
            return cls()
        data = json.loads(raw)
        if isinstance(data, list):  # the first table format: events only
            data = {"events": data, "claimed": []}
        events = [TrackingEvent.model_validate(e) for e in data["events"]]
        return cls(events, set(data["claimed"]))

    def same_as(self, other: Parked) -> bool:
        ids = [e.event_id for e in self.events]
        return ids == [e.event_id for e in other.events] and self.claimed == other.claimed


def home_of(event: TrackingEvent) -> str:
    """The identifier that answers for dead-lettering the event: its first."""
    return event.identifiers[0].key


def oldest_parked(raw: bytes) -> datetime | None:
    """The earliest event time in a stored ``Parked`` value (for the expiry sweep)."""
    data = json.loads(raw)
    events = data["events"] if isinstance(data, dict) else data
    return min((datetime.fromisoformat(e["occurred_at"]) for e in events), default=None)


def resolve_outputs(
    message: ResolveMessage,
    owners: list[str],
    parked: Parked,
    *,
    now: datetime,
) -> tuple[list[str], Parked, list[Send]]:
    """One step at ``message.identifier``: its new owners, its new parked events, and the
    records to send. ``now`` (wall time) only stamps dead letters."""
    here = message.identifier
    if message.kind == "claim":
        return _claim(message, owners, parked)
    if message.kind == "claimed":
        if not any(e.event_id == message.event_id for e in parked.events):
            return owners, parked, []  # already gone: nothing to remember
        return owners, Parked(parked.events, parked.claimed | {message.event_id or ""}), []
    if message.kind == "expire":
        assert message.until is not None
        until = message.until
        gone = [e for e in parked.events if e.occurred_at <= until]
        kept = Parked([e for e in parked.events if e.occurred_at > until], parked.claimed)
        return owners, _without(kept, gone), _dead_letters(gone, parked, here, now, "expired")
    event = message.event
    assert event is not None
    if owners:
        sends = [_to_inbox(owner, InboxMessage(kind="event", event=event)) for owner in owners]
        if message.kind == "park" and home_of(event) != here:
            sends.append(_claimed_note(event))  # it was delivered after all
        if is_consolidating_key(here):  # kept for plans sharing this identifier later
            kept, letters = _park(event, parked, here, now, delivered=True)
            return owners, kept, sends + letters
        return owners, parked, sends
    if message.kind == "park":
        kept, letters = _park(event, parked, here, now, delivered=False)
        return owners, kept, letters
    routing = {identifier.key for identifier in routing_identifiers(event)}
    following = next(
        (
            position
            for position in range(message.position + 1, len(event.identifiers))
            if event.identifiers[position].key in routing
        ),
        None,
    )
    if following is not None:
        hop = ResolveMessage(
            kind="event",
            identifier=event.identifiers[following].key,
            event=event,
            position=following,
        )
        return owners, parked, [(topics.RESOLVE, encode_key(hop.identifier), encode_model(hop))]
    sends = []
    for identifier in routing_identifiers(event):  # nobody claims it: park under each
        park = ResolveMessage(kind="park", identifier=identifier.key, event=event)
        sends.append((topics.RESOLVE, encode_key(park.identifier), encode_model(park)))
    return owners, parked, sends


def _park(
    event: TrackingEvent, parked: Parked, here: str, now: datetime, *, delivered: bool
) -> tuple[Parked, list[Send]]:
    """``parked`` with ``event`` added (claimed at once if ``delivered`` and this is its
    home), and the dead letters of never-claimed events the count bound pushes out."""
    if any(e.event_id == event.event_id for e in parked.events):
        return parked, []
    claimed = parked.claimed | {event.event_id} if delivered and home_of(event) == here else None
    events = [*parked.events, event]
    evicted = events[:-MAX_PARKED_PER_IDENTIFIER]
    kept = Parked(events[-MAX_PARKED_PER_IDENTIFIER:], claimed or parked.claimed)
    letters = _dead_letters(evicted, kept, here, now, "evicted")
    return _without(kept, evicted), letters


def _claim(
    message: ResolveMessage, owners: list[str], parked: Parked
) -> tuple[list[str], Parked, list[Send]]:
    assert message.shipment_id is not None
    here = message.identifier
    plan_keys = set(message.plan_keys)
    sends: list[Send] = []
    claimed = set(parked.claimed)
    for event in sorted(parked.events, key=lambda e: (e.occurred_at, e.event_id)):
        # claimed here when this is the first of the event's routing identifiers the plan has
        first = next((i.key for i in routing_identifiers(event) if i.key in plan_keys), None)
        if first != here:
            continue
        replay = InboxMessage(kind="event", event=event, replayed=True)
        sends.append(_to_inbox(message.shipment_id, replay))
        if home_of(event) == here:
            claimed.add(event.event_id)
        else:
            sends.append(_claimed_note(event))
    # every event stays parked for other plans on a shared identifier (consolidation)
    return sorted({*owners, message.shipment_id}), Parked(parked.events, claimed), sends


def _without(parked: Parked, gone: list[TrackingEvent]) -> Parked:
    """``parked`` forgetting the claims of events that left it."""
    return Parked(parked.events, parked.claimed - {e.event_id for e in gone})


def _dead_letters(
    gone: list[TrackingEvent], parked: Parked, here: str, now: datetime, why: str
) -> list[Send]:
    sends = []
    for event in gone:
        if home_of(event) == here and event.event_id not in parked.claimed:
            letter = unclaimed_letter(event, now, why)
            sends.append((topics.DLQ, encode_key(letter.raw.kafka_key), encode_model(letter)))
    return sends


def unclaimed_letter(event: TrackingEvent, now: datetime, why: str) -> DeadLetter:
    """The dead letter of an event no plan claimed. Its raw body is the normalized event
    (the original delivery is ``raw_id`` in the raw log): register the missing plan and
    replay the raw log from the event's receipt to apply it."""
    reason = (
        "no registered plan has any of this event's identifiers "
        f"({', '.join(i.key for i in event.identifiers)}); "
        + (
            "parked longer than the parking time to live"
            if why == "expired"
            else f"pushed out of parking by newer events (at most {MAX_PARKED_PER_IDENTIFIER})"
        )
    )
    raw = RawEnvelope.from_body(
        body=encode_model(event),
        source="hub",
        format="tracking_event",
        reference=event.event_id,
        received_at=event.received_at,
        content_type="application/json",
        signature_verified=True,
        via="replay",
    )
    return DeadLetter(
        stage=DeadLetterStage.RESOLVE,
        reason=reason,
        error_type="UnclaimedEvent",
        details={
            "parking": why,
            "raw_id": event.raw_id,
            "identifiers": [i.key for i in event.identifiers],
        },
        failed_at=now,
        raw=raw,
        event=event,
    )


def _claimed_note(event: TrackingEvent) -> Send:
    note = ResolveMessage(kind="claimed", identifier=home_of(event), event_id=event.event_id)
    return topics.RESOLVE, encode_key(note.identifier), encode_model(note)


def _to_inbox(shipment_id: str, message: InboxMessage) -> Send:
    return topics.SHIPMENTS_INBOX, encode_key(shipment_id), encode_model(message)
