from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.replay import ReplayStart, ReplayStartError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("earliest", ReplayStart(offset=0)),
        ("42", ReplayStart(offset=42)),
        ("0:10,3:7", ReplayStart(per_partition={0: 10, 3: 7})),
        ("2026-03-01T00:00:00Z", ReplayStart(at=datetime(2026, 3, 1, tzinfo=UTC))),
    ],
)
def test_replay_start_forms(text: str, expected: ReplayStart) -> None:
    assert ReplayStart.parse(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-03-01T00:00:00", "1:2:3", "-5", ""])
def test_bad_replay_start_says_what_is_accepted(text: str) -> None:
    with pytest.raises(ReplayStartError, match="--from"):
        ReplayStart.parse(text)
