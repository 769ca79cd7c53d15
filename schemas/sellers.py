"""Sellers, their API keys and their alert subscriptions: the seller API's own records.

Each lives in a compacted topic keyed by its id (``sellers.v1``, ``api-keys.v1``,
``subscriptions.v1``), so every API and delivery process reads the same records and a
revoked key or disabled subscription reaches all of them. A key is stored only as the
SHA-256 of its secret (keys are 256-bit random, so a slow hash adds nothing); the secret
is shown once, at creation. A subscription's signing secret has to stay readable: the
delivery process signs with it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Annotated, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from schemas.alerts import AlertType
from schemas.common import SCHEMA_VERSION, StrictModel
from schemas.shipments import EntityId

KEY_PREFIX = "thk_"
SUBSCRIPTION_SECRET_PREFIX = "whsec_"

KeyId = Annotated[str, StringConstraints(pattern=r"^key_[0-9a-f]{16}$")]
SubscriptionId = Annotated[str, StringConstraints(pattern=r"^sub_[0-9a-f]{24}$")]


class Seller(StrictModel):
    """A paying seller (``sellers.v1``, key ``seller_id``)."""

    schema_version: int = SCHEMA_VERSION
    seller_id: EntityId
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    created_at: AwareDatetime


class ApiKey(StrictModel):
    """One API key of one seller (``api-keys.v1``, key ``key_id``)."""

    schema_version: int = SCHEMA_VERSION
    key_id: KeyId
    seller_id: EntityId
    secret_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None


class Subscription(StrictModel):
    """Where a seller wants its alerts pushed (``subscriptions.v1``, key id).

    ``alert_types`` empty means every type. A disabled subscription keeps its row (with
    the reason, visible in the API); a deleted one is kept as a record with
    ``deleted_at`` so every reader drops it, then compacted away.
    """

    schema_version: int = SCHEMA_VERSION
    subscription_id: SubscriptionId
    seller_id: EntityId
    url: Annotated[str, StringConstraints(min_length=8, max_length=2048)]
    alert_types: list[AlertType] = Field(default_factory=list, max_length=len(AlertType))
    secret: Annotated[str, StringConstraints(pattern=r"^whsec_[A-Za-z0-9+/=]{20,200}$")]
    created_at: AwareDatetime
    disabled_at: AwareDatetime | None = None
    disabled_reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    deleted_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _reason_with_disable(self) -> Self:
        if (self.disabled_at is None) != (self.disabled_reason is None):
            raise ValueError("disabled_reason is set exactly when disabled_at is")
        return self

    def wants(self, alert_type: AlertType) -> bool:
        return not self.alert_types or alert_type in self.alert_types

    @property
    def active(self) -> bool:
        return self.disabled_at is None and self.deleted_at is None


def new_api_key() -> tuple[str, str]:
    """A fresh ``(key_id, full key)``; the full key is ``thk_<key_id hex>_<secret>``."""
    key_id = f"key_{secrets.token_hex(8)}"
    return key_id, f"{KEY_PREFIX}{key_id[4:]}_{secrets.token_urlsafe(32)}"


def key_id_of(full_key: str) -> str | None:
    """The key id a presented key claims, or None when it is not shaped like our keys."""
    if not full_key.startswith(KEY_PREFIX):
        return None
    head, _, secret = full_key[len(KEY_PREFIX) :].partition("_")
    if len(head) != 16 or not secret or any(c not in "0123456789abcdef" for c in head):
        return None
    return f"key_{head}"


def hash_key(full_key: str) -> str:
    return hashlib.sha256(full_key.encode()).hexdigest()


def new_subscription_id() -> str:
    return f"sub_{secrets.token_hex(12)}"


def new_subscription_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return SUBSCRIPTION_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
