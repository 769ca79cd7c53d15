"""Test session set-up: a real Kafka broker for the integration tests.

The session starts its own single-node KRaft broker (the same code as ``trackhub kafka
up``) in ``.trackhub/test`` on free loopback ports, so it never touches a broker started
by ``make run``, and stops it when the session ends, pass or fail. With
``TRACKHUB_KAFKA_BOOTSTRAP`` set, that cluster is used instead and nothing is started.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.settings import PROJECT_ROOT, Settings

TEST_STATE_DIR = PROJECT_ROOT / ".trackhub" / "test"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder == "integration":
            item.add_marker(pytest.mark.integration)
        elif folder == "fault":
            item.add_marker(pytest.mark.fault)
    # The session shares one broker, so the hub's partition watermarks (a table) outlive
    # a test: a test replaying history must run before others move the clock past it.
    items.sort(key=lambda item: item.get_closest_marker("hub_clock_first") is None)


@pytest.fixture(scope="session")
def kafka_env() -> Iterator[dict[str, str]]:
    """TRACKHUB_* variables that point a process at the test session's broker."""
    external = os.environ.get("TRACKHUB_KAFKA_BOOTSTRAP")
    if external:
        yield {"TRACKHUB_KAFKA_BOOTSTRAP": external}
        return
    from hub import local_kafka

    env = {
        "TRACKHUB_STATE_DIR": str(TEST_STATE_DIR),
        "TRACKHUB_KAFKA_PORT": str(_free_port()),
        "TRACKHUB_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "TRACKHUB_KAFKA_HEAP": "384m",
    }
    settings = Settings(**_settings_fields(env))
    local_kafka.stop(settings, progress=lambda _: None)  # a leftover from a killed session
    for leftover in ("data", "logs", "server.properties", "meta"):
        path = settings.kafka_state_dir / leftover
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    # the workers' local table stores belong to the broker data just wiped
    shutil.rmtree(settings.state_dir.resolve() / "faust", ignore_errors=True)
    try:
        local_kafka.start(settings, progress=print)
        from hub.kafka_clients import ensure_topics

        ensure_topics(settings)
        yield env
    finally:
        local_kafka.stop(settings, progress=print)


def _settings_fields(env: dict[str, str]) -> dict[str, str]:
    prefix = "TRACKHUB_"
    return {key[len(prefix) :].lower(): value for key, value in env.items()}


@pytest.fixture(scope="session")
def kafka_settings(kafka_env: dict[str, str]) -> Settings:
    """Settings for in-process clients talking to the test broker."""
    return Settings(**_settings_fields(kafka_env))


def subprocess_env(kafka_env: dict[str, str]) -> dict[str, str]:
    """The environment for a ``trackhub`` subprocess aimed at the test broker: this
    one's, without any TRACKHUB_* of the caller's, plus the broker's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKHUB_")}
    env.update(kafka_env)
    return env


@pytest.fixture
def cli_env(kafka_env: dict[str, str]) -> dict[str, str]:
    """The environment for a ``trackhub`` subprocess aimed at the test broker."""
    return subprocess_env(kafka_env)
