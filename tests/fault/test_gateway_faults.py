"""The gateway's promise under faults: whatever got a 2xx is on ``tracking.raw.v1``.

Each test runs the real ``trackhub gateway`` against a private broker, under a load of
signed webhooks whose every answer is recorded by reference, then reads the raw log to
its end and matches the references: 0 lost means every webhook answered 2xx has its
record (key ``source:reference``). The faults: the broker down for 20 s, the gateway
SIGKILLed five times, and the gateway SIGTERMed with requests in flight.

The kill tests share one broker (module fixture) behind a TCP proxy, so the SIGTERM test
can slow Kafka down and keep requests in flight; the broker-down test has its own,
reached directly, since it stops it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub import topics
from tests.support.gateway_process import (
    NO_ANSWER,
    GatewayProcess,
    RetryPolicy,
    WebhookSender,
    native_webhooks,
    raw_log_copies,
)
from tests.support.kafka_reading import end_offsets
from tests.support.private_broker import private_broker
from tests.support.tcp_proxy import ProxiedBroker, broker_behind_proxy

BROKER_DOWN_S = 20.0
KILLS = 5


@pytest.fixture(scope="module")
def proxied() -> Iterator[ProxiedBroker]:
    with broker_behind_proxy("fault-gateway-kills") as broker:
        yield broker


def _report(name: str, **figures: object) -> None:
    print(f"\n[{name}] " + "  ".join(f"{key}={value}" for key, value in figures.items()))


def _wait_until(condition: object, timeout_s: float, what: str) -> float:
    """Poll ``condition()`` until true; returns the seconds it took."""
    began = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - began > timeout_s:
            raise AssertionError(f"{what} not within {timeout_s} s")
        time.sleep(0.2)
    return time.monotonic() - began


async def test_broker_down_20s_gateway_answers_503_then_recovers_losing_nothing(
    tmp_path: Path,
) -> None:
    """With the broker stopped for 20 s under load, the gateway (never restarted) answers
    503 with Retry-After, and 202 again on its own once the broker is back; every webhook
    that got a 2xx, before, during or after, is on the raw log, and a sender that retries
    its 503s gets every one of them accepted."""
    with private_broker("fault-gateway-broker-down") as broker:
        start = end_offsets(broker.settings, topics.RAW)
        # a short Kafka wait: a webhook waiting on the stopped broker gets its 503 in ~2 s
        gateway = GatewayProcess(broker.env, tmp_path, gateway_kafka_timeout_s="2")
        try:
            gateway.start()
            webhooks = native_webhooks("down", 4000)
            once = WebhookSender(gateway.webhook_url, concurrency=16, rate_per_s=40)
            stop = asyncio.Event()
            load = asyncio.create_task(once.send(webhooks, stop))
            await asyncio.sleep(3)
            await asyncio.to_thread(broker.stop)
            stopped_at = time.monotonic()
            await asyncio.sleep(BROKER_DOWN_S)
            restarted_at = time.monotonic()
            await asyncio.to_thread(broker.start)  # returns once the broker answers
            back_at = time.monotonic()
            deadline = back_at + 60
            while not any(a.accepted and a.answered_at > back_at for a in once.all_attempts()):
                assert time.monotonic() < deadline, "no 202 within 60 s of the broker's return"
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # some load after the recovery too
            stop.set()
            await asyncio.wait_for(load, 60)
            assert gateway.process is not None and gateway.process.poll() is None

            attempts = once.all_attempts()
            refused = [a for a in attempts if a.status == 503]
            first_after = min(
                a.answered_at for a in attempts if a.accepted and a.answered_at > back_at
            )
            statuses = once.statuses()
            # the retrying sender: every webhook not accepted the first time, again
            sent = [w for w in webhooks if w.reference in once.answers]
            unaccepted = [w for w in sent if w.reference not in once.accepted()]
            retrying = WebhookSender(
                gateway.webhook_url, concurrency=16, rate_per_s=200, retry=RetryPolicy()
            )
            await asyncio.wait_for(retrying.send(unaccepted), 90)
        finally:
            gateway.stop()

        copies = raw_log_copies(broker.settings, start)
        acknowledged = once.accepted() | retrying.accepted()
        lost = [ref for ref in acknowledged if copies[f"fault-native:{ref}"] == 0]
        _report(
            "broker-down",
            sent=len(sent),
            first_answers=dict(sorted(statuses.items())),
            answered_503=len(refused),
            with_retry_after=sum(1 for a in refused if a.retry_after is not None),
            first_202_after_broker_back_s=f"{first_after - back_at:.2f}",
            broker_stopped_s=f"{restarted_at - stopped_at:.1f}",
            broker_restart_s=f"{back_at - restarted_at:.1f}",
            retried=len(unaccepted),
            accepted_after_retries=len(acknowledged),
            lost=len(lost),
        )
        assert refused, "the broker was down under load, yet no webhook got a 503"
        assert all(a.retry_after is not None for a in refused), "a 503 without Retry-After"
        assert set(statuses) <= {202, 503}, statuses  # the gateway answered every request
        assert first_after - back_at < 30
        assert len(acknowledged) == len(sent), "a retrying sender got a webhook accepted"
        assert lost == []


async def test_gateway_sigkill_five_times_under_load_loses_no_acknowledged_webhook(
    proxied: ProxiedBroker, tmp_path: Path
) -> None:
    """kill -9 the gateway five times under load, restarting it on the same port each
    time: senders see connection errors (nothing acknowledged), retry, and in the end
    every webhook is accepted; every 2xx is on the raw log, and a webhook accepted at
    its first attempt has exactly one record (the idempotent producer's retries never
    duplicate one)."""
    settings = proxied.broker.settings
    start = end_offsets(settings, topics.RAW)
    gateway = GatewayProcess(proxied.env, tmp_path)
    sender = WebhookSender(gateway.webhook_url, concurrency=8, rate_per_s=60, retry=RetryPolicy())
    stop = asyncio.Event()
    restart_s: list[float] = []
    try:
        gateway.start()
        load = asyncio.create_task(sender.send(native_webhooks("kill", 5000), stop))
        for _ in range(KILLS):
            await asyncio.sleep(1.5)
            gateway.kill()
            killed_at = time.monotonic()
            await asyncio.to_thread(gateway.start)
            restart_s.append(time.monotonic() - killed_at)
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.wait_for(load, 90)
    finally:
        gateway.stop()

    copies = raw_log_copies(settings, start)
    accepted = sender.accepted()
    lost = [ref for ref in accepted if copies[f"fault-native:{ref}"] == 0]
    first_time = [ref for ref, attempts in sender.answers.items() if len(attempts) == 1]
    duplicated = [ref for ref in first_time if copies[f"fault-native:{ref}"] > 1]
    statuses = sender.statuses()
    _report(
        "gateway-sigkill",
        kills=KILLS,
        webhooks=len(sender.answers),
        attempts=dict(sorted(statuses.items())),
        connection_errors=statuses[NO_ANSWER],
        restart_s=[round(s, 1) for s in restart_s],
        accepted=len(accepted),
        lost=len(lost),
        duplicated_first_time_accepted=len(duplicated),
    )
    assert statuses[NO_ANSWER] > 0, "the kills never hit the load"
    assert len(accepted) == len(sender.answers)
    assert lost == []
    assert duplicated == []


async def _between_batches(sender: WebhookSender) -> None:
    """Wait for 0.4 s after the last answers. The slowed Kafka takes each batch of the
    sender's requests in one produce, so they are answered together and the next ones
    sent at once; signalled now, the gateway holds a whole batch sent 0.4 s before (a
    fixed sleep could land just after a batch was sent, with nothing read yet)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        last = max((a.answered_at for a in sender.all_attempts()), default=None)
        if last is not None and 0.4 <= time.monotonic() - last <= 0.6:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the load's answers never paused: no batch to signal in")


async def test_gateway_sigterm_under_load_finishes_in_flight_requests(
    proxied: ProxiedBroker, tmp_path: Path
) -> None:
    """SIGTERM with requests in flight (Kafka slowed by 0.8 s through the proxy, so every
    webhook takes that long): the gateway stops taking connections, answers every request
    it was already handling with its 202 (none gets a reset), and exits 0; every 2xx is
    on the raw log."""
    settings = proxied.broker.settings
    start = end_offsets(settings, topics.RAW)
    gateway = GatewayProcess(proxied.env, tmp_path)
    sender = WebhookSender(gateway.webhook_url, concurrency=16, rate_per_s=40, retry=RetryPolicy())
    stop = asyncio.Event()
    try:
        gateway.start()
        proxied.proxy.set_latency(0.4)  # each way: a produce round trip takes 0.8 s more
        load = asyncio.create_task(sender.send(native_webhooks("term", 5000), stop))
        await asyncio.sleep(3)
        await _between_batches(sender)
        term_at = time.monotonic()
        exit_code = await asyncio.to_thread(gateway.terminate)
        exited_s = time.monotonic() - term_at
        proxied.proxy.heal()
        await asyncio.to_thread(gateway.start)  # the senders' retries land here
        await asyncio.sleep(1)
        stop.set()
        await asyncio.wait_for(load, 90)
    finally:
        proxied.proxy.heal()
        gateway.stop()

    # sent at least 0.3 s before the signal (so surely read by the server by then) and
    # not answered when it came: in flight
    in_flight = [
        a for a in sender.all_attempts() if a.sent_at < term_at - 0.3 and a.answered_at > term_at
    ]
    copies = raw_log_copies(settings, start)
    accepted = sender.accepted()
    lost = [ref for ref in accepted if copies[f"fault-native:{ref}"] == 0]
    _report(
        "gateway-sigterm",
        in_flight_at_sigterm=len(in_flight),
        in_flight_answers=dict(
            sorted(
                (s, sum(a.status == s for a in in_flight)) for s in {a.status for a in in_flight}
            )
        ),
        exit_code=exit_code,
        exit_s=f"{exited_s:.2f}",
        webhooks=len(sender.answers),
        attempts=dict(sorted(sender.statuses().items())),
        accepted=len(accepted),
        lost=len(lost),
    )
    assert len(in_flight) >= 5, "the signal did not find requests in flight"
    assert all(a.status == 202 for a in in_flight), [a for a in in_flight if a.status != 202]
    assert exit_code == 0
    assert len(accepted) == len(sender.answers)
    assert lost == []
