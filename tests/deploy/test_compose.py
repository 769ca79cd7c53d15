"""deploy/compose/compose.yml against the Compose specification's JSON Schema, and against
the code it runs: each hub service listens on 0.0.0.0 on the port its healthcheck and
Prometheus use, and keeps what must survive a restart on a named volume.

No Docker engine exists on the development machines, so the file is validated, not run.
The schema is the ``compose_spec.json`` that the docker-compose package ships (1.29.2,
the last Python release), fetched from PyPI into ``.trackhub/cache`` on first use.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile

import jsonschema
import pytest
import yaml

from hub.settings import PROJECT_ROOT, Settings

COMPOSE = PROJECT_ROOT / "deploy" / "compose" / "compose.yml"
PROMETHEUS = PROJECT_ROOT / "deploy" / "prometheus" / "prometheus.yml"
CACHE = PROJECT_ROOT / ".trackhub" / "cache" / "docker-compose"
SCHEMA_IN_WHEEL = "compose/config/compose_spec.json"
PIP_DOWNLOAD = (sys.executable, "-m", "pip", "download", "--quiet", "--no-deps")
# each hub service: the `trackhub` subcommand, the settings of its address and port, and the
# Prometheus job that scrapes it
HUB_SERVICES = {
    "gateway": ("gateway", "gateway_host", "gateway_port", "trackhub-gateway"),
    "worker-1": ("worker", "worker_http_host", "worker_http_port", "trackhub-worker"),
    "worker-2": ("worker", "worker_http_host", "worker_http_port", "trackhub-worker"),
    "api": ("api", "api_host", "api_port", "trackhub-api"),
    "delivery": ("deliver", "delivery_http_host", "delivery_http_port", "trackhub-delivery"),
}
PUBLISHED = {"gateway": 8080, "api": 8081}  # what callers outside the host reach


@pytest.fixture(scope="module")
def compose_schema() -> dict:
    wheels = sorted(CACHE.glob("docker_compose-1.29.2-*.whl"))
    if not wheels:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [*PIP_DOWNLOAD, "docker-compose==1.29.2", "--dest", str(CACHE)],
            check=True,
            timeout=300,
        )
        wheels = sorted(CACHE.glob("docker_compose-1.29.2-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        return json.loads(wheel.read(SCHEMA_IN_WHEEL))


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_follows_the_compose_specification(compose_schema: dict) -> None:
    # the schema names a draft jsonschema does not know by that URI; it is written in draft 7
    jsonschema.Draft7Validator(compose_schema).validate(compose())


def test_the_schema_check_can_fail(compose_schema: dict) -> None:
    broken = compose()
    broken["services"]["gateway"]["ports"] = "8080"  # a string where a list belongs
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(compose_schema).validate(broken)


def test_three_kafka_brokers_in_one_kraft_quorum() -> None:
    services = compose()["services"]
    brokers = {name: s for name, s in services.items() if name.startswith("kafka-")}
    assert len(brokers) == 3
    ids = {str(s["environment"]["KAFKA_NODE_ID"]) for s in brokers.values()}
    assert ids == {"1", "2", "3"}
    for broker in brokers.values():
        voters = broker["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        assert voters == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"


def image_env() -> dict[str, str]:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    return dict(re.findall(r"\b(TRACKHUB_\w+)=(\S+)", dockerfile))


def setting(service: dict, field: str) -> str:
    """The value the service's process reads: its environment over the image's ENV."""
    name = f"TRACKHUB_{field.upper()}"
    value = (image_env() | service["environment"]).get(name)
    return str(Settings.model_fields[field].default if value is None else value)


def ops_port(name: str) -> int:
    _command, _host, port, _job = HUB_SERVICES[name]
    return int(setting(compose()["services"][name], port))


def test_hub_services_use_only_real_settings() -> None:
    services = compose()["services"]
    known = {f"TRACKHUB_{name.upper()}" for name in Settings.model_fields}
    for name in HUB_SERVICES:
        service = services[name]
        for variable in service["environment"]:
            assert variable in known, f"{name}: {variable} is no setting"
        assert service["environment"]["TRACKHUB_REPLICATION_FACTOR"] == "3"
    for name in ("prometheus", "grafana"):
        assert name in services


def test_each_hub_service_runs_its_process_reachable_on_its_ops_port() -> None:
    services = compose()["services"]
    for name, (command, host, _port, _job) in HUB_SERVICES.items():
        service = services[name]
        assert service["command"] == [command], name
        # set here, not only in the image: that the healthcheck, the neighbours and
        # Prometheus reach the service does not depend on the image's ENV
        assert service["environment"][f"TRACKHUB_{host.upper()}"] == "0.0.0.0", name
        probe = " ".join(service["healthcheck"]["test"])
        assert f"http://localhost:{ops_port(name)}/healthz" in probe, name
        assert {"kafka-1", "kafka-2", "kafka-3"} <= set(service["depends_on"]), name
    for name, port in PUBLISHED.items():
        assert ops_port(name) == port
        assert f"{port}:{port}" in services[name]["ports"], name


def test_workers_and_the_delivery_keep_their_state_on_named_volumes() -> None:
    data = compose()
    for name in ("worker-1", "worker-2", "delivery"):
        service = data["services"][name]
        state_dir = setting(service, "state_dir")
        # the delivery queue (TRACKHUB_DELIVERY_DB) defaults to <state_dir>/delivery/
        assert "TRACKHUB_DELIVERY_DB" not in service["environment"], name
        volumes = {
            target: source for source, target, *_ in (v.split(":") for v in service["volumes"])
        }
        assert state_dir in volumes, f"{name}: nothing mounted at {state_dir}"
        assert volumes[state_dir] in data["volumes"], name  # named, not the container's
        assert volumes[state_dir] not in {
            v.split(":")[0]
            for other, s in data["services"].items()
            if other != name
            for v in s.get("volumes", [])
        }, f"{name}: its state volume is shared"


def test_prometheus_scrapes_every_hub_service_on_its_ops_port() -> None:
    jobs = {
        job["job_name"]: {t for c in job["static_configs"] for t in c["targets"]}
        for job in yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]
    }
    expected: dict[str, set[str]] = {}
    for name, (_command, _host, _port, job) in HUB_SERVICES.items():
        expected.setdefault(job, set()).add(f"{name}:{ops_port(name)}")
    assert jobs == expected
