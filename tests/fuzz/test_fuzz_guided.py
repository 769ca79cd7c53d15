"""The coverage-guided fuzz run (``tests.fuzz.guided``, atheris) in miniature, in CI.

Two hand-written parsers (X12 214 and IATA FSU), 2,000 inputs each from a fixed seed:
0 crashes, 0 hangs, and libFuzzer's coverage features must grow past what the fixtures
reach on their own, which they cannot unless atheris instruments the parsers (an import
of them before the instrumentation silently turns the run into blind mutation).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.guided import run_format

RUNS = 2000
SEED = 20261207

atheris = pytest.importorskip("atheris", reason="atheris has no wheel for this platform")


@pytest.mark.parametrize("format_name", ["x12_214", "iata_fsu"])
def test_guided_inputs_give_events_or_clear_errors(format_name: str, tmp_path: Path) -> None:
    result = run_format(format_name, RUNS, SEED, time_limit_s=2.0, failures=tmp_path)
    print(result.row())
    assert result.failed == 0, "\n".join(result.failures)
    assert result.exit_code == 0
    assert result.runs == RUNS
    assert result.outcomes.get("events", 0) > 0 and result.outcomes.get("error", 0) > 0
    assert result.features > result.fixture_features > 0, "no guidance: parsers not instrumented"
