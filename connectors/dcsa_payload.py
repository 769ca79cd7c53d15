"""A DCSA Track & Trace body read into events under the 2.x field names.

DCSA spells one event three ways: 2.x (2.2, 2.3) flat events, 3.0 nested ones
(``eventClassification``, ``equipmentDetails``, ``shipmentDetails``, ``transportDetails``,
``eventRouting``) and the 3.0.0-Beta-1 ``metadata``/``payload`` form, which is refused by
name. ``read_event`` returns ``EventFields`` for the first two: 2.x fields as they are, 3.0
fields renamed to their 2.x names by ``V3_FIELDS`` (nested objects type-checked on the
way), so ``connectors.dcsa`` maps one shape. Error paths still name the field as the
payload wrote it (``EventFields.where``). Kept apart from the mapping because this side
changes with the DCSA versions and that side with the hub's milestone rules. Every problem
raises ``DcsaPayloadError`` with its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import ConnectorError

# eventType -> the field that holds its type code (the same name in 2.x and in 3.0's
# eventClassification).
TYPE_CODE_FIELDS = {
    "TRANSPORT": "transportEventTypeCode",
    "EQUIPMENT": "equipmentEventTypeCode",
    "SHIPMENT": "shipmentEventTypeCode",
    "IOT": "iotEventTypeCode",  # 3.0; kept as info
    "REEFER": "reeferEventTypeCode",  # 3.0; kept as info
}
# 3.0 field -> 2.x name; every other field keeps its name.
V3_FIELDS: dict[str, tuple[str, ...]] = {
    "eventType": ("eventClassification", "eventTypeCode"),
    "eventClassifierCode": ("eventClassification", "eventClassifierCode"),
    **{name: ("eventClassification", name) for name in TYPE_CODE_FIELDS.values()},
    "eventCreatedDateTime": ("eventUpdatedDateTime",),
    "equipmentReference": ("equipmentDetails", "equipmentReference"),
    "emptyIndicatorCode": ("equipmentDetails", "emptyIndicatorCode"),
    "movementType": ("equipmentDetails", "movementType"),
    "documentTypeCode": ("shipmentDetails", "documentReference", "typeCode"),
    "documentID": ("shipmentDetails", "documentReference", "reference"),
    "documentReferences": ("shipmentDetails", "additionalDocumentReferences"),
    "references": ("shipmentDetails", "shipmentReferences"),
    "reason": ("shipmentDetails", "reason"),
    "shipmentLocationType": ("shipmentDetails", "shipmentLocationType"),
    "changeRemark": ("transportDetails", "changeRemark"),
    "delayReasonCode": ("transportDetails", "delayReasonCodes"),
    "transportCall": ("transportDetails", "transportCall"),
    "carrierCode": ("eventRouting", "originatingParty", "partyCode"),
    "carrierCodeListProvider": ("eventRouting", "originatingParty", "codeListProvider"),
}
V3_KEEP = ("eventID", "eventDateTime", "eventLocation", "isRetracted")


class DcsaPayloadError(ConnectorError):
    """A body that is not DCSA Track & Trace events as the 2.x or 3.0 standard defines."""


def event_list(body: Any) -> list[tuple[Any, str]]:
    """(event, its path) for the three body shapes."""
    if isinstance(body, list):
        return [(item, f"[{i}]") for i, item in enumerate(body)]
    if isinstance(body, dict):
        if "events" in body:
            if not isinstance(body["events"], list):
                raise DcsaPayloadError("events should be a list", path="events")
            return [(item, f"events[{i}]") for i, item in enumerate(body["events"])]
        if {"eventType", "eventClassification", "metadata"} & body.keys():
            return [(body, "")]
    raise DcsaPayloadError(
        'expected a list of DCSA events, {"events": [...]} or one event, '
        f"got {type(body).__name__}"
    )


class EventFields:
    """One event under its 2.x field names, and where each field sits in the payload."""

    def __init__(self, fields: Mapping[str, Any], path: str, aliases: Mapping[str, str]) -> None:
        self.fields, self.path, self.aliases = fields, path, aliases

    def where(self, key: str) -> str:
        return f"{self.path}.{self.aliases.get(key, key)}".lstrip(".")

    def text(self, key: str, *, required: bool = False) -> str | None:
        # fast paths (absent, or text): no error is possible, so no path is built
        value = self.fields.get(key)
        if value is None and not required:
            return None
        if isinstance(value, str) and value.strip():
            return value.strip()
        return field_text(self.fields, key, self.where(key), required=required)

    def code(self, key: str, *, required: bool = False) -> str | None:
        value = self.text(key, required=required)
        return value.upper() if value else None

    def obj(self, key: str) -> dict[str, Any]:
        value = self.fields.get(key)
        if isinstance(value, dict):  # fast path: no error, so no path
            return value
        return field_object(self.fields, key, self.where(key))

    def items(self, key: str) -> list[tuple[str, Any]]:
        value = self.fields.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise DcsaPayloadError(
                f"should be a list, got {type(value).__name__}", path=self.where(key)
            )
        where = self.where(key)
        return [(f"{where}[{i}]", item) for i, item in enumerate(value)]


def read_event(item: Any, path: str) -> EventFields:
    """One event of the body: 2.x as it is, 3.0 flattened, 3.0.0-Beta-1 refused by name."""
    if not isinstance(item, dict):
        raise DcsaPayloadError(f"an event is an object, got {type(item).__name__}", path=path)
    if "metadata" in item and "payload" in item:
        raise DcsaPayloadError(
            "T&T 3.0.0-Beta-1 events (metadata/payload) are not supported; send 2.2 or 3.0",
            path=path,
        )
    if "eventClassification" in item or "eventRouting" in item:
        return _flatten_v3(item, path)
    return EventFields(item, path, {})


def _flatten_v3(item: dict[str, Any], path: str) -> EventFields:
    """A 3.0 event under the 2.x names; nested objects are type-checked on the way."""
    fields: dict[str, Any] = {key: item[key] for key in V3_KEEP if key in item}
    aliases: dict[str, str] = {}
    for name, steps in V3_FIELDS.items():
        node: Any = item
        for depth, step in enumerate(steps[:-1]):
            node = field_object(node, step, ".".join((path, *steps[: depth + 1])).lstrip("."))
        if steps[-1] in node:
            fields[name] = node[steps[-1]]
        aliases[name] = ".".join(steps)
    return EventFields(fields, path, aliases)


def field_text(
    mapping: Mapping[str, Any], key: str, path: str, *, required: bool = False
) -> str | None:
    """``mapping[key]`` stripped; None when absent or blank (an error if ``required``), an
    error when it is not text."""
    value = mapping.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DcsaPayloadError(f"{path.rsplit('.', 1)[-1]} is missing", path=path)
        return None
    if not isinstance(value, str):
        raise DcsaPayloadError(f"should be text, got {type(value).__name__}", path=path)
    return value.strip()


def field_object(mapping: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    """``mapping[key]`` as an object; {} when absent, an error when it is not an object."""
    value = mapping.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DcsaPayloadError(f"should be an object, got {type(value).__name__}", path=path)
    return value
