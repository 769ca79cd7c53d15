"""Alerts: stateful objects (open -> updated -> resolved) with deterministic ids.

The same condition on the same shipment always has the same ``alert_id``, so detectors
can re-run (replays, restarts, duplicates) without ever firing an alert twice. Each state
change bumps ``revision``; ``delivery_id`` (alert id + revision) is what receivers use to
deduplicate deliveries (the Standard Webhooks ``webhook-id``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from schemas.common import SCHEMA_VERSION, Party, ShortStr, StrictModel, stable_id
from schemas.milestones import Milestone
from schemas.shipments import EntityId, Leg


class AlertType(StrEnum):
    DELAY = "delay"
    ETA_SLIP = "eta_slip"
    STALL = "stall"
    HANDOFF_GAP = "handoff_gap"
    RESPONSIBILITY_BREACH = "responsibility_breach"
    EXCEPTION = "exception"


class AlertState(StrEnum):
    OPEN = "open"
    UPDATED = "updated"
    RESOLVED = "resolved"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class HandoffRef(StrictModel):
    from_leg: Leg
    to_leg: Leg


class Evidence(StrictModel):
    """One fact behind an alert: an event we saw, or a deadline that passed."""

    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    event_id: Annotated[str, StringConstraints(pattern=r"^evt_[0-9a-f]{32}$")] | None = None
    milestone: Milestone | None = None
    occurred_at: AwareDatetime | None = None


RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


def compute_alert_id(
    shipment_id: str,
    alert_type: AlertType,
    rule: str,
    leg: Leg | None,
    handoff: HandoffRef | None,
) -> str:
    """The alert's identity: one alert per (shipment, type, rule, leg or handoff)."""
    handoff_key = f"{handoff.from_leg.value}>{handoff.to_leg.value}" if handoff else None
    return stable_id(
        "alt", shipment_id, alert_type.value, rule, leg.value if leg else None, handoff_key
    )


class Alert(StrictModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    alert_id: Annotated[str, StringConstraints(pattern=r"^alt_[0-9a-f]{32}$")] = Field(
        default="", validate_default=False
    )
    type: AlertType
    rule: RuleName = Field(description="The detector rule, e.g. 'leg_sla' or 'promise'")
    state: AlertState
    revision: Annotated[int, Field(ge=1)] = 1
    severity: Severity = Severity.WARNING
    shipment_id: EntityId
    seller_id: EntityId
    party: Party | None = Field(
        default=None, description="The party attributed: who held custody or answers for it"
    )
    leg: Leg | None = None
    handoff: HandoffRef | None = None
    summary: ShortStr
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)
    deadline_at: AwareDatetime | None = Field(
        default=None, description="The deadline whose passing raised the alert, if any"
    )
    opened_at: AwareDatetime
    updated_at: AwareDatetime
    resolved_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.state is AlertState.RESOLVED) != (self.resolved_at is not None):
            raise ValueError("resolved_at is set exactly when state is 'resolved'")
        if self.updated_at < self.opened_at:
            raise ValueError("updated_at is before opened_at")
        if self.leg is not None and self.handoff is not None:
            raise ValueError("an alert concerns a leg or a handoff, not both")
        expected = compute_alert_id(self.shipment_id, self.type, self.rule, self.leg, self.handoff)
        if not self.alert_id:
            object.__setattr__(self, "alert_id", expected)
        elif self.alert_id != expected:
            raise ValueError("alert_id does not match (shipment, type, rule, leg, handoff)")
        return self

    @property
    def delivery_id(self) -> str:
        """Stable per alert state: the id receivers deduplicate deliveries by."""
        return f"{self.alert_id}.{self.revision}"
