"""Offline detection over files, on the same engine as the streaming workers.

Plans: a JSON array, one JSON object, or JSON lines of ``ShipmentPlan``. Events: JSON
lines of ``TrackingEvent`` in any order (they are taken in event-time order, which is
what the stream converges to within its allowed lateness). The clock is then advanced to
``now`` (default: the latest event time) and the final state of every alert is returned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub.engine import Engine, EngineConfig
from schemas.alerts import Alert
from schemas.events import TrackingEvent
from schemas.shipments import ShipmentPlan


class InputFileError(ValueError):
    """A plans or events file that cannot be read; says which file, line and why."""


@dataclass(frozen=True, slots=True)
class OfflineResult:
    alerts: list[Alert]
    engine: Engine


def load_plans(path: Path) -> list[ShipmentPlan]:
    text = _read(path)
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
        return [_plan(path, f"item {i}", item) for i, item in enumerate(items)]
    if stripped.startswith("{") and "\n{" not in stripped:
        try:
            return [_plan(path, "document", json.loads(text))]
        except json.JSONDecodeError:
            pass  # JSON lines whose first object spans one line
    return [_plan(path, f"line {n}", item) for n, item in _json_lines(path, text)]


def load_events(path: Path) -> list[TrackingEvent]:
    events = []
    for number, item in _json_lines(path, _read(path)):
        try:
            events.append(TrackingEvent.model_validate(item))
        except ValidationError as exc:
            raise InputFileError(f"{path} line {number}: {_first_error(exc)}") from None
    return events


def run_offline(
    plans: Iterable[ShipmentPlan],
    events: Iterable[TrackingEvent],
    *,
    now: datetime | None = None,
    config: EngineConfig | None = None,
) -> OfflineResult:
    engine = Engine(config or EngineConfig())
    for plan in plans:
        engine.add_plan(plan)
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    for event in ordered:
        engine.add_event(event)
    end = now or (max((e.occurred_at for e in ordered), default=None))
    if end is not None:
        engine.advance_to(end)
    return OfflineResult(alerts=engine.final_alerts(), engine=engine)


def alert_row(alert: Alert) -> dict[str, Any]:
    """The flat JSON line ``trackhub detect`` prints for one alert."""
    return {
        "alert_id": alert.alert_id,
        "type": alert.type.value,
        "rule": alert.rule,
        "state": alert.state.value,
        "revision": alert.revision,
        "shipment_id": alert.shipment_id,
        "seller_id": alert.seller_id,
        "leg": alert.leg.value if alert.leg else None,
        "from_leg": alert.handoff.from_leg.value if alert.handoff else None,
        "to_leg": alert.handoff.to_leg.value if alert.handoff else None,
        "party_role": alert.party.role.value if alert.party else None,
        "party_id": alert.party.id if alert.party else None,
        "severity": alert.severity.value,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "reason": alert.summary,
    }


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read {path}: {exc}") from None


def _json_lines(path: Path, text: str) -> Iterable[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path} line {number}: not JSON: {exc.msg}") from None


def _plan(path: Path, where: str, item: Any) -> ShipmentPlan:
    try:
        return ShipmentPlan.model_validate(item)
    except ValidationError as exc:
        raise InputFileError(f"{path} {where}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "value"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"
