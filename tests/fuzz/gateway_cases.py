"""Requests to fuzz the gateway with, case ``i`` of seed ``s`` always the same.

Kinds: validly signed deliveries of fuzzed bodies (every format, from ``corpus``); bad,
missing or stale signatures; wrong, missing or garbage content types; oversized bodies
(declared or chunked); unknown and closed sources; random extra headers; bodies shorter
than their Content-Length and raw header bytes (sent over a bare socket); wrong methods.
Each request says which answers are right for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from random import Random

from standardwebhooks.webhooks import Webhook

from connectors.base import SignatureScheme
from connectors.registry import get_connector
from hub.settings import SourceConfig
from tests.fuzz.corpus import mutation_case
from tests.fuzz.seeds import FORMATS
from tests.support.signing import SECRET

GATEWAY_LIMIT = 64 * 1024  # the fuzzed gateway's TRACKHUB_GATEWAY_MAX_BODY_BYTES
PLAIN_SECRET = "fuzz-plain-secret-0123456789"
CLOSED_SOURCE = "fz-closed"
KIND_WEIGHTS = {
    "signed": 45,
    "bad_signature": 12,
    "content_type": 8,
    "oversized": 5,
    "unknown_source": 4,
    "closed_source": 3,
    "extra_headers": 10,
    "truncated_raw": 5,
    "raw_header_bytes": 4,
    "wrong_method": 4,
}


@dataclass(frozen=True)
class GatewayRequest:
    index: int
    kind: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    expected: frozenset[int]  # the answers that are right for this request
    source: str = ""
    chunked: bool = False
    raw: bytes | None = None  # sent byte for byte over a socket instead


def source_name(format_name: str) -> str:
    return f"fz-{format_name}".replace("_", "-")


def fuzz_sources() -> dict[str, SourceConfig]:
    """One signed source per format, plus one without a secret (it must refuse all)."""
    sources = {}
    for format_name in FORMATS:
        scheme = get_connector(format_name).signature
        secret = SECRET if scheme is SignatureScheme.STANDARD_WEBHOOKS else PLAIN_SECRET
        sources[source_name(format_name)] = SourceConfig(format=format_name, secrets=[secret])
    sources[CLOSED_SOURCE] = SourceConfig(format="native", secrets=[])
    return sources


def signature_headers(
    scheme: SignatureScheme, body: bytes, webhook_id: str, at: datetime
) -> dict[str, str]:
    """Headers a real sender of this scheme puts on ``body`` (signed over its bytes)."""
    if scheme is SignatureScheme.STANDARD_WEBHOOKS:
        return {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(SECRET).sign(webhook_id, at, body),
        }
    key = PLAIN_SECRET.encode()
    if scheme is SignatureScheme.EASYPOST:
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        return {"X-Hmac-Signature": f"hmac-sha256-hex={digest}"}
    if scheme is SignatureScheme.AFTERSHIP:
        digest = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        return {"aftership-hmac-sha256": digest}
    return {"sign": hashlib.sha256(body + b"/" + key).hexdigest()}


def _spoil(rng: Random, headers: dict[str, str]) -> dict[str, str]:
    """The signature made wrong: a flipped character, removed, stale, or garbage."""
    spoiled = dict(headers)
    name = next(n for n in spoiled if n.lower() in ("webhook-signature", "x-hmac-signature",
                                                    "aftership-hmac-sha256", "sign"))  # fmt: skip
    choice = rng.randrange(5)
    if choice == 0:
        value = spoiled[name]
        at = rng.randrange(len(value))
        # a character that differs even where case does not count (hex signatures)
        spoiled[name] = value[:at] + ("Z" if value[at] not in "Zz" else "Y") + value[at + 1 :]
    elif choice == 1:
        del spoiled[name]
    elif choice == 2 and "webhook-timestamp" in spoiled:
        spoiled["webhook-timestamp"] = rng.choice(("0", "-1", "99999999999999", "abc", "1e9", " "))
    elif choice == 3:
        spoiled[name] = rng.choice(("", " ", "v1,", "v2,abc", "hmac-sha256-hex=", "x" * 3000))
    else:
        spoiled[name] = "".join(rng.choice(string.printable.strip()) for _ in range(44))
    if not spoiled.get(name, "x").strip():
        del spoiled[name]  # a blank header value cannot be sent; it is a missing one
    return spoiled


def _content_type(rng: Random, format_name: str) -> str:
    """An accepted content type as senders write it: case, parameters, spacing."""
    base = rng.choice(sorted(get_connector(format_name).content_types))
    return rng.choice((base, base.upper(), f"{base}; charset=utf-8", f" {base} ;charset=latin-1"))


def _random_text(rng: Random, size: int, alphabet: str = string.printable.strip()) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


def gateway_request(seed: int, index: int, now: datetime | None = None) -> GatewayRequest:
    """Request ``index`` of seed ``seed``; signatures are made for ``now`` (wall clock)."""
    rng = Random(f"gateway/{seed}/{index}")
    now = now or datetime.now(UTC)
    kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
    format_name = rng.choice(FORMATS)
    source = source_name(format_name)
    scheme = get_connector(format_name).signature
    body = mutation_case(format_name, seed, index).body[: GATEWAY_LIMIT + 1024]
    if kind == "oversized":
        body = body * (GATEWAY_LIMIT // max(len(body), 1) + 1) + b" " * (GATEWAY_LIMIT + 1)
    webhook_id = f"msg_fz_{seed}_{index}"
    headers = {"Content-Type": _content_type(rng, format_name)}
    headers |= signature_headers(scheme, body, webhook_id, now)
    fits = len(body) <= GATEWAY_LIMIT
    ok = frozenset({202, 200}) if fits else frozenset({413})
    path = f"/webhooks/{source}"
    make = GatewayRequest
    if kind in ("signed", "oversized"):
        return make(index, kind, "POST", path, headers, body, ok, source, rng.random() < 0.3)
    if kind == "bad_signature":
        spoiled = _spoil(rng, headers)
        return make(index, kind, "POST", path, spoiled, body, frozenset({401} if fits else {413}))
    if kind == "content_type":
        wrong = rng.choice(("", "text/html", "application/xml", "*/*", "application/jsonx",
                            "multipart/form-data; boundary=x", _random_text(rng, 30)))  # fmt: skip
        if get_connector(format_name).accepts(wrong):
            wrong = "image/png"
        headers = {k: v for k, v in headers.items() if k != "Content-Type"}
        if wrong:
            headers["Content-Type"] = wrong
        return make(index, kind, "POST", path, headers, body, frozenset({415}))
    if kind == "unknown_source":
        name = rng.choice(("nope", "FZ-NATIVE", "fz-native ", "%00", "..", "a" * 300, "é"))
        return make(index, kind, "POST", f"/webhooks/{name}", headers, body, frozenset({404}))
    if kind == "closed_source":
        return make(index, kind, "POST", f"/webhooks/{CLOSED_SOURCE}", headers, body,
                    frozenset({401}))  # fmt: skip
    if kind == "extra_headers":
        extra = {
            f"x-fz-{_random_text(rng, rng.randint(1, 20), string.ascii_lowercase + '-_')}": (
                _random_text(rng, rng.randint(0, 2000))
            )
            for _ in range(rng.randint(1, 70))
        }
        extra["X-Request-Id"] = _random_text(rng, rng.randint(1, 500))
        return make(index, kind, "POST", path, extra | headers, body, ok, source)
    if kind == "wrong_method":
        method = rng.choice(("GET", "PUT", "DELETE", "PATCH"))
        return make(index, kind, method, path, headers, body, frozenset({405}))
    return _raw_request(rng, kind, index, path, headers, body, source, ok)


def _raw_request(
    rng: Random,
    kind: str,
    index: int,
    path: str,
    headers: dict[str, str],
    body: bytes,
    source: str,
    ok: frozenset[int],
) -> GatewayRequest:
    """A request written byte for byte: a body cut short of its Content-Length, or header
    values holding bytes no client library would send (Latin-1, UTF-8, control)."""
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: fuzz", b"Connection: close"]
    lines += [f"{name}: {value}".encode() for name, value in headers.items()]
    if kind == "truncated_raw":
        declared = len(body) + rng.randint(1, 4096)
        lines.append(f"Content-Length: {declared}".encode())
        cut = body[: rng.randint(0, len(body))]
        raw = b"\r\n".join(lines) + b"\r\n\r\n" + cut
        # the sender half-closes mid-body: the gateway may see the connection lost (no
        # answer, nothing written) or answer 400 first; over the limit it is 413 first
        expected = frozenset({0, 400}) if declared <= GATEWAY_LIMIT else frozenset({0, 413})
        return GatewayRequest(index, kind, "POST", path, headers, cut, expected, raw=raw)
    odd = rng.choice((b"caf\xe9", b"\xc3\xa9t\xc3\xa9", b"\xff\xfe", b"a\x01b", b"\x7f", b"\x80"))
    lines.append(b"X-Fz-Odd: " + odd)
    lines.append(f"Content-Length: {len(body)}".encode())
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
    # an HTTP parser may refuse such a header line outright (400) or pass it on
    return GatewayRequest(index, kind, "POST", path, headers, body, ok | {400}, source, raw=raw)
