"""Seller isolation probes derived from the API's route table (``hub.api.OPERATIONS``).

Every operation is probed with seller B's key against seller A's resources, chosen by the
shape of the route, so a new endpoint is covered without a new test:

- a path parameter (``{shipment_id}``, ``{alert_id}``, ``{subscription_id}``, any
  method) is filled with A's id: B must get 404 (or 403), and A's resource must be
  unchanged afterwards;
- a list (GET, no path parameter) must show B none of A's ids, also when a query
  parameter names one of them (``?shipment_id=<A's>``); A's own list is the control;
- the stream (``stream=True``) replays everything retained to B: none of A's alerts;
- a POST without path parameters is sent with a body that claims A's resource (the
  request model decides which, ``CLAIMS``): refused, and nothing of A's changed.

A route with a parameter, request model or method this module does not know fails the
test with its name, so isolation is decided for it before it ships.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from hub.api import OPERATIONS, Operation

PATH_PARAM = re.compile(r"{(\w+)}")
REFUSED = (403, 404)


@dataclass(frozen=True)
class Response:
    status: int
    text: str


@dataclass(frozen=True)
class SellerA:
    """What seller A owns, by the name of the parameter that addresses it."""

    ids: dict[str, str]  # path parameter name -> one of A's ids
    all_ids: set[str]  # every id of A's that must never show to B
    # request model name -> bodies that claim A's resource (each must be refused)
    claims: dict[str, list[Callable[[], dict]]]


def call(base: str, method: str, path: str, key: str, body: dict | None = None) -> Response:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {key}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return Response(answer.status, answer.read().decode())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.read().decode())


def read_stream(base: str, key: str, seconds: float) -> str:
    """What ``/v1/alerts/stream`` sends in ``seconds``, replaying all retained (id 0)."""
    request = urllib.request.Request(
        base + "/v1/alerts/stream",
        headers={"Authorization": f"Bearer {key}", "Last-Event-ID": "0"},
    )
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    # heartbeats (TRACKHUB_API_SSE_HEARTBEAT_S) keep lines coming, so this loop ends
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
        while time.monotonic() < deadline:
            line = answer.readline()
            if not line:
                break
            chunks.append(line)
    return b"".join(chunks).decode()


@dataclass(frozen=True)
class Probe:
    operation: str
    kind: str
    status: int
    leaked: list[str]
    ok: bool


def probe_operation(base: str, op: Operation, a: SellerA, key_a: str, key_b: str) -> Probe:
    params = PATH_PARAM.findall(op.path)
    if params:
        unknown = [p for p in params if p not in a.ids]
        assert not unknown, f"{op.operation_id}: no seller-A id for path parameter {unknown}"
        path = op.path.format(**{p: a.ids[p] for p in params})
        before = call(base, "GET", path, key_a) if op.method != "GET" else None
        body = _claims(op, a)[0] if op.request else None
        got = call(base, op.method, path, key_b, body=body)
        ok = got.status in REFUSED
        if before is not None:  # a write: A's resource must read back unchanged
            after = call(base, "GET", path, key_a)
            ok = ok and after.status == before.status == 200 and after.text == before.text
        asked = path + json.dumps(body)
        return Probe(op.operation_id, "by id", got.status, _leaks(got.text, a, asked), ok)
    if op.stream:
        text = read_stream(base, key_b, seconds=1.5)
        control = read_stream(base, key_a, seconds=1.5)
        ok = "event: alert" not in text and "event: alert" in control
        return Probe(op.operation_id, "stream", 200, _leaks(text, a), ok)
    if op.method == "GET":
        leaked: list[str] = []
        status = 0
        for query in ["", *(f"?{q.name}={a.ids[q.name]}" for q in op.query if q.name in a.ids)]:
            got = call(base, "GET", op.path + query, key_b)
            status = got.status
            leaked += _leaks(got.text, a)
            if got.status != 200:
                return Probe(op.operation_id, "list", got.status, leaked, False)
        return Probe(op.operation_id, "list", status, leaked, True)
    if op.method == "POST" and op.request is not None:
        bodies = _claims(op, a)
        answers = [call(base, "POST", op.path, key_b, body=body) for body in bodies]
        leaked = [value for got in answers for value in _leaks(got.text, a, json.dumps(bodies))]
        refused = all(got.status >= 400 for got in answers)
        return Probe(op.operation_id, "claim", answers[-1].status, leaked, refused)
    raise AssertionError(f"{op.operation_id}: no isolation probe for {op.method} {op.path}")


def _claims(op: Operation, a: SellerA) -> list[dict]:
    assert op.request is not None
    name = op.request.__name__
    assert a.claims.get(name), f"{op.operation_id}: no claim on seller A for request {name}"
    return [make() for make in a.claims[name]]


def _leaks(text: str, a: SellerA, asked: str = "") -> list[str]:
    """A's ids in an answer to B, except those B itself sent (an echo tells B nothing)."""
    return sorted(value for value in a.all_ids if value in text and value not in asked)


def every_operation() -> tuple[Operation, ...]:
    return OPERATIONS
