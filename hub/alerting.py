"""Alert lifecycle: the difference between what is wrong now and the alerts already open.

``reconcile`` compares a shipment's current conditions with its open alerts and returns
the transitions: a new condition opens an alert; a condition whose content changed
(summary, severity, party, evidence, deadline) updates it; an open alert whose condition
is gone is resolved. Ids are deterministic (shipment, type, rule, leg or handoff), each
transition bumps the revision, and an unchanged condition emits nothing, so the same
state evaluated twice never produces a second alert. Times are event times: an alert
opens at the moment its condition became true, whenever the hub learned of it.
"""

from __future__ import annotations

from datetime import datetime

from hub.detect.condition import Condition
from hub.shipment_state import ShipmentState
from schemas.alerts import Alert, AlertState, AlertType, compute_alert_id

_MATERIAL = ("summary", "severity", "party", "evidence", "deadline_at")
SUMMARY_MAX = 200  # Alert.summary's limit


def _summary(condition: Condition) -> str:
    text = condition.summary
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def reconcile(
    state: ShipmentState, conditions: list[Condition], at: datetime
) -> tuple[ShipmentState, list[Alert]]:
    """Transitions at event time ``at``; the returned state holds the open alerts."""
    plan = state.plan
    desired: dict[str, Condition] = {}
    for condition in conditions:
        alert_id = compute_alert_id(
            plan.shipment_id, condition.type, condition.rule, condition.leg, condition.handoff
        )
        desired.setdefault(alert_id, condition)
    open_alerts = dict(state.open_alerts)
    revisions = dict(state.alert_revisions)
    breaches = dict(state.breaches)
    emitted: list[Alert] = []
    for alert_id in sorted(desired.keys() | open_alerts.keys()):
        condition = desired.get(alert_id)
        current = open_alerts.get(alert_id)
        revision = revisions.get(alert_id, 0) + 1
        if condition is not None and current is None:
            alert = _new_alert(state, alert_id, condition, revision)
        elif condition is not None and current is not None:
            if not _changed(current, condition):
                continue
            alert = current.model_copy(
                update={
                    "state": AlertState.UPDATED,
                    "revision": revision,
                    "summary": _summary(condition),
                    "severity": condition.severity,
                    "party": condition.party,
                    "evidence": list(condition.evidence),
                    "deadline_at": condition.deadline_at,
                    "updated_at": max(at, current.opened_at),
                }
            )
        elif current is not None:
            resolved_at = max(at, current.opened_at)
            alert = current.model_copy(
                update={
                    "state": AlertState.RESOLVED,
                    "revision": revision,
                    "updated_at": resolved_at,
                    "resolved_at": resolved_at,
                }
            )
        else:  # pragma: no cover - the union of keys makes this impossible
            continue
        revisions[alert_id] = revision
        if alert.type is AlertType.RESPONSIBILITY_BREACH:
            if alert.party is not None:
                breaches[alert_id] = (alert.rule, alert.party.role.value, alert.party.id)
            else:
                breaches.pop(alert_id, None)
        if alert.state is AlertState.RESOLVED:
            open_alerts.pop(alert_id, None)
        else:
            open_alerts[alert_id] = alert
        emitted.append(alert)
    if not emitted:
        return state, []
    return state.model_copy(
        update={"open_alerts": open_alerts, "alert_revisions": revisions, "breaches": breaches}
    ), emitted


def _new_alert(state: ShipmentState, alert_id: str, condition: Condition, revision: int) -> Alert:
    return Alert(
        alert_id=alert_id,
        type=condition.type,
        rule=condition.rule,
        state=AlertState.OPEN,
        revision=revision,
        severity=condition.severity,
        shipment_id=state.plan.shipment_id,
        seller_id=state.plan.seller_id,
        party=condition.party,
        leg=condition.leg,
        handoff=condition.handoff,
        summary=_summary(condition),
        evidence=list(condition.evidence),
        deadline_at=condition.deadline_at,
        opened_at=condition.since,
        updated_at=condition.since,
    )


def _changed(alert: Alert, condition: Condition) -> bool:
    now = {
        "summary": _summary(condition),
        "severity": condition.severity,
        "party": condition.party,
        "evidence": list(condition.evidence),
        "deadline_at": condition.deadline_at,
    }
    return any(getattr(alert, field) != now[field] for field in _MATERIAL)
