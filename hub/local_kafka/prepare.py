"""First-use preparation of the local broker's state folder: jars, config, storage.

Everything the JVM needs on disk before it can run: the runtime jars Maven copies into
``<state>/kafka/libs`` (re-resolved only when ``deploy/kafka/pom.xml`` changes), the
effective ``server.properties`` rendered from the checked-in template, and the KRaft
storage ``kafka.tools.StorageTool format --standalone`` initialises once. Kept apart from
the process lifecycle because it changes files, never a running broker: it refuses to swap
jars under a broker that still runs from the old ones.

``resolve_jars`` and ``format_storage`` take the package's file lock; ``prepare_jars``,
``prepare_storage`` and ``write_config`` are for a caller (``start``) that already holds it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import deque
from pathlib import Path

from hub.local_kafka.config import (
    LOG_TAIL_LINES,
    STORAGE_TOOL,
    BrokerPaths,
    LocalKafkaError,
    Progress,
    broker_paths,
    jvm_common_flags,
    kafka_uuid,
    placeholder_values,
    pom_digest,
    render_server_properties,
    summarize_mvn_line,
)
from hub.local_kafka.process import locked, require_tool, running_pid
from hub.settings import Settings


def resolve_jars(settings: Settings, progress: Progress = print) -> Path:
    """Copy the broker's runtime jars into ``<state>/kafka/libs`` unless already there.

    Runs Maven once (it caches downloads in ~/.m2); the jars are copied into a temporary
    folder and renamed into place, so an interrupted run never leaves a half-filled libs.
    Re-resolves when the pom changed. Returns the libs folder.
    """
    paths = broker_paths(settings)
    with locked(paths):
        return prepare_jars(settings, paths, progress)


def format_storage(settings: Settings) -> bool:
    """Format ``<state>/kafka/data`` as a single-node dynamic KRaft quorum, once.

    Returns False (and does nothing) when ``meta.properties`` already exists, True when it
    formatted. Needs the jars (``resolve_jars``) first.
    """
    paths = broker_paths(settings)
    with locked(paths):
        return prepare_storage(settings, paths)


def prepare_jars(settings: Settings, paths: BrokerPaths, progress: Progress) -> Path:
    """``resolve_jars`` for a caller that holds ``locked(paths)``."""
    pom = settings.kafka_deploy_dir / "pom.xml"
    digest = pom_digest(pom)
    if _jars_complete(paths, digest):
        return paths.libs
    running = running_pid(paths)
    if running is not None:
        raise LocalKafkaError(
            f"{pom} changed but the broker (pid {running}) still runs from the old jars; "
            "stop it before resolving them again"
        )
    mvn = require_tool(
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


def prepare_storage(settings: Settings, paths: BrokerPaths) -> bool:
    """``format_storage`` for a caller that holds ``locked(paths)``."""
    if (paths.data / "meta.properties").exists():
        return False
    if not _jars_complete(paths, pom_digest(settings.kafka_deploy_dir / "pom.xml")):
        raise LocalKafkaError(f"broker jars missing in {paths.libs}: call resolve_jars first")
    java = require_tool("java", "the local Kafka broker needs a Java 17+ runtime")
    write_config(settings, paths)
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


def write_config(settings: Settings, paths: BrokerPaths) -> Path:
    """Render deploy/kafka/server.properties into ``paths.config`` (atomically, by rename)."""
    template = (settings.kafka_deploy_dir / "server.properties").read_text()
    rendered = render_server_properties(template, placeholder_values(settings, paths))
    header = f"# Generated from {settings.kafka_deploy_dir / 'server.properties'}; edit that.\n"
    paths.state.mkdir(parents=True, exist_ok=True)
    tmp = paths.config.with_suffix(".tmp")
    tmp.write_text(header + rendered)
    tmp.replace(paths.config)
    return paths.config
