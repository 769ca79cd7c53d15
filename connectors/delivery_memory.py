"""What the gateway remembers of recent deliveries: duplicates and replayed webhook ids.

Bounded in size and time, in memory, per gateway process. It turns a sender's retry of a
delivery we already made durable into a 200 without a second write, and refuses a
webhook id reused for a different body. Across processes or restarts a duplicate is
written again, which downstream idempotency (``envelope_id``/``event_id``) absorbs.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum


class Seen(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"  # same delivery, same body: already durable
    REPLAYED_ID = "replayed_id"  # webhook id seen before with another body


class DeliveryMemory:
    """An LRU of accepted envelope ids and of (source, webhook id) -> body digest."""

    def __init__(
        self,
        max_entries: int = 100_000,
        ttl_s: float = 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_entries
        self._ttl = ttl_s
        self._clock = clock
        self._envelopes: OrderedDict[str, float] = OrderedDict()
        self._ids: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

    def check(self, source: str, envelope_id: str, delivery_id: str | None, digest: str) -> Seen:
        """Classify a delivery before it is written; records nothing."""
        now = self._clock()
        if delivery_id is not None:
            seen = self._ids.get((source, delivery_id))
            if seen is not None and now - seen[1] < self._ttl and seen[0] != digest:
                return Seen.REPLAYED_ID
        accepted_at = self._envelopes.get(envelope_id)
        if accepted_at is not None and now - accepted_at < self._ttl:
            return Seen.DUPLICATE
        return Seen.NEW

    def remember(self, source: str, envelope_id: str, delivery_id: str | None, digest: str) -> None:
        """Record a delivery once it is durable."""
        now = self._clock()
        self._envelopes[envelope_id] = now
        self._envelopes.move_to_end(envelope_id)
        if delivery_id is not None:
            self._ids[(source, delivery_id)] = (digest, now)
            self._ids.move_to_end((source, delivery_id))
        for table in (self._envelopes, self._ids):
            while len(table) > self._max:
                table.popitem(last=False)
