"""Fan-out of newly logged alert states to the SSE connections of their seller.

One projector reads ``alerts.v1`` once per process; each open stream gets a bounded
queue. A stream that falls ``max_queued`` states behind is sent ``None`` and closed:
its client reconnects with ``Last-Event-ID`` and reads the rest from the read model, so
a slow client costs bounded memory and loses nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from hub.api_store import LoggedAlert


class AlertBroadcaster:
    """Lives on the event loop; ``publish`` must be called there (``call_soon_threadsafe``
    from the projector thread)."""

    def __init__(self, max_queued: int = 10_000) -> None:
        self._max = max_queued
        self._listeners: dict[str, set[asyncio.Queue[LoggedAlert | None]]] = defaultdict(set)

    def listen(self, seller_id: str) -> asyncio.Queue[LoggedAlert | None]:
        queue: asyncio.Queue[LoggedAlert | None] = asyncio.Queue(self._max + 1)
        self._listeners[seller_id].add(queue)
        return queue

    def forget(self, seller_id: str, queue: asyncio.Queue[LoggedAlert | None]) -> None:
        listeners = self._listeners.get(seller_id)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                del self._listeners[seller_id]

    @property
    def connections(self) -> int:
        return sum(len(queues) for queues in self._listeners.values())

    def close_all(self) -> None:
        """At shutdown: every stream ends now (its client resumes elsewhere by its id)."""
        for seller_id, queues in list(self._listeners.items()):
            for queue in list(queues):
                queue.put_nowait(None)
                self.forget(seller_id, queue)

    def publish(self, alerts: list[LoggedAlert]) -> None:
        for alert in alerts:
            for queue in list(self._listeners.get(alert.seller_id, ())):
                if queue.qsize() >= self._max:
                    queue.put_nowait(None)  # the one slot kept free: "resume from your id"
                    self.forget(alert.seller_id, queue)
                else:
                    queue.put_nowait(alert)
