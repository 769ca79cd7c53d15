"""A hub worker process for integration tests, and a watcher of what reaches it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

from kafka import TopicPartition

from hub import topics
from hub.hub_messages import InboxMessage
from hub.settings import Settings
from tests.support.cli_process import spawn_cli
from tests.support.kafka_reading import consumer_at, end_offsets


def start_worker(cli_env: dict[str, str], **settings: str) -> subprocess.Popen:
    """``trackhub worker`` on the test broker. The wall clock never moves its watermarks
    (idle advance off): the tests' journeys happened months ago."""
    env = cli_env | {
        "TRACKHUB_HUB_IDLE_AFTER_S": "0",
        "TRACKHUB_LOG_LEVEL": "WARNING",
        "TRACKHUB_WORKER_HTTP_PORT": "0",  # any free port: tests run several workers
    }
    env |= {f"TRACKHUB_{name.upper()}": value for name, value in settings.items()}
    return spawn_cli("worker", env)


def stop_worker(process: subprocess.Popen, timeout_s: float = 60) -> None:
    """SIGTERM (a clean faust shutdown), SIGKILL if it does not end in time."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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
