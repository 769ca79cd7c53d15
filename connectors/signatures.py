"""Webhook signature verification for every scheme a source uses. Pure: no I/O, no clock.

``verify_signature`` checks the signature over the raw body bytes exactly as received (a
body re-serialized with other whitespace fails), compares in constant time, accepts any
of the configured secrets (one, or two while a secret is being rotated) and fails closed:
no secret configured, a missing or malformed header, or a mismatch all raise
``SignatureError``. Its ``reason`` is short and safe to log or return to the caller: it
never contains a secret or an expected signature.

Schemes, as the sources document them:

- **EasyPost**: ``X-Hmac-Signature: hmac-sha256-hex=<hex>``, HMAC-SHA256 of the raw body,
  keyed with the webhook secret NFKD-normalized and UTF-8 encoded (EasyPost's own client
  libraries, ``validate_webhook``). EasyPost has announced a newer ``X-Hmac-Signature-V2``
  with ``X-Timestamp`` / ``X-Path`` headers; its signed string is not specified in the
  material we could confirm, so it is not accepted here (see the connectors note).
- **AfterShip** (tracking webhooks): ``aftership-hmac-sha256: <base64>``, base64 of the
  HMAC-SHA256 of the raw body keyed with the webhook secret.
- **17TRACK** (webhook v2): ``sign: <hex>``, the SHA-256 (a plain hash, not an HMAC) of
  the raw body, then ``/``, then the account's security key: ``sha256(body + "/" + key)``,
  as independent integrations implement it (17TRACK's own page was not reachable).
- **Standard Webhooks**: ``webhook-id``, ``webhook-timestamp`` (unix seconds) and
  ``webhook-signature`` (space-separated ``v1,<base64>`` entries) over
  ``id.timestamp.body`` with a ``whsec_`` base64 secret. Verified by the
  ``standardwebhooks`` package; see ``_verify_standard_webhooks`` for how ``now`` is made
  effective, since the package reads the wall clock itself.

Only Standard Webhooks carries a delivery id; ``verify_signature`` returns it (else None)
so the gateway can refuse a replayed delivery.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from standardwebhooks.webhooks import (
    EmptyWebhookSecretError,
    Webhook,
    WebhookVerificationError,
)

from connectors.base import SignatureScheme

STANDARD_WEBHOOKS_TOLERANCE = timedelta(minutes=5)
EASYPOST_PREFIX = "hmac-sha256-hex="
MAX_DELIVERY_ID_CHARS = 200  # the raw envelope's reference is at most this long


class SignatureError(Exception):
    """A webhook whose signature could not be verified. ``reason`` is safe to expose."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    @property
    def kind(self) -> str:
        """A metric label for the reason, from a fixed set: missing, malformed, mismatch,
        stale, no_secret, bad_secret, unsupported."""
        for prefix, kind in _FAILURE_KINDS:
            if self.reason.startswith(prefix):
                return kind
        return "malformed"


_FAILURE_KINDS = (
    ("missing", "missing"),
    ("signature mismatch", "mismatch"),
    ("timestamp outside", "stale"),
    ("no secret", "no_secret"),
    ("configured secret", "bad_secret"),
    ("unsupported", "unsupported"),
)


def verify_signature(
    scheme: SignatureScheme,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> str | None:
    """Verify one delivery; return its delivery id when the scheme has one, else None.

    ``headers`` are the request headers (names are compared in lower case); ``secrets`` are
    the valid secrets of the source, any of which may have signed; ``now`` is the aware
    current time, used by the schemes that sign a timestamp. Raises ``SignatureError``.
    """
    keys = [secret for secret in secrets if secret]
    if not keys:
        raise SignatureError("no secret configured")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    lowered = {name.lower(): value for name, value in headers.items()}
    verifier = _VERIFIERS.get(scheme)
    if verifier is None:
        raise SignatureError("unsupported signature scheme")
    return verifier(keys, lowered, body, now)


def _header(headers: Mapping[str, str], name: str, display: str) -> str:
    value = headers.get(name)
    if value is None or not value.strip():
        raise SignatureError(f"missing {display} header")
    return value.strip()


def _any_match(expected: Sequence[bytes], received: bytes) -> bool:
    """Constant-time comparison against every candidate (no early exit on a match)."""
    matched = False
    for candidate in expected:
        matched |= hmac.compare_digest(candidate, received)
    return matched


def _verify_easypost(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, _now: datetime
) -> None:
    value = _header(headers, "x-hmac-signature", "X-Hmac-Signature")
    if not value.lower().startswith(EASYPOST_PREFIX):
        raise SignatureError("malformed X-Hmac-Signature header")
    received = value[len(EASYPOST_PREFIX) :].strip().lower().encode("utf-8")
    expected = [
        hmac.new(unicodedata.normalize("NFKD", secret).encode("utf-8"), body, hashlib.sha256)
        .hexdigest()
        .encode("ascii")
        for secret in secrets
    ]
    if not _any_match(expected, received):
        raise SignatureError("signature mismatch")


def _verify_aftership(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, _now: datetime
) -> None:
    received = _header(headers, "aftership-hmac-sha256", "aftership-hmac-sha256").encode("utf-8")
    expected = [
        base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest())
        for secret in secrets
    ]
    if not _any_match(expected, received):
        raise SignatureError("signature mismatch")


def _verify_seventeen_track(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, _now: datetime
) -> None:
    received = _header(headers, "sign", "sign").lower().encode("utf-8")
    expected = [
        hashlib.sha256(body + b"/" + secret.encode("utf-8")).hexdigest().encode("ascii")
        for secret in secrets
    ]
    if not _any_match(expected, received):
        raise SignatureError("signature mismatch")


def _verify_standard_webhooks(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: datetime
) -> str:
    """Standard Webhooks through the ``standardwebhooks`` package, with ``now`` effective.

    The package checks the timestamp against ``datetime.now()`` (the wall clock) and
    cannot be given a clock. So the ±5 minute tolerance is first checked here against
    ``now``, and the package's own check runs too: a delivery passes only when its
    timestamp is within tolerance of both, which in production (``now`` is the wall
    clock) is the same thing, and in tests with an injected clock still fails closed.
    The shape of ``webhook-signature`` (space-separated ``version,base64`` entries) is
    checked here, so a malformed header is reported as such whatever the package version
    does with it (1.3 compares entries as text and would call it a mismatch); entries of
    versions other than ``v1`` are left to the package, which skips them.
    """
    delivery_id = _header(headers, "webhook-id", "webhook-id")
    timestamp = _header(headers, "webhook-timestamp", "webhook-timestamp")
    signature = _header(headers, "webhook-signature", "webhook-signature")
    if len(delivery_id) > MAX_DELIVERY_ID_CHARS:
        raise SignatureError("webhook-id header too long")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("malformed webhook-timestamp header")
    if abs(int(timestamp) - now.timestamp()) > STANDARD_WEBHOOKS_TOLERANCE.total_seconds():
        raise SignatureError("timestamp outside tolerance")
    if not _well_formed_signatures(signature):
        raise SignatureError("malformed webhook-signature header")
    try:
        verifiers = [_webhook(secret) for secret in secrets]
    except (EmptyWebhookSecretError, binascii.Error, ValueError, RuntimeError):
        raise SignatureError("configured secret is not a valid whsec_ key") from None
    package_headers = {
        "webhook-id": delivery_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": " ".join(signature.split()),
    }
    outcome = "signature mismatch"
    for verifier in verifiers:
        try:
            # the bytes as received: a sender may sign a body that is not UTF-8 (Latin-1
            # X12 or Cargo-IMP); it is authentic, accepted, and the mapper judges it
            verifier.verify(body, package_headers, json_parse=False)
        except WebhookVerificationError as exc:
            if "timestamp" in str(exc).lower():
                outcome = "timestamp outside tolerance"
            continue
        except (ValueError, binascii.Error):
            raise SignatureError("malformed webhook-signature header") from None
        return delivery_id
    raise SignatureError(outcome)


def _well_formed_signatures(header: str) -> bool:
    """Every entry is ``version,value``, and every ``v1`` value is base64."""
    for entry in header.split():
        version, comma, value = entry.partition(",")
        if not (version and comma and value):
            return False
        if version == "v1":
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
    return True


@functools.lru_cache(maxsize=64)
def _webhook(secret: str) -> Webhook:
    """One verifier per secret, kept: decoding the key on every request is wasted work."""
    return Webhook(secret)


_Verifier = Callable[[Sequence[str], Mapping[str, str], bytes, datetime], str | None]

_VERIFIERS: dict[SignatureScheme, _Verifier] = {
    SignatureScheme.EASYPOST: _verify_easypost,
    SignatureScheme.AFTERSHIP: _verify_aftership,
    SignatureScheme.SEVENTEEN_TRACK: _verify_seventeen_track,
    SignatureScheme.STANDARD_WEBHOOKS: _verify_standard_webhooks,
}
