"""The pure parts of the local broker manager: config rendering, process matching, ids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub import local_kafka
from hub.settings import Settings


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(state_dir=tmp_path, **changes)


def test_checked_in_server_properties_render_with_every_placeholder(tmp_path: Path) -> None:
    settings = _settings(tmp_path, kafka_port=19092, kafka_controller_port=19093)
    paths = local_kafka.broker_paths(settings)
    template = (settings.kafka_deploy_dir / "server.properties").read_text()
    rendered = local_kafka.render_server_properties(
        template, local_kafka.placeholder_values(settings, paths)
    )
    settings_lines = [
        line for line in rendered.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert not [line for line in settings_lines if "${" in line]
    props = dict(line.split("=", 1) for line in settings_lines)
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["log.dirs"] == str(paths.data)
    assert props["auto.create.topics.enable"] == "false"
    # loopback only: no listener on a wildcard or external address
    for listener in props["listeners"].split(","):
        assert "//127.0.0.1:" in listener


def test_unknown_placeholder_is_an_error_not_a_blank() -> None:
    with pytest.raises(local_kafka.LocalKafkaError, match="TRACKHUB_NOPE"):
        local_kafka.render_server_properties("a=${TRACKHUB_NOPE}\n", {})


def test_kafka_uuid_has_kafkas_shape() -> None:
    ids = {local_kafka.kafka_uuid() for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", value)
        assert not value.startswith("-")


def test_only_our_broker_command_line_matches(tmp_path: Path) -> None:
    config = tmp_path / "kafka" / "server.properties"
    ours = ["java", "-Xmx512m", "-cp", "libs/*", "kafka.Kafka", str(config)]
    assert local_kafka.is_broker_cmdline(ours, config)
    assert not local_kafka.is_broker_cmdline(["sleep", "100"], config)
    other = ["java", "kafka.Kafka", "/elsewhere/server.properties"]
    assert not local_kafka.is_broker_cmdline(other, config)


def test_broker_command_uses_small_heap_and_log4j2(tmp_path: Path) -> None:
    settings = _settings(tmp_path, kafka_heap="256m")
    paths = local_kafka.broker_paths(settings)
    command = local_kafka.broker_command("java", settings, paths)
    assert "-Xmx256m" in command and "-Xms256m" in command
    assert any(arg.startswith("-Dlog4j2.configurationFile=") for arg in command)
    assert command[-2:] == ["kafka.Kafka", str(paths.config)]


def test_status_of_a_never_started_broker(tmp_path: Path) -> None:
    status = local_kafka.status(_settings(tmp_path, kafka_port=1))
    assert not status.running and status.pid is None
    assert "not running" in status.describe().lower()


def test_stale_pid_file_is_not_trusted(tmp_path: Path) -> None:
    import os

    settings = _settings(tmp_path)
    paths = local_kafka.broker_paths(settings)
    paths.state.mkdir(parents=True)
    paths.pid_file.write_text(str(os.getpid()))  # alive, but not a broker
    assert not local_kafka.status(settings).running
    assert local_kafka.stop(settings, progress=lambda _: None) is False
