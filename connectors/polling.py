"""Pure parts of polling: retry delays, Retry-After, rate limiting, durable cursors.

Kept apart from the HTTP loop (``connectors/pollers.py``) so the timing rules are tested
without sockets or sleeps.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def backoff_delay(
    attempt: int, *, base_s: float = 1.0, cap_s: float = 300.0, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)].

    Full jitter spreads retries of many pollers hitting one provider after its outage.
    """
    ceiling = min(cap_s, base_s * (2 ** max(attempt, 0)))
    return (rng or random).uniform(0, ceiling)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


def retry_delay(
    attempt: int,
    retry_after_s: float | None,
    *,
    max_wait_s: float = 3600.0,
    rng: random.Random | None = None,
) -> float:
    """How long to wait before the next try: the provider's Retry-After when it gives one
    (it knows its own load), else our jittered backoff; never more than ``max_wait_s``."""
    if retry_after_s is not None:
        return min(retry_after_s, max_wait_s)
    return min(backoff_delay(attempt, rng=rng), max_wait_s)


@dataclass
class TokenBucket:
    """At most ``rate`` requests per second on average, bursts up to ``burst``."""

    rate: float
    burst: float = 1.0
    tokens: float = 1.0
    updated: float = 0.0

    def delay_for_next(self, now: float) -> float:
        """Seconds to wait before the next request may go; takes the token when 0."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class CursorStore:
    """A source's cursor in ``<dir>/<source>.json``, replaced atomically (write, fsync,
    rename), so a crash leaves either the old cursor or the new one, never half of one."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def load(self, source: str) -> str | None:
        path = self._dir / f"{source}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"cursor file {path} is unreadable ({exc}); fix or delete it"
            ) from None
        cursor = data.get("cursor") if isinstance(data, dict) else None
        return cursor if isinstance(cursor, str) else None

    def save(self, source: str, cursor: str) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"cursor": cursor, "saved_at": datetime.now(UTC).isoformat()})
        fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=f".{source}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._dir / f"{source}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
