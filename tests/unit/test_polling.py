from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.polling import (
    CursorStore,
    TokenBucket,
    backoff_delay,
    parse_retry_after,
    retry_delay,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_backoff_is_jittered_and_capped() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(300.0, 2.0**attempt)
        delays = [backoff_delay(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 150  # spread, not one value
    assert max(backoff_delay(50, rng=rng) for _ in range(100)) <= 300.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("Mon, 02 Mar 2026 12:00:30 GMT", 30.0),
        ("Mon, 02 Mar 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_forms(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_retry_after_wins_over_backoff_but_is_bounded() -> None:
    assert retry_delay(0, 42.0) == 42.0
    assert retry_delay(9, 7200.0, max_wait_s=600) == 600
    assert 0 <= retry_delay(3, None, rng=random.Random(1)) <= 8


def test_token_bucket_limits_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=1.0, tokens=1.0, updated=0.0)
    assert bucket.delay_for_next(0.0) == 0.0
    assert bucket.delay_for_next(0.0) == pytest.approx(0.5)
    assert bucket.delay_for_next(0.5) == 0.0
    # 10 requests in 1 simulated second: only ~2 pass without waiting
    bucket = TokenBucket(rate=2.0, burst=1.0, tokens=1.0, updated=0.0)
    free = sum(bucket.delay_for_next(t / 10) == 0.0 for t in range(10))
    assert free == 2


def test_cursor_store_round_trip_and_corruption(tmp_path: Path) -> None:
    store = CursorStore(tmp_path / "cursors")
    assert store.load("dcsa-maersk") is None
    store.save("dcsa-maersk", "c-1")
    store.save("dcsa-maersk", "c-2")
    assert store.load("dcsa-maersk") == "c-2"
    assert [p.name for p in (tmp_path / "cursors").iterdir()] == ["dcsa-maersk.json"]
    (tmp_path / "cursors" / "dcsa-maersk.json").write_text("{half")
    with pytest.raises(ValueError, match="unreadable"):
        store.load("dcsa-maersk")
