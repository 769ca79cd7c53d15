"""Webhook signature verification: every scheme accepts what its sender signs and nothing else.

Test signatures are computed here independently of connectors/signatures.py (the hmac and
hashlib modules as each vendor documents its scheme; the ``standardwebhooks`` package's
own ``sign`` for Standard Webhooks), so a wrong verifier fails these tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from connectors.base import SignatureScheme
from connectors.signatures import SignatureError, verify_signature

BODY = (
    b'{"event": "tracking_update", "msg": {"tracking_number": "LB123456785CN", "tag": "InTransit"}}'
)
RESERIALIZED = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
SECRET = "s3cr\u00e9t-\u2460-current"  # non-ASCII: NFKD matters for EasyPost
OLD_SECRET = "previous-secret-still-valid"
WRONG_SECRET = "not-the-secret"


def easypost_headers(body: bytes, secret: str) -> dict[str, str]:
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return {"x-hmac-signature": "hmac-sha256-hex=" + hmac.new(key, body, "sha256").hexdigest()}


def aftership_headers(body: bytes, secret: str) -> dict[str, str]:
    digest = hmac.new(secret.encode("utf-8"), body, "sha256").digest()
    return {"aftership-hmac-sha256": base64.b64encode(digest).decode("ascii")}


def seventeen_track_headers(body: bytes, secret: str) -> dict[str, str]:
    return {"sign": hashlib.sha256(body + b"/" + secret.encode("utf-8")).hexdigest()}


Signer = Callable[[bytes, str], dict[str, str]]
HMAC_SCHEMES: list[tuple[SignatureScheme, Signer, str]] = [
    (SignatureScheme.EASYPOST, easypost_headers, "x-hmac-signature"),
    (SignatureScheme.AFTERSHIP, aftership_headers, "aftership-hmac-sha256"),
    (SignatureScheme.SEVENTEEN_TRACK, seventeen_track_headers, "sign"),
]
NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def _reason(
    scheme: SignatureScheme, secrets: list[str], headers: dict[str, str], body: bytes
) -> str:
    with pytest.raises(SignatureError) as info:
        verify_signature(scheme, secrets, headers, body, NOW)
    reason = info.value.reason
    assert str(info.value) == reason
    for secret in (SECRET, OLD_SECRET, WRONG_SECRET):
        assert secret not in reason
    for value in headers.values():
        assert value not in reason or len(value) < 8  # never echo a signature
    return reason


# --- the three vendor schemes ------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "sign", "header"), HMAC_SCHEMES)
def test_valid_signature_passes_and_has_no_delivery_id(
    scheme: SignatureScheme, sign: Signer, header: str
) -> None:
    assert verify_signature(scheme, [SECRET], sign(BODY, SECRET), BODY, NOW) is None


@pytest.mark.parametrize(("scheme", "sign", "header"), HMAC_SCHEMES)
def test_rotation_second_secret_passes(scheme: SignatureScheme, sign: Signer, header: str) -> None:
    headers = sign(BODY, OLD_SECRET)
    assert verify_signature(scheme, [SECRET, OLD_SECRET], headers, BODY, NOW) is None


@pytest.mark.parametrize(("scheme", "sign", "header"), HMAC_SCHEMES)
def test_forged_signature_fails(scheme: SignatureScheme, sign: Signer, header: str) -> None:
    forged = sign(BODY, WRONG_SECRET)
    assert _reason(scheme, [SECRET, OLD_SECRET], forged, BODY) == "signature mismatch"


@pytest.mark.parametrize(("scheme", "sign", "header"), HMAC_SCHEMES)
def test_tampered_or_reserialized_body_fails(
    scheme: SignatureScheme, sign: Signer, header: str
) -> None:
    headers = sign(BODY, SECRET)
    assert RESERIALIZED != BODY
    assert _reason(scheme, [SECRET], headers, RESERIALIZED) == "signature mismatch"
    assert _reason(scheme, [SECRET], headers, BODY.replace(b"InTransit", b"Delivered")) == (
        "signature mismatch"
    )


@pytest.mark.parametrize(("scheme", "sign", "header"), HMAC_SCHEMES)
def test_missing_or_empty_header_fails(scheme: SignatureScheme, sign: Signer, header: str) -> None:
    assert "missing" in _reason(scheme, [SECRET], {}, BODY)
    assert "missing" in _reason(scheme, [SECRET], {header: "  "}, BODY)


@pytest.mark.parametrize(("scheme", "sign", "header"), HMAC_SCHEMES)
@pytest.mark.parametrize("secrets", [[], [""]])
def test_no_secret_fails_closed(
    scheme: SignatureScheme, sign: Signer, header: str, secrets: list[str]
) -> None:
    headers = sign(BODY, "")
    assert _reason(scheme, secrets, headers, BODY) == "no secret configured"


@pytest.mark.parametrize(("scheme", "sign", "header"), HMAC_SCHEMES)
def test_header_names_are_case_insensitive(
    scheme: SignatureScheme, sign: Signer, header: str
) -> None:
    headers = {name.upper(): value for name, value in sign(BODY, SECRET).items()}
    assert verify_signature(scheme, [SECRET], headers, BODY, NOW) is None


def test_easypost_needs_its_prefix_and_nfkd_secret() -> None:
    digest = easypost_headers(BODY, SECRET)["x-hmac-signature"].split("=", 1)[1]
    assert _reason(SignatureScheme.EASYPOST, [SECRET], {"x-hmac-signature": digest}, BODY) == (
        "malformed X-Hmac-Signature header"
    )
    unnormalized = hmac.new(SECRET.encode("utf-8"), BODY, "sha256").hexdigest()
    assert unnormalized != digest  # the secret really changes under NFKD
    headers = {"x-hmac-signature": "hmac-sha256-hex=" + unnormalized}
    assert _reason(SignatureScheme.EASYPOST, [SECRET], headers, BODY) == "signature mismatch"
    upper = {"x-hmac-signature": "hmac-sha256-hex=" + digest.upper()}
    assert verify_signature(SignatureScheme.EASYPOST, [SECRET], upper, BODY, NOW) is None


def test_seventeen_track_is_a_plain_hash_not_an_hmac() -> None:
    as_hmac = hmac.new(SECRET.encode(), BODY, "sha256").hexdigest()
    assert _reason(SignatureScheme.SEVENTEEN_TRACK, [SECRET], {"sign": as_hmac}, BODY) == (
        "signature mismatch"
    )


# --- Standard Webhooks -------------------------------------------------------------------

SW_SECRET = "whsec_" + base64.b64encode(b"trackhub-unit-secret-0123456789ab").decode()
SW_OLD_SECRET = "whsec_" + base64.b64encode(b"trackhub-unit-rotated-9876543210").decode()
SW_WRONG = "whsec_" + base64.b64encode(b"somebody-else-entirely-000000000").decode()
STANDARD = SignatureScheme.STANDARD_WEBHOOKS


def sw_headers(
    body: bytes, secret: str, at: datetime, webhook_id: str = "msg_2Lh9Kx0001"
) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body.decode("utf-8")),
    }


def _wall_now() -> datetime:
    # the package checks the timestamp against the wall clock too, so "now" is real here
    return datetime.now(UTC).replace(microsecond=0)


def _sw_reason(secrets: list[str], headers: dict[str, str], body: bytes, now: datetime) -> str:
    with pytest.raises(SignatureError) as info:
        verify_signature(STANDARD, secrets, headers, body, now)
    reason = info.value.reason
    for secret in (SW_SECRET, SW_OLD_SECRET, SW_WRONG):
        assert secret not in reason and secret.removeprefix("whsec_") not in reason
    assert headers.get("webhook-signature", "\0") not in reason
    return reason


def test_standard_webhooks_valid_returns_the_webhook_id() -> None:
    now = _wall_now()
    headers = sw_headers(BODY, SW_SECRET, now, webhook_id="msg_unique_42")
    assert verify_signature(STANDARD, [SW_SECRET], headers, BODY, now) == "msg_unique_42"


def test_standard_webhooks_rotation_second_secret_passes() -> None:
    now = _wall_now()
    headers = sw_headers(BODY, SW_OLD_SECRET, now)
    assert verify_signature(STANDARD, [SW_SECRET, SW_OLD_SECRET], headers, BODY, now)


def test_standard_webhooks_multiple_signatures_any_valid_one_passes() -> None:
    now = _wall_now()
    good = sw_headers(BODY, SW_OLD_SECRET, now)
    other = sw_headers(BODY, SW_WRONG, now)["webhook-signature"]
    headers = {**good, "webhook-signature": f"{other}  v2,ignored {good['webhook-signature']}"}
    assert verify_signature(STANDARD, [SW_SECRET, SW_OLD_SECRET], headers, BODY, now)
    only_wrong = {**good, "webhook-signature": f"{other} v2,ignored"}
    assert _sw_reason([SW_SECRET, SW_OLD_SECRET], only_wrong, BODY, now) == "signature mismatch"


def test_standard_webhooks_forged_and_reserialized_fail() -> None:
    now = _wall_now()
    assert _sw_reason([SW_SECRET], sw_headers(BODY, SW_WRONG, now), BODY, now) == (
        "signature mismatch"
    )
    headers = sw_headers(BODY, SW_SECRET, now)
    assert _sw_reason([SW_SECRET], headers, RESERIALIZED, now) == "signature mismatch"
    other_id = {**headers, "webhook-id": "msg_replayed_under_another_id"}
    assert _sw_reason([SW_SECRET], other_id, BODY, now) == "signature mismatch"


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_webhooks_missing_header_fails(header: str) -> None:
    now = _wall_now()
    headers = sw_headers(BODY, SW_SECRET, now)
    del headers[header]
    assert _sw_reason([SW_SECRET], headers, BODY, now) == f"missing {header} header"


def test_standard_webhooks_no_secret_fails_closed() -> None:
    now = _wall_now()
    headers = sw_headers(BODY, SW_SECRET, now)
    assert _sw_reason([], headers, BODY, now) == "no secret configured"


@pytest.mark.parametrize("skew", [timedelta(minutes=5, seconds=30), timedelta(hours=3)])
def test_standard_webhooks_stale_and_future_timestamps_fail(skew: timedelta) -> None:
    now = _wall_now()
    stale = sw_headers(BODY, SW_SECRET, now - skew)
    future = sw_headers(BODY, SW_SECRET, now + skew)
    assert _sw_reason([SW_SECRET], stale, BODY, now) == "timestamp outside tolerance"
    assert _sw_reason([SW_SECRET], future, BODY, now) == "timestamp outside tolerance"


def test_standard_webhooks_within_tolerance_passes() -> None:
    now = _wall_now()
    headers = sw_headers(BODY, SW_SECRET, now - timedelta(minutes=4))
    assert verify_signature(STANDARD, [SW_SECRET], headers, BODY, now)


def test_standard_webhooks_checks_the_given_now_not_only_the_wall_clock() -> None:
    wall = _wall_now()
    headers = sw_headers(BODY, SW_SECRET, wall)  # fresh for the wall clock
    later = wall + timedelta(minutes=10)
    assert _sw_reason([SW_SECRET], headers, BODY, later) == "timestamp outside tolerance"
    # and a timestamp fresh for an injected clock but stale in wall time still fails closed
    past = wall - timedelta(hours=1)
    old = sw_headers(BODY, SW_SECRET, past)
    assert _sw_reason([SW_SECRET], old, BODY, past) == "timestamp outside tolerance"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("webhook-timestamp", "1772424000.5", "malformed webhook-timestamp header"),
        ("webhook-timestamp", "nan", "malformed webhook-timestamp header"),
        ("webhook-timestamp", "-60", "malformed webhook-timestamp header"),
        ("webhook-signature", "v1", "malformed webhook-signature header"),
        ("webhook-signature", "v1,not base64!", "malformed webhook-signature header"),
        ("webhook-id", "x" * 201, "webhook-id header too long"),
    ],
)
def test_standard_webhooks_malformed_headers_fail(field: str, value: str, reason: str) -> None:
    now = _wall_now()
    headers = {**sw_headers(BODY, SW_SECRET, now), field: value}
    assert _sw_reason([SW_SECRET], headers, BODY, now) == reason


def test_standard_webhooks_invalid_configured_secret_fails_closed() -> None:
    now = _wall_now()
    headers = sw_headers(BODY, SW_SECRET, now)
    assert _sw_reason(["whsec_@@@@"], headers, BODY, now) == (
        "configured secret is not a valid whsec_ key"
    )


def test_standard_webhooks_non_utf8_body_is_verified_byte_for_byte() -> None:
    """A body that is not UTF-8 (a Latin-1 X12 interchange) signed over its bytes is
    authentic: accepted, for the mapper to judge; the same bytes unsigned are not."""
    now = _wall_now()
    latin1 = "ISA*00*CAF\xc9*".encode("latin-1") + b"\xff\xfe"
    headers = {
        "webhook-id": "msg_latin1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SW_SECRET).sign("msg_latin1", now, latin1),
    }
    assert verify_signature(SignatureScheme.STANDARD_WEBHOOKS, [SW_SECRET], headers, latin1, now)
    assert _sw_reason([SW_SECRET], sw_headers(BODY, SW_SECRET, now), b"\xff" + BODY, now) == (
        "signature mismatch"
    )


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        naive = datetime(2026, 3, 2, 4, 0)  # no tzinfo: the point of the test
        verify_signature(
            SignatureScheme.AFTERSHIP, [SECRET], aftership_headers(BODY, SECRET), BODY, naive
        )
