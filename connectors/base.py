"""What every connector is made of, and the helpers their pure mappers share.

A connector is one wire format: a pure ``parse(raw) -> list[TrackingEvent]`` plus the data
the gateway needs (accepted content types, signature scheme, a body size limit). Mappers
never do I/O and never swallow a problem: bad input raises a ``ConnectorError`` subclass
whose message says what was wrong and where, which the pipeline keeps in the dead-letter
topic beside the raw payload.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from schemas.events import EventSource, RawEnvelope, TrackingEvent


class ConnectorError(ValueError):
    """Bad input for a connector. ``path`` points into the payload (``result.status``,
    ``line 3``, ``segment AT7 #2``) when the problem has a place."""

    def __init__(self, message: str, *, path: str | None = None, **details: Any) -> None:
        self.message = message
        self.path = path
        self.details: dict[str, Any] = {k: v for k, v in details.items() if v is not None}
        super().__init__(f"{message} (at {path})" if path else message)

    @property
    def error_type(self) -> str:
        return type(self).__name__


class UnknownSourceError(LookupError):
    """No connector by that name."""


class SignatureScheme(StrEnum):
    """How a source signs its webhooks (see connectors/signatures.py)."""

    EASYPOST = "easypost"  # X-Hmac-Signature: hmac-sha256-hex=<hex>
    AFTERSHIP = "aftership"  # aftership-hmac-sha256: base64(HMAC-SHA256(body))
    SEVENTEEN_TRACK = "17track"  # sign: sha256(body + "/" + key)
    STANDARD_WEBHOOKS = "standard_webhooks"  # webhook-id / -timestamp / -signature


Parser = Callable[[RawEnvelope], list[TrackingEvent]]


@dataclass(frozen=True, slots=True)
class Connector:
    """One wire format and how the gateway receives it."""

    name: str
    parse: Parser
    content_types: frozenset[str]
    signature: SignatureScheme
    description: str
    max_body_bytes: int = 1024 * 1024

    def accepts(self, content_type: str) -> bool:
        """Whether a request's Content-Type (parameters ignored) is one this format uses."""
        media_type = content_type.split(";", 1)[0].strip().lower()
        return media_type in self.content_types


# --- helpers for mappers -----------------------------------------------------------------


def decode_json(raw: RawEnvelope, error: type[ConnectorError]) -> Any:
    """The body as JSON, or ``error`` saying why it is not (encoding, syntax, position)."""
    try:
        text = raw.body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"body is not JSON: {exc.msg}", path=f"line {exc.lineno} col {exc.colno}"
        ) from None
    except RecursionError:
        raise error("body is JSON nested too deeply") from None
    except ValueError:  # json's own limit: an integer literal of over 4,300 digits
        raise error("body has a number too long to read (over 4300 digits)") from None


def decode_json_object(raw: RawEnvelope, error: type[ConnectorError], what: str) -> dict[str, Any]:
    """The body as a JSON object, or ``error`` ("expected {what}, got list")."""
    body = decode_json(raw, error)
    if not isinstance(body, dict):
        raise error(f"expected {what}, got {type(body).__name__}")
    return body


def decode_text(
    raw: RawEnvelope, error: type[ConnectorError], encodings: tuple[str, ...] = ("utf-8",)
) -> str:
    """The body as text in the first encoding that fits, or ``error``."""
    for encoding in encodings:
        try:
            return raw.body.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise error(f"body is not text in any of {', '.join(encodings)}")


def require(
    mapping: Any,
    key: str,
    error: type[ConnectorError],
    path: str,
    kind: type | tuple[type, ...] = str,
) -> Any:
    """``mapping[key]`` checked to be present, non-empty and of ``kind``; else ``error``."""
    if not isinstance(mapping, Mapping):
        raise error(f"expected an object, got {type(mapping).__name__}", path=path or None)
    value = mapping.get(key)
    if value is None or value == "":
        raise error(f"{key} is missing", path=_join(path, key))
    if type(value) is kind:  # the common case, decided without building the type tuple
        return value
    return _checked(value, key, error, path, kind)


def optional(
    mapping: Mapping[str, Any],
    key: str,
    error: type[ConnectorError],
    path: str,
    kind: type | tuple[type, ...] = str,
) -> Any:
    """``mapping[key]`` if present and non-empty (checked to be of ``kind``), else None."""
    value = mapping.get(key)
    if value is None or value == "":
        return None
    if type(value) is kind:  # the common case, decided without building the type tuple
        return value
    return _checked(value, key, error, path, kind)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _checked(
    value: Any, key: str, error: type[ConnectorError], path: str, kind: type | tuple[type, ...]
) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python, never in a payload: true is not a number
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = {str: "text", int: "a number", float: "a number", list: "a list", dict: "an object"}
        wanted = " or ".join(names.get(k, k.__name__) for k in kinds)
        raise error(f"{key} should be {wanted}, got {type(value).__name__}", path=_join(path, key))
    return value


def parse_aware_datetime(value: Any, error: type[ConnectorError], path: str) -> datetime:
    """An ISO 8601 timestamp that carries its UTC offset (``Z`` counts), else ``error``."""
    if not isinstance(value, str):
        raise error(f"timestamp should be text, got {type(value).__name__}", path=path)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise error(f"not an ISO 8601 timestamp: {value[:40]!r}", path=path) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise error(f"timestamp has no UTC offset: {value[:40]!r}", path=path)
    return moment


def location_fields(**fields: str | None) -> dict[str, str] | None:
    """A location's fields that hold text (absent and blank ones left out), or None when
    none does: the ``location`` of ``build_event``."""
    present = {key: text for key, text in fields.items() if text and text.strip()}
    return present or None


def build_event(
    raw: RawEnvelope, error: type[ConnectorError], path: str, **fields: Any
) -> TrackingEvent:
    """A ``TrackingEvent`` stamped with the envelope's receipt time and id.

    A field the schema refuses (a malformed MAWB, a country that is not ISO 3166) becomes
    ``error`` naming the field, so one bad value sends the payload to the dead-letter topic
    with a reason instead of crashing the pipeline.
    """
    try:
        return TrackingEvent(received_at=raw.received_at, raw_id=raw.envelope_id, **fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise error(f"{where}: {first['msg']}", path=path) from None


def source_of(connector: str, party: Any, source_event_id: str | None = None) -> EventSource:
    """The ``EventSource`` of an event (party as a ``Party`` or its dict form)."""
    return EventSource.model_validate(
        {"connector": connector, "party": party, "source_event_id": source_event_id}
    )
