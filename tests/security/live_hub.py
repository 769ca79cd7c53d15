"""The whole hub as real processes on a broker of its own, logging JSON at DEBUG.

``trackhub gateway``, ``worker``, ``api`` and ``deliver`` each run in their own session
with stdout and stderr in one file per process, so the security tests can call them and
then read every line they wrote and every ``/metrics`` page they served. The worker runs
on the simulator's clock (no idle advance, a year of lateness), as ``trackhub demo`` does.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from connectors.registry import connector_names
from hub.settings import Settings, SourceConfig
from tests.support.private_broker import free_port

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"live-hub-security-webhook-secret").decode()
COMMANDS = ("gateway", "worker", "api", "deliver")
T = TypeVar("T")


def hub_sources() -> dict[str, SourceConfig]:
    return {
        f"sec-{name}": SourceConfig(format=name, secrets=[WEBHOOK_SECRET])
        for name in connector_names()
    }


@dataclass
class HubProcess:
    command: str
    port: int  # where it serves /metrics, /healthz, /readyz
    log: Path
    popen: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


@dataclass
class LiveHub:
    broker_env: dict[str, str]
    folder: Path
    extra: dict[str, str] = field(default_factory=dict)  # TRACKHUB_* for every process
    name: str = "hub"  # log files are <name>-<command>.log
    processes: dict[str, HubProcess] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """What every process of this hub gets: the broker, the sources, JSON at DEBUG."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKHUB_")}
        env |= self.broker_env | {
            "TRACKHUB_LOG_FORMAT": "json",
            "TRACKHUB_LOG_LEVEL": "DEBUG",
            "TRACKHUB_SOURCES": json.dumps(
                {
                    n: {"format": s.format, "secrets": [WEBHOOK_SECRET]}
                    for n, s in hub_sources().items()
                }
            ),
            "TRACKHUB_HUB_IDLE_AFTER_S": "0",
            "TRACKHUB_HUB_LATENESS_S": str(365 * 86400),
            "TRACKHUB_HUB_PLAN_GRACE_S": "1",
            "TRACKHUB_API_DB": str(self.folder / "api.db"),
            "TRACKHUB_API_SSE_HEARTBEAT_S": "1",
            "TRACKHUB_DELIVERY_DB": str(self.folder / "delivery.db"),
            "TRACKHUB_DELIVERY_ALLOW_HTTP": "true",
            "TRACKHUB_DELIVERY_ALLOW_NETWORKS": json.dumps(["127.0.0.0/8"]),
            "TRACKHUB_DELIVERY_RETRY_SCHEDULE_S": "[0.3, 0.6, 1.0]",
            "TRACKHUB_METRICS_SAMPLE_S": "0.5",
        }
        return env | self.extra

    @property
    def settings(self) -> Settings:
        fields = {k.removeprefix("TRACKHUB_").lower(): v for k, v in self.broker_env.items()}
        return Settings(**fields, sources=hub_sources())

    def start(self, *commands: str, timeout_s: float = 90) -> LiveHub:
        """Start the commands (all by default) and wait until each /readyz answers 200."""
        self.launch(*commands)
        return self.wait_ready(*commands, timeout_s=timeout_s)

    def launch(self, *commands: str) -> LiveHub:
        """Start the commands (all by default) without waiting for them."""
        for command in commands or COMMANDS:
            port = free_port()
            port_setting = {
                "gateway": "TRACKHUB_GATEWAY_PORT",
                "worker": "TRACKHUB_WORKER_HTTP_PORT",
                "api": "TRACKHUB_API_PORT",
                "deliver": "TRACKHUB_DELIVERY_HTTP_PORT",
            }[command]
            log = self.folder / f"{self.name}-{command}.log"
            popen = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", command],
                env=self.env | {port_setting: str(port)},
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.processes[command] = HubProcess(command, port, log, popen)
        return self

    def wait_ready(self, *commands: str, timeout_s: float = 90) -> LiveHub:
        """Until each command's /readyz answers 200; AssertionError with its log if not."""
        deadline = time.monotonic() + timeout_s
        for command in commands or COMMANDS:
            process = self.processes[command]
            while http_get(process.url + "/readyz")[0] != 200:
                if process.popen.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{command} not ready: {process.log.read_text()[-3000:]}")
                time.sleep(0.2)
        return self

    def url(self, command: str) -> str:
        return self.processes[command].url

    def metrics_pages(self) -> dict[str, str]:
        pages = {}
        for command, process in self.processes.items():
            status, page = http_get(process.url + "/metrics")
            assert status == 200, (command, status)
            pages[command] = page
        return pages

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM each process group (a clean stop flushes its last lines), then SIGKILL."""
        for process in self.processes.values():
            if process.popen.poll() is None:
                os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes.values():
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait()

    def logs(self) -> dict[str, str]:
        return {command: p.log.read_text(errors="replace") for command, p in self.processes.items()}


def create_sellers(env: dict[str, str], seller_ids: list[str], log: Path) -> list[str]:
    """``trackhub seller create`` for each id, run side by side; the API keys they printed
    (each one's last stdout line). Their stderr (JSON logs at DEBUG) goes to ``log``."""
    with log.open("ab") as errors:
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "seller", "create", seller_id],
                env=env,
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,
            )
            for seller_id in seller_ids
        ]
        keys = []
        for run in runs:
            try:
                out, _ = run.communicate(timeout=120)
            finally:
                if run.poll() is None:
                    os.killpg(run.pid, signal.SIGKILL)
                    run.wait()
            assert run.returncode == 0, f"seller create failed: {log.read_text()[-2000:]}"
            keys.append(out.decode().strip().splitlines()[-1])
    return keys


def until(check: Callable[[], T], what: str, timeout_s: float = 90) -> T:
    """Poll ``check`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.25)
