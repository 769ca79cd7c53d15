"""The seeded fuzz set every CI run does: a fixed seed, ~1,000 cases per format.

Each test proves, for its format: 0 crashes, 0 hangs, every case either events valid
against their schema or a dead letter with a clear reason holding the whole payload
(``tests.fuzz.oracle``). The cases must also reach both sides (some give events, some
errors), or the mutators would be testing nothing but the first check of the parser.
The benchmark run (``python -m tests.fuzz.run``) does the same with 100,000 cases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.corpus import body_limit, fuzz_cases
from tests.fuzz.oracle import Outcome, quiet_mapper_logs, run_case
from tests.fuzz.seeds import FORMATS
from tests.fuzz.stats import FormatStats

SEED = 20260302
CASES = 1000
REGRESSIONS = Path(__file__).parent / "regressions"


@pytest.fixture(autouse=True)
def _quiet() -> None:
    quiet_mapper_logs()


@pytest.mark.parametrize("format_name", FORMATS)
def test_seeded_cases_give_events_or_clear_errors(format_name: str) -> None:
    stats = FormatStats(format_name)
    for case in fuzz_cases(format_name, SEED, CASES):
        stats.add(case.index, case.label, run_case(format_name, case.body))
    assert stats.cases == CASES
    assert stats.failed == 0, "\n".join(stats.failures[:20])
    assert stats.outcomes[Outcome.EVENTS] > 0, "no case got through the parser"
    assert stats.outcomes[Outcome.ERROR] > 0, "no case was refused"
    assert len(stats.shapes) >= 10, f"only {len(stats.shapes)} distinct error messages"


@pytest.mark.parametrize(
    "path", sorted(REGRESSIONS.glob("*/*")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_regression_inputs_are_answered(path: Path) -> None:
    """Inputs that once crashed a connector: now a typed error or events."""
    result = run_case(path.parent.name, path.read_bytes())
    assert not result.outcome.failed, result.detail


def test_the_watchdog_reports_a_case_over_its_limit() -> None:
    """A case slower than the limit is a hang, not a long wait: a body at the size limit
    cannot be parsed in 1 ms."""
    body = b'{"events": [' + b'{"a": "' + b"x" * (body_limit("native") - 64) + b'"}]}'
    result = run_case("native", body, time_limit_s=0.001)
    assert result.outcome is Outcome.HANG
    assert run_case("native", body).outcome is Outcome.ERROR
