"""EXCEPTION: a source reported a problem (customs hold with its reason, failed delivery
attempt, damage, loss, return). Open from the reported event until later progress on the
same leg supersedes it; the rule is the milestone, so two kinds of trouble on one leg
are two alerts."""

from __future__ import annotations

from datetime import datetime

from hub.detect.condition import Condition
from hub.shipment_state import ShipmentState
from schemas.alerts import AlertType, Evidence, Severity
from schemas.milestones import Milestone

CRITICAL = frozenset(
    {
        Milestone.LOST,
        Milestone.DAMAGED,
        Milestone.IMPORT_CUSTOMS_SEIZED,
        Milestone.IMPORT_CUSTOMS_REJECTED,
        Milestone.RETURN_TO_SENDER,
        Milestone.RETURNED,
    }
)
# exceptions that outlive delivery (a parcel can be delivered damaged)
TERMINAL_RULES = frozenset({Milestone.DAMAGED.value, Milestone.LOST.value})


def conditions(state: ShipmentState, now: datetime) -> list[Condition]:
    found = []
    for planned in state.plan.legs:
        progress = state.progress(planned.leg)
        mark = progress.exception
        if mark is None or mark.at > now:
            continue
        reason = f" ({progress.exception_reason})" if progress.exception_reason else ""
        found.append(
            Condition(
                type=AlertType.EXCEPTION,
                rule=mark.milestone.value,
                since=mark.at,
                leg=planned.leg,
                party=state.plan.answerable_for_leg(planned.leg),
                severity=Severity.CRITICAL if mark.milestone in CRITICAL else Severity.WARNING,
                summary=f"{planned.leg.value}: {mark.milestone.value.replace('_', ' ')}{reason}",
                evidence=(
                    Evidence(
                        note="reported by the source",
                        event_id=mark.event_id,
                        milestone=mark.milestone,
                        occurred_at=mark.at,
                    ),
                ),
            )
        )
    return found


def next_change(state: ShipmentState, now: datetime) -> datetime | None:
    return None  # exceptions open and close with events only
