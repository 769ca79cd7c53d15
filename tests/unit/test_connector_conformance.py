"""Every connector against its recorded payloads: one parametrized test for all formats.

To (re)write an expected file after a deliberate mapping change, run with
``TRACKHUB_UPDATE_FIXTURES=1`` and read the diff line by line before committing it.
"""

from __future__ import annotations

import json
import os

import pytest

from connectors.base import ConnectorError
from connectors.registry import connector_names, get_connector
from schemas.events import TrackingEvent
from tests.connector_cases import FIXTURES, ConnectorCase, connector_cases

CASES = connector_cases()
UPDATE = os.environ.get("TRACKHUB_UPDATE_FIXTURES") == "1"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_connector_matches_fixture(case: ConnectorCase) -> None:
    connector = get_connector(case.connector)
    raw = case.envelope()
    if UPDATE and not (case.expected_path.exists() and "error" in case.expected()):
        events = connector.parse(raw)
        case.expected_path.write_text(
            json.dumps([e.model_dump(mode="json") for e in events], indent=2, ensure_ascii=False)
            + "\n",
            encoding="utf-8",
        )
    assert case.expected_path.exists(), f"missing {case.expected_path.name}"
    expected = case.expected()
    if isinstance(expected, dict):
        with pytest.raises(ConnectorError) as info:
            connector.parse(raw)
        assert info.value.error_type == expected["error"]
        assert expected["message_contains"] in str(info.value)
        return
    events = connector.parse(raw)
    assert all(isinstance(e, TrackingEvent) for e in events)
    assert [e.model_dump(mode="json") for e in events] == expected
    for event in events:
        assert event.raw_id == raw.envelope_id
        assert event.received_at == raw.received_at


@pytest.mark.parametrize("name", connector_names())
def test_every_connector_has_enough_cases(name: str) -> None:
    cases = connector_cases(name)
    if not (FIXTURES / name).is_dir():
        pytest.fail(f"no fixtures for {name} in {FIXTURES / name}")
    errors = [c for c in cases if c.expected_path.exists() and isinstance(c.expected(), dict)]
    assert len(cases) >= 5, f"{name} has {len(cases)} cases, wants at least 5"
    assert errors, f"{name} has no malformed-payload case"
    assert len(cases) - len(errors) >= 3, f"{name} needs more successful cases"
