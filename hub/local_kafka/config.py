"""The pure part of the local broker: where its files are, its config, its command lines.

Nothing here starts, signals or waits for a process or writes a file; apart from reading
one (the pom's digest, a log's tail) and drawing a random cluster id, these are functions
of ``Settings``, which is why the unit tests exercise them without Java, Maven or a broker.
``LocalKafkaError`` lives here because the config rendering raises it first; every other
module of the package raises it too.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.settings import Settings

Progress = Callable[[str], None]

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
LOG_TAIL_LINES = 30
_PLACEHOLDER = re.compile(r"\$\{(TRACKHUB_[A-Z0-9_]+)\}")
_MVN_DOWNLOADED = re.compile(
    r"Downloaded from [^:]+: \S*/([^/\s]+\.jar) \(([^)]*?)(?: at [^)]*)?\)"
)


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
        "TRACKHUB_KAFKA_ADVERTISED_PORT": str(
            settings.kafka_advertised_port or settings.kafka_port
        ),
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
