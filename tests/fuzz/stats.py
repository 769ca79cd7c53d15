"""Per-format tallies of a fuzz run, mergeable across worker restarts, and their table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tests.fuzz.oracle import CaseResult, Outcome, message_shape


@dataclass
class FormatStats:
    format: str
    outcomes: Counter[str] = field(default_factory=Counter)
    shapes: set[str] = field(default_factory=set)  # distinct dead-letter reasons
    slowest_ms: float = 0.0
    slowest_case: str = ""
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)  # "index label: detail"

    @property
    def cases(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return self.outcomes[Outcome.CRASH] + self.outcomes[Outcome.HANG]

    def add(self, index: int, label: str, result: CaseResult) -> None:
        self.outcomes[result.outcome] += 1
        if result.outcome is Outcome.ERROR:
            self.shapes.add(message_shape(result.detail))
        if result.elapsed_ms > self.slowest_ms:
            self.slowest_ms = result.elapsed_ms
            self.slowest_case = f"#{index} {label}"
        if result.outcome.failed:
            self.failures.append(f"#{index} {label}: {result.outcome}: {result.detail}")

    def merge(self, other: FormatStats) -> None:
        self.outcomes.update(other.outcomes)
        self.shapes |= other.shapes
        if other.slowest_ms > self.slowest_ms:
            self.slowest_ms, self.slowest_case = other.slowest_ms, other.slowest_case
        self.seconds += other.seconds
        self.failures += other.failures


HEADER = (
    f"{'format':<10} {'cases':>8} {'events':>7} {'empty':>6} {'errors':>7} {'crashes':>7} "
    f"{'hangs':>5} {'slowest ms':>10} {'cases/s':>8} {'messages':>8}  slowest case"
)


def row(stats: FormatStats) -> str:
    rate = stats.cases / stats.seconds if stats.seconds else 0.0
    o = stats.outcomes
    return (
        f"{stats.format:<10} {stats.cases:>8} {o[Outcome.EVENTS]:>7} {o[Outcome.EMPTY]:>6} "
        f"{o[Outcome.ERROR]:>7} {o[Outcome.CRASH]:>7} {o[Outcome.HANG]:>5} "
        f"{stats.slowest_ms:>10.1f} {rate:>8.0f} {len(stats.shapes):>8}  {stats.slowest_case}"
    )
