"""Consumer lag and the age of the oldest uncommitted offset, per partition. Pure.

faust's own sensor reports neither. Lag is the log end offset minus the group's committed
offset (both "next offset" positions). The age needs the moment the oldest uncommitted
message was appended, which the consumer never sees for messages it has not fetched; it is
taken from samples of the log end offset: the oldest uncommitted message at offset ``c``
was appended no later than the first sample whose log end passed ``c``. So the age is
exact to one sample interval, and counts from the worker's first sample of the partition.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

MAX_SAMPLES = 1024  # per partition; past it, resolution of the middle is given up


@dataclass
class UncommittedAges:
    """Per partition: (sample time, log end offset) whenever the log end grew."""

    _history: dict[Hashable, deque[tuple[float, int]]] = field(default_factory=dict)

    def observe(
        self, partition: Hashable, now: float, log_end: int, committed: int | None
    ) -> float:
        """Record one sample; returns the age in seconds of the oldest uncommitted message
        (0.0 when every message is committed). ``committed`` None means nothing committed
        yet (everything from offset 0 is uncommitted)."""
        position = committed or 0
        history = self._history.setdefault(partition, deque())
        if not history or log_end > history[-1][1]:
            history.append((now, log_end))
            if len(history) > MAX_SAMPLES:
                del history[1]  # keep the oldest: it is the one the age is read from
        while history and history[0][1] <= position:
            history.popleft()
        return now - history[0][0] if history else 0.0

    def forget(self, partition: Hashable) -> None:
        """A partition this worker no longer owns."""
        self._history.pop(partition, None)

    def partitions(self) -> set[Hashable]:
        return set(self._history)


def lag_of(log_end: int, committed: int | None) -> int:
    """Messages not yet committed; never negative (the log end is sampled separately)."""
    return max(0, log_end - (committed or 0))
