"""How the hub's agents fail: unreadable records are dead-lettered and skipped; anything
else that escapes an agent ends the worker process (to be restarted by its supervisor)
rather than skipping the record it crashed on."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from kafka.admin import NewTopic

from hub import topics
from hub.app import AGENT_CRASH_EXIT_CODE
from hub.hub_control import register_plans
from hub.kafka_clients import create_admin, create_producer, encode_key, encode_model
from hub.settings import Settings
from schemas.events import DeadLetter
from tests.factories import make_plan, native_event
from tests.support.hub_worker import inbox_start, start_worker, stop_worker
from tests.support.kafka_reading import end_offsets, read_since


def _send_raw(settings: Settings, topic: str, key: bytes, value: bytes | None) -> None:
    producer = create_producer(settings, purpose="test-unreadable")
    try:
        producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def test_unreadable_records_are_dead_lettered_and_the_worker_goes_on(
    kafka_settings: Settings, cli_env: dict[str, str]
) -> None:
    suffix = f"{int(time.time() * 1000) % 10**8:08d}"
    dlq_start = end_offsets(kafka_settings, topics.DLQ)
    unreadable = {
        topics.EVENTS: b"this is not a TrackingEvent",
        topics.RESOLVE: b'{"kind": "no such kind", "identifier": "x"}',
        topics.SHIPMENTS_INBOX: b"\xff\xfe not json",
        topics.SHIPMENTS: b'{"shipment_id": "half a plan"}',
    }
    worker = start_worker(cli_env)
    try:
        for topic, value in unreadable.items():
            _send_raw(kafka_settings, topic, encode_key(f"BAD-{suffix}"), value)
        _send_raw(kafka_settings, topics.SHIPMENTS, encode_key(f"GONE-{suffix}"), None)
        # then a real plan and event: they still get through
        plan = make_plan(
            shipment_id=f"SHP-AFTER-BAD-{suffix}",
            identifiers=[{"kind": "order_id", "value": f"AB-{suffix}"}],
        )
        start = inbox_start(kafka_settings)
        register_plans(kafka_settings, [plan])
        scan = native_event(
            "2026-03-01T10:00:00+08:00", "picked_up", f"order_id:AB-{suffix}", "fwd", "forwarder"
        )
        producer = create_producer(kafka_settings, purpose="test-unreadable")
        producer.send(
            topics.EVENTS, key=encode_key(scan.primary_identifier.key), value=encode_model(scan)
        )
        producer.flush()
        producer.close()

        def mine() -> list[DeadLetter]:
            letters = map(DeadLetter.model_validate_json, read_since(kafka_settings, dlq_start))
            return [d for d in letters if d.error_type == "InvalidRecord"]

        deadline = time.monotonic() + 120
        arrived = False
        while time.monotonic() < deadline:
            arrived = arrived or any(
                scan.event_id.encode() in value for value in read_since(kafka_settings, start)
            )
            if arrived and len(mine()) >= len(unreadable):
                break
            time.sleep(1)
        assert arrived, "the event after the unreadable records never reached its shipment"
        letters = mine()
        where = {d.details["record"].rsplit("/", 2)[0]: d for d in letters}
        assert set(where) == set(unreadable), where.keys()
        for topic, value in unreadable.items():
            assert where[topic].raw.body == value
            assert where[topic].reason.startswith(f"record {topic}/")
        assert {where[t].stage for t in unreadable} == {"resolve", "state"}
        assert worker.poll() is None, "the worker died"
    finally:
        stop_worker(worker)


CRASHING_WORKER = textwrap.dedent(
    """
    import faust
    from hub.app import create_app
    from hub.settings import Settings
    from hub.worker import HubWorker

    settings = Settings()
    app = create_app(settings)
    topic = app.topic({topic!r}, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="crash-on-boom")
    async def crash(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            if value == b"boom":
                raise RuntimeError("a bug in an agent")

    HubWorker(app, settings).execute_from_commandline()
    """
)


def test_an_agent_crash_ends_the_worker_instead_of_skipping_the_record(
    kafka_settings: Settings, cli_env: dict[str, str], tmp_path
) -> None:
    """faust would restart the agent on the next record; ours exits (code 70) so that a
    restart reads the record again from the last committed offset."""
    topic = f"test.crash-{int(time.time() * 1000)}"
    admin = create_admin(kafka_settings)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    script = tmp_path / "crashing_worker.py"
    script.write_text(CRASHING_WORKER.format(topic=topic))
    env = cli_env | {
        "TRACKHUB_LOG_LEVEL": "WARNING",
        "TRACKHUB_WORKER_ROLES": "normalize",
        "TRACKHUB_WORKER_HTTP_PORT": "0",
    }
    process = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # sent before the worker has joined: it reads its new topic from the start
        _send_raw(kafka_settings, topic, b"k", b"fine")
        _send_raw(kafka_settings, topic, b"k", b"boom")
        code = process.wait(timeout=120)
        output = process.stdout.read().decode()
        assert code == AGENT_CRASH_EXIT_CODE, output[-3000:]
        assert "agent" in output and "crashed (RuntimeError)" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
