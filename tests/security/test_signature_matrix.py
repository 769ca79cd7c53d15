"""Every webhook source, every way a delivery can be inauthentic: 100% refused.

A real ``trackhub gateway`` process gets one source per registered format with a secret
(``load-<format>``) and one without (``closed-<format>``). For each source, a valid
delivery built from the simulator's encoder and signed with the source's real scheme
(``tests.load.traffic``) must be accepted (202): the control that shows the refusals
below are not a gateway refusing everything. Then, generated per source:

- ``forged``: signed with another secret; 401.
- ``reserialized``: signed, then the body re-serialized (JSON: keys sorted and
  re-indented; text formats: line ends changed): same content, other bytes; 401.
- ``stale`` / ``future``: a timestamp just beyond the ±5 minute tolerance (Standard
  Webhooks, the one scheme that signs a timestamp); 401.
- ``id_reused``: a captured webhook id, validly signed over another body (Standard
  Webhooks, the one scheme with a delivery id); 401.
- ``replayed``: the accepted request sent again byte for byte; answered 200
  "duplicate", never written again. (The vendor HMAC schemes sign neither a timestamp
  nor an id: within the gateway's memory, 24 h per process, an exact replay is this
  duplicate; beyond it, downstream ``event_id`` idempotency absorbs it.)
- ``no_secret``: the same valid delivery to the source configured without a secret; 401.

The cases are counted and the count asserted; the gateway's
``trackhub_webhook_signature_failures_total`` must have counted each 401 by reason, and
the raw log must hold exactly the accepted controls, once each.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import SignatureScheme
from connectors.registry import all_connectors
from hub.settings import Settings, SourceConfig
from hub.simulate.signing import signed_headers
from tests.load.raw_check import check_raw_log, raw_log_ends
from tests.load.traffic import LOAD_SECRET, Webhook, WebhookFactory, gateway_routes, load_sources
from tests.support.gateway_process import GatewayProcess

pytestmark = pytest.mark.integration  # a real broker and real processes

OTHER_SECRET = "whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3ItdGhlLW1hdHJpeC0zMmI="
TOLERANCE_S = 300
BEYOND_S = 5  # "just beyond": the tolerance plus a few seconds of request time


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict


@dataclass(frozen=True)
class Case:
    source: str
    kind: str
    status: int  # what the gateway answered
    expected: int


def post(base: str, webhook: Webhook, headers: dict[str, str] | None = None) -> Answer:
    request = urllib.request.Request(
        base + webhook.path, data=webhook.body, headers=headers or webhook.headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, json.loads(response.read()))
    except urllib.error.HTTPError as error:
        return Answer(error.code, json.loads(error.read()))


def reserialized(body: bytes, content_type: str) -> bytes:
    """The same content in other bytes, as a proxy or a careless sender would re-emit it."""
    if "json" in content_type:
        out = json.dumps(json.loads(body), sort_keys=True, indent=1).encode()
    else:
        text = body.decode()
        out = (
            text.replace("\r\n", "\n") if "\r\n" in text else text.replace("\n", "\r\n")
        ).encode()
        out = out if out != body else body + b"\n"
    assert out != body
    return out


def signed(
    fmt: str, secret: str, body: bytes, content_type: str, *, at: datetime, msg: str
) -> dict:
    return signed_headers(fmt, secret, body, message_id=msg, at=at) | {"Content-Type": content_type}


def failure_counts(base: str) -> Counter[tuple[str, str]]:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        page = response.read().decode()
    found: Counter[tuple[str, str]] = Counter()
    pattern = re.compile(
        r'^trackhub_webhook_signature_failures_total\{reason="([^"]+)",source="([^"]+)"\} (\S+)$'
    )
    for line in page.splitlines():
        match = pattern.match(line)
        if match:
            found[(match.group(2), match.group(1))] = int(float(match.group(3)))
    return found


@pytest.fixture(scope="module")
def gateway(kafka_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    sources = load_sources() | {
        f"closed-{c.name}": SourceConfig(format=c.name, secrets=[]) for c in all_connectors()
    }
    folder: Path = tmp_path_factory.mktemp("signature-matrix")
    process = GatewayProcess(kafka_env, folder, sources=sources).start()
    try:
        yield process.url
    finally:
        process.stop()


def test_every_source_refuses_every_inauthentic_delivery(
    gateway: str, kafka_settings: Settings
) -> None:
    routes = gateway_routes(kafka_settings.model_copy(update={"sources": load_sources()}))
    assert sorted(r.format for r in routes) == sorted(c.name for c in all_connectors())
    factory = WebhookFactory(routes, LOAD_SECRET)
    start = raw_log_ends(kafka_settings)
    before = failure_counts(gateway)
    cases: list[Case] = []
    accepted: list[str] = []

    def check(source: str, kind: str, answer: Answer, expected: int) -> None:
        cases.append(Case(source, kind, answer.status, expected))

    for n, route in enumerate(routes):
        valid = factory.make(1000 * n, route)
        now = datetime.now(UTC)
        control = post(gateway, valid)
        assert control.status == 202, (route.source, control.body)
        accepted.append(control.body["envelope_id"])

        again = post(gateway, valid)  # byte for byte, the same headers
        check(route.source, "replayed", again, 200)
        assert again.body.get("status") == "duplicate", again.body

        other = factory.make(1000 * n + 1, route)
        forged = signed(
            route.format,
            OTHER_SECRET,
            other.body,
            route.content_type,
            at=now,
            msg=f"msg_forged_{n}",
        )
        check(route.source, "forged", post(gateway, other, forged), 401)

        fresh = factory.make(1000 * n + 2, route)
        changed = reserialized(fresh.body, route.content_type)
        check(
            route.source,
            "reserialized",
            post(gateway, Webhook(fresh.path, changed, fresh.headers, fresh.source)),
            401,
        )

        closed = Webhook(f"/webhooks/closed-{route.format}", valid.body, valid.headers, "")
        check(route.source, "no_secret", post(gateway, closed), 401)

        if route.format in STANDARD_WEBHOOK_FORMATS:
            for kind, skew in (("stale", -1), ("future", 1)):
                late = factory.make(1000 * n + 3 + (skew > 0), route)
                at = now + timedelta(seconds=skew * (TOLERANCE_S + BEYOND_S))
                headers = signed(
                    route.format,
                    LOAD_SECRET,
                    late.body,
                    route.content_type,
                    at=at,
                    msg=f"msg_{kind}_{n}",
                )
                check(route.source, kind, post(gateway, late, headers), 401)
            reused = factory.make(1000 * n + 5, route)
            headers = signed(
                route.format,
                LOAD_SECRET,
                reused.body,
                route.content_type,
                at=datetime.now(UTC),
                msg=valid.headers["webhook-id"],
            )
            check(route.source, "id_reused", post(gateway, reused, headers), 401)
            within = factory.make(1000 * n + 6, route)  # inside the tolerance: passes
            at = datetime.now(UTC) - timedelta(seconds=TOLERANCE_S - 30)
            headers = signed(
                route.format,
                LOAD_SECRET,
                within.body,
                route.content_type,
                at=at,
                msg=f"msg_within_{n}",
            )
            inside = post(gateway, within, headers)
            assert inside.status == 202, (route.source, inside.body)
            accepted.append(inside.body["envelope_id"])

    kinds = Counter(case.kind for case in cases)
    sources, timestamped = len(routes), len(STANDARD_WEBHOOK_FORMATS)
    assert kinds == Counter(
        replayed=sources,
        forged=sources,
        reserialized=sources,
        no_secret=sources,
        stale=timestamped,
        future=timestamped,
        id_reused=timestamped,
    )
    assert len(cases) == 4 * 9 + 3 * 6 == 54
    wrong = [c for c in cases if c.status != c.expected]
    assert wrong == [], wrong
    print(f"{len(cases)} inauthentic deliveries over {sources} sources: 100% refused")

    grew = failure_counts(gateway) - before  # 401s by (source, reason), as the gateway counted
    expected_reasons: Counter[tuple[str, str]] = Counter()
    for case in cases:
        if case.kind != "replayed":
            source = (
                case.source.replace("load-", "closed-") if case.kind == "no_secret" else case.source
            )
            expected_reasons[(source, METRIC_REASON[case.kind])] += 1
    assert grew == expected_reasons
    raw = check_raw_log(kafka_settings, start, accepted)
    assert raw.lost == 0 and raw.duplicates == 0
    ours = [
        r for r in _sources_written(kafka_settings, start) if r.startswith(("load-", "closed-"))
    ]
    assert len(ours) == len(accepted), Counter(ours)


METRIC_REASON = {
    "forged": "mismatch",
    "reserialized": "mismatch",
    "stale": "stale",
    "future": "stale",
    "id_reused": "replayed",
    "no_secret": "no_secret",
}
STANDARD_WEBHOOK_FORMATS = frozenset(
    c.name for c in all_connectors() if c.signature is SignatureScheme.STANDARD_WEBHOOKS
)


def _sources_written(settings: Settings, start: dict) -> list[str]:
    from tests.support.kafka_reading import read_since

    return [json.loads(v)["source"] for v in read_since(settings, start)]
