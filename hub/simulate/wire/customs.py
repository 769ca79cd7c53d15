"""``trackhub.customs.v1`` deliveries, as a customs broker's system sends them: the reverse
of ``connectors.customs`` (the format is ``docs/customs-format.md``).

One delivery per call, ``{"format": "trackhub.customs.v1", "updates": [...]}``, an update
per actual event in call order; an estimated release rides on the update before it.

What the caller may rely on:

- **Identifier**: the connector always reads the declaration's entry number first, so the
  first identifier must be a ``customs_entry`` (``declaration.entry_number``); any other
  kind first is a ``ValueError``. The other identifiers go to ``references`` by kind
  (MAWBs, HAWBs, bills of lading, containers, bookings, tracking numbers, order ids); kinds
  the format has no list for (shipment refs, SSCCs, other entries) are left out.
- **Party**: role ``customs_broker``, id ``broker.id`` (the name too, when given); any
  other role is a ``ValueError``.
- **Time**: ``occurred_at`` as RFC 3339 with its own offset (seconds, or the fraction the
  instant has), kept exactly by the connector.
- **Milestones** (``SUPPORTED``): ``direction`` import or export follows the milestone:

  =================================  ========================================================
  import_customs_submitted           filed
  import_customs_accepted            accepted
  import_customs_inspection          inspection; with a ``reason``: hold, examination
  import_customs_documents_requested documents_requested (documents_inconsistent when the
                                     reason says inconsistent, else documents_missing)
  import_customs_held                hold with the reason's hold reason (valuation,
                                     restricted_goods, licence_required), else other
  import_customs_duties_due / paid   duties_assessed (``duties``) / duties_paid
  import_customs_released            released
  import_customs_rejected / seized   rejected / seized
  export_customs_submitted           filed
  export_customs_held                hold with the reason's hold reason, else other
  export_customs_cleared             released
  info                               cancelled (the declaration withdrawn)
  =================================  ========================================================

  A hold reason picks the milestone in this format (documents -> documents requested,
  examination -> inspection), so the milestone wins: a reason whose words point to another
  milestone's hold reason is not used as ``hold_reason`` (``other`` is), and its text is
  kept in ``message``. ``reason`` is always the ``message``.
- **Estimates** (``estimated=True``): only the release (``import_customs_released``,
  ``export_customs_cleared``), as ``expected_release_at`` = ``occurred_at`` (the predicted
  time) on the update just before it in the call, which must be an actual update of the
  same declaration and direction that allows one (not released, rejected, seized or
  cancelled). The connector dates the estimate at that update's ``occurred_at``; an
  ``extra["issued_at"]`` must be that instant. The parsed events come in call order.
- **Where**: ``country`` (required by the format) is ``location.country``, else the first
  two letters of ``location.unlocode``; neither is a ``ValueError``. ``office`` has the
  UN/LOCODE and name when given.
- **Hints** (``extra``): ``declaration_type`` (default ``formal``), ``office_code``,
  ``duties_amount`` / ``duties_currency`` (default ``25.00`` in the country's currency,
  else USD), ``issued_at``.
- ``update_id`` is ``<reference>-<n>``, unique per call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.customs import (
    FINAL_STATUSES,
    FORMAT_V1,
    HOLD_MILESTONES,
    RELEASE_MILESTONES,
    CustomsStatus,
    Direction,
    HoldReason,
    milestone_for,
)
from hub.simulate.wire import WireEvent
from hub.simulate.wire._common import code_from_reason
from schemas.common import IdentifierKind, PartyRole
from schemas.milestones import Milestone

FORMAT = "customs"
CONTENT_TYPE = "application/json"

_I, _E, _S = Direction.IMPORT, Direction.EXPORT, CustomsStatus
# milestone -> (direction, status); holds get their reason from the event
_STATUSES: dict[Milestone, tuple[Direction, CustomsStatus]] = {
    Milestone.IMPORT_CUSTOMS_SUBMITTED: (_I, _S.FILED),
    Milestone.IMPORT_CUSTOMS_ACCEPTED: (_I, _S.ACCEPTED),
    Milestone.IMPORT_CUSTOMS_INSPECTION: (_I, _S.INSPECTION),
    Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED: (_I, _S.DOCUMENTS_REQUESTED),
    Milestone.IMPORT_CUSTOMS_HELD: (_I, _S.HOLD),
    Milestone.IMPORT_CUSTOMS_DUTIES_DUE: (_I, _S.DUTIES_ASSESSED),
    Milestone.IMPORT_CUSTOMS_DUTIES_PAID: (_I, _S.DUTIES_PAID),
    Milestone.IMPORT_CUSTOMS_RELEASED: (_I, _S.RELEASED),
    Milestone.IMPORT_CUSTOMS_REJECTED: (_I, _S.REJECTED),
    Milestone.IMPORT_CUSTOMS_SEIZED: (_I, _S.SEIZED),
    Milestone.EXPORT_CUSTOMS_SUBMITTED: (_E, _S.FILED),
    Milestone.EXPORT_CUSTOMS_HELD: (_E, _S.HOLD),
    Milestone.EXPORT_CUSTOMS_CLEARED: (_E, _S.RELEASED),
    Milestone.INFO: (_I, _S.CANCELLED),
}
SUPPORTED: frozenset[Milestone] = frozenset(_STATUSES)

# reason words -> hold reason; the first that matches wins
_HOLD_WORDS: tuple[tuple[str, HoldReason], ...] = (
    ("inconsistent", HoldReason.DOCUMENTS_INCONSISTENT),
    ("differ", HoldReason.DOCUMENTS_INCONSISTENT),
    ("document", HoldReason.DOCUMENTS_MISSING),
    ("invoice", HoldReason.DOCUMENTS_MISSING),
    ("certificate", HoldReason.DOCUMENTS_MISSING),
    ("exam", HoldReason.EXAMINATION),
    ("inspect", HoldReason.EXAMINATION),
    ("valuation", HoldReason.VALUATION),
    ("value", HoldReason.VALUATION),
    ("restricted", HoldReason.RESTRICTED_GOODS),
    ("prohibited", HoldReason.RESTRICTED_GOODS),
    ("licen", HoldReason.LICENCE_REQUIRED),
    ("permit", HoldReason.LICENCE_REQUIRED),
)
_REFERENCE_LISTS: dict[IdentifierKind, str] = {
    IdentifierKind.MAWB: "mawbs",
    IdentifierKind.HAWB: "hawbs",
    IdentifierKind.BILL_OF_LADING: "bills_of_lading",
    IdentifierKind.CONTAINER: "containers",
    IdentifierKind.BOOKING: "bookings",
    IdentifierKind.TRACKING_NUMBER: "tracking_numbers",
    IdentifierKind.ORDER_ID: "order_ids",
}
# a default currency for assessed duties (extra["duties_currency"] overrides it)
_CURRENCIES: dict[str, str] = {
    **dict.fromkeys(("AT", "BE", "DE", "ES", "FI", "FR", "IE", "IT", "NL", "PT"), "EUR"),
    **{"US": "USD", "GB": "GBP", "CN": "CNY", "AU": "AUD", "CA": "CAD", "JP": "JPY"},
}
_AMOUNT = re.compile(r"\d{1,14}(\.\d{1,4})?")


def encode(events: Sequence[WireEvent], *, reference: str) -> bytes:
    """One delivery with an update per actual event, estimates on the update before them
    (module docstring); ``ValueError`` for an event the connector would not read back."""
    if not events:
        raise ValueError("no events to encode")
    updates: list[dict[str, Any]] = []
    for event in events:
        if event.estimated:
            _attach_estimate(updates, event)
            continue
        updates.append(_update(event, f"{reference}-{len(updates) + 1}"))
    body = {"format": FORMAT_V1, "updates": updates}
    return json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8")


def _update(event: WireEvent, update_id: str) -> dict[str, Any]:
    if event.milestone not in _STATUSES:
        raise ValueError(f"the customs format cannot carry {event.milestone.value}")
    direction, status = _STATUSES[event.milestone]
    hold_reason: HoldReason | None = None
    if status is _S.HOLD:
        hold_reason = _hold_reason(event, direction)
    elif status is _S.INSPECTION and event.reason:
        status, hold_reason = _S.HOLD, HoldReason.EXAMINATION  # held for the examination
    elif status is _S.DOCUMENTS_REQUESTED and event.reason:
        found = code_from_reason(event.reason, _HOLD_WORDS, None)
        hold_reason = (
            HoldReason.DOCUMENTS_INCONSISTENT
            if found is HoldReason.DOCUMENTS_INCONSISTENT
            else HoldReason.DOCUMENTS_MISSING
        )
    if milestone_for(direction, status, hold_reason) is not event.milestone:  # the table's word
        raise RuntimeError(f"{status}/{hold_reason} no longer gives {event.milestone}")
    update: dict[str, Any] = {
        "update_id": update_id,
        "broker": _broker(event),
        "direction": direction.value,
        "declaration": {
            "entry_number": _entry_number(event),
            "type": event.extra.get("declaration_type", "formal"),
        },
        "country": _country(event),
    }
    office = _office(event)
    if office:
        update["office"] = office
    references = _references(event)
    if references:
        update["references"] = references
    update["status"] = status.value
    if hold_reason is not None:
        update["hold_reason"] = hold_reason.value
    if event.reason:
        update["message"] = event.reason[:1800]
    if status is _S.DUTIES_ASSESSED:
        update["duties"] = _duties(event, update["country"])
    update["occurred_at"] = _rfc3339(event.occurred_at)
    return update


def _hold_reason(event: WireEvent, direction: Direction) -> HoldReason:
    """The reason's hold reason when it gives the event's milestone, else ``other``."""
    found = code_from_reason(event.reason, _HOLD_WORDS, None)
    if found is not None and HOLD_MILESTONES[direction][found] is event.milestone:
        return found
    return HoldReason.OTHER


def _attach_estimate(updates: list[dict[str, Any]], event: WireEvent) -> None:
    """The expected release on the update before the estimate (the connector makes it a
    second event dated at that update)."""
    if event.milestone not in (Milestone.IMPORT_CUSTOMS_RELEASED, Milestone.EXPORT_CUSTOMS_CLEARED):
        raise ValueError(
            f"the customs format estimates only the release, not {event.milestone.value}"
        )
    if not updates:
        raise ValueError(
            "a customs estimate rides on a status update: put the actual event it was made "
            "with just before it in the call"
        )
    previous = updates[-1]
    direction = Direction(previous["direction"])
    if RELEASE_MILESTONES[direction] is not event.milestone:
        raise ValueError(f"{event.milestone.value} does not fit a {direction} declaration")
    if previous["declaration"]["entry_number"] != _entry_number(event):
        raise ValueError("the estimate and the update before it name different declarations")
    if previous["broker"]["id"] != _broker(event)["id"]:
        raise ValueError("the estimate and the update before it come from different brokers")
    if CustomsStatus(previous["status"]) in FINAL_STATUSES or "expected_release_at" in previous:
        raise ValueError(
            f"an update with status {previous['status']} (or already an estimate) takes no "
            "expected_release_at"
        )
    issued = event.extra.get("issued_at")
    if issued and datetime.fromisoformat(issued) != datetime.fromisoformat(previous["occurred_at"]):
        raise ValueError(
            "the connector dates an expected release at its update: extra['issued_at'] must "
            "be the occurred_at of the update before the estimate"
        )
    previous["expected_release_at"] = _rfc3339(event.occurred_at)


def _broker(event: WireEvent) -> dict[str, str]:
    party = event.party
    if party.role is not PartyRole.CUSTOMS_BROKER:
        raise ValueError(f"a customs update comes from a customs broker, not a {party.role}")
    return {"id": party.id, "name": party.name} if party.name else {"id": party.id}


def _entry_number(event: WireEvent) -> str:
    primary = event.identifiers[0]
    if primary.kind is not IdentifierKind.CUSTOMS_ENTRY:
        raise ValueError(
            "a customs update is read by its entry number first: the first identifier must "
            f"be a customs_entry, not a {primary.kind.value}"
        )
    return primary.value


def _references(event: WireEvent) -> dict[str, list[str]]:
    references: dict[str, list[str]] = {}
    for identifier in event.identifiers[1:64]:
        name = _REFERENCE_LISTS.get(identifier.kind)
        if name and identifier.value not in references.get(name, []):
            references.setdefault(name, []).append(identifier.value)
    return references


def _country(event: WireEvent) -> str:
    where = event.location
    country = where.country if where else None
    if country is None and where is not None and where.unlocode:
        country = where.unlocode[:2]
    if country is None:
        raise ValueError(
            "a customs update names the customs authority's country: give location.country "
            "or location.unlocode"
        )
    return country


def _office(event: WireEvent) -> dict[str, str]:
    where = event.location
    office = {
        "unlocode": where.unlocode if where else None,
        "code": event.extra.get("office_code"),
        "name": (where.name[:170] if where and where.name else None),
    }
    return {key: value for key, value in office.items() if value}


def _duties(event: WireEvent, country: str) -> dict[str, str]:
    amount = event.extra.get("duties_amount", "25.00")
    if not _AMOUNT.fullmatch(amount):
        raise ValueError(f"extra['duties_amount'] {amount!r} is not a decimal like 48.20")
    currency = event.extra.get("duties_currency", _CURRENCIES.get(country, "USD"))
    return {"amount": amount, "currency": currency}


def _rfc3339(moment: datetime) -> str:
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"{moment!r} has no UTC offset")
    if offset.total_seconds() % 60:  # RFC 3339 offsets are ±hh:mm: the instant in UTC
        moment = moment.astimezone(UTC)
    return moment.isoformat()
