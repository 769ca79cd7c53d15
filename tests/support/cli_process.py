"""``trackhub`` CLI commands run as processes of their own, for tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def spawn_cli(
    command: str, env: dict[str, str], stderr_log: Path | None = None
) -> subprocess.Popen:
    """``python -m hub.cli <command>`` in a session of its own (a test signals its whole
    process group), stdout discarded, stderr written to ``stderr_log`` (discarded without
    one). Returns at once: waiting for it to be ready is the caller's."""
    stderr = stderr_log.open("w") if stderr_log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    finally:
        if stderr_log is not None:
            stderr.close()
