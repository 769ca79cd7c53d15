"""What a detector reports: one thing wrong with a shipment, and since when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.alerts import AlertType, Evidence, HandoffRef, Severity
from schemas.common import Party
from schemas.shipments import Leg


@dataclass(frozen=True, slots=True)
class Condition:
    type: AlertType
    rule: str
    since: datetime  # event time at which it became true: the alert's opened_at
    summary: str
    party: Party | None = None
    leg: Leg | None = None
    handoff: HandoffRef | None = None
    severity: Severity = Severity.WARNING
    deadline_at: datetime | None = None
    evidence: tuple[Evidence, ...] = ()


def when(moment: datetime) -> str:
    """A deadline as people read it in a summary (ISO, minutes, with its offset)."""
    return moment.isoformat(timespec="minutes")
