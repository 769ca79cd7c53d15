"""What several wire encoders share: the checks and formatting that are the same rule in
each, written once.

Where formats differ only in words (what a format calls a tracking, how its error reads),
the helper takes those words as arguments, so every encoder still raises its own
messages. Format-specific layout stays in the encoder; nothing here knows a wire format.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from hub.simulate.wire import WireEvent
from schemas.common import IdentifierKind, Location
from schemas.milestones import Milestone, MilestoneGroup, group_of

_Code = TypeVar("_Code")
_Default = TypeVar("_Default")


def one_shipment(
    events: Sequence[WireEvent], *, keyed_by: str, one_number: str, one_party: str
) -> WireEvent:
    """The first of ``events``, once every event is checked to share its tracking number
    (the first identifier, which must be one) and its party, and to carry a UTC offset:
    a parcel aggregator's payload is one tracking of one carrier.

    ``keyed_by``: the message when the first identifier is not a tracking number;
    ``one_number`` / ``one_party``: when an event names another number / party.
    """
    if not events:
        raise ValueError("nothing to encode")
    first = events[0]
    primary = first.identifiers[0] if first.identifiers else None
    if primary is None or primary.kind is not IdentifierKind.TRACKING_NUMBER:
        raise ValueError(keyed_by)
    for event in events:
        if not event.identifiers or event.identifiers[0].key != primary.key:
            raise ValueError(one_number)
        if (event.party.role, event.party.id) != (first.party.role, first.party.id):
            raise ValueError(one_party)
        if event.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must carry its UTC offset")
    return first


def customs_countries(
    actual: Sequence[WireEvent],
    *,
    country_of: Callable[[Location | None], str | None],
    export_needs_country: str,
    newest_first: bool = False,
) -> tuple[str | None, str | None]:
    """(export country, import country) for a format whose customs statuses do not say
    import or export, and whose connector reads a customs event in the shipment's origin
    country (and not its destination) as export.

    The export country comes from the export-customs events and is required
    (``export_needs_country`` is the message without it); the import country is the
    latest import-customs event's, and one equal to the export country is a ValueError (it
    would read back as export). ``country_of`` is the country the format writes for a
    location (None when it cannot); ``actual`` is oldest first unless ``newest_first``.
    """
    exported: str | None = None
    for event in actual:
        if group_of(event.milestone) is MilestoneGroup.EXPORT_CUSTOMS:
            country = country_of(event.location)
            if country is None:
                raise ValueError(export_needs_country)
            if exported not in (None, country):
                raise ValueError("export customs in two countries")
            exported = country
    imported: str | None = None
    for event in reversed(actual) if newest_first else actual:  # the latest import wins
        if group_of(event.milestone) is MilestoneGroup.IMPORT_CUSTOMS:
            country = country_of(event.location)
            if country is not None and country == exported:
                raise ValueError("import customs in the export country would read as export")
            imported = country or imported
    return exported, imported


def delivery_estimate(
    estimates: Sequence[WireEvent], *, one_only: str, delivery_only: str
) -> WireEvent | None:
    """The payload's one estimate, for a format that estimates the delivery only: None
    without one; ValueError ``one_only`` for several, ``delivery_only`` for another
    milestone."""
    if not estimates:
        return None
    if len(estimates) > 1:
        raise ValueError(one_only)
    estimate = estimates[0]
    if estimate.milestone is not Milestone.DELIVERED:
        raise ValueError(delivery_only)
    return estimate


def issued_at(
    estimate: WireEvent,
    latest: datetime | None,
    *,
    missing: str = "an estimate alone needs extra['issued_at'] (when it was issued)",
) -> datetime:
    """When ``estimate`` was issued: ``extra["issued_at"]`` (ISO 8601 with its offset)
    when given, else ``latest`` (the payload's latest actual event); ValueError
    ``missing`` with neither."""
    hint = estimate.extra.get("issued_at")
    if hint:
        moment = datetime.fromisoformat(hint)
        if moment.utcoffset() is None:
            raise ValueError("extra['issued_at'] must carry its UTC offset")
        return moment
    if latest is None:
        raise ValueError(missing)
    return latest


def code_from_reason(
    reason: str | None, words: Sequence[tuple[str, _Code]], default: _Default
) -> _Code | _Default:
    """The code of the first (word, code) whose word is in ``reason`` (case-insensitive),
    else ``default``: how a free-text reason becomes a format's coded one."""
    text = (reason or "").lower()
    return next((code for word, code in words if word in text), default)


def iso_local(moment: datetime) -> str:
    """ISO 8601 in the moment's own offset; fractions only when present."""
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC, written ``Z``; fractions only when present."""
    return iso_local(moment.astimezone(UTC)).replace("+00:00", "Z")


def digest(*parts: str) -> str:
    """A stable 32-hex-digit id of ``parts``: the same call gives the same ids."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def event_uuid(reference: str, number: int) -> uuid.UUID:
    """A stable UUID of the ``number``-th event of the payload ``reference``: the same call
    gives the same ids."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"trackhub-sim:{reference}:{number}")
