"""Our customs-broker format, ``trackhub.customs.v1``: wire models, status table, mapper.

No public webhook format for customs status exists, so we publish one
(``docs/customs-format.md``, JSON Schema ``docs/customs-format.schema.json`` generated from
the models below by ``customs_format_json_schema``; ``python -m connectors.customs``
rewrites the file). A delivery carries one or more status updates of import or export
declarations; each update becomes one actual event, plus an estimated release event when
the broker gives ``expected_release_at``.

Unknown fields are ignored by the hub (a sender on a later, additive v1 revision keeps
working) while the published schema forbids them (a sender's own tests catch a misspelt
field). Every rule the models check is a rule the schema states, except what it cannot
express: update ids unique within a delivery, at most 63 references per update, and
calendar validity of timestamps (the schema's pattern checks their shape).
A body that breaks a rule raises ``CustomsPayloadError`` naming the field path; the
pipeline dead-letters the whole delivery, which the broker fixes and sends again.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from connectors.base import (
    Connector,
    ConnectorError,
    SignatureScheme,
    build_event,
    decode_json,
    source_of,
)
from schemas.common import (
    CountryCode,
    Identifier,
    IdentifierKind,
    Slug,
    UnLocode,
    normalize_identifier,
)
from schemas.events import EventKind, RawEnvelope, TrackingEvent
from schemas.export import SCHEMA_BASE_URI
from schemas.milestones import Milestone

NAME = "customs"
FORMAT_V1 = "trackhub.customs.v1"
MAX_UPDATES = 500  # one delivery; ~1.5 KB an update keeps the worst case under 1 MiB
MAX_REFERENCES = 63  # plus the entry number: TrackingEvent takes at most 64 identifiers
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "customs-format.schema.json"


class CustomsPayloadError(ConnectorError):
    """A customs body that is not valid ``trackhub.customs.v1``."""


# --- vocabulary --------------------------------------------------------------------------


class Direction(StrEnum):
    """Which border the declaration is for."""

    IMPORT = "import"
    EXPORT = "export"


class CustomsStatus(StrEnum):
    """Where the declaration stands (meanings in docs/customs-format.md)."""

    FILED = "filed"
    ACCEPTED = "accepted"
    HOLD = "hold"
    INSPECTION = "inspection"
    DOCUMENTS_REQUESTED = "documents_requested"
    DUTIES_ASSESSED = "duties_assessed"
    DUTIES_PAID = "duties_paid"
    RELEASED = "released"
    REJECTED = "rejected"
    SEIZED = "seized"
    CANCELLED = "cancelled"


class HoldReason(StrEnum):
    """Why the goods are held."""

    DOCUMENTS_MISSING = "documents_missing"
    DOCUMENTS_INCONSISTENT = "documents_inconsistent"
    EXAMINATION = "examination"
    VALUATION = "valuation"
    RESTRICTED_GOODS = "restricted_goods"
    LICENCE_REQUIRED = "licence_required"
    OTHER = "other"


# Declaration types are an open string: the hub does not map them. Known spellings:
KNOWN_DECLARATION_TYPES: dict[str, str] = {
    "formal": "full declaration (US ACE entry type 01, EU/UK data set H1, CN general trade)",
    "informal": "US ACE informal entry (type 11), goods valued up to US$2,500",
    "T86": "US ACE entry type 86, Section 321 de minimis (refused by ACE since 2025-08-29)",
    "section_321": "US Section 321 release on the manifest (no entry; ended 2025-08-29)",
    "H7": "EU import declaration for low-value consignments (intrinsic value up to EUR 150)",
    "H6": "EU import declaration for postal consignments",
    "9610": "CN cross-border e-commerce retail, direct mail (import or export)",
    "1210": "CN bonded cross-border e-commerce (goods stocked in a special customs zone)",
    "1239": "CN bonded cross-border e-commerce A (import)",
    "9710": "CN cross-border e-commerce B2B direct export",
    "9810": "CN cross-border e-commerce export to an overseas warehouse",
}

# The rules an update's optional parts follow; the validators and the JSON Schema both
# read these, so the two cannot disagree.
HOLD_REASONS_ALLOWED: dict[CustomsStatus, tuple[HoldReason, ...]] = {
    CustomsStatus.HOLD: tuple(HoldReason),
    CustomsStatus.DOCUMENTS_REQUESTED: (
        HoldReason.DOCUMENTS_MISSING,
        HoldReason.DOCUMENTS_INCONSISTENT,
    ),
}
HOLD_REASON_REQUIRED: frozenset[CustomsStatus] = frozenset({CustomsStatus.HOLD})
DUTIES_REQUIRED: frozenset[CustomsStatus] = frozenset({CustomsStatus.DUTIES_ASSESSED})
# After these nothing more is released, so an expected release time makes no sense.
FINAL_STATUSES: frozenset[CustomsStatus] = frozenset(
    {CustomsStatus.RELEASED, CustomsStatus.REJECTED, CustomsStatus.SEIZED, CustomsStatus.CANCELLED}
)

# --- the status table: (direction, status) -> milestone; a hold goes by its reason -------

_I, _E = Direction.IMPORT, Direction.EXPORT
STATUS_MILESTONES: dict[Direction, dict[CustomsStatus, Milestone]] = {
    _I: {
        CustomsStatus.FILED: Milestone.IMPORT_CUSTOMS_SUBMITTED,
        CustomsStatus.ACCEPTED: Milestone.IMPORT_CUSTOMS_ACCEPTED,
        CustomsStatus.INSPECTION: Milestone.IMPORT_CUSTOMS_INSPECTION,
        CustomsStatus.DOCUMENTS_REQUESTED: Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED,
        CustomsStatus.DUTIES_ASSESSED: Milestone.IMPORT_CUSTOMS_DUTIES_DUE,
        CustomsStatus.DUTIES_PAID: Milestone.IMPORT_CUSTOMS_DUTIES_PAID,
        CustomsStatus.RELEASED: Milestone.IMPORT_CUSTOMS_RELEASED,
        CustomsStatus.REJECTED: Milestone.IMPORT_CUSTOMS_REJECTED,
        CustomsStatus.SEIZED: Milestone.IMPORT_CUSTOMS_SEIZED,
        # withdrawn by the broker, usually to file again: not the end of the shipment
        CustomsStatus.CANCELLED: Milestone.INFO,
    },
    # the taxonomy's export leg has three milestones: whatever stops the goods is "held"
    _E: {
        CustomsStatus.FILED: Milestone.EXPORT_CUSTOMS_SUBMITTED,
        CustomsStatus.ACCEPTED: Milestone.EXPORT_CUSTOMS_SUBMITTED,
        CustomsStatus.INSPECTION: Milestone.EXPORT_CUSTOMS_HELD,
        CustomsStatus.DOCUMENTS_REQUESTED: Milestone.EXPORT_CUSTOMS_HELD,
        CustomsStatus.DUTIES_ASSESSED: Milestone.EXPORT_CUSTOMS_HELD,
        CustomsStatus.DUTIES_PAID: Milestone.INFO,
        CustomsStatus.RELEASED: Milestone.EXPORT_CUSTOMS_CLEARED,
        CustomsStatus.REJECTED: Milestone.EXPORT_CUSTOMS_HELD,
        CustomsStatus.SEIZED: Milestone.EXPORT_CUSTOMS_HELD,
        CustomsStatus.CANCELLED: Milestone.INFO,
    },
}
HOLD_MILESTONES: dict[Direction, dict[HoldReason, Milestone]] = {
    _I: {
        HoldReason.DOCUMENTS_MISSING: Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED,
        HoldReason.DOCUMENTS_INCONSISTENT: Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED,
        # an examination hold is the inspection: customs acts, not the seller
        HoldReason.EXAMINATION: Milestone.IMPORT_CUSTOMS_INSPECTION,
        HoldReason.VALUATION: Milestone.IMPORT_CUSTOMS_HELD,
        HoldReason.RESTRICTED_GOODS: Milestone.IMPORT_CUSTOMS_HELD,
        HoldReason.LICENCE_REQUIRED: Milestone.IMPORT_CUSTOMS_HELD,
        HoldReason.OTHER: Milestone.IMPORT_CUSTOMS_HELD,
    },
    _E: dict.fromkeys(HoldReason, Milestone.EXPORT_CUSTOMS_HELD),
}
RELEASE_MILESTONES: dict[Direction, Milestone] = {
    _I: Milestone.IMPORT_CUSTOMS_RELEASED,
    _E: Milestone.EXPORT_CUSTOMS_CLEARED,
}


def milestone_for(
    direction: Direction, status: CustomsStatus, hold_reason: HoldReason | None
) -> Milestone:
    """The normalized milestone of one update (a hold always has its reason)."""
    if status is CustomsStatus.HOLD and hold_reason is not None:
        return HOLD_MILESTONES[direction][hold_reason]
    return STATUS_MILESTONES[direction][status]


# --- field types -------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?P<offset>[Zz]|[+-]\d{2}:\d{2})?$"
)
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"


def _rfc3339_text(value: Any) -> Any:
    """Only RFC 3339 text with an offset: no epoch numbers, no naive local times."""
    if not isinstance(value, str):
        raise PydanticCustomError("rfc3339", "expected an RFC 3339 timestamp string")
    match = _RFC3339.match(value.strip())
    if match is None:
        raise PydanticCustomError(
            "rfc3339", "not an RFC 3339 timestamp (like 2026-03-02T09:30:00+08:00)"
        )
    if match["offset"] is None:
        raise PydanticCustomError(
            "rfc3339_offset", "timestamp has no UTC offset: add Z or ±hh:mm (RFC 3339)"
        )
    return value.strip()


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}),
]


def _text(max_length: int) -> Any:
    """Text with a visible character: the hub trims it, the schema's pattern says so."""
    return Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=max_length, pattern=r"\S"
        ),
    ]


Text = _text(200)
_SEP = r"[\s\-_/.]*"  # the separators normalize_identifier drops
REFERENCE_PATTERNS: dict[IdentifierKind, str] = {
    IdentifierKind.MAWB: rf"^{_SEP}(\d{_SEP}){{11}}$",
    IdentifierKind.CONTAINER: rf"^{_SEP}([A-Za-z]{_SEP}){{3}}[UJZRujzr]{_SEP}(\d{_SEP}){{7}}$",
}


def _reference(kind: IdentifierKind) -> Any:
    """A reference checked and normalized as the common schema's identifier is; the
    schema states the same shape as a pattern where the kind has one."""

    def normalize(value: str) -> str:
        try:
            return normalize_identifier(kind, value)
        except ValueError as exc:
            raise PydanticCustomError("identifier", str(exc)) from None

    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 200}
    schema["pattern"] = REFERENCE_PATTERNS.get(kind, r"\S")
    return Annotated[Text, AfterValidator(normalize), WithJsonSchema(schema)]


def _reference_list(kind: IdentifierKind) -> Any:
    return Annotated[list[_reference(kind)], Field(max_length=MAX_REFERENCES)]  # type: ignore[misc]


EntryNumber = _reference(IdentifierKind.CUSTOMS_ENTRY)
MawbList = _reference_list(IdentifierKind.MAWB)
HawbList = _reference_list(IdentifierKind.HAWB)
BillOfLadingList = _reference_list(IdentifierKind.BILL_OF_LADING)
ContainerList = _reference_list(IdentifierKind.CONTAINER)
BookingList = _reference_list(IdentifierKind.BOOKING)
TrackingNumberList = _reference_list(IdentifierKind.TRACKING_NUMBER)
OrderIdList = _reference_list(IdentifierKind.ORDER_ID)
DeclarationType = _text(40)
OfficeCode = _text(20)
# leaves room for the duties in the event's source_description (at most 2000 characters)
Message = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1800)]
OfficeName = _text(170)  # leaves room for " (code)" in the event's location name (200)
CurrencyCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]
AMOUNT_PATTERN = r"^\d{1,14}(\.\d{1,4})?$"


def _amount_text(value: Any) -> Any:
    """Money as a decimal string only: a JSON number may be rounded by the sender's library."""
    if not isinstance(value, str) or not re.match(AMOUNT_PATTERN, value.strip()):
        raise PydanticCustomError(
            "amount", 'expected a decimal string with at most 4 decimals, like "48.20"'
        )
    return value.strip()


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount_text),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["48.20"]}),
]


class WireModel(BaseModel):
    """Tolerant reader, strict schema: unknown fields are ignored here, refused by the schema."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        str_strip_whitespace=True,
        json_schema_extra={"additionalProperties": False},
    )


# --- the wire format ---------------------------------------------------------------------


class Broker(WireModel):
    """The customs broker reporting: the id agreed with trackhub at onboarding."""

    id: Slug = Field(description="Broker id agreed at onboarding (lower-case slug)")
    name: Text | None = Field(default=None, description="Display name")


class Declaration(WireModel):
    """The customs declaration (entry) the update is about."""

    entry_number: EntryNumber = Field(
        description="The authority's declaration number: US entry number, EU/UK MRN, "
        "CN declaration or list number"
    )
    type: DeclarationType = Field(
        description="Declaration type, an open list; known values: "
        + ", ".join(KNOWN_DECLARATION_TYPES),
        examples=list(KNOWN_DECLARATION_TYPES),
    )


class CustomsOffice(WireModel):
    """Where the declaration is handled."""

    unlocode: UnLocode | None = Field(default=None, description="UN/LOCODE of the port")
    code: OfficeCode | None = Field(
        default=None,
        description="The authority's office code: EU/UK customs office reference number "
        "(e.g. DE plus 6 characters), US port code (4 digits), CN customs code",
    )
    name: OfficeName | None = Field(default=None, description="Office or port name")


class References(WireModel):
    """Every transport and commercial reference the broker knows, so the hub finds the
    shipment; at most 63 in total. Values are matched ignoring case and spacing."""

    mawbs: MawbList = Field(
        default_factory=list, description="Master air waybills, 3-digit prefix + 8 digits"
    )
    hawbs: HawbList = Field(default_factory=list, description="House air waybills")
    bills_of_lading: BillOfLadingList = Field(
        default_factory=list, description="Ocean bills of lading, master or house"
    )
    containers: ContainerList = Field(
        default_factory=list, description="ISO 6346 container numbers"
    )
    bookings: BookingList = Field(
        default_factory=list, description="Carrier or forwarder booking references"
    )
    tracking_numbers: TrackingNumberList = Field(
        default_factory=list, description="Parcel carriers' tracking numbers"
    )
    order_ids: OrderIdList = Field(
        default_factory=list, description="The seller's or marketplace's order ids"
    )

    @model_validator(mode="after")
    def _not_too_many(self) -> Self:
        total = sum(len(values) for values in self._by_kind().values())
        if total > MAX_REFERENCES:
            raise PydanticCustomError(
                "too_many_references",
                "{total} references; at most {limit} in one update",
                {"total": total, "limit": MAX_REFERENCES},
            )
        return self

    def _by_kind(self) -> dict[IdentifierKind, list[str]]:
        return {
            IdentifierKind.MAWB: self.mawbs,
            IdentifierKind.HAWB: self.hawbs,
            IdentifierKind.BILL_OF_LADING: self.bills_of_lading,
            IdentifierKind.CONTAINER: self.containers,
            IdentifierKind.BOOKING: self.bookings,
            IdentifierKind.TRACKING_NUMBER: self.tracking_numbers,
            IdentifierKind.ORDER_ID: self.order_ids,
        }

    def identifiers(self) -> list[Identifier]:
        """The references as identifiers, in field order."""
        return [
            Identifier(kind=kind, value=value)
            for kind, values in self._by_kind().items()
            for value in values
        ]


class Duties(WireModel):
    """Duties and taxes (customs duty, import VAT, fees) the authority assessed or took."""

    amount: Amount = Field(description='Total, a decimal string such as "48.20"')
    currency: CurrencyCode = Field(description="ISO 4217 currency code")
    due_by: Timestamp | None = Field(default=None, description="Payment deadline, RFC 3339")


def _update_schema_rules(schema: dict[str, Any]) -> None:
    """The conditional rules of an update, in JSON Schema, from the same data as the code."""

    def when(statuses: list[str], then: dict[str, Any]) -> dict[str, Any]:
        return {
            "if": {"required": ["status"], "properties": {"status": {"enum": statuses}}},
            "then": then,
        }

    null: dict[str, Any] = {"type": "null"}
    rules = [
        when(
            sorted(HOLD_REASON_REQUIRED),
            {"required": ["hold_reason"], "properties": {"hold_reason": {"type": "string"}}},
        ),
        *(
            when([status], {"properties": {"hold_reason": {"enum": [*allowed, None]}}})
            for status, allowed in HOLD_REASONS_ALLOWED.items()
        ),
        when(
            sorted(set(CustomsStatus) - set(HOLD_REASONS_ALLOWED)),
            {"properties": {"hold_reason": null}},
        ),
        when(
            sorted(DUTIES_REQUIRED),
            {"required": ["duties"], "properties": {"duties": {"type": "object"}}},
        ),
        when(sorted(FINAL_STATUSES), {"properties": {"expected_release_at": null}}),
    ]
    schema["allOf"] = rules
    schema["additionalProperties"] = False


class CustomsStatusUpdate(WireModel):
    """One status change of one declaration, as customs (or the broker) recorded it."""

    model_config = ConfigDict(json_schema_extra=_update_schema_rules)

    update_id: Text = Field(
        description="Unique per broker, forever: the same id sent again is the same update"
    )
    broker: Broker
    direction: Direction = Field(description="import or export declaration")
    declaration: Declaration
    country: CountryCode = Field(
        description="ISO 3166-1 alpha-2 country of the customs authority: the country of "
        "import (direction import) or of export (direction export)"
    )
    office: CustomsOffice | None = None
    references: References = Field(default_factory=References)
    status: CustomsStatus
    hold_reason: HoldReason | None = Field(
        default=None,
        validate_default=True,
        description="Required with status hold; with documents_requested, optionally "
        "documents_missing or documents_inconsistent; absent otherwise",
    )
    message: Message | None = Field(
        default=None, description="Free text from customs or the broker"
    )
    duties: Duties | None = Field(
        default=None, validate_default=True, description="Required with status duties_assessed"
    )
    occurred_at: Timestamp = Field(
        description="When the status took effect, RFC 3339 with the office's UTC offset"
    )
    expected_release_at: Timestamp | None = Field(
        default=None,
        validate_default=True,
        description="The broker's estimate of release (clearance, for export); not with "
        "released, rejected, seized or cancelled",
    )
    extensions: dict[str, Any] | None = Field(
        default=None, description="Yours: anything you want kept with the raw delivery"
    )

    @field_validator("hold_reason")
    @classmethod
    def _hold_reason_fits_status(
        cls, value: HoldReason | None, info: ValidationInfo
    ) -> HoldReason | None:
        status = info.data.get("status")
        if status is None:  # status itself was invalid; its own error says so
            return value
        if value is None and status in HOLD_REASON_REQUIRED:
            raise PydanticCustomError(
                "hold_reason_required",
                "hold_reason is required when status is {status}: one of {allowed}",
                {"status": status.value, "allowed": ", ".join(HoldReason)},
            )
        allowed = HOLD_REASONS_ALLOWED.get(status, ())
        if value is not None and value not in allowed:
            raise PydanticCustomError(
                "hold_reason_not_allowed",
                "hold_reason {reason} does not go with status {status}",
                {"reason": value.value, "status": status.value},
            )
        return value

    @field_validator("duties")
    @classmethod
    def _duties_when_assessed(cls, value: Duties | None, info: ValidationInfo) -> Duties | None:
        status = info.data.get("status")
        if value is None and status in DUTIES_REQUIRED:
            raise PydanticCustomError(
                "duties_required",
                "duties is required when status is {status}",
                {"status": str(status)},
            )
        return value

    @field_validator("expected_release_at")
    @classmethod
    def _no_estimate_when_final(cls, value: Any, info: ValidationInfo) -> Any:
        status = info.data.get("status")
        if value is not None and status in FINAL_STATUSES:
            raise PydanticCustomError(
                "estimate_after_final",
                "expected_release_at does not go with status {status}",
                {"status": str(status)},
            )
        return value


class CustomsDelivery(WireModel):
    """A delivery of customs status updates in trackhub.customs.v1 (one webhook POST)."""

    model_config = ConfigDict(title="trackhub.customs.v1")

    format: Literal["trackhub.customs.v1"] = Field(
        description="Format and major version; a later major version has another value"
    )
    updates: list[CustomsStatusUpdate] = Field(
        min_length=1, max_length=MAX_UPDATES, description="In the order they happened"
    )

    @field_validator("updates")
    @classmethod
    def _unique_update_ids(cls, value: list[CustomsStatusUpdate]) -> list[CustomsStatusUpdate]:
        seen: set[tuple[str, str]] = set()
        for update in value:
            key = (update.broker.id, update.update_id)
            if key in seen:
                raise PydanticCustomError(
                    "duplicate_update_id",
                    "update_id {update_id} appears twice for broker {broker}",
                    {"update_id": update.update_id, "broker": update.broker.id},
                )
            seen.add(key)
        return value


# --- the mapper --------------------------------------------------------------------------


def parse_customs_updates(raw: RawEnvelope) -> list[TrackingEvent]:
    """Every update of the delivery as events, in payload order; all or nothing."""
    body = decode_json(raw, CustomsPayloadError)
    if not isinstance(body, dict):
        raise CustomsPayloadError(
            f'the body should be an object {{"format": "{FORMAT_V1}", "updates": [...]}}, '
            f"got {type(body).__name__}"
        )
    try:
        delivery = CustomsDelivery.model_validate(body)
    except ValidationError as exc:
        raise _payload_error(exc) from None
    events: list[TrackingEvent] = []
    for index, update in enumerate(delivery.updates):
        events.extend(_update_events(raw, update, f"updates[{index}]"))
    return events


def _update_events(raw: RawEnvelope, update: CustomsStatusUpdate, path: str) -> list[TrackingEvent]:
    common: dict[str, Any] = {
        "source": source_of(
            NAME,
            {"role": "customs_broker", "id": update.broker.id, "name": update.broker.name},
            update.update_id,
        ),
        "identifiers": _identifiers(update),
        "source_code": update.status.value,
        "source_description": _description(update),
        "reason_code": update.hold_reason.value if update.hold_reason else None,
        "occurred_at": update.occurred_at,
        "location": _location(update),
    }
    milestone = milestone_for(update.direction, update.status, update.hold_reason)
    events = [build_event(raw, CustomsPayloadError, path, milestone=milestone, **common)]
    if update.expected_release_at is not None:
        events.append(
            build_event(
                raw,
                CustomsPayloadError,
                path,
                milestone=RELEASE_MILESTONES[update.direction],
                kind=EventKind.ESTIMATED,
                estimated_at=update.expected_release_at,
                **common,
            )
        )
    return events


def _identifiers(update: CustomsStatusUpdate) -> list[Identifier]:
    """The entry number first (it names what the status is about), then the references,
    each once: two spellings of one MAWB are one identifier."""
    entry = Identifier(kind=IdentifierKind.CUSTOMS_ENTRY, value=update.declaration.entry_number)
    unique: dict[str, Identifier] = {}
    for identifier in [entry, *update.references.identifiers()]:
        unique.setdefault(identifier.key, identifier)
    return list(unique.values())


def _description(update: CustomsStatusUpdate) -> str | None:
    parts = [update.message] if update.message else []
    if update.duties is not None:
        duties = f"duties {update.duties.amount:f} {update.duties.currency}"
        if update.duties.due_by is not None:
            duties += f" due by {update.duties.due_by.isoformat()}"
        parts.append(duties)
    return "; ".join(parts) or None


def _location(update: CustomsStatusUpdate) -> dict[str, Any]:
    """The authority's country, the office's UN/LOCODE, its name with its code."""
    office = update.office or CustomsOffice()
    name = f"{office.name} ({office.code})" if office.name and office.code else None
    return {
        "country": update.country,
        "unlocode": office.unlocode,
        "name": name or office.name or office.code,
    }


def _payload_error(exc: ValidationError) -> CustomsPayloadError:
    """The first problem as the message with its field path; all of them in the details."""
    problems = [
        {"path": _path(error["loc"]), "message": error["msg"]}
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return CustomsPayloadError(
        f"{first['message']}{more}", path=first["path"] or None, problems=problems[:20]
    )


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


# --- the published JSON Schema -----------------------------------------------------------


def customs_format_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a delivery, as published in docs/."""
    schema = CustomsDelivery.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_URI}/formats/{FORMAT_V1}.schema.json",
        **schema,
    }


def render_customs_format_json_schema() -> str:
    """The schema file's text: stable key order, newline-terminated."""
    return (
        json.dumps(customs_format_json_schema(), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    )


def write_customs_format_json_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(render_customs_format_json_schema(), encoding="utf-8")
    return path


CONNECTOR = Connector(
    name=NAME,
    parse=parse_customs_updates,
    content_types=frozenset({"application/json"}),
    signature=SignatureScheme.STANDARD_WEBHOOKS,
    description="trackhub.customs.v1: customs brokers' declaration status updates",
    max_body_bytes=1024 * 1024,
)

if __name__ == "__main__":
    print(f"wrote {write_customs_format_json_schema()}")
