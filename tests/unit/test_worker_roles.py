"""TRACKHUB_WORKER_ROLES: what a worker process runs, and the faust app it makes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.app import create_app
from hub.settings import Settings


@pytest.mark.parametrize(
    ("given", "roles", "app_id", "agents"),
    [
        ("normalize,hub", {"normalize", "hub"}, "trackhub", {"normalize", "resolve", "detect"}),
        (" hub , normalize ", {"normalize", "hub"}, "trackhub", {"normalize", "detect"}),
        ("hub", {"hub"}, "trackhub", {"resolve", "detect", "route-plans"}),
        ("normalize", {"normalize"}, "trackhub-normalize", {"normalize"}),
    ],
)
def test_roles_choose_the_agents_and_the_group(
    given: str, roles: set[str], app_id: str, agents: set[str]
) -> None:
    settings = Settings(worker_roles=given)
    assert settings.roles == roles
    app = create_app(settings)
    names = {agent.name.rsplit(".", 1)[-1] for agent in app.agents.values()}
    assert app.conf.id == app_id
    assert agents <= names
    if roles == {"normalize"}:
        assert names == {"normalize"} and not app.tables


@pytest.mark.parametrize("given", ["", "normalise", "hub,detect"])
def test_unknown_roles_are_refused(given: str) -> None:
    with pytest.raises(ValidationError, match="worker roles"):
        Settings(worker_roles=given)
