"""Scorecards: how each party performs on each lane, from shipment states and alerts.

Per (party, lane): shipments handled, legs judged against an SLA (finished, or past
their deadline unfinished) and how many were on time, on-time percentage, breaches by
rule, and the median and 90th percentile leg duration. Pure. Each shipment's share is
computed from its own state (``shipment_cards``); the streaming workers keep the shares
in the ``hub-scorecard-shares`` table (key: shipment id), and a reader sums them with
``merge_cards``: the offline ``trackhub scorecard`` is the same sum.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import median

from hub.deadlines import leg_sla_deadline
from hub.shipment_state import LegStatus, ShipmentState


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


CardKey = tuple[str, str, str]  # (party role, party id, lane)


def shipment_cards(state: ShipmentState) -> list[Scorecard]:
    """One shipment's share of the scorecards of the parties answerable for its legs."""
    cards: dict[CardKey, Scorecard] = {}

    def card(role: str, party_id: str, lane: str) -> Scorecard:
        key = (role, party_id, lane)
        if key not in cards:
            cards[key] = Scorecard(role, party_id, lane)
        return cards[key]

    plan = state.plan
    lane = f"{plan.lane.origin}-{plan.lane.destination}"
    for planned in plan.legs:
        party = plan.answerable_for_leg(planned.leg)
        scorecard = card(party.role.value, party.id, lane)
        scorecard.shipments.add(plan.shipment_id)
        progress = state.progress(planned.leg)
        deadline = leg_sla_deadline(state, planned.leg)
        if progress.status is not LegStatus.CLOSED or progress.closed is None:
            overdue = deadline is not None and state.clock is not None and deadline <= state.clock
            scorecard.legs_judged += overdue  # late already, whenever it finishes
            continue
        if progress.opened is not None and progress.opened.at < progress.closed.at:
            scorecard.durations.append(progress.closed.at - progress.opened.at)
        if deadline is not None:
            scorecard.legs_judged += 1
            scorecard.legs_on_time += progress.closed.at <= deadline
    for rule, role, party_id in state.breaches.values():
        counts = card(role, party_id, lane).breaches
        counts[rule] = counts.get(rule, 0) + 1
    return list(cards.values())


def merge_cards(cards: Iterable[Scorecard]) -> list[Scorecard]:
    """Shares of many shipments summed per (party, lane), sorted by lane then party."""
    merged: dict[CardKey, Scorecard] = {}
    for share in cards:
        key = (share.party_role, share.party_id, share.lane)
        total = merged.setdefault(key, Scorecard(*key))
        total.shipments |= share.shipments
        total.legs_judged += share.legs_judged
        total.legs_on_time += share.legs_on_time
        for rule, count in share.breaches.items():
            total.breaches[rule] = total.breaches.get(rule, 0) + count
        total.durations += share.durations
    return [merged[key] for key in sorted(merged, key=lambda k: (k[2], k[0], k[1]))]


def build_scorecards(states: Iterable[ShipmentState]) -> list[Scorecard]:
    """Scorecards of every answerable party, sorted by lane then party: the offline
    ``trackhub scorecard`` and the merge of the streaming table's shares alike."""
    return merge_cards(card for state in states for card in shipment_cards(state))


def cards_value(cards: list[Scorecard]) -> bytes:
    """A shipment's shares as the streaming table keeps them (JSON)."""
    return json.dumps(
        [
            {
                "party_role": c.party_role,
                "party_id": c.party_id,
                "lane": c.lane,
                "shipments": sorted(c.shipments),
                "legs_judged": c.legs_judged,
                "legs_on_time": c.legs_on_time,
                "breaches": dict(sorted(c.breaches.items())),
                "durations_s": [d.total_seconds() for d in c.durations],
            }
            for c in sorted(cards, key=lambda c: (c.lane, c.party_role, c.party_id))
        ],
        separators=(",", ":"),
    ).encode()


def cards_from_value(raw: bytes) -> list[Scorecard]:
    return [
        Scorecard(
            party_role=row["party_role"],
            party_id=row["party_id"],
            lane=row["lane"],
            shipments=set(row["shipments"]),
            legs_judged=row["legs_judged"],
            legs_on_time=row["legs_on_time"],
            breaches=dict(row["breaches"]),
            durations=[timedelta(seconds=s) for s in row["durations_s"]],
        )
        for row in json.loads(raw)
    ]
