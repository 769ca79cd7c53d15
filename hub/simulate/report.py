"""Compares the alerts a run produced with the simulation's ground truth.

An alert matches an expected one when type, shipment and leg (or handoff) agree; its
party is then checked separately (attribution accuracy). Precision per type: matched
alerts over all alerts of that type on simulated shipments; recall: matched expectations
over all expectations of that type. Pure: the CLI feeds it alerts read from alerts.v1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hub.simulate.journeys import ExpectedAlert, SimJourney
from schemas.alerts import Alert, AlertType

Key = tuple[str, str, str | None, tuple[str, str] | None]


@dataclass
class TypeScore:
    produced: int = 0
    expected: int = 0
    matched: int = 0

    @property
    def precision(self) -> float:
        return self.matched / self.produced if self.produced else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0


@dataclass
class Report:
    by_type: dict[str, TypeScore] = field(default_factory=dict)
    attributed: int = 0  # matched alerts whose party is the expected one
    matched: int = 0
    unexpected: list[Key] = field(default_factory=list)
    missing: list[Key] = field(default_factory=list)
    misattributed: list[tuple[Key, str, str]] = field(default_factory=list)

    @property
    def attribution(self) -> float:
        return self.attributed / self.matched if self.matched else 1.0

    @property
    def precision(self) -> float:
        produced = sum(s.produced for s in self.by_type.values())
        return sum(s.matched for s in self.by_type.values()) / produced if produced else 1.0

    @property
    def recall(self) -> float:
        expected = sum(s.expected for s in self.by_type.values())
        return sum(s.matched for s in self.by_type.values()) / expected if expected else 1.0

    def lines(self) -> list[str]:
        out = [f"{'type':<24}{'produced':>9}{'expected':>9}{'precision':>11}{'recall':>8}"]
        for name, score in sorted(self.by_type.items()):
            out.append(
                f"{name:<24}{score.produced:>9}{score.expected:>9}"
                f"{score.precision:>10.1%}{score.recall:>8.1%}"
            )
        out.append(
            f"{'all':<24}{sum(s.produced for s in self.by_type.values()):>9}"
            f"{sum(s.expected for s in self.by_type.values()):>9}"
            f"{self.precision:>10.1%}{self.recall:>8.1%}"
        )
        out.append(f"party attribution: {self.attribution:.1%} of {self.matched} matched alerts")
        for key in self.unexpected[:20]:
            out.append(f"  unexpected: {_text(key)}")
        for key in self.missing[:20]:
            out.append(f"  missing:    {_text(key)}")
        for key, got, wanted in self.misattributed[:20]:
            out.append(f"  wrong party: {_text(key)}: {got}, expected {wanted}")
        return out


def _text(key: Key) -> str:
    kind, shipment, leg, handoff = key
    where = leg or (f"{handoff[0]}->{handoff[1]}" if handoff else "shipment")
    return f"{kind} {shipment} {where}"


def expected_key(expected: ExpectedAlert) -> Key:
    handoff = (expected.handoff[0].value, expected.handoff[1].value) if expected.handoff else None
    return (
        expected.type.value,
        expected.shipment_id,
        expected.leg.value if expected.leg else None,
        handoff,
    )


def alert_key(alert: Alert) -> Key:
    handoff = (alert.handoff.from_leg.value, alert.handoff.to_leg.value) if alert.handoff else None
    return (alert.type.value, alert.shipment_id, alert.leg.value if alert.leg else None, handoff)


def compare(alerts: Iterable[Alert], journeys: Iterable[SimJourney]) -> Report:
    """Each alert id counts once (its latest state); alerts of other shipments are
    ignored."""
    journeys = list(journeys)
    shipments = {j.plan.shipment_id for j in journeys}
    latest: dict[str, Alert] = {}
    for alert in alerts:
        if alert.shipment_id not in shipments:
            continue
        seen = latest.get(alert.alert_id)
        if seen is None or alert.revision >= seen.revision:
            latest[alert.alert_id] = alert
    produced: dict[Key, Alert] = {}
    for alert in latest.values():
        produced.setdefault(alert_key(alert), alert)
    wanted = {expected_key(e): e for j in journeys for e in j.expected}
    report = Report()
    for kind in {k[0] for k in produced} | {k[0] for k in wanted} | {t.value for t in AlertType}:
        report.by_type.setdefault(kind, TypeScore())
    for key in produced:
        report.by_type[key[0]].produced += 1
    for key in wanted:
        report.by_type[key[0]].expected += 1
    for key, alert in sorted(produced.items(), key=lambda item: str(item[0])):
        expected = wanted.get(key)
        if expected is None:
            report.unexpected.append(key)
            continue
        report.by_type[key[0]].matched += 1
        report.matched += 1
        got = f"{alert.party.role.value}:{alert.party.id}" if alert.party else "none"
        want = f"{expected.party.role.value}:{expected.party.id}"
        if got == want:
            report.attributed += 1
        else:
            report.misattributed.append((key, got, want))
    report.missing = sorted((k for k in wanted if k not in produced), key=str)
    report.by_type = {k: v for k, v in report.by_type.items() if v.produced or v.expected}
    return report
