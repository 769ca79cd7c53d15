"""Which shipment an event belongs to, and where events wait for their plan. Pure.

One shipment has many identifiers across its legs (HAWB, container, entry number,
last-mile tracking number, order id), and one identifier can belong to many shipments
(a MAWB or container consolidates many sellers' parcels). An event belongs to every
shipment that claims its first *routing* identifier found in the index: connectors put
the most specific identifier first, so a parcel scan goes to its parcel's shipment while
an airline's status on the MAWB goes to every shipment on that air waybill.

Routing identifiers (``routing_identifiers``) are the event's identifiers without the
consolidating ones (MAWB, container, bill of lading, booking) that follow a more specific
one: a scan of parcel X that also names its MAWB is about X, so it never falls back to
every shipment on the MAWB, whether or not X's plan has arrived yet. That keeps the
result independent of the order plans arrive in.

Events nobody claims yet are parked, bounded in count and in age, and handed to a plan
that arrives later; what falls out of the bounds is returned for the dead-letter topic.
Events routed by a consolidating identifier are kept the same way (already claimed, so
never dead-lettered): a seller who registers a plan on that MAWB or container later still
gets the airline's or ocean carrier's earlier statuses.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.common import Identifier, IdentifierKind
from schemas.events import TrackingEvent
from schemas.shipments import ShipmentPlan

# identifiers many shipments share: a master air waybill, a container, a (master) bill of
# lading or a carrier booking carries many sellers' goods
CONSOLIDATING = frozenset(
    {
        IdentifierKind.MAWB,
        IdentifierKind.CONTAINER,
        IdentifierKind.BILL_OF_LADING,
        IdentifierKind.BOOKING,
    }
)
_CONSOLIDATING_PREFIXES = tuple(f"{kind}:" for kind in CONSOLIDATING)


def routing_identifiers(event: TrackingEvent) -> list[Identifier]:
    """The identifiers ``event`` may be routed by, in order: all but the consolidating
    ones that follow a more specific identifier."""
    routing: list[Identifier] = []
    specific = False
    for identifier in event.identifiers:
        if identifier.kind in CONSOLIDATING:
            if specific:
                continue
        else:
            specific = True
        routing.append(identifier)
    return routing


def is_consolidating_key(key: str) -> bool:
    """Whether an identifier key (``kind:value``) is of a consolidating kind."""
    return key.startswith(_CONSOLIDATING_PREFIXES)


@dataclass
class IdentifierIndex:
    by_key: dict[str, set[str]] = field(default_factory=dict)
    keys_of: dict[str, set[str]] = field(default_factory=dict)

    def add_plan(self, plan: ShipmentPlan) -> None:
        """Index a plan's identifiers (a new revision replaces the old ones)."""
        keys = {identifier.key for identifier in plan.all_identifiers()}
        for stale in self.keys_of.get(plan.shipment_id, set()) - keys:
            owners = self.by_key.get(stale, set())
            owners.discard(plan.shipment_id)
            if not owners:
                self.by_key.pop(stale, None)
        for key in keys:
            self.by_key.setdefault(key, set()).add(plan.shipment_id)
        self.keys_of[plan.shipment_id] = keys

    def shipments_for(self, event: TrackingEvent) -> list[str]:
        return self.route(event)[1]

    def route(self, event: TrackingEvent) -> tuple[Identifier | None, list[str]]:
        """The routing identifier that resolves ``event`` and its owners (None, [])."""
        for identifier in routing_identifiers(event):
            owners = self.by_key.get(identifier.key)
            if owners:
                return identifier, sorted(owners)
        return None, []


@dataclass
class ParkingLot:
    """Events waiting for a plan, oldest first; at most ``max_events``, each for ``ttl``
    of event time past its own occurrence.

    A claimed event stays parked until it expires: several plans can share an identifier
    (a consolidated MAWB), and a plan registered later must still get it. Only events
    no plan ever claimed are reported when they fall out (for the dead-letter topic).
    """

    max_events: int = 100_000
    ttl: timedelta = timedelta(days=14)
    events: OrderedDict[str, TrackingEvent] = field(default_factory=OrderedDict)
    claimed: set[str] = field(default_factory=set)

    def park(self, event: TrackingEvent) -> list[TrackingEvent]:
        """Park one event; returns never-claimed events pushed out by the count bound."""
        self.events[event.event_id] = event
        evicted = []
        while len(self.events) > self.max_events:
            evicted.append(self.events.popitem(last=False)[1])
        return self._unclaimed(evicted)

    def keep_routed(self, event: TrackingEvent) -> list[TrackingEvent]:
        """Keep an event routed by a consolidating identifier, for plans that share the
        identifier later (claimed already: it is never dead-lettered); returns what
        ``park`` returns."""
        self.claimed.add(event.event_id)
        return self.park(event)

    def claim(
        self, plan: ShipmentPlan, index: IdentifierIndex | None = None
    ) -> list[TrackingEvent]:
        """Parked events that now resolve to ``plan`` (``index`` already has the plan):
        the event's first identifier any plan claims must be one of this plan's. Without
        an index, any identifier of the plan claims the event."""
        if index is None:
            index = IdentifierIndex()
            index.add_plan(plan)
        mine = [
            event
            for event in self.events.values()
            if plan.shipment_id in index.shipments_for(event)
        ]
        self.claimed.update(event.event_id for event in mine)
        return mine

    def expire(self, now: datetime) -> list[TrackingEvent]:
        """Never-claimed events parked longer than ``ttl`` (in event time) by ``now``."""
        expired = [e for e in self.events.values() if e.occurred_at + self.ttl <= now]
        for event in expired:
            del self.events[event.event_id]
        return self._unclaimed(expired)

    def _unclaimed(self, events: list[TrackingEvent]) -> list[TrackingEvent]:
        out = [e for e in events if e.event_id not in self.claimed]
        self.claimed.difference_update(e.event_id for e in events)
        return out
