"""The operating-system side of the local broker: lock, tools, pids, signals, ports, probe.

Kept apart from the lifecycle rules so ``start``/``stop``/``status`` read as the decisions
they make. What callers may rely on: a pid is treated as our broker only while
``/proc/<pid>/cmdline`` is our ``kafka.Kafka`` command with our effective
``server.properties`` (``is_our_broker``), so a reused pid is never signalled; ``locked``
serialises processes that prepare or start the same broker (a file lock, not a thread
lock); ``answers`` is one cluster-metadata round trip that says False, rather than raising,
when the broker is unreachable or fails the request.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from kafka import KafkaAdminClient

from hub.local_kafka.config import BrokerPaths, LocalKafkaError, is_broker_cmdline, local_bootstrap
from hub.settings import Settings


@contextlib.contextmanager
def locked(paths: BrokerPaths) -> Iterator[None]:
    """An exclusive lock across processes (e.g. CLI and a test session starting together)."""
    paths.state.mkdir(parents=True, exist_ok=True)
    with paths.lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def require_tool(name: str, purpose: str) -> str:
    """The path of ``name`` on PATH, else ``LocalKafkaError`` saying what it is needed for."""
    found = shutil.which(name)
    if found is None:
        raise LocalKafkaError(
            f"`{name}` is not on PATH: {purpose}. Install it, or set TRACKHUB_KAFKA_BOOTSTRAP "
            "to use an existing Kafka cluster instead of the local broker."
        )
    return found


def launch_detached(command: list[str], stdout_log: Path) -> int:
    """Start ``command`` in a new session, not as our child, and return its pid.

    A throw-away ``sh`` backgrounds the JVM and exits, so the JVM is re-parented to init:
    no zombie or ResourceWarning in the caller, and the broker outlives a test session.
    """
    script = 'log=$1; shift; "$@" </dev/null >"$log" 2>&1 & echo $!'
    result = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(stdout_log), *command],
        capture_output=True, text=True, start_new_session=True, check=False, timeout=30,
    )  # fmt: skip
    try:
        return int(result.stdout.strip())
    except ValueError:
        raise LocalKafkaError(f"could not launch the broker JVM: {result.stderr}") from None


def write_pid(paths: BrokerPaths, pid: int) -> None:
    paths.pid_file.write_text(f"{pid}\n")


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _cmdline(pid: int) -> list[str]:
    """A live process's arguments; [] for gone processes and zombies."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        raw = b""
    if not raw:
        return []
    return raw.decode("utf-8", errors="replace").rstrip("\0").split("\0")


def is_our_broker(pid: int, paths: BrokerPaths) -> bool:
    return is_broker_cmdline(_cmdline(pid), paths.config)


def running_pid(paths: BrokerPaths) -> int | None:
    """Our broker's pid: from the pid file if it is still our JVM, else found in /proc."""
    pid = _read_pid(paths.pid_file)
    if pid is not None and is_our_broker(pid, paths):
        return pid
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_our_broker(int(entry.name), paths):
            return int(entry.name)
    return None


def send_signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def wait_gone(pid: int, paths: BrokerPaths, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_our_broker(pid, paths):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def ensure_ports_free(settings: Settings, paths: BrokerPaths) -> None:
    for what, port in (
        ("client", settings.kafka_port),
        ("controller", settings.kafka_controller_port),
    ):
        if _port_in_use(settings.kafka_host, port):
            raise LocalKafkaError(
                f"{what} port {settings.kafka_host}:{port} is already in use by another process "
                f"(not the trackhub broker of {paths.state}). Stop that process, choose other "
                "ports with TRACKHUB_KAFKA_PORT / TRACKHUB_KAFKA_CONTROLLER_PORT, or set "
                "TRACKHUB_KAFKA_BOOTSTRAP to use an existing cluster."
            )


def _port_in_use(host: str, port: int) -> bool:
    """Try the bind Kafka will do (SO_REUSEADDR, like the JVM), then release it."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise LocalKafkaError(f"cannot listen on {host}:{port}: {exc}") from exc
    return False


def _port_accepts(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
        return True
    return False


def answers(settings: Settings, timeout_s: float) -> bool:
    """One cluster-metadata round trip: the broker is up and registered (not fenced)."""
    if not _port_accepts(settings.kafka_host, settings.kafka_port):
        return False  # cheap check first: spares kafka-python's connection-refused warnings
    timeout_ms = int(timeout_s * 1000)
    wanted = {
        "bootstrap_servers": local_bootstrap(settings),
        "client_id": f"{settings.client_id}-local-kafka",
        "request_timeout_ms": timeout_ms,
        "bootstrap_timeout_ms": timeout_ms,  # kafka-python >= 3
        "api_version_auto_timeout_ms": timeout_ms,  # kafka-python 2.x
    }
    config = {k: v for k, v in wanted.items() if k in KafkaAdminClient.DEFAULT_CONFIG}
    try:
        admin = KafkaAdminClient(**config)
    except Exception:  # any failure to bootstrap means "not answering (yet)"
        return False
    try:
        brokers = admin.describe_cluster().get("brokers", [])
        return any(not broker.get("is_fenced", False) for broker in brokers)
    except Exception:
        return False
    finally:
        admin.close()
