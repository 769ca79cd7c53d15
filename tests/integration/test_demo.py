"""``make run`` is ``trackhub demo``: every process up, a simulation through the gateway,
a summary with 100% accuracy, and a clean stop of every child on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import _free_port

pytestmark = pytest.mark.integration


def test_the_demo_runs_a_simulation_and_stops_cleanly_on_ctrl_c(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = cli_env | {
        "TRACKHUB_GATEWAY_PORT": str(_free_port()),
        "TRACKHUB_API_PORT": str(_free_port()),
        "TRACKHUB_WORKER_HTTP_PORT": str(_free_port()),
        "TRACKHUB_DELIVERY_HTTP_PORT": str(_free_port()),
        "TRACKHUB_API_DB": str(tmp_path / "api.db"),
        "TRACKHUB_DELIVERY_DB": str(tmp_path / "queue.db"),
        "TRACKHUB_LOG_LEVEL": "WARNING",
    }
    output = tmp_path / "demo.out"
    with output.open("wb") as sink:
        demo = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "demo", "--shipments", "6", "--seed", "3"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 400
            while "Ctrl-C stops it" not in output.read_text(errors="replace"):
                assert demo.poll() is None, output.read_text()[-3000:]
                assert time.monotonic() < deadline, output.read_text()[-3000:]
                time.sleep(1)
            text = output.read_text()
            assert "every process is ready" in text
            assert "accuracy against the simulation's ground truth" in text
            (total,) = [line for line in text.splitlines() if line.strip().startswith("all ")]
            assert total.split()[-2:] == ["100.0%", "100.0%"], total  # precision, recall
            assert "party attribution: 100.0%" in text
            assert "Authorization: Bearer thk_" in text  # a key to try the API with
            children = _children(demo.pid)
            assert len(children) >= 4, children
            os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
            assert demo.wait(timeout=90) == 0, output.read_text()[-3000:]
            time.sleep(1)
            assert [pid for pid in children if _alive(pid)] == []
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"
