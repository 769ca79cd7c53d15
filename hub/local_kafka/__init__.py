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

This package only manages a process: it produces and consumes no records, so no delivery
guarantee applies. It is used only when ``Settings.uses_local_broker`` is true.

Callers import the package (``from hub import local_kafka``) and use the names below; the
modules behind them are split by reason to change:

- ``config``: pure helpers (file layout, server.properties rendering, command lines, log
  tails) and ``LocalKafkaError``;
- ``prepare``: the state folder before first start (Maven jars, config, KRaft storage);
- ``process``: the OS side (file lock, pids and /proc, signals, ports, the metadata probe);
- ``lifecycle``: ``start``, ``stop`` and ``status``.
"""

from __future__ import annotations

from hub.local_kafka.config import (
    LOG_TAIL_LINES,
    MAIN_CLASS,
    STORAGE_TOOL,
    BrokerPaths,
    BrokerStatus,
    LocalKafkaError,
    Progress,
    broker_command,
    broker_paths,
    is_broker_cmdline,
    jvm_common_flags,
    kafka_uuid,
    local_bootstrap,
    placeholder_values,
    pom_digest,
    render_server_properties,
    summarize_mvn_line,
    tail,
)
from hub.local_kafka.lifecycle import start, status, stop
from hub.local_kafka.prepare import format_storage, resolve_jars

__all__ = [
    "LOG_TAIL_LINES",
    "MAIN_CLASS",
    "STORAGE_TOOL",
    "BrokerPaths",
    "BrokerStatus",
    "LocalKafkaError",
    "Progress",
    "broker_command",
    "broker_paths",
    "format_storage",
    "is_broker_cmdline",
    "jvm_common_flags",
    "kafka_uuid",
    "local_bootstrap",
    "placeholder_values",
    "pom_digest",
    "render_server_properties",
    "resolve_jars",
    "start",
    "status",
    "stop",
    "summarize_mvn_line",
    "tail",
]
