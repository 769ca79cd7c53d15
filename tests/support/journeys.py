"""The journeys of ``tests/journeys/`` (see its README): loading, and arrival orders."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.offline import load_events, load_plans
from schemas.events import TrackingEvent
from schemas.shipments import ShipmentPlan

JOURNEYS = Path(__file__).resolve().parents[1] / "journeys"
FIELDS = (
    "type",
    "rule",
    "state",
    "shipment_id",
    "leg",
    "from_leg",
    "to_leg",
    "party_role",
    "party_id",
    "opened_at",
    "resolved_at",
)


@dataclass(frozen=True)
class Journey:
    name: str
    folder: Path

    @property
    def plans_path(self) -> Path:
        return self.folder / "plans.json"

    @property
    def events_path(self) -> Path:
        return self.folder / "events.jsonl"

    def plans(self) -> list[ShipmentPlan]:
        return load_plans(self.plans_path)

    def events(self) -> list[TrackingEvent]:
        return load_events(self.events_path)

    def now_text(self) -> str:
        return (self.folder / "now.txt").read_text(encoding="utf-8").strip()

    def now(self) -> datetime:
        return aware(self.now_text())

    def expected(self) -> list[dict[str, Any]]:
        rows = json.loads((self.folder / "expected_alerts.json").read_text(encoding="utf-8"))
        for row in rows:
            assert tuple(sorted(row)) == tuple(sorted(FIELDS)), f"{self.name}: fields of {row}"
        return rows


def load_journeys() -> list[Journey]:
    folders = sorted(p for p in JOURNEYS.iterdir() if (p / "plans.json").is_file())
    return [Journey(folder.name, folder) for folder in folders]


def aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, f"{text!r} has no UTC offset"
    return moment


def arrivals(journey: Journey, seed: int, lateness: timedelta) -> list[tuple[datetime, Any]]:
    """Plans at their registration, events at occurred_at plus a random delay below the
    allowed lateness: an event may come after one that happened up to ``lateness`` later."""
    rng = random.Random(f"stream:{journey.name}:{seed}")
    limit = int(lateness.total_seconds())
    items: list[tuple[datetime, int, int, Any]] = [
        (plan.registered_at, 0, n, plan) for n, plan in enumerate(journey.plans())
    ]
    items += [
        (event.occurred_at + timedelta(seconds=rng.randrange(limit)), 1, n, event)
        for n, event in enumerate(journey.events())
    ]
    items.sort(key=lambda item: (item[0].astimezone(UTC), item[1], item[2]))
    return [(at, item) for at, _, _, item in items]
