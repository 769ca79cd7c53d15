"""A real ``trackhub gateway`` process for the load, and its resident memory over time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from hub.settings import SourceConfig
from tests.perf.common import free_port, rss_mib


class GatewayProcess:
    """``trackhub gateway`` in its own session, its log in ``log_path``."""

    def __init__(
        self, broker_env: dict[str, str], sources: dict[str, SourceConfig], log_path: Path
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKHUB_")}
        env |= broker_env | {
            "TRACKHUB_GATEWAY_PORT": str(self.port),
            "TRACKHUB_LOG_LEVEL": "WARNING",
            "TRACKHUB_LOG_FORMAT": "json",
            # written out by hand: model_dump hides secrets behind SecretStr
            "TRACKHUB_SOURCES": json.dumps(
                {
                    name: {
                        "format": source.format,
                        "secrets": [s.get_secret_value() for s in source.secrets],
                    }
                    for name, source in sources.items()
                }
            ),
        }
        self._env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> GatewayProcess:
        """Start and wait until ``/readyz`` answers 200 (the raw topic answers)."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "gateway"],
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gateway not ready: {self.log_path.read_text()[-2000:]}")

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM to its process group, SIGKILL if it does not end in time."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class RssSampler:
    """Samples a process's VmRSS every ``interval_s`` on a thread, tagged with the phase
    kind running at that moment (``phase`` is set by the load as it moves on)."""

    pid: int
    interval_s: float = 0.25
    phase: str = "start"
    samples: list[tuple[float, str, float]] = field(default_factory=list)  # (monotonic, kind, MiB)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def sample(self) -> float:
        """One sample now (also kept), in MiB."""
        mib = rss_mib(self.pid)
        self.samples.append((time.monotonic(), self.phase, mib))
        return mib

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def max_during(self, *kinds: str) -> float:
        values = [mib for _, kind, mib in self.samples if kind in kinds]
        return max(values) if values else float("nan")
