"""Sign test webhooks the way real senders do, independently of the gateway's verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"trackhub-test-secret-0123456789ab").decode()
ROTATED_SECRET = "whsec_" + base64.b64encode(b"trackhub-rotated-secret-98765432").decode()


def standard_webhook_headers(
    body: bytes,
    *,
    secret: str = SECRET,
    webhook_id: str | None = None,
    at: datetime | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(webhook_id, at, body.decode("utf-8"))
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "Content-Type": content_type,
    }


def aftership_headers(body: bytes, secret: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "aftership-hmac-sha256": base64.b64encode(digest).decode(),
        "Content-Type": "application/json",
    }
