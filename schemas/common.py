"""Building blocks shared by every model: identifiers, parties, locations, deterministic ids.

Identifier values are normalized on the way in (case, spaces, the MAWB hyphen) so that the
same container or air waybill written two ways by two sources resolves to one shipment.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

SCHEMA_VERSION = 1

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ShortStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _pattern(regex: str, *, lower: bool = False, upper: bool = False) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, to_lower=lower, to_upper=upper, pattern=regex)


Slug = Annotated[str, _pattern(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", lower=True)]
UnLocode = Annotated[str, _pattern(r"^[A-Za-z]{2}[A-Za-z2-9]{3}$", upper=True)]
IataCode = Annotated[str, _pattern(r"^[A-Za-z]{3}$", upper=True)]
CountryCode = Annotated[str, _pattern(r"^[A-Za-z]{2}$", upper=True)]
PostalCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]


class StrictModel(BaseModel):
    """Base of every contract model: unknown fields are an error, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class IdentifierKind(StrEnum):
    TRACKING_NUMBER = "tracking_number"  # a parcel carrier's or aggregator's number
    MAWB = "mawb"  # master air waybill, 3-digit airline prefix + 8-digit serial
    HAWB = "hawb"  # house air waybill, issued by the forwarder
    CONTAINER = "container"  # ISO 6346: owner code, category, serial, check digit
    BILL_OF_LADING = "bill_of_lading"  # ocean B/L (master or house)
    BOOKING = "booking"  # carrier or forwarder booking reference
    CUSTOMS_ENTRY = "customs_entry"  # import declaration / entry number
    ORDER_ID = "order_id"  # the seller's or marketplace's order id
    SHIPMENT_REF = "shipment_ref"  # the forwarder's or warehouse's own shipment reference
    SSCC = "sscc"  # GS1 serial shipping container code (18 digits)
    FBA_SHIPMENT = "fba_shipment"  # Amazon FBA inbound shipment id (FBA...)


_MAWB = re.compile(r"^(\d{3})(\d{8})$")
_CONTAINER = re.compile(r"^[A-Z]{3}[UJZR]\d{7}$")
_SSCC = re.compile(r"^\d{18}$")
_SEPARATORS = re.compile(r"[\s\-_/.]+")
# Carriers print these in groups ("9400 1000 0000"); the spaces never carry meaning.
_NO_SPACES = frozenset(
    {
        IdentifierKind.TRACKING_NUMBER,
        IdentifierKind.HAWB,
        IdentifierKind.BILL_OF_LADING,
        IdentifierKind.BOOKING,
        IdentifierKind.FBA_SHIPMENT,
    }
)
_WHITESPACE = re.compile(r"\s+")


def normalize_identifier(kind: IdentifierKind, value: str) -> str:
    """The canonical spelling of an identifier, or ValueError when it cannot be one.

    Free-text references (order ids, entry numbers) keep their punctuation and single
    inner spaces; carrier-issued numbers lose their spaces; structured ones (MAWB, container,
    SSCC) lose separators and are checked for shape.
    Check digits are not enforced: real feeds carry typos we must still be able to match.
    """
    # Pure and hot: a connector normalizes each identifier, ``Identifier`` does it again,
    # and every event of a payload repeats its shipment's identifiers, so most calls are
    # repeats. Only short values are cached (payload text can be megabytes long).
    if len(value) <= _CACHED_LENGTH:
        return _normalize_cached(kind, value)
    return _normalize(kind, value)


def _normalize(kind: IdentifierKind, value: str) -> str:
    text = value.strip().upper()
    if not text:
        raise ValueError(f"{kind.value} identifier is empty")
    if kind in (IdentifierKind.MAWB, IdentifierKind.CONTAINER, IdentifierKind.SSCC):
        compact = _SEPARATORS.sub("", text)
        if kind is IdentifierKind.SSCC and compact.startswith("(00)"):
            compact = compact[4:]
        if kind is IdentifierKind.MAWB:
            match = _MAWB.match(compact)
            if not match:
                raise ValueError(f"MAWB {value!r} is not 3-digit prefix + 8-digit serial")
            return f"{match.group(1)}-{match.group(2)}"
        pattern = _CONTAINER if kind is IdentifierKind.CONTAINER else _SSCC
        if not pattern.match(compact):
            raise ValueError(f"{kind.value} {value!r} is not a valid {kind.value} number")
        return compact
    return _WHITESPACE.sub("" if kind in _NO_SPACES else " ", text)


_CACHED_LENGTH = 256
# bounded; errors are not cached (they propagate); typed: a plain "mawb" str is not a kind
_normalize_cached = lru_cache(maxsize=8192, typed=True)(_normalize)


class Identifier(StrictModel):
    """One reference to a shipment, as a (kind, value) pair; ``value`` is normalized."""

    kind: IdentifierKind
    value: ShortStr
    issuer: ShortStr | None = Field(
        default=None,
        description="Who issued it when values are only unique per issuer "
        "(carrier SCAC/IATA code, forwarder id).",
    )

    @model_validator(mode="after")
    def _normalize(self) -> Self:
        normalized = normalize_identifier(self.kind, self.value)
        if normalized != self.value:
            object.__setattr__(self, "value", normalized)
        return self

    @property
    def key(self) -> str:
        """A stable string form, ``kind:value``, used as a Kafka key and a table key."""
        # a StrEnum formats as its value; ``.value`` is a slow descriptor on this hot path
        return f"{self.kind}:{self.value}"


class PartyRole(StrEnum):
    SELLER = "seller"
    FORWARDER = "forwarder"
    CUSTOMS_BROKER = "customs_broker"
    CARRIER = "carrier"  # line-haul carrier: airline, ocean or rail carrier
    LAST_MILE_CARRIER = "last_mile_carrier"
    WAREHOUSE_OPERATOR = "warehouse_operator"
    FULL_SERVICE_PROVIDER = "full_service_provider"
    AGGREGATOR = "aggregator"  # a tracking aggregator relaying another party's scans
    MARKETPLACE = "marketplace"  # e.g. Amazon for FBA receiving
    CUSTOMS_AUTHORITY = "customs_authority"


class Party(StrictModel):
    """A contracted or reporting party. ``id`` is ours (stable, lower-case slug)."""

    role: PartyRole
    id: Slug
    name: ShortStr | None = None


class Location(StrictModel):
    """Where something happened; every field optional, formats checked when present."""

    unlocode: UnLocode | None = None
    iata: IataCode | None = None
    country: CountryCode | None = Field(default=None, description="ISO 3166-1 alpha-2")
    city: ShortStr | None = None
    postal_code: PostalCode | None = None
    name: ShortStr | None = Field(default=None, description="Facility or terminal name")


# One encoder for every id: ``json.dumps`` with options builds a new encoder per call.
_CANONICAL_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no spaces: the input of every deterministic hash."""
    return _CANONICAL_ENCODER.encode(data)


def stable_id(prefix: str, *parts: Any) -> str:
    """``prefix_`` + 32 hex chars of SHA-256 over the canonical JSON of ``parts``.

    128 bits keep collisions out of reach for any realistic volume; the prefix tells a
    reader what kind of id it is.
    """
    digest = hashlib.sha256(canonical_json(list(parts)).encode("utf-8")).hexdigest()
    return f"{prefix}_{digest[:32]}"


def utc_instant(moment: datetime) -> str:
    """The instant as UTC ISO text: two spellings of one instant hash the same."""
    return moment.astimezone(UTC).isoformat()
