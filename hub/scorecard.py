"""Scorecards: how each party performs on each lane, from shipment states and alerts.

Per (party, lane): shipments handled, legs judged against an SLA (finished, or past
their deadline unfinished) and how many were on time, on-time percentage, breaches by
rule, and the median and 90th percentile leg duration. Pure: the offline ``trackhub
scorecard`` and the streaming table use the same function.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import median

from hub.deadlines import leg_sla_deadline
from hub.shipment_state import LegStatus, ShipmentState
from schemas.alerts import Alert, AlertType


@dataclass
class Scorecard:
    party_role: str
    party_id: str
    lane: str
    shipments: set[str] = field(default_factory=set)
    legs_judged: int = 0  # legs with an SLA that finished, or are past it unfinished
    legs_on_time: int = 0
    breaches: dict[str, int] = field(default_factory=dict)
    durations: list[timedelta] = field(default_factory=list)

    @property
    def on_time_pct(self) -> float | None:
        judged = self.legs_judged
        return round(100.0 * self.legs_on_time / judged, 1) if judged else None

    def duration_quantile(self, q: float) -> timedelta | None:
        if not self.durations:
            return None
        if q == 0.5:
            return median(self.durations)
        ordered = sorted(self.durations)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self) -> dict[str, object]:
        p50, p90 = self.duration_quantile(0.5), self.duration_quantile(0.9)
        return {
            "party_role": self.party_role,
            "party_id": self.party_id,
            "lane": self.lane,
            "shipments": len(self.shipments),
            "legs_judged": self.legs_judged,
            "legs_on_time": self.legs_on_time,
            "on_time_pct": self.on_time_pct,
            "breaches": dict(sorted(self.breaches.items())),
            "leg_duration_p50_h": _hours(p50),
            "leg_duration_p90_h": _hours(p90),
        }


def _hours(value: timedelta | None) -> float | None:
    return round(value.total_seconds() / 3600, 1) if value is not None else None


def build_scorecards(states: Iterable[ShipmentState], alerts: Iterable[Alert]) -> list[Scorecard]:
    """Scorecards of every answerable party, sorted by lane then party."""
    cards: dict[tuple[str, str, str], Scorecard] = {}

    def card(role: str, party_id: str, lane: str) -> Scorecard:
        key = (role, party_id, lane)
        if key not in cards:
            cards[key] = Scorecard(role, party_id, lane)
        return cards[key]

    lanes: dict[str, str] = {}
    for state in states:
        plan = state.plan
        lane = f"{plan.lane.origin}-{plan.lane.destination}"
        lanes[plan.shipment_id] = lane
        for planned in plan.legs:
            party = plan.answerable_for_leg(planned.leg)
            scorecard = card(party.role.value, party.id, lane)
            scorecard.shipments.add(plan.shipment_id)
            progress = state.progress(planned.leg)
            deadline = leg_sla_deadline(state, planned.leg)
            if progress.status is not LegStatus.CLOSED or progress.closed is None:
                overdue = (
                    deadline is not None and state.clock is not None and deadline <= state.clock
                )
                scorecard.legs_judged += overdue  # late already, whenever it finishes
                continue
            if progress.opened is not None and progress.opened.at < progress.closed.at:
                scorecard.durations.append(progress.closed.at - progress.opened.at)
            if deadline is not None:
                scorecard.legs_judged += 1
                scorecard.legs_on_time += progress.closed.at <= deadline
    for alert in alerts:
        if alert.type is not AlertType.RESPONSIBILITY_BREACH or alert.party is None:
            continue
        key = (alert.party.role.value, alert.party.id, lanes.get(alert.shipment_id, "?"))
        counts = card(*key).breaches
        counts[alert.rule] = counts.get(alert.rule, 0) + 1
    return [cards[key] for key in sorted(cards, key=lambda k: (k[2], k[0], k[1]))]
