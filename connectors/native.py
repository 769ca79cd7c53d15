"""Our native format: a provider that adopts it sends normalized events directly.

Body (``application/json``): ``{"events": [NativeEvent, ...]}`` or a bare list, where a
``NativeEvent`` is a ``TrackingEvent`` without the fields only the hub sets:
``received_at``, ``raw_id``, ``event_id`` and ``source.connector`` (a provider may not
claim another connector's name). Signed with Standard Webhooks like every other source
without a scheme of its own. The JSON Schema is ``schemas/json/TrackingEvent.schema.json``
minus those fields.
"""

from __future__ import annotations

from typing import Any

from connectors.base import (
    Connector,
    ConnectorError,
    SignatureScheme,
    build_event,
    decode_json,
)
from schemas.events import RawEnvelope, TrackingEvent

NAME = "native"
MAX_EVENTS = 1000  # one delivery; larger batches are split by the sender
HUB_ONLY_FIELDS = ("received_at", "raw_id", "event_id")


class NativePayloadError(ConnectorError):
    """A native-format body that is not a list of events as the schema describes."""


def parse_native_events(raw: RawEnvelope) -> list[TrackingEvent]:
    """Every event of the body, validated against the common schema."""
    body = decode_json(raw, NativePayloadError)
    items = body.get("events") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise NativePayloadError('expected a list of events or {"events": [...]}')
    if not items:
        raise NativePayloadError("the body has no events")
    if len(items) > MAX_EVENTS:
        raise NativePayloadError(f"{len(items)} events in one body; at most {MAX_EVENTS}")
    return [_event(raw, item, f"events[{i}]") for i, item in enumerate(items)]


def _event(raw: RawEnvelope, item: Any, path: str) -> TrackingEvent:
    if not isinstance(item, dict):
        raise NativePayloadError(f"an event is an object, got {type(item).__name__}", path=path)
    claimed = [field for field in HUB_ONLY_FIELDS if field in item]
    if claimed:
        raise NativePayloadError(
            f"{', '.join(claimed)} is set by the hub, not the sender", path=path
        )
    source = item.get("source")
    if not isinstance(source, dict):
        raise NativePayloadError("source is missing or not an object", path=f"{path}.source")
    if "connector" in source:
        raise NativePayloadError("source.connector is set by the hub", path=f"{path}.source")
    fields = {**item, "source": {**source, "connector": NAME}}
    return build_event(raw, NativePayloadError, path, **fields)


CONNECTOR = Connector(
    name=NAME,
    parse=parse_native_events,
    content_types=frozenset({"application/json"}),
    signature=SignatureScheme.STANDARD_WEBHOOKS,
    description="trackhub native events (the common TrackingEvent schema)",
    max_body_bytes=2 * 1024 * 1024,
)
