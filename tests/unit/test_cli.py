"""The ``trackhub`` command's interface: help, usage errors, schema export, bad config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hub.cli import main

TRACKHUB = str(Path(sys.executable).parent / "trackhub")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TRACKHUB, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["kafka"],
        ["kafka", "up"],
        ["kafka", "status"],
        ["kafka", "down"],
        ["schema"],
        ["schema", "export"],
    ],
)
def test_every_command_has_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--help"])
    assert exit_info.value.code == 0
    assert "usage: trackhub" in capsys.readouterr().out


def test_console_script_help() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for command in ("run", "kafka", "schema"):
        assert command in result.stdout


@pytest.mark.parametrize("args", [["frobnicate"], ["kafka"], ["kafka", "sideways"], []])
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_schema_export_writes_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "export", "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "Alert.schema.json",
        "DeadLetter.schema.json",
        "RawEnvelope.schema.json",
        "ShipmentPlan.schema.json",
        "TrackingEvent.schema.json",
    ]
    assert main(["schema", "export", "--check", "--out", str(tmp_path)]) == 0
    schema = json.loads((tmp_path / "Alert.schema.json").read_text())
    schema["title"] = "tampered"
    (tmp_path / "Alert.schema.json").write_text(json.dumps(schema))
    capsys.readouterr()
    assert main(["schema", "export", "--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trackhub: error: JSON Schema files out of date")
    assert "Alert.schema.json" in err


def test_bad_configuration_is_one_clear_line() -> None:
    result = _run("kafka", "status", env={"TRACKHUB_KAFKA_PORT": "not-a-port", "PATH": "/usr/bin"})
    assert result.returncode == 1
    assert result.stderr.strip().startswith("trackhub: error: invalid configuration")
    assert "TRACKHUB_KAFKA_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_external_cluster_is_not_managed() -> None:
    env = {"TRACKHUB_KAFKA_BOOTSTRAP": "127.0.0.1:1", "PATH": "/usr/bin"}
    result = _run("kafka", "up", env=env)
    assert result.returncode == 1
    assert "TRACKHUB_KAFKA_BOOTSTRAP is set" in result.stderr
    status = _run("kafka", "status", env=env)
    assert status.returncode == 0 and "external cluster" in status.stdout
