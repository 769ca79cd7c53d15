"""A process's resident memory over time, tagged with the load phase running."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tests.perf.common import rss_mib


@dataclass
class RssSampler:
    """Samples the VmRSS of processes every ``interval_s`` on a thread, keeping the largest
    of them, tagged with the phase kind running at that moment (``phase`` is set by the
    load as it moves on)."""

    pids: list[int]
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
        """One sample now (also kept): the largest process's, in MiB."""
        mib = max(rss_mib(pid) for pid in self.pids)
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
