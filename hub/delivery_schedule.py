"""What one webhook attempt's outcome means, and what happens next: pure, no I/O.

- ``classify_status``: 2xx is a success; 3xx a failure (redirects are never followed: a
  subscription names the one URL we call); 410 Gone the receiver's "stop sending"; other
  4xx and 5xx failures, retried alike (a 4xx is often a receiver's deploy gone wrong).
- ``retry_delay``: the pause before the next attempt after the n-th failure, from the
  configured schedule, randomized by +/- ``jitter`` so retries of many deliveries that
  failed together (an endpoint's outage) do not come back together; ``None`` once the
  schedule is used up (the delivery is given up).
- ``decide``: delivered, retry at a time, give up, or disable the subscription, which
  happens on a 410, or when the subscription has failed without a single success for
  ``disable_after_s`` (the streak spans deliveries: it starts at the first failure after
  the last success). A connect-time SSRF block is a failure like the others: the address
  a name resolves to can change back, and no request left, so it is retried and counts
  toward the streak ("last: blocked address").

Randomness and time come in as arguments, so the tests pin them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from hub.settings import Settings


class Outcome(StrEnum):
    """One attempt's result: the ``outcome`` label of ``trackhub_webhook_deliveries_total``."""

    SUCCESS = "success"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    REDIRECT = "redirect"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    BLOCKED = "blocked"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """``detail`` is for people (logs, the disable reason): never a URL or a secret."""

    outcome: Outcome
    detail: str


class DisableReason(StrEnum):
    """The ``reason`` label of ``trackhub_subscriptions_disabled_total``."""

    GONE = "gone"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class Delivered:
    pass


@dataclass(frozen=True, slots=True)
class Retry:
    at: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    pass


@dataclass(frozen=True, slots=True)
class Disable:
    reason: DisableReason
    text: str  # shown to the seller in the subscription's disabled_reason


Decision = Delivered | Retry | GiveUp | Disable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: tuple[float, ...]
    jitter: float
    disable_after_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            schedule=tuple(settings.delivery_retry_schedule_s),
            jitter=settings.delivery_jitter,
            disable_after_s=settings.delivery_disable_after_s,
        )


GONE_TEXT = "endpoint answered 410 Gone"


def classify_status(status: int) -> AttemptResult:
    detail = f"HTTP {status}"
    if 200 <= status < 300:
        return AttemptResult(Outcome.SUCCESS, detail)
    if status == 410:
        return AttemptResult(Outcome.GONE, detail)
    if 300 <= status < 400:
        return AttemptResult(Outcome.REDIRECT, f"{detail} (redirects are not followed)")
    if 400 <= status < 500:
        return AttemptResult(Outcome.HTTP_4XX, detail)
    return AttemptResult(Outcome.HTTP_5XX, detail)  # 5xx, and anything outside HTTP's range


def retry_delay(
    failures: int,
    schedule: Sequence[float],
    jitter: float,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait after the ``failures``-th failed attempt (1-based), or None when
    the schedule has no entry left. ``rand`` returns a float in [0, 1)."""
    if failures < 1 or failures > len(schedule):
        return None
    base = schedule[failures - 1]
    return max(0.0, base * (1 + jitter * (2 * rand() - 1)))


def decide(
    result: AttemptResult,
    *,
    failures: int,
    failing_since: float | None,
    now: float,
    policy: RetryPolicy,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """What follows an attempt.

    ``failures``: failed attempts of this delivery including this one (if it failed);
    ``failing_since``: when the subscription's current run of failures began (None when
    its last attempt succeeded, so this failure starts the run).
    """
    if result.outcome is Outcome.SUCCESS:
        return Delivered()
    if result.outcome is Outcome.GONE:
        return Disable(DisableReason.GONE, GONE_TEXT)
    started = now if failing_since is None else failing_since
    if now - started >= policy.disable_after_s:
        return Disable(
            DisableReason.FAILING,
            f"no successful delivery for {human_duration(policy.disable_after_s)} "
            f"(last: {result.detail})",
        )
    delay = retry_delay(failures, policy.schedule, policy.jitter, rand)
    return GiveUp() if delay is None else Retry(now + delay)


def human_duration(seconds: float) -> str:
    """``432000`` -> "5 days", ``7200`` -> "2 hours", ``90`` -> "90 s"."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} s"
