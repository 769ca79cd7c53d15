"""Messages on the hub's internal topics (JSON, pydantic).

``hub.resolve.v1`` (key: identifier key) carries plan claims, events looking for their
shipment, events to park, notes that a parked event was claimed elsewhere, and expiry
sweeps; ``hub.shipments-inbox.v1`` (key: shipment id) carries what
a shipment's partition acts on: its plan, its events, clock ticks, and watermark moves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas.events import TrackingEvent
from schemas.shipments import ShipmentPlan


class ResolveMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["claim", "event", "park", "claimed", "expire"]
    identifier: str
    shipment_id: str | None = None  # claim
    plan_keys: list[str] = []  # claim: every identifier key of the plan
    event: TrackingEvent | None = None  # event, park
    position: int = 0  # event: which of the event's identifiers this hop looks up
    event_id: str | None = None  # claimed: a plan got this event at another identifier
    until: datetime | None = None  # expire: drop events that occurred at or before this


class InboxMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["plan", "event", "tick", "clock"]
    plan: ShipmentPlan | None = None
    event: TrackingEvent | None = None
    until: datetime | None = None  # tick: advance to; clock: move the partition watermark
    replayed: bool = False  # event: released from parking; does not move the watermark
