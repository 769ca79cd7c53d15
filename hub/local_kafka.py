"""Lifecycle of the local single-node Kafka broker, run from Maven-resolved jars.

No distribution tarball: ``deploy/kafka/pom.xml`` names the broker artifact, Maven copies
its runtime jars into ``<state>/kafka/libs`` once, ``kafka.tools.StorageTool format
--standalone`` initialises ``<state>/kafka/data`` once, and ``java -cp 'libs/*' kafka.Kafka
server.properties`` runs the broker detached from the caller, in its own session, so it
outlives the CLI command or test session that started it.

What callers may rely on:

- ``start`` is idempotent and safe to call from several processes at once (a file lock
  serialises them); it returns only once the broker answers a cluster-metadata request.
- ``stop`` is harmless when nothing runs; it asks for a controlled shutdown first.
- A pid file is trusted only while ``/proc/<pid>/cmdline`` is our ``kafka.Kafka`` command
  with our effective ``server.properties``; a reused pid is never signalled.
- Topic data survives ``stop``/``start``; only deleting the state folder wipes it.

This module only manages a process: it produces and consumes no records, so no delivery
guarantee applies. It is used only when ``Settings.uses_local_broker`` is true.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient

from hub.settings import Settings

Progress = Callable[[str], None]

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
LOG_TAIL_LINES = 30
_PLACEHOLDER = re.compile(r"\$\{(TRACKHUB_[A-Z0-9_]+)\}")
_MVN_DOWNLOADED = re.compile(
    r"Downloaded from [^:]+: \S*/([^/\s]+\.jar) \(([^)]*?)(?: at [^)]*)?\)"
)
_PROBE_TIMEOUT_S = 3.0


class LocalKafkaError(Exception):
    """The local broker could not be prepared, started or stopped; the message says why."""


@dataclass(frozen=True, slots=True)
class BrokerPaths:
    """Every file the local broker uses, all under ``Settings.kafka_state_dir``."""

    state: Path
    libs: Path
    data: Path
    logs: Path
    config: Path  # the effective server.properties the JVM reads
    pid_file: Path
    lock_file: Path

    @property
    def server_log(self) -> Path:
        return self.logs / "server.log"

    @property
    def stdout_log(self) -> Path:
        return self.logs / "stdout.log"

    @property
    def libs_marker(self) -> Path:
        return self.libs / ".trackhub-pom.sha256"


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """A snapshot of the local broker: is our JVM alive, and does it answer clients."""

    running: bool
    pid: int | None
    bootstrap: str
    answering: bool
    data_dir: Path
    log_file: Path

    def describe(self) -> str:
        """A few human lines for ``trackhub kafka status``."""
        if not self.running:
            head = f"local Kafka broker: not running (would listen on {self.bootstrap})"
        elif self.answering:
            head = f"local Kafka broker: running, pid {self.pid}, answering on {self.bootstrap}"
        else:
            head = f"local Kafka broker: pid {self.pid} alive but NOT answering on {self.bootstrap}"
        return f"{head}\n  data: {self.data_dir}\n  log:  {self.log_file}"


# ---------------------------------------------------------------- pure helpers


def broker_paths(settings: Settings) -> BrokerPaths:
    """Where the local broker keeps jars, data, logs, effective config and pid file."""
    state = settings.kafka_state_dir
    return BrokerPaths(
        state=state,
        libs=state / "libs",
        data=state / "data",
        logs=state / "logs",
        config=state / "server.properties",
        pid_file=state / "kafka.pid",
        lock_file=state / "kafka.lock",
    )


def local_bootstrap(settings: Settings) -> str:
    """The local broker's client address (even when an external cluster is configured)."""
    return f"{settings.kafka_host}:{settings.kafka_port}"


def placeholder_values(settings: Settings, paths: BrokerPaths) -> dict[str, str]:
    """The values of the ``${TRACKHUB_...}`` placeholders of deploy/kafka/server.properties."""
    return {
        "TRACKHUB_KAFKA_HOST": settings.kafka_host,
        "TRACKHUB_KAFKA_PORT": str(settings.kafka_port),
        "TRACKHUB_KAFKA_CONTROLLER_PORT": str(settings.kafka_controller_port),
        "TRACKHUB_KAFKA_DATA_DIR": str(paths.data),
    }


def render_server_properties(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``${TRACKHUB_...}`` placeholder; an unknown one is an error, not a blank.

    Values are escaped for the .properties format (backslashes), nothing else changes.
    """
    unknown = sorted({name for name in _PLACEHOLDER.findall(template) if name not in values})
    if unknown:
        raise LocalKafkaError(f"server.properties uses unknown placeholders: {', '.join(unknown)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)].replace("\\", "\\\\"), template)


def kafka_uuid() -> str:
    """A random cluster id in Kafka's form: 16 bytes, URL-safe base64 without padding.

    Like ``org.apache.kafka.common.Uuid.randomUuid`` it never starts with ``-``, which the
    storage tool's command line would read as a flag.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


def pom_digest(pom: Path) -> str:
    """sha256 of the pom; recorded next to the jars so a changed pom re-resolves them."""
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def is_broker_cmdline(args: Sequence[str], config: Path) -> bool:
    """True if a process command line is our broker: ``... kafka.Kafka <our config>``."""
    return " ".join(args).endswith(f"{MAIN_CLASS} {config}")


def summarize_mvn_line(line: str) -> str | None:
    """A short progress line for a jar Maven downloaded; None for everything else."""
    match = _MVN_DOWNLOADED.search(line)
    if match is None:
        return None
    return f"  downloaded {match.group(1)} ({match.group(2)})"


def jvm_common_flags(settings: Settings, paths: BrokerPaths) -> list[str]:
    """Heap, GC, and log4j2 flags shared by the broker and the storage tool."""
    log4j = settings.kafka_deploy_dir / "log4j2.properties"
    return [
        f"-Xms{settings.kafka_heap}",
        f"-Xmx{settings.kafka_heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={paths.logs}",
        "-cp",
        f"{paths.libs}/*",
    ]


def broker_command(java: str, settings: Settings, paths: BrokerPaths) -> list[str]:
    """The full ``java ... kafka.Kafka <server.properties>`` command line."""
    return [java, *jvm_common_flags(settings, paths), MAIN_CLASS, str(paths.config)]


def tail(path: Path, lines: int = LOG_TAIL_LINES, offset: int = 0) -> str:
    """The last lines of a text file written after byte ``offset``; "" when there is none.

    An offset past the end (the file was rotated since) reads from the start. Reads at most
    the last 256 KiB, whatever the file's size.
    """
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            start = offset if offset <= size else 0
            handle.seek(max(start, size - 256 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "".join(deque(text.splitlines(keepends=True), maxlen=lines))


# ---------------------------------------------------------------- public API


def resolve_jars(settings: Settings, progress: Progress = print) -> Path:
    """Copy the broker's runtime jars into ``<state>/kafka/libs`` unless already there.

    Runs Maven once (it caches downloads in ~/.m2); the jars are copied into a temporary
    folder and renamed into place, so an interrupted run never leaves a half-filled libs.
    Re-resolves when the pom changed. Returns the libs folder.
    """
    paths = broker_paths(settings)
    with _locked(paths):
        return _resolve_jars(settings, paths, progress)


def format_storage(settings: Settings) -> bool:
    """Format ``<state>/kafka/data`` as a single-node dynamic KRaft quorum, once.

    Returns False (and does nothing) when ``meta.properties`` already exists, True when it
    formatted. Needs the jars (``resolve_jars``) first.
    """
    paths = broker_paths(settings)
    with _locked(paths):
        return _format_storage(settings, paths)


def status(settings: Settings) -> BrokerStatus:
    """Is our broker JVM alive (stale pid files are ignored) and does it answer metadata?"""
    paths = broker_paths(settings)
    pid = _running_pid(paths)
    return _status(settings, paths, pid, pid is not None and _answers(settings, _PROBE_TIMEOUT_S))


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
    with _locked(paths):
        pid = _running_pid(paths)
        if pid is not None:
            _write_pid(paths, pid)
            if _answers(settings, _PROBE_TIMEOUT_S):
                return _status(settings, paths, pid, answering=True)
            progress(f"broker pid {pid} is alive but not answering yet; waiting for it")
            return _wait_until_answering(settings, paths, pid, launched=False)

        java = _require_tool("java", "the local Kafka broker needs a Java 17+ runtime")
        _resolve_jars(settings, paths, progress)
        _ensure_ports_free(settings, paths)
        if _format_storage(settings, paths):
            progress(f"formatted new KRaft storage in {paths.data}")
        _write_config(settings, paths)
        paths.logs.mkdir(parents=True, exist_ok=True)
        log_offset = _size(paths.server_log)
        pid = _launch_detached(broker_command(java, settings, paths), paths.stdout_log)
        _write_pid(paths, pid)
        progress(f"started Kafka broker pid {pid}; waiting for {local_bootstrap(settings)}")
        return _wait_until_answering(settings, paths, pid, launched=True, log_offset=log_offset)


def stop(settings: Settings, progress: Progress = print) -> bool:
    """Stop our broker: SIGTERM (controlled shutdown), SIGKILL after kafka_stop_timeout_s.

    Returns whether a broker was running. Harmless when nothing runs; removes the pid file.
    Does not take the start lock, so it also interrupts a ``start`` that is still waiting.
    """
    paths = broker_paths(settings)
    pid = _running_pid(paths)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        return False
    progress(f"stopping Kafka broker pid {pid}")
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, paths, settings.kafka_stop_timeout_s):
        progress(
            f"broker pid {pid} still running after {settings.kafka_stop_timeout_s:g}s; killing"
        )
        _signal(pid, signal.SIGKILL)
        if not _wait_gone(pid, paths, 10.0):
            raise LocalKafkaError(f"broker pid {pid} survived SIGKILL")
    paths.pid_file.unlink(missing_ok=True)
    return True


# ---------------------------------------------------------------- jars and storage


def _resolve_jars(settings: Settings, paths: BrokerPaths, progress: Progress) -> Path:
    pom = settings.kafka_deploy_dir / "pom.xml"
    digest = pom_digest(pom)
    if _jars_complete(paths, digest):
        return paths.libs
    running = _running_pid(paths)
    if running is not None:
        raise LocalKafkaError(
            f"{pom} changed but the broker (pid {running}) still runs from the old jars; "
            "stop it before resolving them again"
        )
    mvn = _require_tool(
        "mvn", f"Maven is needed once, to download the broker jars into {paths.libs}"
    )
    progress(f"resolving Kafka broker jars with Maven from {pom} (cached in ~/.m2) ...")
    paths.state.mkdir(parents=True, exist_ok=True)
    for leftover in paths.state.glob("libs.*-*"):  # from an interrupted run; we hold the lock
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix="libs.tmp-", dir=paths.state))
    staging.chmod(0o755)  # mkdtemp makes it private; the jars are not secret
    try:
        command = [
            mvn, "-B", "-Dstyle.color=never", "-f", str(pom),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]  # fmt: skip
        output = _run_streaming(command, progress)
        jars = sorted(p.name for p in staging.glob("*.jar"))
        if not jars:
            raise LocalKafkaError(f"Maven copied no jars into {staging}:\n{output}")
        (staging / paths.libs_marker.name).write_text("\n".join([digest, *jars]) + "\n")
        _replace_dir(staging, paths.libs)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"{len(jars)} broker jars in {paths.libs}")
    return paths.libs


def _jars_complete(paths: BrokerPaths, digest: str) -> bool:
    try:
        recorded, *jars = paths.libs_marker.read_text().split()
    except (FileNotFoundError, ValueError):
        return False
    return recorded == digest and bool(jars) and all((paths.libs / j).is_file() for j in jars)


def _run_streaming(command: list[str], progress: Progress) -> str:
    """Run Maven, forwarding one short line per downloaded jar; raise with its errors."""
    recent: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, errors="replace",
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            recent.append(line)
            summary = summarize_mvn_line(line)
            if summary:
                progress(summary)
    output = "".join(recent)
    if proc.returncode != 0:
        raise LocalKafkaError(f"Maven failed (exit {proc.returncode}) resolving jars:\n{output}")
    return output


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` into ``target`` with renames, so readers see the old or the new set."""
    trash = Path(tempfile.mkdtemp(prefix=f"{target.name}.old-", dir=target.parent))
    if target.exists():
        target.rename(trash / target.name)
    new.rename(target)
    shutil.rmtree(trash, ignore_errors=True)


def _format_storage(settings: Settings, paths: BrokerPaths) -> bool:
    if (paths.data / "meta.properties").exists():
        return False
    if not _jars_complete(paths, pom_digest(settings.kafka_deploy_dir / "pom.xml")):
        raise LocalKafkaError(f"broker jars missing in {paths.libs}: call resolve_jars first")
    java = _require_tool("java", "the local Kafka broker needs a Java 17+ runtime")
    _write_config(settings, paths)
    paths.logs.mkdir(parents=True, exist_ok=True)
    command = [
        java, *jvm_common_flags(settings, paths), STORAGE_TOOL, "format",
        "--config", str(paths.config), "--cluster-id", kafka_uuid(), "--standalone",
    ]  # fmt: skip
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise LocalKafkaError(
            f"formatting {paths.data} failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    return True


def _write_config(settings: Settings, paths: BrokerPaths) -> Path:
    template = (settings.kafka_deploy_dir / "server.properties").read_text()
    rendered = render_server_properties(template, placeholder_values(settings, paths))
    header = f"# Generated from {settings.kafka_deploy_dir / 'server.properties'}; edit that.\n"
    paths.state.mkdir(parents=True, exist_ok=True)
    tmp = paths.config.with_suffix(".tmp")
    tmp.write_text(header + rendered)
    tmp.replace(paths.config)
    return paths.config


# ---------------------------------------------------------------- process handling


@contextlib.contextmanager
def _locked(paths: BrokerPaths) -> Iterator[None]:
    """An exclusive lock across processes (e.g. CLI and a test session starting together)."""
    paths.state.mkdir(parents=True, exist_ok=True)
    with paths.lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _require_tool(name: str, purpose: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise LocalKafkaError(
            f"`{name}` is not on PATH: {purpose}. Install it, or set TRACKHUB_KAFKA_BOOTSTRAP "
            "to use an existing Kafka cluster instead of the local broker."
        )
    return found


def _launch_detached(command: list[str], stdout_log: Path) -> int:
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


def _write_pid(paths: BrokerPaths, pid: int) -> None:
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


def _is_our_broker(pid: int, paths: BrokerPaths) -> bool:
    return is_broker_cmdline(_cmdline(pid), paths.config)


def _running_pid(paths: BrokerPaths) -> int | None:
    """Our broker's pid: from the pid file if it is still our JVM, else found in /proc."""
    pid = _read_pid(paths.pid_file)
    if pid is not None and _is_our_broker(pid, paths):
        return pid
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_our_broker(int(entry.name), paths):
            return int(entry.name)
    return None


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, paths: BrokerPaths, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _is_our_broker(pid, paths):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _ensure_ports_free(settings: Settings, paths: BrokerPaths) -> None:
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


def _answers(settings: Settings, timeout_s: float) -> bool:
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


def _wait_until_answering(
    settings: Settings, paths: BrokerPaths, pid: int, *, launched: bool, log_offset: int = 0
) -> BrokerStatus:
    """Poll until the broker answers; fail fast with its log lines if the JVM is gone."""
    timeout_s = settings.kafka_start_timeout_s
    deadline = time.monotonic() + timeout_s
    while True:
        if not _is_our_broker(pid, paths):
            paths.pid_file.unlink(missing_ok=True)
            raise LocalKafkaError(
                f"the Kafka broker (pid {pid}) exited during start.{_log_tails(paths, log_offset)}"
            )
        if _answers(settings, min(_PROBE_TIMEOUT_S, max(0.5, deadline - time.monotonic()))):
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
