"""Signing simulated deliveries the way each sender does, so they pass the gateway's
checks like real traffic: EasyPost's HMAC-SHA256 hex (``X-Hmac-Signature``), AfterShip's
base64 HMAC-SHA256, 17TRACK's SHA-256 of body + "/" + key (``sign``), and Standard
Webhooks (through the ``standardwebhooks`` package) for every other format."""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from connectors.registry import get_connector
from connectors.signatures import EASYPOST_PREFIX, SignatureScheme


def signed_headers(
    format_name: str, secret: str, body: bytes, *, message_id: str, at: datetime
) -> dict[str, str]:
    """The signature headers of one delivery (without Content-Type)."""
    scheme = get_connector(format_name).signature
    if scheme is SignatureScheme.EASYPOST:
        key = unicodedata.normalize("NFKD", secret).encode()
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        return {"X-Hmac-Signature": f"{EASYPOST_PREFIX}{digest}"}
    if scheme is SignatureScheme.AFTERSHIP:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        return {"aftership-hmac-sha256": base64.b64encode(digest).decode()}
    if scheme is SignatureScheme.SEVENTEEN_TRACK:
        return {"sign": hashlib.sha256(body + b"/" + secret.encode()).hexdigest()}
    signature = Webhook(secret).sign(message_id, at, body.decode("utf-8"))
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
