"""``python -m tests.fuzz.run --target gateway``: the gateway fuzz at scale, end to end.

A broker of its own (``tests.support.private_broker``; or ``TRACKHUB_KAFKA_BOOTSTRAP``),
the gateway app on a local port, and a real ``trackhub worker`` running the normalize
agent alone. After the requests: every answer checked, every 202 on the raw log once,
and every record the normalizer refuses found on ``tracking.dlq.v1``, written by the
worker, with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from connectors.gateway import create_gateway_app
from hub import topics
from hub.settings import Settings
from schemas.events import DeadLetter
from tests.fuzz.gateway_check import (
    GatewayReport,
    check_raw_log,
    fuzz_gateway,
    gateway_settings,
    raw_log_start,
)
from tests.fuzz.oracle import quiet_mapper_logs
from tests.support.hub_worker import start_worker, stop_worker
from tests.support.kafka_reading import end_offsets, read_since
from tests.support.private_broker import private_broker

DLQ_WAIT_S = 300.0


async def _fuzz(settings: Settings, cases: int, seed: int, report: GatewayReport) -> None:
    app = create_gateway_app(gateway_settings(settings))
    async with TestClient(TestServer(app)) as client:
        await fuzz_gateway(client, seed, cases, report)


def _dead_letters_on_topic(settings: Settings, start: dict, expected: set[str]) -> set[str]:
    """Raw envelope ids of ``expected`` found on the DLQ, waiting up to DLQ_WAIT_S."""
    found: set[str] = set()
    deadline = time.monotonic() + DLQ_WAIT_S
    while expected - found and time.monotonic() < deadline:
        for value in read_since(settings, start):
            found.add(DeadLetter.model_validate_json(value).raw.envelope_id)
        if expected - found:
            time.sleep(2)
    return found & expected


def run_gateway_fuzz(cases: int, seed: int, failures: Path) -> int:
    quiet_mapper_logs()
    # aiohttp logs each request its HTTP parser refuses (the raw header bytes) with a
    # traceback; the answers are checked here instead
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    with ExitStack() as stack:
        if os.environ.get("TRACKHUB_KAFKA_BOOTSTRAP"):
            env = {"TRACKHUB_KAFKA_BOOTSTRAP": os.environ["TRACKHUB_KAFKA_BOOTSTRAP"]}
        else:
            print("starting a private broker (.trackhub/fuzz-gateway) ...", flush=True)
            env = stack.enter_context(private_broker("fuzz-gateway")).env
        settings = Settings(**{k.removeprefix("TRACKHUB_").lower(): v for k, v in env.items()})
        raw_start = raw_log_start(settings)
        dlq_start = end_offsets(settings, topics.DLQ)
        worker: subprocess.Popen = start_worker(os.environ | env, worker_roles="normalize")
        stack.callback(stop_worker, worker)
        report = GatewayReport()
        asyncio.run(_fuzz(settings, cases, seed, report))
        check_raw_log(settings, raw_start, report)
        on_dlq = _dead_letters_on_topic(settings, dlq_start, report.dead_lettered)
    rate = report.cases / report.seconds if report.seconds else 0.0
    print(f"gateway: {report.cases} requests, seed {seed}, {rate:.0f} requests/s, "
          f"slowest {report.slowest_ms:.1f} ms")  # fmt: skip
    print(f"  answers: {dict(sorted(report.statuses.items()))} (500s: {report.statuses[500]})")
    print(f"  kinds:   {dict(sorted(report.kinds.items()))}")
    print(f"  accepted (202): {len(report.accepted)}, normalized to {report.events} events "
          f"and {report.dead_letters} dead letters; on tracking.dlq.v1 from the worker: "
          f"{len(on_dlq)} of {len(report.dead_lettered)}")  # fmt: skip
    missing = report.dead_lettered - on_dlq
    problems = report.problems + [f"{e} never reached tracking.dlq.v1" for e in sorted(missing)]
    print(f"  problems: {len(problems)}")
    for problem in problems[:20]:
        print(f"    {problem[:300]}")
    if problems:
        failures.mkdir(parents=True, exist_ok=True)
        out = failures / f"gateway-seed{seed}.txt"
        out.write_text("\n".join(problems) + "\n", encoding="utf-8")
        print(f"  all problems in {out}")
    return 1 if problems else 0
