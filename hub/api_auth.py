"""API keys and rate limits of the seller API: pure, the handlers' middleware calls them.

A key is ``thk_<16 hex key id>_<secret>``; only its SHA-256 is stored. A request is
authenticated when the key id is known, not revoked, and the hash matches (compared in
constant time). Rate limits are token buckets per key id, in memory: each API process
limits on its own (behind a load balancer the effective limit is per process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from schemas.sellers import hash_key, key_id_of


def bearer_key(header: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def key_lookup(full_key: str) -> tuple[str, str] | None:
    """(key id, hash) to look a presented key up by; None if it is not shaped like one."""
    key_id = key_id_of(full_key)
    return (key_id, hash_key(full_key)) if key_id is not None else None


@dataclass
class TokenBuckets:
    """Per-key token buckets: ``rate`` tokens a second up to ``burst``."""

    rate: float
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # tokens, at

    def take(self, key: str, now: float) -> float:
        """0.0 when the request may go ahead, else the seconds until it may."""
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate


def retry_after_header(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
