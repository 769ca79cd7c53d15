"""Shared set-up of the benchmarks: a broker to run against and small statistics."""

from __future__ import annotations

import os
import platform
import socket
import statistics
from pathlib import Path

from hub import local_kafka
from hub.kafka_clients import ensure_topics
from hub.settings import PROJECT_ROOT, Settings

BENCH_STATE_DIR = PROJECT_ROOT / ".trackhub" / "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_env(fresh: bool) -> dict[str, str]:
    """TRACKHUB_* for the benchmark's broker: an external one if TRACKHUB_KAFKA_BOOTSTRAP
    is set, else a local broker in .trackhub/bench (wiped first when ``fresh``)."""
    if os.environ.get("TRACKHUB_KAFKA_BOOTSTRAP"):
        return {"TRACKHUB_KAFKA_BOOTSTRAP": os.environ["TRACKHUB_KAFKA_BOOTSTRAP"]}
    env = {
        "TRACKHUB_STATE_DIR": str(BENCH_STATE_DIR),
        "TRACKHUB_KAFKA_PORT": os.environ.get("BENCH_KAFKA_PORT", "19192"),
        "TRACKHUB_KAFKA_CONTROLLER_PORT": os.environ.get("BENCH_KAFKA_CONTROLLER_PORT", "19193"),
        "TRACKHUB_KAFKA_HEAP": "1g",
    }
    settings = settings_from(env)
    if fresh:
        local_kafka.stop(settings, progress=lambda _: None)
        import shutil

        for name in ("data", "logs"):
            shutil.rmtree(settings.kafka_state_dir / name, ignore_errors=True)
    local_kafka.start(settings, progress=lambda _: None)
    ensure_topics(settings)
    return env


def settings_from(env: dict[str, str], **changes: object) -> Settings:
    fields = {k.removeprefix("TRACKHUB_").lower(): v for k, v in env.items()}
    return Settings(**(fields | changes))


def stop_bench_broker(env: dict[str, str]) -> None:
    if "TRACKHUB_KAFKA_BOOTSTRAP" not in env:
        local_kafka.stop(settings_from(env), progress=lambda _: None)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine() -> str:
    cpu = "unknown cpu"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (0.0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, in seconds (0.0 once gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after the command name: state is field 3, utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid(env: dict[str, str]) -> int | None:
    """The local benchmark broker's JVM, or None when the broker is external."""
    if "TRACKHUB_KAFKA_BOOTSTRAP" in env:
        return None
    return local_kafka.status(settings_from(env)).pid
