"""Which shipment an event belongs to, and where events wait for their plan. Pure.

One shipment has many identifiers across its legs (HAWB, container, entry number,
last-mile tracking number, order id), and one identifier can belong to many shipments
(a MAWB or container consolidates many sellers' parcels). An event belongs to every
shipment that claims its *first* identifier found in the index: connectors put the most
specific identifier first, so a parcel scan goes to its parcel's shipment while an
airline's status on the MAWB goes to every shipment on that air waybill.

Events nobody claims yet are parked, bounded in count and in age, and handed to a plan
that arrives later; what falls out of the bounds is returned for the dead-letter topic.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.events import TrackingEvent
from schemas.shipments import ShipmentPlan


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
        for identifier in event.identifiers:
            owners = self.by_key.get(identifier.key)
            if owners:
                return sorted(owners)
        return []


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
