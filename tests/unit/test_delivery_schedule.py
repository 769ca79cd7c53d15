"""What follows a webhook attempt: classification, retry times with jitter, give-up and
disable decisions, with randomness and time pinned."""

from __future__ import annotations

import pytest

from hub.delivery_schedule import (
    AttemptResult,
    Delivered,
    Disable,
    DisableReason,
    GiveUp,
    Outcome,
    Retry,
    RetryPolicy,
    classify_status,
    decide,
    human_duration,
    retry_delay,
)
from hub.settings import Settings

POLICY = RetryPolicy(schedule=(5, 300, 1800), jitter=0.2, disable_after_s=5 * 86400)
NOW = 1_800_000_000.0
HTTP_500 = AttemptResult(Outcome.HTTP_5XX, "HTTP 500")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SUCCESS),
        (201, Outcome.SUCCESS),
        (204, Outcome.SUCCESS),
        (299, Outcome.SUCCESS),
        (301, Outcome.REDIRECT),
        (302, Outcome.REDIRECT),
        (307, Outcome.REDIRECT),
        (308, Outcome.REDIRECT),
        (304, Outcome.REDIRECT),
        (400, Outcome.HTTP_4XX),
        (401, Outcome.HTTP_4XX),
        (404, Outcome.HTTP_4XX),
        (429, Outcome.HTTP_4XX),
        (410, Outcome.GONE),
        (500, Outcome.HTTP_5XX),
        (503, Outcome.HTTP_5XX),
        (599, Outcome.HTTP_5XX),
        (100, Outcome.HTTP_5XX),  # nothing a webhook may answer: a failure
    ],
)
def test_statuses(status: int, outcome: Outcome) -> None:
    result = classify_status(status)
    assert result.outcome is outcome
    assert f"HTTP {status}" in result.detail


def test_a_redirect_says_it_was_not_followed() -> None:
    assert "not followed" in classify_status(302).detail


def test_retry_delays_follow_the_schedule_and_end_with_it() -> None:
    middle = lambda: 0.5  # noqa: E731 (no jitter at the middle of [0, 1))
    assert retry_delay(1, POLICY.schedule, 0.2, middle) == 5
    assert retry_delay(2, POLICY.schedule, 0.2, middle) == 300
    assert retry_delay(3, POLICY.schedule, 0.2, middle) == 1800
    assert retry_delay(4, POLICY.schedule, 0.2, middle) is None
    assert retry_delay(0, POLICY.schedule, 0.2, middle) is None


def test_jitter_spreads_each_pause_by_its_fraction_either_way() -> None:
    assert retry_delay(2, POLICY.schedule, 0.2, lambda: 0.0) == pytest.approx(240)
    assert retry_delay(2, POLICY.schedule, 0.2, lambda: 0.999999) == pytest.approx(360, abs=1e-3)
    assert retry_delay(2, POLICY.schedule, 0.0, lambda: 0.0) == 300
    assert retry_delay(1, (0.0,), 1.0, lambda: 0.0) == 0.0  # never negative


def test_success_is_delivered_whatever_came_before() -> None:
    ok = classify_status(200)
    assert decide(ok, failures=3, failing_since=NOW - 10 * 86400, now=NOW, policy=POLICY) == (
        Delivered()
    )


def test_a_failure_is_retried_on_schedule() -> None:
    decision = decide(
        HTTP_500, failures=2, failing_since=None, now=NOW, policy=POLICY, rand=lambda: 0.5
    )
    assert decision == Retry(NOW + 300)


def test_the_last_failure_gives_up() -> None:
    decision = decide(HTTP_500, failures=4, failing_since=NOW - 60, now=NOW, policy=POLICY)
    assert decision == GiveUp()


def test_410_disables_at_once() -> None:
    decision = decide(classify_status(410), failures=1, failing_since=None, now=NOW, policy=POLICY)
    assert decision == Disable(DisableReason.GONE, "endpoint answered 410 Gone")


def test_failing_for_the_disable_time_disables_with_the_last_error() -> None:
    just_before = decide(
        HTTP_500, failures=1, failing_since=NOW - 5 * 86400 + 1, now=NOW, policy=POLICY
    )
    assert isinstance(just_before, Retry)
    decision = decide(HTTP_500, failures=1, failing_since=NOW - 5 * 86400, now=NOW, policy=POLICY)
    assert decision == Disable(
        DisableReason.FAILING, "no successful delivery for 5 days (last: HTTP 500)"
    )


@pytest.mark.parametrize(
    "result",
    [
        AttemptResult(Outcome.TIMEOUT, "timeout"),
        AttemptResult(Outcome.CONNECT_ERROR, "connection failed"),
        AttemptResult(Outcome.BLOCKED, "blocked address (host resolves to a loopback address)"),
        classify_status(302),
        classify_status(404),
    ],
)
def test_other_failures_retry_and_count_toward_the_streak(result: AttemptResult) -> None:
    assert isinstance(decide(result, failures=1, failing_since=None, now=NOW, policy=POLICY), Retry)
    disabled = decide(result, failures=1, failing_since=NOW - 6 * 86400, now=NOW, policy=POLICY)
    assert isinstance(disabled, Disable) and disabled.reason is DisableReason.FAILING
    assert disabled.text.endswith(f"(last: {result.detail})")


def test_the_first_failure_starts_the_streak_now() -> None:
    short = RetryPolicy(schedule=(1,), jitter=0, disable_after_s=0.5)
    assert isinstance(
        decide(HTTP_500, failures=1, failing_since=None, now=NOW, policy=short), Retry
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (432000, "5 days"),
        (86400, "1 day"),
        (7200, "2 hours"),
        (120, "2 minutes"),
        (90, "90 s"),
        (1.5, "1.5 s"),
    ],
)
def test_human_durations(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_policy_from_settings() -> None:
    settings = Settings(
        delivery_retry_schedule_s=[0.3, 0.6], delivery_jitter=0.1, delivery_disable_after_s=60
    )
    assert RetryPolicy.from_settings(settings) == RetryPolicy((0.3, 0.6), 0.1, 60)
