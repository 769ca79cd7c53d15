"""What travels on the tracking topics: the raw envelope, the normalized event, dead letters.

``RawEnvelope`` is the source of truth (``tracking.raw.v1``): the body exactly as received,
so a fixed mapper can replay it. ``TrackingEvent`` is the normalized form
(``tracking.events.v1``). ``DeadLetter`` (``tracking.dlq.v1``) keeps what could not be
processed together with the reason, so nothing accepted is ever lost.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas.common import (
    SCHEMA_VERSION,
    Identifier,
    Location,
    NonEmptyStr,
    Party,
    ShortStr,
    StrictModel,
    stable_id,
    utc_instant,
)
from schemas.milestones import Milestone

SourceName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
    ),
]


class EventKind(StrEnum):
    """Whether the source reports a fact or a prediction (DCSA ACT / EST / PLN)."""

    ACTUAL = "actual"
    ESTIMATED = "estimated"
    PLANNED = "planned"


class EventSource(StrictModel):
    """Who said it: the connector that parsed it and the party it speaks for."""

    connector: SourceName = Field(description="Connector (wire format) name, e.g. 'easypost'")
    party: Party = Field(description="The party whose scan or status this is")
    source_event_id: ShortStr | None = Field(
        default=None, description="The source's own id of this event, when it has one"
    )


def _whole_minute_offset(moment: datetime) -> datetime:
    offset = moment.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    if seconds % 60:
        sign, size = ("-" if seconds < 0 else "+"), abs(seconds)
        shown = f"{sign}{size // 3600:02d}:{size % 3600 // 60:02d}:{size % 60:02d}"
        raise ValueError(
            f"UTC offset {shown} has seconds (a zone's local mean time before standard "
            "time: a date before about 1900?); JSON carries whole minutes only"
        )
    return moment


# an aware time that survives JSON as it is: its UTC offset is whole minutes
WireDatetime = Annotated[AwareDatetime, AfterValidator(_whole_minute_offset)]


class TrackingEvent(StrictModel):
    """One normalized tracking event.

    Times: ``occurred_at`` is when the event happened (for an estimate: when the estimate
    was issued), with the source's local UTC offset kept; ``received_at`` is when the hub
    received it; ``estimated_at`` is the predicted time of ``milestone`` and is present
    exactly when ``kind`` is estimated or planned.

    ``event_id`` is derived from the source's own event id when there is one, otherwise
    from the content, so the same event delivered twice gets the same id and collapses.
    It is computed when absent; a given ``event_id`` is kept as is (it was computed before).
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: Annotated[str, StringConstraints(pattern=r"^evt_[0-9a-f]{32}$")] = Field(
        default="", validate_default=False
    )
    source: EventSource
    identifiers: list[Identifier] = Field(
        min_length=1, max_length=64, description="Every reference the source gave; first is primary"
    )
    milestone: Milestone
    kind: EventKind = EventKind.ACTUAL
    source_code: ShortStr = Field(description="The source's own status code, verbatim")
    source_description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    reason_code: ShortStr | None = Field(
        default=None, description="The source's reason/exception code, when separate"
    )
    occurred_at: WireDatetime
    received_at: WireDatetime
    estimated_at: WireDatetime | None = None
    location: Location | None = None
    raw_id: Annotated[str, StringConstraints(pattern=r"^raw_[0-9a-f]{32}$")] | None = Field(
        default=None, description="envelope_id of the RawEnvelope this came from"
    )

    @field_validator("identifiers")
    @classmethod
    def _no_duplicate_identifiers(cls, value: list[Identifier]) -> list[Identifier]:
        keys = [(i.key, i.issuer) for i in value]
        if len(set(keys)) != len(keys):
            raise ValueError("identifiers contain the same identifier twice")
        return value

    @model_validator(mode="after")
    def _check_estimate_and_id(self) -> Self:
        if self.kind is EventKind.ACTUAL and self.estimated_at is not None:
            raise ValueError(
                "estimated_at is only for estimated or planned events; "
                "emit the estimate as its own event with kind='estimated'"
            )
        if self.kind is not EventKind.ACTUAL and self.estimated_at is None:
            raise ValueError(f"a {self.kind.value} event needs estimated_at")
        if not self.event_id:
            object.__setattr__(self, "event_id", compute_event_id(self))
        return self

    @property
    def primary_identifier(self) -> Identifier:
        """The identifier the event is keyed by on ``tracking.events.v1``."""
        return self.identifiers[0]


def compute_event_id(event: TrackingEvent) -> str:
    """The deterministic id of an event (see ``TrackingEvent``).

    With a source event id: (connector, party id, source event id, kind, estimated instant),
    since one source event id can carry successive estimates. Without: the content that
    makes two deliveries the same event: identifiers, milestone, source code, instant.
    ``received_at`` and ``raw_id`` never enter the hash: a re-delivery is the same event.
    """
    estimated = utc_instant(event.estimated_at) if event.estimated_at else None
    if event.source.source_event_id:
        return stable_id(
            "evt",
            event.source.connector,
            event.source.party.id,
            event.source.source_event_id,
            event.kind.value,
            estimated,
        )
    return stable_id(
        "evt",
        event.source.connector,
        event.source.party.id,
        sorted(i.key for i in event.identifiers),
        event.milestone.value,
        event.kind.value,
        event.source_code,
        event.reason_code,
        utc_instant(event.occurred_at),
        estimated,
        event.location.model_dump(mode="json", exclude_none=True) if event.location else None,
    )


# validation context of ``RawEnvelope.from_body``: the digest of the bytes it encoded itself
_ENCODED_BODY_SHA256 = "schemas.events.encoded_body_sha256"
MAX_RAW_BODY_BYTES = 4 * 1024 * 1024  # the gateway's limit is at most this; see hub.topics


class RawEnvelope(StrictModel):
    """What the gateway (or a poller) writes before it answers: the body exactly as received.

    ``body`` holds the raw bytes; in JSON it is standard base64 (``body_b64``). The envelope
    id is derived from (source, body digest), so an exact duplicate delivery gets the same
    id and the gateway can answer it with 200 instead of 202.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    envelope_id: Annotated[str, StringConstraints(pattern=r"^raw_[0-9a-f]{32}$")] = Field(
        default="", validate_default=False
    )
    source: SourceName = Field(description="The configured source (sender) name")
    format: SourceName = Field(description="The connector (wire format) that parses the body")
    reference: ShortStr = Field(
        description="What the record is keyed by after the source name: the delivery id "
        "(webhook id) or, without one, the body digest"
    )
    received_at: AwareDatetime
    content_type: ShortStr
    headers: dict[
        Annotated[str, StringConstraints(to_lower=True, max_length=200)],
        Annotated[str, StringConstraints(max_length=8192)],
    ] = Field(default_factory=dict, description="Request headers kept (lower-case names)")
    body_b64: str = Field(description="The body bytes, standard base64")
    body_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] = Field(
        default="", validate_default=False
    )
    signature_verified: bool
    via: Literal["webhook", "poll", "replay", "file"] = "webhook"

    @field_validator("body_b64")
    @classmethod
    def _valid_base64(cls, value: str, info: ValidationInfo) -> str:
        if _encoded_digest(info) is None:  # not encoded by from_body: decode it, strictly
            try:
                binascii.a2b_base64(value, strict_mode=True)
            except binascii.Error:
                raise ValueError(
                    "body_b64 is not valid base64 (standard alphabet, padded)"
                ) from None
        size = len(value) // 4 * 3 - value[-2:].count("=")
        if size > MAX_RAW_BODY_BYTES:
            raise ValueError(f"body is {size} bytes, over the {MAX_RAW_BODY_BYTES} limit")
        return value

    @model_validator(mode="after")
    def _digest_and_id(self, info: ValidationInfo) -> Self:
        digest = _encoded_digest(info) or hashlib.sha256(self.body).hexdigest()
        if self.body_sha256 and self.body_sha256 != digest:
            raise ValueError("body_sha256 does not match the body")
        object.__setattr__(self, "body_sha256", digest)
        if not self.envelope_id:
            object.__setattr__(self, "envelope_id", stable_id("raw", self.source, digest))
        return self

    @classmethod
    def from_body(cls, *, body: bytes, **fields: Any) -> RawEnvelope:
        """Build an envelope from raw bytes (base64 is done here, not by callers).

        The gateway's hot path: the bytes are hashed once, here, and their base64 is not
        decoded again to be checked (every other field is validated as usual)."""
        data = {**fields, "body_b64": base64.b64encode(body).decode("ascii")}
        context = {_ENCODED_BODY_SHA256: hashlib.sha256(body).hexdigest()}
        return cls.model_validate(data, context=context)

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.body_b64)

    @property
    def kafka_key(self) -> str:
        return f"{self.source}:{self.reference}"


def _encoded_digest(info: ValidationInfo) -> str | None:
    context = info.context
    return context.get(_ENCODED_BODY_SHA256) if isinstance(context, dict) else None


class DeadLetterStage(StrEnum):
    """Where processing gave up."""

    GATEWAY = "gateway"  # accepted, but could not be routed (e.g. unknown content)
    NORMALIZE = "normalize"  # the connector's mapper rejected the payload
    RESOLVE = "resolve"  # no shipment claimed the event before its parking expired
    STATE = "state"  # the shipment state machine refused the event
    DELIVERY = "delivery"  # an alert could not be delivered to a seller


class DeadLetter(StrictModel):
    """A payload we accepted but could not process, kept with why, for a later replay."""

    schema_version: Literal[1] = SCHEMA_VERSION
    dead_letter_id: Annotated[str, StringConstraints(pattern=r"^dlq_[0-9a-f]{32}$")] = Field(
        default="", validate_default=False
    )
    stage: DeadLetterStage
    reason: NonEmptyStr = Field(description="Human-readable: what was wrong, for whoever fixes it")
    error_type: ShortStr = Field(description="The typed error's name, e.g. 'X12SegmentError'")
    details: dict[str, Any] = Field(default_factory=dict, description="Machine-readable context")
    failed_at: AwareDatetime
    raw: RawEnvelope
    event: TrackingEvent | None = Field(
        default=None, description="The normalized event, when the failure came after normalizing"
    )

    @model_validator(mode="after")
    def _id(self) -> Self:
        if not self.dead_letter_id:
            event_id = self.event.event_id if self.event else None
            object.__setattr__(
                self,
                "dead_letter_id",
                stable_id("dlq", self.raw.envelope_id, self.stage.value, event_id, self.error_type),
            )
        return self


def received_now() -> datetime:
    """The current time as an aware UTC datetime: the one clock read for ``received_at``."""
    return datetime.now(UTC)
