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
        ["worker"],
        ["gateway"],
        ["poll"],
        ["sources"],
        ["normalize"],
        ["replay"],
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


def test_normalize_prints_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    payload = Path(__file__).parent.parent / "fixtures" / "native" / "delivered_journey.json"
    assert main(["normalize", "--source", "native", str(payload)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert [json.loads(line)["milestone"] for line in lines] == [
        "picked_up",
        "line_haul_departed",
        "delivered",
    ]
    assert "3 event(s)" in captured.err


def test_normalize_bad_payload_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    payload = Path(__file__).parent.parent / "fixtures" / "native" / "naive_time.json"
    assert main(["normalize", "--source", "native", str(payload)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("trackhub: error: NativePayloadError:")
    assert "timezone" in captured.err


def test_normalize_unknown_source_and_missing_file(tmp_path: Path) -> None:
    assert _run("normalize", "--source", "pigeon", str(tmp_path / "x.json")).returncode == 1
    missing = _run("normalize", "--source", "native", str(tmp_path / "nope.json"))
    assert missing.returncode == 1
    assert missing.stderr.startswith("trackhub: error:") and "Traceback" not in missing.stderr


def test_sources_lists_formats_and_never_secrets() -> None:
    secret = "whsec_c2VjcmV0LXZhbHVlLW5ldmVyLXByaW50ZWQ="
    env = {
        "PATH": "/usr/bin",
        "TRACKHUB_SOURCES": json.dumps({"acme-fwd": {"format": "x12_214", "secrets": [secret]}}),
    }
    result = _run("sources", env=env)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "x12_214" in rows["acme-fwd"] and "standard_webhooks" in rows["acme-fwd"]
    assert "none (closed)" in rows["easypost"]
    for name in (
        "easypost",
        "aftership",
        "17track",
        "dcsa",
        "iata_fsu",
        "x12_214",
        "epcis",
        "customs",
        "native",
    ):
        assert name in rows
    assert secret not in result.stdout + result.stderr


def test_sources_with_an_unknown_format_is_an_error() -> None:
    env = {"PATH": "/usr/bin", "TRACKHUB_SOURCES": json.dumps({"x": {"format": "telex"}})}
    result = _run("sources", env=env)
    assert result.returncode == 1 and "unknown format" in result.stderr
