"""A broker of a test's own, for fault tests that stop, slow or cut it.

The session broker (``tests/conftest.py``) is shared by every integration test, so a test
that takes its broker down, or needs a hub whose tables start empty, gets one of these:
a single-node KRaft broker in ``.trackhub/<name>`` on free loopback ports, wiped first,
with the project's topics created. ``stop`` and ``start`` keep the data and the ports, so
a test can take the broker down and bring the same one back.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from hub import local_kafka
from hub.kafka_clients import ensure_topics
from hub.settings import PROJECT_ROOT, Settings


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PrivateBroker:
    """``env`` holds the TRACKHUB_* variables that aim a process at this broker."""

    env: dict[str, str]

    @property
    def settings(self) -> Settings:
        fields = {k.removeprefix("TRACKHUB_").lower(): v for k, v in self.env.items()}
        return Settings(**fields)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.env['TRACKHUB_KAFKA_PORT']}"

    def stop(self) -> None:
        local_kafka.stop(self.settings, progress=lambda _: None)

    def start(self) -> None:
        local_kafka.start(self.settings, progress=lambda _: None)


@contextmanager
def private_broker(
    name: str, partitions: int | None = None, settings: Mapping[str, str] | None = None
) -> Iterator[PrivateBroker]:
    """A fresh broker in ``.trackhub/<name>``, stopped (data kept) when the block ends;
    ``settings`` adds TRACKHUB_* variables (e.g. ``TRACKHUB_KAFKA_ADVERTISED_PORT``)."""
    state_dir = PROJECT_ROOT / ".trackhub" / name
    env = {
        "TRACKHUB_STATE_DIR": str(state_dir),
        "TRACKHUB_KAFKA_PORT": str(free_port()),
        "TRACKHUB_KAFKA_CONTROLLER_PORT": str(free_port()),
        "TRACKHUB_KAFKA_HEAP": "384m",
    }
    if partitions is not None:
        env["TRACKHUB_PARTITIONS"] = str(partitions)
    env |= settings or {}
    broker = PrivateBroker(env)
    broker.stop()  # a leftover of a killed session
    for leftover in ("data", "logs", "server.properties", "meta"):
        path = broker.settings.kafka_state_dir / leftover
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    shutil.rmtree(state_dir.resolve() / "faust", ignore_errors=True)
    try:
        broker.start()
        ensure_topics(broker.settings)
        yield broker
    finally:
        broker.stop()
