"""``trackhub kafka up|status|down`` and ``trackhub run`` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from connectors.registry import get_connector
from hub import topics
from hub.kafka_clients import create_producer, encode_key, encode_model
from hub.settings import Settings
from schemas.events import DeadLetter, TrackingEvent
from tests.connector_cases import connector_cases
from tests.factories import make_event
from tests.support.kafka_reading import end_offsets, read_one, read_since
from tests.support.signing import SECRET, standard_webhook_headers

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
    _, value = read_one(kafka_settings, topics.EVENTS, sent.partition, sent.offset)
    assert value == encode_model(event)


def test_run_takes_webhooks_to_events_and_dead_letters(
    cli_env: dict[str, str], kafka_settings: Settings
) -> None:
    """The whole path: signed webhook -> gateway -> raw log -> normalize -> events / DLQ."""
    port = _free_port()
    env = cli_env | {
        "TRACKHUB_GATEWAY_PORT": str(port),
        "TRACKHUB_SOURCES": json.dumps({"acme": {"format": "native", "secrets": [SECRET]}}),
    }
    events_start = end_offsets(kafka_settings, topics.EVENTS)
    dlq_start = end_offsets(kafka_settings, topics.DLQ)
    process = subprocess.Popen(
        [TRACKHUB, "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")))
    reader.start()
    try:
        assert _wait_for(lines, process, "waiting for events", 120), "".join(lines)
        assert _wait_for(lines, process, "webhook gateway listening", 60), "".join(lines)
        good = _native_payload("delivered_journey")
        bad = _native_payload("naive_time")
        url = f"http://127.0.0.1:{port}/webhooks/acme"
        for body in (good, bad):
            request = urllib.request.Request(
                url, data=body, headers=standard_webhook_headers(body), method="POST"
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 202
        expected_ids = {e.event_id for e in _native_events("delivered_journey")}
        deadline = time.monotonic() + 90
        seen_ids: set[str] = set()
        letters: list[DeadLetter] = []
        while time.monotonic() < deadline and not (expected_ids <= seen_ids and letters):
            seen_ids |= {
                TrackingEvent.model_validate_json(v).event_id
                for v in read_since(kafka_settings, events_start)
            }
            # other tests' records may still be on the session's raw log: only ours count
            letters = [
                letter
                for letter in map(
                    DeadLetter.model_validate_json, read_since(kafka_settings, dlq_start)
                )
                if letter.raw.source == "acme"
            ]
            time.sleep(0.5)
        assert expected_ids <= seen_ids, "".join(lines[-40:])
        assert [letter.error_type for letter in letters] == ["NativePayloadError"]
        assert letters[0].raw.body == bad
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


def _wait_for(lines: list[str], process: subprocess.Popen, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in list(lines)):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _native_payload(case: str) -> bytes:
    return next(c for c in connector_cases("native") if c.name == case).payload.read_bytes()


def _native_events(case: str) -> list[TrackingEvent]:
    raw = next(c for c in connector_cases("native") if c.name == case).envelope()
    return get_connector("native").parse(raw)


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
