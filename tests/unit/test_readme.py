"""The README stays true: every setting is documented, the two commands exist."""

from __future__ import annotations

import re

from hub.settings import PROJECT_ROOT, Settings

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme_and_nothing_else_is() -> None:
    documented = set(re.findall(r"`(TRACKHUB_[A-Z0-9_]+)`", README))
    fields = {f"TRACKHUB_{name.upper()}" for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from the README"
    assert documented - fields == set(), "README documents settings that do not exist"


def test_the_two_commands_are_make_targets_and_ci_calls_the_test_one() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make run" in README and "make test" in README
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
