"""One outbound webhook attempt: the Standard Webhooks request and what came of it.

The body is the Standard Webhooks payload shape, built once per alert state and stored,
so every retry sends the same bytes::

    {"type": "alert.<state>", "timestamp": "<alert updated_at, UTC>", "data": <Alert JSON>}

Headers: ``webhook-id`` is the alert's ``delivery_id`` (alert id + revision), the same on
every retry and every duplicate, so receivers deduplicate by it; ``webhook-timestamp``
is the attempt's time; ``webhook-signature`` is signed by the ``standardwebhooks``
package with the subscription's ``whsec_`` secret. Redirects are never followed, no
proxy from the environment is used, the response body is never read, and one attempt
takes at most ``TRACKHUB_DELIVERY_TIMEOUT_S`` in all (connect, TLS, answer).

The connector's resolver is the SSRF guard's ``GuardedResolver``; IP-literal hosts, which
aiohttp does not resolve, are checked by ``url_problem`` before each attempt.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from hub.delivery_schedule import AttemptResult, Outcome, classify_status
from hub.settings import Settings
from hub.ssrf import BlockedAddressError, GuardedResolver, parse_networks, url_problem
from schemas.alerts import Alert
from schemas.sellers import Subscription

USER_AGENT = "trackhub-webhooks/1"


def webhook_body(alert: Alert) -> bytes:
    """The Standard Webhooks payload of one alert state (compact JSON, UTF-8)."""
    envelope = {
        "type": f"alert.{alert.state.value}",
        "timestamp": alert.updated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": alert.model_dump(mode="json"),
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_headers(secret: str, webhook_id: str, body: bytes, at: datetime) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body.decode("utf-8")),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


class WebhookSender:
    """Sends attempts over one pooled, guarded HTTP client. ``start`` inside the loop."""

    def __init__(self, settings: Settings) -> None:
        self._allow_http = settings.delivery_allow_http
        self._allowed = parse_networks(tuple(settings.delivery_allow_networks))
        self._timeout = aiohttp.ClientTimeout(total=settings.delivery_timeout_s)
        self._limit = settings.delivery_concurrency
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._allowed), limit=self._limit, limit_per_host=0
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, trust_env=False
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, subscription: Subscription, webhook_id: str, body: bytes) -> AttemptResult:
        """One attempt; every failure of the endpoint or the network is returned as a
        result, never raised (a bad signing secret is ours to fix: it raises)."""
        assert self._session is not None, "start() the sender first"
        problem = url_problem(subscription.url, allow_http=self._allow_http, allowed=self._allowed)
        if problem is not None:
            return AttemptResult(Outcome.BLOCKED, f"blocked address ({problem})")
        headers = signed_headers(subscription.secret, webhook_id, body, datetime.now(UTC))
        try:
            async with self._session.post(
                subscription.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                return classify_status(response.status)
        except TimeoutError:  # includes aiohttp's connect and read timeouts
            return AttemptResult(Outcome.TIMEOUT, "timeout")
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, BlockedAddressError):
                return AttemptResult(Outcome.BLOCKED, f"blocked address ({exc.os_error.reason})")
            return AttemptResult(Outcome.CONNECT_ERROR, "host name does not resolve")
        except aiohttp.ClientConnectorCertificateError:
            return AttemptResult(Outcome.CONNECT_ERROR, "TLS certificate not trusted")
        except aiohttp.ClientSSLError:
            return AttemptResult(Outcome.CONNECT_ERROR, "TLS handshake failed")
        except aiohttp.ClientConnectorError:
            return AttemptResult(Outcome.CONNECT_ERROR, "connection failed")
        except aiohttp.ServerDisconnectedError:
            return AttemptResult(Outcome.CONNECT_ERROR, "connection closed without an answer")
        except (aiohttp.ClientError, OSError) as exc:
            return AttemptResult(Outcome.CONNECT_ERROR, f"request failed ({type(exc).__name__})")
