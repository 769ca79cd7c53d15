"""Raw envelope -> normalized events, or a dead letter saying why not. Pure, no I/O.

Whatever happens to a record, the result holds it: its events, or a ``DeadLetter`` with
the raw payload and the reason (bad envelope, unknown format, a mapper's typed error, or
a mapper bug). The normalize agent writes the result; nothing read is ever dropped.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from connectors.base import Connector, ConnectorError, UnknownSourceError
from connectors.registry import get_connector
from schemas.events import DeadLetter, DeadLetterStage, RawEnvelope, TrackingEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Normalized:
    events: list[TrackingEvent] = field(default_factory=list)
    dead_letter: DeadLetter | None = None
    source: str = "unknown"  # the envelope's source (the sender's configured name)


def normalize_record(
    value: bytes,
    *,
    now: datetime,
    where: str,
    connector_for: Callable[[str], Connector] = get_connector,
) -> Normalized:
    """Normalize one ``tracking.raw.v1`` record value. ``where`` names the record
    (topic/partition/offset) in dead letters for records that are not even an envelope."""
    try:
        raw = RawEnvelope.model_validate_json(value)
    except ValidationError as exc:
        return Normalized(dead_letter=_not_an_envelope(value, now, where, exc))
    return normalize_envelope(raw, now=now, connector_for=connector_for)


def normalize_envelope(
    raw: RawEnvelope,
    *,
    now: datetime,
    connector_for: Callable[[str], Connector] = get_connector,
) -> Normalized:
    """Run the envelope's connector; any failure becomes a dead letter with its reason."""
    try:
        connector = connector_for(raw.format)
        return Normalized(events=connector.parse(raw), source=raw.source)
    except ConnectorError as exc:
        return Normalized(
            dead_letter=_dead_letter(raw, now, str(exc), exc.error_type, exc.details, exc.path),
            source=raw.source,
        )
    except UnknownSourceError as exc:
        return Normalized(
            dead_letter=_dead_letter(raw, now, str(exc), "UnknownSourceError"), source=raw.source
        )
    except Exception as exc:  # a mapper bug: keep the payload, fix the mapper, replay
        log.exception("mapper %s crashed on envelope %s", raw.format, raw.envelope_id)
        reason = f"mapper {raw.format} crashed: {type(exc).__name__}"
        return Normalized(
            dead_letter=_dead_letter(raw, now, reason, "MapperCrash"), source=raw.source
        )


def _dead_letter(
    raw: RawEnvelope,
    now: datetime,
    reason: str,
    error_type: str,
    details: dict | None = None,
    path: str | None = None,
) -> DeadLetter:
    context = dict(details or {})
    if path:
        context["path"] = path
    return DeadLetter(
        stage=DeadLetterStage.NORMALIZE,
        reason=reason[:2000],
        error_type=error_type,
        details=context,
        failed_at=now,
        raw=raw,
    )


def _not_an_envelope(value: bytes, now: datetime, where: str, exc: ValidationError) -> DeadLetter:
    """A record on the raw topic that is not an envelope: wrap its bytes so it is kept."""
    raw = RawEnvelope(
        source="unknown",
        format="unknown",
        reference=where[:200],
        received_at=now,
        content_type="application/octet-stream",
        body_b64=base64.b64encode(value[: 4 * 1024 * 1024]).decode("ascii"),
        signature_verified=False,
        via="replay",
    )
    return _dead_letter(
        raw,
        now,
        f"record is not a RawEnvelope: {exc.error_count()} problem(s), first: "
        f"{exc.errors()[0]['msg']}",
        "InvalidEnvelope",
        {"record": where, "truncated": len(value) > 4 * 1024 * 1024},
    )
