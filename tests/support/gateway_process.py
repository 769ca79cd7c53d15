"""A ``trackhub gateway`` subprocess, and a signed-webhook sender that keeps the books.

``GatewayProcess`` runs the real gateway on a fixed free port (so a restart comes back
on the same address), with one native-format source and its secret unless given other
sources; the fault tests SIGKILL, SIGTERM and restart it, the load and the signature
matrix send to it. ``WebhookSender`` is the load: concurrent signed
webhooks at a steady rate, recording every attempt's answer per reference (HTTP status,
``Retry-After``, or 0 when there was no HTTP answer at all), optionally retrying 503s and
connection errors the way a well-behaved sender does. ``raw_log_copies`` reads
``tracking.raw.v1`` and counts each reference's records, which is how a test proves that
whatever got a 2xx is on the raw log (0 lost).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from kafka import TopicPartition

from connectors.registry import get_connector
from hub.settings import Settings, SourceConfig
from schemas.events import RawEnvelope
from tests.conftest import subprocess_env
from tests.support.cli_process import spawn_cli
from tests.support.kafka_reading import read_since
from tests.support.private_broker import free_port
from tests.support.signing import SECRET, standard_webhook_headers

SOURCE = "fault-native"
NO_ANSWER = 0  # the status recorded when a request got no HTTP answer


class GatewayProcess:
    """One ``trackhub gateway`` on ``port``; each run's stderr goes to ``<folder>/gateway-N.log``.

    ``sources`` replaces the one native source; ``settings`` are more TRACKHUB_* values by
    their settings name (``gateway_max_in_flight="8"``)."""

    def __init__(
        self,
        broker_env: Mapping[str, str],
        folder: Path,
        *,
        sources: Mapping[str, SourceConfig] | None = None,
        **settings: str,
    ) -> None:
        self.port = free_port()
        values = {
            "gateway_port": str(self.port),
            "sources": _sources_json(
                sources or {SOURCE: SourceConfig(format="native", secrets=[SECRET])}
            ),
            "log_level": "WARNING",
        } | settings
        self._env = subprocess_env(dict(broker_env)) | {
            f"TRACKHUB_{name.upper()}": value for name, value in values.items()
        }
        self._folder = folder
        self._runs = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/{SOURCE}"

    @property
    def log_text(self) -> str:
        path = self._folder / f"gateway-{self._runs}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, *, ready: bool = True, timeout_s: float = 60) -> GatewayProcess:
        """Start and wait for ``/healthz`` (and ``/readyz``: Kafka answers) to say 200."""
        self._runs += 1
        self.process = spawn_cli("gateway", self._env, self._folder / f"gateway-{self._runs}.log")
        deadline = time.monotonic() + timeout_s
        paths = ["/healthz", "/readyz"] if ready else ["/healthz"]
        while paths:
            if self.process.poll() is not None:
                raise AssertionError(f"trackhub gateway exited: {self.log_text[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway not answering {paths[0]}: {self.log_text[-2000:]}")
            if self.get(paths[0]) == 200:
                paths.pop(0)
            else:
                time.sleep(0.05)
        return self

    def get(self, path: str) -> int:
        """The status of a GET on the gateway; 0 when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        self._signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=30)

    def terminate(self, timeout_s: float = 60) -> int:
        """SIGTERM and wait for the exit code (SIGKILL, and -9, if it hangs)."""
        self._signal(signal.SIGTERM)
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def stop(self) -> None:
        """For ``finally`` blocks: end the process, whatever state it is in."""
        if self.process is not None and self.process.poll() is None:
            self.terminate(timeout_s=20)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)


def _sources_json(sources: Mapping[str, SourceConfig]) -> str:
    """TRACKHUB_SOURCES, written out by hand: ``model_dump`` hides secrets (SecretStr)."""
    return json.dumps(
        {
            name: {
                "format": source.format,
                "secrets": [s.get_secret_value() for s in source.secrets],
            }
            for name, source in sources.items()
        }
    )


@dataclass(frozen=True, slots=True)
class Webhook:
    """One delivery: its reference (the Standard Webhooks ``webhook-id``) and body."""

    reference: str
    body: bytes

    @property
    def raw_key(self) -> str:
        """Its record key on ``tracking.raw.v1``."""
        return f"{SOURCE}:{self.reference}"

    def event_ids(self) -> set[str]:
        """The ``event_id``s the normalizer must produce for it: the connector's own parse."""
        envelope = RawEnvelope.from_body(
            body=self.body,
            source=SOURCE,
            format="native",
            reference=self.reference,
            received_at=datetime.now(UTC),
            content_type="application/json",
            headers={},
            signature_verified=True,
        )
        return {event.event_id for event in get_connector("native").parse(envelope)}


def native_webhooks(prefix: str, count: int) -> list[Webhook]:
    """``count`` distinct native-format webhooks, one last-mile scan each."""
    out = []
    for i in range(count):
        event = {
            "source": {
                "party": {"role": "last_mile_carrier", "id": "usps"},
                "source_event_id": f"{prefix}-{i}",
            },
            "identifiers": [{"kind": "tracking_number", "value": f"9400{prefix.upper()}{i:08d}"}],
            "milestone": "in_transit",
            "source_code": "IT",
            "source_description": "Arrived at USPS regional facility, Los Angeles CA",
            "occurred_at": "2026-02-25T06:12:00-08:00",
            "location": {"city": "Los Angeles", "country": "US", "postal_code": "90052"},
        }
        body = json.dumps({"events": [event]}).encode()
        out.append(Webhook(reference=f"msg_{prefix}_{i}", body=body))
    return out


@dataclass(frozen=True, slots=True)
class Answer:
    """One attempt: its status (``NO_ANSWER`` for none), when it was sent and answered
    (``time.monotonic()``), the ``Retry-After`` header, and the error if no answer."""

    status: int
    sent_at: float
    answered_at: float
    retry_after: str | None = None
    error: str = ""

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry 5xx and connection errors until a 2xx: after ``Retry-After`` (capped at
    ``max_wait_s``, so a test does not sit out the full 5 s) or ``error_wait_s``."""

    max_wait_s: float = 1.0
    error_wait_s: float = 0.2


@dataclass
class WebhookSender:
    """Sends webhooks at ``rate_per_s`` with at most ``concurrency`` in flight, and keeps
    every attempt's answer by reference. Without a retry policy, each is sent once."""

    url: str
    concurrency: int = 8
    rate_per_s: float = 50.0
    retry: RetryPolicy | None = None
    answers: dict[str, list[Answer]] = field(default_factory=dict)

    async def send(self, webhooks: Iterable[Webhook], stop: asyncio.Event | None = None) -> None:
        """Until every webhook was sent (and, with retries, accepted) or ``stop`` is set;
        after ``stop`` no new webhook starts, the ones being retried still finish."""
        pending = iter(enumerate(webhooks))
        began = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=30)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def worker() -> None:
                for index, webhook in pending:
                    if stop is not None and stop.is_set():
                        return
                    await asyncio.sleep(
                        max(0.0, began + index / self.rate_per_s - time.monotonic())
                    )
                    await self._deliver(session, webhook)

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    async def _deliver(self, session: aiohttp.ClientSession, webhook: Webhook) -> None:
        attempts = self.answers.setdefault(webhook.reference, [])
        while True:
            answer = await self._attempt(session, webhook)
            attempts.append(answer)
            if answer.accepted or self.retry is None or 400 <= answer.status < 500:
                return
            if answer.status == NO_ANSWER:
                await asyncio.sleep(self.retry.error_wait_s)
            else:
                wait = float(answer.retry_after or self.retry.max_wait_s)
                await asyncio.sleep(min(wait, self.retry.max_wait_s))

    async def _attempt(self, session: aiohttp.ClientSession, webhook: Webhook) -> Answer:
        headers = standard_webhook_headers(webhook.body, webhook_id=webhook.reference)
        sent_at = time.monotonic()
        try:
            async with session.post(self.url, data=webhook.body, headers=headers) as response:
                await response.read()
                return Answer(
                    response.status, sent_at, time.monotonic(), response.headers.get("Retry-After")
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Answer(NO_ANSWER, sent_at, time.monotonic(), error=type(exc).__name__)

    def accepted(self) -> set[str]:
        """References with at least one 2xx answer."""
        return {ref for ref, attempts in self.answers.items() if any(a.accepted for a in attempts)}

    def all_attempts(self) -> list[Answer]:
        return [a for attempts in self.answers.values() for a in attempts]

    def statuses(self) -> Counter[int]:
        return Counter(a.status for a in self.all_attempts())


def raw_log_copies(settings: Settings, start: dict[TopicPartition, int]) -> Counter[str]:
    """How many records each raw-log key has since ``start`` (read to the current end)."""
    return Counter(
        RawEnvelope.model_validate_json(value).kafka_key for value in read_since(settings, start)
    )
