"""The broker's lifecycle as callers see it: ``start``, ``stop`` and ``status``.

These decide what to do (reuse a running broker, prepare and launch one, wait for it,
stop it, report on it); the files they need come from ``prepare`` and the process work
from ``process``. The guarantees callers rely on are listed in the package docstring
(``hub/local_kafka/__init__.py``).
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

from hub.local_kafka.config import (
    BrokerPaths,
    BrokerStatus,
    LocalKafkaError,
    Progress,
    broker_command,
    broker_paths,
    local_bootstrap,
    tail,
)
from hub.local_kafka.prepare import prepare_jars, prepare_storage, write_config
from hub.local_kafka.process import (
    answers,
    ensure_ports_free,
    is_our_broker,
    launch_detached,
    locked,
    require_tool,
    running_pid,
    send_signal,
    wait_gone,
    write_pid,
)
from hub.settings import Settings

_PROBE_TIMEOUT_S = 3.0


def status(settings: Settings) -> BrokerStatus:
    """Is our broker JVM alive (stale pid files are ignored) and does it answer metadata?"""
    paths = broker_paths(settings)
    pid = running_pid(paths)
    return _status(settings, paths, pid, pid is not None and answers(settings, _PROBE_TIMEOUT_S))


def _status(
    settings: Settings, paths: BrokerPaths, pid: int | None, answering: bool
) -> BrokerStatus:
    return BrokerStatus(
        running=pid is not None,
        pid=pid,
        bootstrap=local_bootstrap(settings),
        answering=answering,
        data_dir=paths.data,
        log_file=paths.server_log,
    )


def start(settings: Settings, progress: Progress = print) -> BrokerStatus:
    """Start the local broker if needed and wait until it answers; idempotent.

    Resolves jars and formats storage on first use, refuses to start when the ports belong
    to another process, and raises ``LocalKafkaError`` with the tail of the broker's logs
    when the JVM exits or does not answer within ``kafka_start_timeout_s`` (a JVM we
    launched is then stopped again).
    """
    if not settings.uses_local_broker:
        raise LocalKafkaError(
            f"TRACKHUB_KAFKA_BOOTSTRAP is set ({settings.kafka_bootstrap}): the hub uses that "
            "cluster and never starts a local broker"
        )
    paths = broker_paths(settings)
    with locked(paths):
        pid = running_pid(paths)
        if pid is not None:
            write_pid(paths, pid)
            if answers(settings, _PROBE_TIMEOUT_S):
                return _status(settings, paths, pid, answering=True)
            progress(f"broker pid {pid} is alive but not answering yet; waiting for it")
            return _wait_until_answering(settings, paths, pid, launched=False)

        java = require_tool("java", "the local Kafka broker needs a Java 17+ runtime")
        prepare_jars(settings, paths, progress)
        ensure_ports_free(settings, paths)
        if prepare_storage(settings, paths):
            progress(f"formatted new KRaft storage in {paths.data}")
            # the workers' local table stores mirror changelogs of the old cluster: a new
            # cluster starts them empty (faust refuses offsets beyond a topic's end)
            stale = settings.state_dir.resolve() / "faust"
            if stale.exists():
                shutil.rmtree(stale)
                progress(f"removed table stores of the previous cluster in {stale}")
        write_config(settings, paths)
        paths.logs.mkdir(parents=True, exist_ok=True)
        log_offset = _size(paths.server_log)
        pid = launch_detached(broker_command(java, settings, paths), paths.stdout_log)
        write_pid(paths, pid)
        progress(f"started Kafka broker pid {pid}; waiting for {local_bootstrap(settings)}")
        return _wait_until_answering(settings, paths, pid, launched=True, log_offset=log_offset)


def stop(settings: Settings, progress: Progress = print) -> bool:
    """Stop our broker: SIGTERM (controlled shutdown), SIGKILL after kafka_stop_timeout_s.

    Returns whether a broker was running. Harmless when nothing runs; removes the pid file.
    Does not take the start lock, so it also interrupts a ``start`` that is still waiting.
    """
    paths = broker_paths(settings)
    pid = running_pid(paths)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        return False
    progress(f"stopping Kafka broker pid {pid}")
    send_signal(pid, signal.SIGTERM)
    if not wait_gone(pid, paths, settings.kafka_stop_timeout_s):
        progress(
            f"broker pid {pid} still running after {settings.kafka_stop_timeout_s:g}s; killing"
        )
        send_signal(pid, signal.SIGKILL)
        if not wait_gone(pid, paths, 10.0):
            raise LocalKafkaError(f"broker pid {pid} survived SIGKILL")
    paths.pid_file.unlink(missing_ok=True)
    return True


def _wait_until_answering(
    settings: Settings, paths: BrokerPaths, pid: int, *, launched: bool, log_offset: int = 0
) -> BrokerStatus:
    """Poll until the broker answers; fail fast with its log lines if the JVM is gone."""
    timeout_s = settings.kafka_start_timeout_s
    deadline = time.monotonic() + timeout_s
    while True:
        if not is_our_broker(pid, paths):
            paths.pid_file.unlink(missing_ok=True)
            raise LocalKafkaError(
                f"the Kafka broker (pid {pid}) exited during start.{_log_tails(paths, log_offset)}"
            )
        if answers(settings, min(_PROBE_TIMEOUT_S, max(0.5, deadline - time.monotonic()))):
            return _status(settings, paths, pid, answering=True)
        if time.monotonic() >= deadline:
            if launched:
                stop(settings, progress=lambda _: None)
            raise LocalKafkaError(
                f"the Kafka broker (pid {pid}) did not answer on {local_bootstrap(settings)} "
                f"within {timeout_s:g}s (TRACKHUB_KAFKA_START_TIMEOUT_S)"
                f"{'; it was stopped' if launched else ''}.{_log_tails(paths, log_offset)}"
            )
        time.sleep(0.25)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _log_tails(paths: BrokerPaths, server_log_offset: int) -> str:
    """The JVM's console output and the server.log lines of this launch, for error messages."""
    parts = []
    for log, offset in ((paths.stdout_log, 0), (paths.server_log, server_log_offset)):
        text = tail(log, offset=offset)
        if text.strip():
            parts.append(f"\n--- last lines of {log} ---\n{text.rstrip()}")
            if "UnsupportedClassVersionError" in text:
                parts.append("\n(hint: Kafka 4 needs Java 17 or newer)")
    return "".join(parts) or f"\n(no output in {paths.logs})"
