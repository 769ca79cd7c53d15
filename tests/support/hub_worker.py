"""A hub worker process for integration tests, and a watcher of what reaches it."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from kafka import TopicPartition

from hub import topics
from hub.hub_messages import InboxMessage
from hub.settings import Settings
from tests.support.cli_process import spawn_cli
from tests.support.kafka_reading import consumer_at, end_offsets

LOG_TAIL_LINES = 200
_logs: dict[int, Path] = {}


def start_worker(cli_env: dict[str, str], **settings: str) -> subprocess.Popen:
    """``trackhub worker`` on the test broker. The wall clock never moves its watermarks
    (idle advance off): the tests' journeys happened months ago. Its log (warnings and
    up) goes to a file that ``stop_worker`` prints: pytest shows it when a test fails."""
    env = cli_env | {
        "TRACKHUB_HUB_IDLE_AFTER_S": "0",
        "TRACKHUB_LOG_LEVEL": "WARNING",
        "TRACKHUB_WORKER_HTTP_PORT": "0",  # any free port: tests run several workers
    }
    env |= {f"TRACKHUB_{name.upper()}": value for name, value in settings.items()}
    fd, name = tempfile.mkstemp(prefix="trackhub-worker-", suffix=".log")
    os.close(fd)
    process = spawn_cli("worker", env, stderr_log=Path(name))
    _logs[process.pid] = Path(name)
    return process


def stop_worker(process: subprocess.Popen, timeout_s: float = 60) -> None:
    """SIGTERM (a clean faust shutdown), SIGKILL if it does not end in time; then the
    last ``LOG_TAIL_LINES`` lines of its log on stdout, and the log file removed."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log = _logs.pop(process.pid, None)
    if log is None:
        return
    lines = log.read_text(errors="replace").splitlines()
    log.unlink(missing_ok=True)
    print(f"--- worker {process.pid} (exit {process.returncode}), last of {len(lines)} log lines")
    print("\n".join(lines[-LOG_TAIL_LINES:]))


class InboxWatcher:
    """Counts what reaches the shipments' partitions (``hub.shipments-inbox.v1``) from
    the offsets given: plans by shipment, events by (shipment, event id).

    One consumer kept open for the whole test: waiting for each of hundreds of events
    costs a poll, not a new connection.
    """

    def __init__(self, settings: Settings, start: dict[TopicPartition, int]) -> None:
        self._consumer = consumer_at(settings, start, purpose="test-inbox")
        self.plans: Counter[str] = Counter()
        self.events: Counter[tuple[str, str]] = Counter()

    def poll(self) -> None:
        for records in self._consumer.poll(timeout_ms=50).values():
            for record in records:
                message = InboxMessage.model_validate_json(record.value)
                shipment_id = record.key.decode()
                if message.plan is not None:
                    self.plans[shipment_id] += 1
                if message.event is not None:
                    self.events[(shipment_id, message.event.event_id)] += 1

    def wait(
        self,
        *,
        plans: Counter[str] | None = None,
        events: Counter[tuple[str, str]] | None = None,
        timeout_s: float = 60,
    ) -> None:
        """Until at least these counts arrived; AssertionError naming what did not."""
        deadline = time.monotonic() + timeout_s
        while True:
            missing_plans = (plans or Counter()) - self.plans
            missing_events = (events or Counter()) - self.events
            if not missing_plans and not missing_events:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"never reached the inbox: plans {sorted(missing_plans)}, "
                    f"events {sorted(missing_events)[:5]}"
                )
            self.poll()

    def close(self) -> None:
        self._consumer.close()


def inbox_start(settings: Settings) -> dict[TopicPartition, int]:
    return end_offsets(settings, topics.SHIPMENTS_INBOX)
