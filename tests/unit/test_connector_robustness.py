"""No mapper crashes: every input gives events or a typed ``ConnectorError``.

A seeded, modest number of examples per CI run; the fuzz benchmark runs far more.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import ConnectorError
from connectors.registry import connector_names, get_connector
from schemas.events import RawEnvelope, TrackingEvent
from tests.connector_cases import RECEIVED_AT, connector_cases

EXAMPLES = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=6)
    ),
    max_leaves=40,
)


def _parse_or_typed_error(name: str, body: bytes) -> None:
    connector = get_connector(name)
    raw = RawEnvelope.from_body(
        body=body,
        source=name,
        format=name,
        reference="fuzz",
        received_at=RECEIVED_AT,
        content_type=sorted(connector.content_types)[0],
        signature_verified=True,
    )
    try:
        events = connector.parse(raw)
    except ConnectorError as exc:
        assert str(exc), "a typed error must say what is wrong"
        return
    assert isinstance(events, list)
    assert all(isinstance(e, TrackingEvent) for e in events)


@pytest.mark.parametrize("name", connector_names())
@EXAMPLES
@given(body=st.binary(max_size=3000))
def test_arbitrary_bytes(name: str, body: bytes) -> None:
    _parse_or_typed_error(name, body)


@pytest.mark.parametrize("name", connector_names())
@EXAMPLES
@given(value=json_values)
def test_arbitrary_json(name: str, value: object) -> None:
    _parse_or_typed_error(name, json.dumps(value).encode())


@pytest.mark.parametrize("name", connector_names())
@EXAMPLES
@given(data=st.data())
def test_damaged_real_payloads(name: str, data: st.DataObject) -> None:
    cases = connector_cases(name)
    if not cases:
        pytest.fail(f"no fixtures for {name}")
    body = bytearray(data.draw(st.sampled_from(cases)).payload.read_bytes())
    for _ in range(data.draw(st.integers(0, 4))):
        position = data.draw(st.integers(0, max(len(body) - 1, 0)))
        if body:
            body[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    _parse_or_typed_error(name, bytes(body[:cut]))
