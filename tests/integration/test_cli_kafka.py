"""``trackhub kafka up|status|down`` and ``trackhub run`` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from hub import topics
from hub.kafka_clients import create_producer, encode_key, encode_model
from hub.settings import Settings
from tests.factories import make_event

TRACKHUB = str(Path(sys.executable).parent / "trackhub")


def _trackhub(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TRACKHUB, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_kafka_up_is_idempotent_and_prints_bootstrap(
    cli_env: dict[str, str], kafka_settings: Settings
) -> None:
    for _ in range(2):
        result = _trackhub(cli_env, "kafka", "up")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == kafka_settings.bootstrap_servers
    status = _trackhub(cli_env, "kafka", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "running" in status.stdout.lower()


def test_down_then_up_keeps_the_data(cli_env: dict[str, str], kafka_settings: Settings) -> None:
    event = make_event(source_description="must survive a broker restart")
    producer = create_producer(kafka_settings, purpose="test-restart")
    try:
        sent = producer.send(
            topics.EVENTS, key=encode_key(event.primary_identifier.key), value=encode_model(event)
        ).get(timeout=30)
    finally:
        producer.close()

    down = _trackhub(cli_env, "kafka", "down")
    assert down.returncode == 0, down.stderr
    stopped = _trackhub(cli_env, "kafka", "status")
    assert stopped.returncode == 3, stopped.stdout
    assert _trackhub(cli_env, "kafka", "down").returncode == 0  # harmless when stopped

    up = _trackhub(cli_env, "kafka", "up")
    assert up.returncode == 0, up.stderr
    from tests.integration.test_topics_and_clients import _read_one

    _, value = _read_one(kafka_settings, topics.EVENTS, sent.partition, sent.offset)
    assert value == encode_model(event)


def test_run_waits_for_events_and_consumes_them(
    cli_env: dict[str, str], kafka_settings: Settings
) -> None:
    process = subprocess.Popen(
        [TRACKHUB, "run"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")))
    reader.start()

    def wait_for(text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(lines)):
                return True
            if process.poll() is not None:
                return False
            time.sleep(0.2)
        return False

    try:
        assert wait_for("waiting for events", 120), "".join(lines)
        event = make_event(source_description="seen by the running hub")
        producer = create_producer(kafka_settings, purpose="test-run")
        try:
            producer.send(
                topics.EVENTS,
                key=encode_key(event.primary_identifier.key),
                value=encode_model(event),
            ).get(timeout=30)
        finally:
            producer.close()
        assert wait_for(event.event_id, 120), "".join(lines)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        reader.join(timeout=10)
    assert process.returncode in (0, 130, -signal.SIGINT), "".join(lines[-30:])


def test_port_taken_by_something_else_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKHUB_")}
        env |= {
            "TRACKHUB_STATE_DIR": str(tmp_path),
            "TRACKHUB_KAFKA_PORT": str(port),
            "TRACKHUB_KAFKA_CONTROLLER_PORT": str(port + 1 if port < 65535 else port - 1),
        }
        result = _trackhub(env, "kafka", "up")
    assert result.returncode == 1
    assert result.stderr.count("trackhub: error:") == 1
    assert str(port) in result.stderr
    assert "Traceback" not in result.stderr
