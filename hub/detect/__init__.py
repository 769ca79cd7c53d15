"""Detectors: pure functions of a shipment's state and the current event time.

Detection is level-triggered. Each detector module exposes
``conditions(state, now) -> list[Condition]`` (what is wrong right now, and since when)
and ``next_change(state, now) -> datetime | None`` (the earliest later moment at which
time alone could change its answer: a deadline passing). ``hub.alerting`` turns the
difference between the conditions and the open alerts into alert transitions (open,
updated, resolved), so a detector never has to remember what it already said, and
re-evaluating the same state never emits anything twice.

``detect(state, now)`` runs every detector and reconciles: the ``(state, event|tick,
now) -> (state, alerts)`` step of the hub, with the event already applied by
``hub.shipment_state.apply_event``.
"""

from __future__ import annotations

from datetime import datetime

from hub.detect import delay, eta_slip, exception, handoff_gap, responsibility, stall
from hub.detect.condition import Condition
from hub.shipment_state import ShipmentState
from schemas.alerts import AlertType

DETECTORS = (delay, eta_slip, stall, handoff_gap, responsibility, exception)

__all__ = ["DETECTORS", "Condition", "conditions", "next_change"]


def conditions(state: ShipmentState, now: datetime) -> list[Condition]:
    """Everything wrong with the shipment at ``now``.

    A delivered shipment keeps only its lasting exceptions (damaged, lost): its absence
    alerts (delay, stall, gaps, slips) are over. A journey that ended lost, returned or
    cancelled opens nothing new after that moment but its exceptions (silence is then
    expected, and further deadlines cannot be met); what was already wrong stays.
    """
    found = [c for detector in DETECTORS for c in detector.conditions(state, now)]
    if state.delivered is not None and state.delivered.at <= now:
        return [c for c in found if c.rule in exception.TERMINAL_RULES]
    ended = state.ended_without_delivery()
    if ended is not None and ended <= now:
        found = [c for c in found if c.type is AlertType.EXCEPTION or c.since <= ended]
    return found


def next_change(state: ShipmentState, now: datetime) -> datetime | None:
    """The earliest moment after ``now`` when a detector's answer may change by itself."""
    if state.delivered is not None and state.delivered.at <= now:
        return None
    ended = state.ended_without_delivery()
    if ended is not None and ended <= now:
        return None  # only events can change it now
    moments = [m for d in DETECTORS if (m := d.next_change(state, now)) is not None and m > now]
    return min(moments, default=None)
