"""A running hub watched the way SREs watch it: a real Prometheus on loopback scrapes a
gateway and a worker (started as the CLI starts them), loads our alert rules, and finds
the metrics of a webhook that went through; the worker's probes answer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from hub.settings import PROJECT_ROOT
from tests.conftest import _free_port
from tests.deploy.test_grafana_dashboard import dashboard_queries
from tests.integration.test_gateway import NATIVE_BODY
from tests.support.hub_worker import start_worker, stop_worker
from tests.support.prom import sample_names, sample_value
from tests.support.signing import SECRET, standard_webhook_headers

SOURCE = "ops-live-native"
T = TypeVar("T")


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _wait_for(what: str, check: Callable[[], T], timeout_s: float = 120.0) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")
    raise AssertionError  # pytest.fail does not return


@pytest.fixture
def hub_processes(cli_env: dict[str, str]) -> Iterator[dict[str, int]]:
    sources = json.dumps({SOURCE: {"format": "native", "secrets": [SECRET]}})
    ports = {"gateway": _free_port(), "worker": _free_port()}
    gateway = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "gateway"],
        env=cli_env
        | {
            "TRACKHUB_GATEWAY_PORT": str(ports["gateway"]),
            "TRACKHUB_SOURCES": sources,
            "TRACKHUB_LOG_LEVEL": "WARNING",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    worker = start_worker(
        cli_env,
        worker_http_port=str(ports["worker"]),
        metrics_sample_s="0.5",
        sources=sources,
    )
    try:
        yield ports
    finally:
        stop_worker(worker)
        stop_worker(gateway)


def test_worker_probes_and_a_live_prometheus_scrape(
    hub_processes: dict[str, int], tmp_path: Path
) -> None:
    gateway = f"http://127.0.0.1:{hub_processes['gateway']}"
    worker = f"http://127.0.0.1:{hub_processes['worker']}"
    _wait_for("the worker's /healthz", lambda: _get(f"{worker}/healthz")[0] == 200)
    _wait_for("the worker's /readyz", lambda: _get(f"{worker}/readyz")[0] == 200)
    _wait_for("the gateway's /readyz", lambda: _get(f"{gateway}/readyz")[0] == 200)
    body = _get(f"{worker}/readyz")[1]
    checks = json.loads(body)["checks"]
    assert checks["group"]["ok"] and checks["tables"]["ok"] and checks["backlog"]["ok"]

    # one signed webhook through the gateway, normalized by the worker
    payload = NATIVE_BODY.replace(b"YT-88-02", b"YT-88-OPS")
    request = urllib.request.Request(
        f"{gateway}/webhooks/{SOURCE}",
        data=payload,
        headers=standard_webhook_headers(payload),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202

    def worker_counted() -> bool:
        page = _get(f"{worker}/metrics")[1].decode()
        return sample_value(page, "trackhub_events_normalized_total", source=SOURCE) >= 1

    _wait_for("the worker to count the normalized events", worker_counted)
    expected = {
        "trackhub_consumer_lag_messages",
        "trackhub_consumer_oldest_uncommitted_age_seconds",
        "trackhub_state_store_bytes",
        "trackhub_absence_alerts_held_back",
        "trackhub_alerts_open",  # set once the hub's first tick has rebuilt its clock
        "process_resident_memory_bytes",
    }

    def all_sampled() -> str | None:
        page = _get(f"{worker}/metrics")[1].decode()
        return page if expected <= sample_names(page) else None

    page = _wait_for("every worker gauge to be sampled", all_sampled, 60)
    assert (
        sample_value(
            page, "trackhub_consumer_lag_messages", group="trackhub", topic="tracking.raw.v1"
        )
        >= 0
    )
    # nothing identifying in label values: the tracking number of the payload is absent
    assert "YT-88-OPS" not in page

    prometheus = _start_prometheus(tmp_path, hub_processes)
    try:
        api = f"http://127.0.0.1:{prometheus[1]}/api/v1"

        def query(expr: str) -> list[dict]:
            status, body = _get(f"{api}/query?query={urllib.parse.quote(expr)}")
            return json.loads(body)["data"]["result"] if status == 200 else []

        both_up = 'up{job=~"trackhub-gateway|trackhub-worker"} == 1'
        _wait_for("Prometheus to scrape both processes", lambda: len(query(both_up)) == 2, 90)
        accepted = query(
            f'trackhub_webhooks_received_total{{source="{SOURCE}", outcome="accepted"}}'
        )
        assert accepted and float(accepted[0]["value"][1]) == 1
        normalized = query(f'trackhub_events_normalized_total{{source="{SOURCE}"}}')
        assert normalized and float(normalized[0]["value"][1]) >= 1
        assert query("trackhub_consumer_lag_messages")

        # the dashboard's queries parse and evaluate (Grafana's interval variable as 1m)
        for expr in dashboard_queries():
            live = expr.replace("$__rate_interval", "1m")
            status, body = _get(f"{api}/query?query={urllib.parse.quote(live)}")
            assert status == 200 and json.loads(body)["status"] == "success", (expr, body)

        # our rule files loaded and evaluate without errors against live data
        body = _get(f"{api}/rules")[1]
        groups = json.loads(body)["data"]["groups"]
        assert {g["name"] for g in groups} >= {"trackhub-ingest", "trackhub-processing"}

        def evaluated() -> bool:
            body = _get(f"{api}/rules")[1]
            rules = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
            return all(r["health"] == "ok" for r in rules)

        _wait_for("every rule to evaluate healthily", evaluated, 30)
    finally:
        prometheus[0].terminate()
        prometheus[0].wait(timeout=30)


def _start_prometheus(tmp_path: Path, ports: dict[str, int]) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: `make test` installs it")
    rules = PROJECT_ROOT / "deploy" / "prometheus" / "rules"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules / "*.yml")],
                "scrape_configs": [
                    {
                        "job_name": "trackhub-gateway",
                        "static_configs": [{"targets": [f"127.0.0.1:{ports['gateway']}"]}],
                    },
                    {
                        "job_name": "trackhub-worker",
                        "static_configs": [{"targets": [f"127.0.0.1:{ports['worker']}"]}],
                    },
                ],
            }
        )
    )
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    _wait_for("Prometheus to start", lambda: _get(f"http://127.0.0.1:{port}/-/ready")[0] == 200)
    return process, port
