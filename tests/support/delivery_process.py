"""``trackhub deliver`` as a subprocess on the test broker, found through its log."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.hub_worker import stop_worker

PORT_LINE = re.compile(r"delivery ops on http://[^:]+:(\d+)")
# fast retries for tests; everything on loopback is allowed unless a test says otherwise
TEST_SETTINGS = {
    "delivery_allow_http": "true",
    "delivery_allow_networks": json.dumps(["127.0.0.0/8"]),
    "delivery_retry_schedule_s": "[0.3, 0.6, 1.0]",
    "delivery_timeout_s": "2",
    "delivery_http_port": "0",
    "metrics_sample_s": "0.5",
    "log_level": "INFO",
}


class DeliveryProcess:
    """One ``trackhub deliver``; its stderr goes to ``<folder>/delivery-N.log``."""

    def __init__(self, env: dict[str, str], folder: Path, **settings: str) -> None:
        self.db = folder / "queue.db"
        values = TEST_SETTINGS | {"delivery_db": str(self.db)} | settings
        self._env = env | {f"TRACKHUB_{k.upper()}": v for k, v in values.items()}
        self._folder = folder
        self._runs = 0
        self.process: subprocess.Popen | None = None
        self.log: Path | None = None
        self.port = 0

    def start(self, timeout_s: float = 60) -> DeliveryProcess:
        """Start and wait until /readyz answers 200 (subscriptions read, alerts consumed)."""
        self._runs += 1
        self.log = self._folder / f"delivery-{self._runs}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "deliver"],
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"trackhub deliver exited: {self.log.read_text()[-2000:]}")
            if not self.port:
                found = PORT_LINE.search(self.log.read_text())
                self.port = int(found.group(1)) if found else 0
            elif self.get("/readyz")[0] == 200:
                return self
            time.sleep(0.1)
        raise AssertionError(f"trackhub deliver not ready: {self.log.read_text()[-2000:]}")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> str:
        status, page = self.get("/metrics")
        assert status == 200
        return page

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM (the clean stop), SIGKILL if it hangs; returns the exit code (0 after
        a clean stop, -9 when it had to be killed)."""
        assert self.process is not None
        stop_worker(self.process, timeout_s)
        self.port = 0
        return self.process.returncode

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.port = 0
