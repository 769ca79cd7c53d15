"""Fixture cases of the connectors: ``tests/fixtures/<format>/<case>.<ext>`` paired with
``<case>.expected.json``.

The expected file is either the list of normalized events (``model_dump(mode="json")``)
or, for bad input, ``{"error": "<ConnectorError subclass>", "message_contains": "..."}``.
A new connector adds fixtures, not test code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.events import RawEnvelope

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECEIVED_AT = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
CONTENT_TYPES = {
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".txt": "text/plain",
    ".fsu": "text/plain",
    ".edi": "application/edi-x12",
    ".x12": "application/edi-x12",
    ".xml": "application/xml",
}


@dataclass(frozen=True)
class ConnectorCase:
    connector: str
    name: str
    payload: Path
    expected_path: Path

    @property
    def id(self) -> str:
        return f"{self.connector}/{self.name}"

    def envelope(self) -> RawEnvelope:
        return RawEnvelope.from_body(
            body=self.payload.read_bytes(),
            source=self.connector,
            format=self.connector,
            reference=self.name,
            received_at=RECEIVED_AT,
            content_type=CONTENT_TYPES[self.payload.suffix],
            signature_verified=True,
        )

    def expected(self) -> Any:
        return json.loads(self.expected_path.read_text(encoding="utf-8"))


def connector_cases(connector: str | None = None) -> list[ConnectorCase]:
    cases = []
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        if connector is not None and folder.name != connector:
            continue
        for payload in sorted(folder.iterdir()):
            if payload.name.endswith(".expected.json") or payload.suffix not in CONTENT_TYPES:
                continue
            name = payload.name[: -len(payload.suffix)]
            expected = folder / f"{name}.expected.json"
            cases.append(ConnectorCase(folder.name, name, payload, expected))
    return cases
