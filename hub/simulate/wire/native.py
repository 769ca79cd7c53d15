"""Our native format, built from simulated events: the reverse of connectors/native.py.

One payload is ``{"events": [NativeEvent, ...]}``, one entry per event in the order given:
the common ``TrackingEvent`` without the fields only the hub sets (``received_at``,
``raw_id``, ``event_id``, ``source.connector``). The format carries the model itself, so
every milestone is ``SUPPORTED``, every party (any role, id and name) and every identifier
(all of them, in order, with their issuer) travel as given, and so does the whole location.

``source_code`` is ``extra["source_code"]`` when the simulation gives the party's own code,
else the milestone in upper case; ``extra["source_event_id"]`` becomes the source event id
(without it the hub derives the event id from the content, so a resend collapses);
``reason`` becomes ``source_description``. Times are written with their own offset.

Estimates: native events carry them as the hub does: an ``estimated`` event is sent with
``kind: "estimated"``, ``estimated_at`` its ``occurred_at`` (the predicted time) and
``occurred_at`` the time it was issued: ``extra["issued_at"]`` (ISO 8601 with offset)
when given, else the latest actual event of the payload; an estimate alone without
``issued_at`` is a ValueError. ``reference`` is not written: the delivery id of a native
webhook is its Standard Webhooks ``webhook-id`` header, set by the sender.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.simulate.wire import WireEvent
from hub.simulate.wire._common import issued_at
from schemas.milestones import Milestone

FORMAT = "native"
CONTENT_TYPE = "application/json"
SUPPORTED: frozenset[Milestone] = frozenset(Milestone)
MAX_EVENTS = 1000  # the connector's limit for one body


def encode(events: Sequence[WireEvent], *, reference: str) -> bytes:
    """``{"events": [...]}`` with one native event per event of ``events``."""
    if not events:
        raise ValueError("nothing to encode")
    if len(events) > MAX_EVENTS:
        raise ValueError(f"{len(events)} events; a native body holds at most {MAX_EVENTS}")
    actual_times = [e.occurred_at for e in events if not e.estimated]
    latest = max(actual_times) if actual_times else None
    items = [_native_event(event, latest) for event in events]
    return json.dumps({"events": items}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _native_event(event: WireEvent, latest_actual: datetime | None) -> dict[str, Any]:
    if event.occurred_at.utcoffset() is None:
        raise ValueError("occurred_at must carry its UTC offset")
    if not event.identifiers:
        raise ValueError("a native event needs at least one identifier")
    source: dict[str, Any] = {"party": event.party.model_dump(mode="json", exclude_none=True)}
    if event.extra.get("source_event_id"):
        source["source_event_id"] = event.extra["source_event_id"]
    item: dict[str, Any] = {
        "source": source,
        "identifiers": [i.model_dump(mode="json", exclude_none=True) for i in event.identifiers],
        "milestone": event.milestone.value,
        "source_code": event.extra.get("source_code") or event.milestone.value.upper(),
    }
    if event.reason:
        item["source_description"] = event.reason
    if event.estimated:
        item["kind"] = "estimated"
        item["occurred_at"] = issued_at(event, latest_actual).isoformat()
        item["estimated_at"] = event.occurred_at.isoformat()
    else:
        item["occurred_at"] = event.occurred_at.isoformat()
    if event.location is not None:
        location = event.location.model_dump(mode="json", exclude_none=True)
        if location:
            item["location"] = location
    return item
