"""Alert lifecycle: reconcile opens, updates, resolves and reopens alerts from conditions,
idempotently, with deterministic ids and order. Times are injected event times."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from hub import detect
from hub.alerting import reconcile
from hub.detect.condition import Condition
from hub.shipment_state import ShipmentState, apply_event, new_state
from schemas.alerts import AlertState, AlertType, Evidence, HandoffRef, Severity, compute_alert_id
from schemas.milestones import Milestone
from schemas.shipments import Leg
from tests.support.detection_builders import (
    BROKER,
    FWD,
    SELLER,
    T0,
    USPS,
    days,
    event,
    hours,
    plan,
    state_of,
)

M = Milestone
CUSTOMS_TO_LAST = HandoffRef(from_leg=Leg.IMPORT_CUSTOMS, to_leg=Leg.LAST_MILE)


def condition(**changes: Any) -> Condition:
    fields: dict[str, Any] = {
        "type": AlertType.DELAY,
        "rule": "leg_sla",
        "since": T0,
        "summary": "first_mile not completed by its SLA deadline",
        "party": FWD,
        "leg": Leg.FIRST_MILE,
        "deadline_at": T0,
        "evidence": (Evidence(note="first_mile opened", milestone=M.PICKED_UP),),
    }
    fields.update(changes)
    return Condition(**fields)


def opened(cond: Condition | None = None) -> tuple[ShipmentState, Any]:
    state, (alert,) = reconcile(new_state(plan()), [cond or condition()], T0 + hours(1))
    return state, alert


def test_a_new_condition_opens_an_alert_at_its_since() -> None:
    start = new_state(plan())
    cond = condition()
    state, alerts = reconcile(start, [cond], T0 + hours(5))
    (alert,) = alerts
    expected_id = compute_alert_id("SHP-1", AlertType.DELAY, "leg_sla", Leg.FIRST_MILE, None)
    assert alert.alert_id == expected_id
    assert alert.state is AlertState.OPEN
    assert alert.revision == 1
    assert alert.delivery_id == f"{expected_id}.1"
    assert alert.opened_at == alert.updated_at == T0  # event time of the condition, not "at"
    assert alert.resolved_at is None
    assert (alert.shipment_id, alert.seller_id) == ("SHP-1", "seller-42")
    assert (alert.type, alert.rule, alert.leg, alert.handoff) == (
        AlertType.DELAY,
        "leg_sla",
        Leg.FIRST_MILE,
        None,
    )
    assert (alert.party, alert.severity, alert.summary) == (FWD, Severity.WARNING, cond.summary)
    assert alert.evidence == list(cond.evidence)
    assert alert.deadline_at == T0
    assert state.open_alerts == {expected_id: alert}
    assert state.alert_revisions == {expected_id: 1}
    assert start.open_alerts == {} and start.alert_revisions == {}  # the input is untouched


def test_an_unchanged_condition_emits_nothing() -> None:
    state, _ = opened()
    again, alerts = reconcile(state, [condition()], T0 + days(1))
    assert alerts == []
    assert again is state


def test_a_change_of_since_alone_is_not_material() -> None:
    state, _ = opened()
    _, alerts = reconcile(state, [condition(since=T0 + hours(1))], T0 + days(1))
    assert alerts == []


def test_the_same_state_evaluated_twice_never_alerts_twice() -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0))
    now = T0 + days(4)
    state, first = reconcile(state, detect.conditions(state, now), now)
    assert {(a.type, a.rule) for a in first} == {
        (AlertType.DELAY, "leg_sla"),
        (AlertType.STALL, "silence"),
        (AlertType.RESPONSIBILITY_BREACH, "leg_sla"),
    }
    for later in (now, now + days(1)):
        state, again = reconcile(state, detect.conditions(state, later), later)
        assert again == []


@pytest.mark.parametrize(
    "change",
    [
        {"summary": "first_mile still not completed"},
        {"severity": Severity.CRITICAL},
        {"party": SELLER},
        {"evidence": (Evidence(note="first_mile opened", milestone=M.RECEIVED_AT_ORIGIN_HUB),)},
        {"deadline_at": T0 + hours(2)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_material_change_updates_the_alert(change: dict[str, Any]) -> None:
    state, first = opened()
    at = T0 + days(1)
    state, alerts = reconcile(state, [condition(**change)], at)
    (alert,) = alerts
    assert alert.alert_id == first.alert_id
    assert alert.state is AlertState.UPDATED
    assert alert.revision == 2
    assert alert.delivery_id != first.delivery_id
    assert alert.opened_at == first.opened_at
    assert alert.updated_at == at
    field, value = next(iter(change.items()))
    expected = list(value) if field == "evidence" else value
    assert getattr(alert, field) == expected
    assert state.open_alerts[alert.alert_id] == alert
    assert state.alert_revisions[alert.alert_id] == 2
    # and the updated content is now the baseline
    _, again = reconcile(state, [condition(**change)], at + days(1))
    assert again == []


def test_an_alert_resolves_when_its_condition_disappears() -> None:
    state, first = opened()
    at = T0 + days(2)
    state, alerts = reconcile(state, [], at)
    (alert,) = alerts
    assert alert.alert_id == first.alert_id
    assert alert.state is AlertState.RESOLVED
    assert alert.revision == 2
    assert alert.resolved_at == alert.updated_at == at
    assert alert.resolved_at >= alert.opened_at
    assert alert.summary == first.summary  # the content it was resolved with
    assert state.open_alerts == {}
    assert state.alert_revisions == {first.alert_id: 2}
    _, again = reconcile(state, [], at + days(1))
    assert again == []


def test_resolution_never_precedes_the_opening() -> None:
    state, first = opened(condition(since=T0 + days(3)))
    _, (alert,) = reconcile(state, [], T0 + days(1))  # a late fact re-evaluated earlier
    assert alert.resolved_at == alert.updated_at == first.opened_at


def test_an_update_never_precedes_the_opening() -> None:
    state, first = opened(condition(since=T0 + days(3)))
    _, (alert,) = reconcile(state, [condition(since=T0 + days(3), summary="x")], T0)
    assert alert.updated_at == first.opened_at


def test_a_reopened_alert_continues_its_revisions_with_a_new_delivery_id() -> None:
    state, first = opened()
    state, (resolved,) = reconcile(state, [], T0 + days(1))
    state, alerts = reconcile(state, [condition(since=T0 + days(3))], T0 + days(3))
    (reopened,) = alerts
    assert reopened.alert_id == first.alert_id
    assert reopened.state is AlertState.OPEN
    assert reopened.revision == 3
    assert reopened.opened_at == T0 + days(3)
    assert reopened.resolved_at is None
    assert len({first.delivery_id, resolved.delivery_id, reopened.delivery_id}) == 3
    state, (again,) = reconcile(state, [], T0 + days(4))
    assert (again.state, again.revision) == (AlertState.RESOLVED, 4)


def _mixed_conditions() -> list[Condition]:
    return [
        condition(),
        condition(type=AlertType.STALL, rule="silence"),
        condition(type=AlertType.DELAY, rule="promise", leg=None, severity=Severity.CRITICAL),
        condition(
            type=AlertType.HANDOFF_GAP,
            rule="window",
            leg=None,
            handoff=CUSTOMS_TO_LAST,
            party=BROKER,
        ),
        condition(type=AlertType.EXCEPTION, rule="damaged", leg=Leg.LAST_MILE, party=USPS),
    ]


def test_transitions_come_in_a_deterministic_order() -> None:
    conditions = _mixed_conditions()
    start = new_state(plan())
    _, forward = reconcile(start, conditions, T0)
    _, backward = reconcile(start, list(reversed(conditions)), T0)
    ids = [alert.alert_id for alert in forward]
    assert ids == [alert.alert_id for alert in backward]
    assert ids == sorted(ids)
    assert len(ids) == len(conditions)


def test_opens_updates_and_resolutions_are_ordered_together_by_alert_id() -> None:
    conditions = _mixed_conditions()
    state, _ = reconcile(new_state(plan()), conditions[:3], T0)
    changed = [dataclasses.replace(conditions[0], summary="changed"), *conditions[3:]]
    _, alerts = reconcile(state, changed, T0 + days(1))
    assert [a.alert_id for a in alerts] == sorted(a.alert_id for a in alerts)
    assert sorted(a.state.value for a in alerts) == [
        "open",
        "open",
        "resolved",
        "resolved",
        "updated",
    ]


def test_alert_ids_match_the_schema() -> None:
    _, alerts = reconcile(new_state(plan()), _mixed_conditions(), T0)
    for alert in alerts:
        assert alert.alert_id == compute_alert_id(
            "SHP-1", alert.type, alert.rule, alert.leg, alert.handoff
        )
    handoff_alert = next(a for a in alerts if a.handoff is not None)
    assert handoff_alert.alert_id == compute_alert_id(
        "SHP-1", AlertType.HANDOFF_GAP, "window", None, CUSTOMS_TO_LAST
    )
    assert len({a.alert_id for a in alerts}) == len(alerts)


def test_conditions_with_the_same_identity_make_one_alert() -> None:
    first = condition(summary="first")
    _, alerts = reconcile(new_state(plan()), [first, condition(summary="second")], T0)
    assert [a.summary for a in alerts] == ["first"]


def test_detected_conditions_open_and_resolve_through_the_lifecycle() -> None:
    state = state_of(plan(), event(M.PICKED_UP, T0))
    now = T0 + hours(36)
    state, alerts = reconcile(state, detect.conditions(state, now), now)
    assert [(a.type, a.state, a.opened_at) for a in alerts] == [
        (AlertType.STALL, AlertState.OPEN, now)
    ]
    now = T0 + days(3)
    state, alerts = reconcile(state, detect.conditions(state, now), now)
    assert sorted((a.type.value, a.state.value) for a in alerts) == [
        ("delay", "open"),
        ("responsibility_breach", "open"),
    ]
    state = apply_event(state, event(M.DEPARTED_ORIGIN, T0 + days(3) + hours(4)))
    now = T0 + days(3) + hours(4)
    state, alerts = reconcile(state, detect.conditions(state, now), now)
    assert sorted((a.type.value, a.state.value, a.revision) for a in alerts) == [
        ("delay", "resolved", 2),
        ("responsibility_breach", "resolved", 2),
        ("stall", "resolved", 2),
    ]
    assert all(a.resolved_at == now for a in alerts)
    assert state.open_alerts == {}


def test_an_exception_with_a_long_reason_still_opens_an_alert() -> None:
    reason = "R" * 190  # a valid reason_code (ShortStr, at most 200 characters)
    state = state_of(plan(), event(M.DELIVERY_ATTEMPTED, T0, reason=reason))
    _, alerts = reconcile(state, detect.conditions(state, T0), T0)
    (alert,) = alerts
    assert alert.type is AlertType.EXCEPTION and len(alert.summary) <= 200
