"""deploy/compose/compose.yml against the Compose specification's JSON Schema.

No Docker engine exists on the development machines, so the file is validated, not run.
The schema is the ``compose_spec.json`` that the docker-compose package ships (1.29.2,
the last Python release), fetched from PyPI into ``.trackhub/cache`` on first use.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import jsonschema
import pytest
import yaml

from hub.settings import PROJECT_ROOT, Settings

COMPOSE = PROJECT_ROOT / "deploy" / "compose" / "compose.yml"
CACHE = PROJECT_ROOT / ".trackhub" / "cache" / "docker-compose"
SCHEMA_IN_WHEEL = "compose/config/compose_spec.json"
PIP_DOWNLOAD = (sys.executable, "-m", "pip", "download", "--quiet", "--no-deps")


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


def test_hub_services_use_only_real_settings() -> None:
    services = compose()["services"]
    known = {f"TRACKHUB_{name.upper()}" for name in Settings.model_fields}
    for name in ("gateway", "worker-1", "worker-2", "delivery"):
        service = services[name]
        for variable in service["environment"]:
            assert variable in known, f"{name}: {variable} is no setting"
        assert service["environment"]["TRACKHUB_REPLICATION_FACTOR"] == "3"
    for name in ("prometheus", "grafana"):
        assert name in services
