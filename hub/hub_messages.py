"""Messages on the hub's internal topics (JSON, pydantic).

``hub.resolve.v1`` (key: identifier key) carries plan claims, events looking for their
shipment and events to park; ``hub.shipments-inbox.v1`` (key: shipment id) carries what
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

    kind: Literal["claim", "event", "park"]
    identifier: str
    shipment_id: str | None = None  # claim
    plan_keys: list[str] = []  # claim: every identifier key of the plan
    event: TrackingEvent | None = None  # event, park
    position: int = 0  # event: which of the event's identifiers this hop looks up


class InboxMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["plan", "event", "tick", "clock"]
    plan: ShipmentPlan | None = None
    event: TrackingEvent | None = None
    until: datetime | None = None  # tick: advance to; clock: move the partition watermark
    replayed: bool = False  # event: released from parking; does not move the watermark
