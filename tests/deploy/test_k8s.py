"""deploy/k8s and the Dockerfile: consistent with the code they run.

Checked here: every manifest parses and is listed in the kustomization; each process runs
its own subcommand, listens on 0.0.0.0 on the port it is probed and scraped on, has
liveness (/healthz) and readiness (/readyz) probes there, resource requests and a memory
limit, and runs as the image's user; autoscalers stay within sane bounds (the workers'
at the partition count); the delivery is one StatefulSet replica whose queue is on its
persistent volume, the API's read model on an emptyDir; grace periods outlast the
processes' own shutdown; every setting named is a real one. Not checked: the Kubernetes
OpenAPI schema itself (no cluster or kubeconform schemas reachable here).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path, PurePosixPath

import yaml
from aiohttp import web_runner

from hub.api_server import api_db_path
from hub.delivery import delivery_db_path
from hub.settings import PROJECT_ROOT, Settings

K8S = PROJECT_ROOT / "deploy" / "k8s"
DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()
SETTINGS = {f"TRACKHUB_{name.upper()}" for name in Settings.model_fields}
OPS_PORTS = {
    "trackhub-gateway": 8080,
    "trackhub-worker": 6066,
    "trackhub-api": 8081,
    "trackhub-delivery": 6067,
}
# each workload: the `trackhub` subcommand it runs, the settings of its address and port
PROCESSES = {
    "trackhub-gateway": ("gateway", "gateway_host", "gateway_port"),
    "trackhub-worker": ("worker", "worker_http_host", "worker_http_port"),
    "trackhub-api": ("api", "api_host", "api_port"),
    "trackhub-delivery": ("deliver", "delivery_http_host", "delivery_http_port"),
}
IMAGE_UID = int(re.search(r"useradd .*--uid (\d+)", DOCKERFILE)[1])  # type: ignore[index]


def documents() -> list[dict]:
    return [
        doc
        for path in sorted(K8S.glob("*.yml"))
        if path.name != "kustomization.yml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def workloads() -> dict[str, dict]:
    return by_kind("Deployment") | by_kind("StatefulSet")


def config() -> dict[str, str]:
    return by_kind("ConfigMap")["trackhub"]["data"]


def image_env() -> dict[str, str]:
    return dict(re.findall(r"\b(TRACKHUB_\w+)=(\S+)", DOCKERFILE))


def container(workload: dict) -> dict:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def environment(workload: dict) -> dict[str, str]:
    """What the process reads: the image's ENV, then the ConfigMap, then its own env."""
    own = {e["name"]: e["value"] for e in container(workload).get("env", [])}
    for source in container(workload)["envFrom"]:
        assert source["configMapRef"]["name"] == "trackhub"
    return image_env() | config() | own


def setting(workload: dict, field: str) -> object:
    name = f"TRACKHUB_{field.upper()}"
    return environment(workload).get(name, Settings.model_fields[field].default)


def mounted_at(workload: dict, path: Path) -> str:
    """The name of the volume that holds ``path`` in the workload's container."""
    mounts = {m["mountPath"]: m["name"] for m in container(workload)["volumeMounts"]}
    for mount_path, volume in mounts.items():
        if PurePosixPath(path).is_relative_to(mount_path):
            return volume
    raise AssertionError(f"{path} is on no volume of {workload['metadata']['name']}")


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yml")} - {"kustomization.yml"}
    assert listed == present


def test_every_workload_has_probes_resources_and_scrape_annotations() -> None:
    assert set(workloads()) == set(OPS_PORTS) == set(PROCESSES)
    for name, workload in workloads().items():
        template = workload["spec"]["template"]
        main = container(workload)
        ports = {p["name"]: p["containerPort"] for p in main["ports"]}
        assert OPS_PORTS[name] in ports.values(), name
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            check = main[probe]["httpGet"]
            assert check["path"] == path, (name, probe)
            assert ports[check["port"]] == OPS_PORTS[name], (name, probe)
        if "startupProbe" in main:  # it only delays liveness: it must not need readiness
            assert main["startupProbe"]["httpGet"]["path"] == "/healthz", name
        assert main["resources"]["requests"]["cpu"]
        assert main["resources"]["requests"]["memory"]
        assert main["resources"]["limits"]["memory"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert int(annotations["prometheus.io/port"]) == OPS_PORTS[name]
        assert annotations["prometheus.io/path"] == "/metrics"
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= template["metadata"]["labels"].items()


def test_each_workload_runs_its_process_on_all_addresses_of_its_ops_port() -> None:
    for name, workload in workloads().items():
        command, host, port = PROCESSES[name]
        assert container(workload)["args"] == [command], name
        assert setting(workload, host) == "0.0.0.0", name  # reachable by the kubelet
        assert int(setting(workload, port)) == OPS_PORTS[name], name  # type: ignore[call-overload]


def test_pods_run_as_the_image_user_and_can_write_their_volumes() -> None:
    for name, workload in workloads().items():
        security = workload["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True, name
        # runAsNonRoot cannot check the image's USER by name: give the uid
        assert security["runAsUser"] == IMAGE_UID, name
        # a fresh volume belongs to root: fsGroup makes it writable by the process
        assert security["fsGroup"] == IMAGE_UID, name


def test_autoscalers_stay_within_sane_bounds() -> None:
    hpas = by_kind("HorizontalPodAutoscaler")
    assert {"trackhub-gateway", "trackhub-worker", "trackhub-api"} <= set(hpas)
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        workload = workloads()[target["name"]]
        assert target["kind"] == workload["kind"], name
        low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
        assert 2 <= low < high <= 20, name  # two for availability, a ceiling that is real
        assert low <= workload["spec"]["replicas"] <= high, name
        (metric,) = hpa["spec"]["metrics"]
        assert 50 <= metric["resource"]["target"]["averageUtilization"] <= 90, name


def test_workers_scale_up_to_the_partition_count() -> None:
    hpa = by_kind("HorizontalPodAutoscaler")["trackhub-worker"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "trackhub-worker"
    assert hpa["spec"]["maxReplicas"] == int(config()["TRACKHUB_PARTITIONS"])
    assert hpa["spec"]["minReplicas"] >= 2


def test_the_api_scales_out_and_keeps_its_read_model_on_an_empty_dir() -> None:
    api = by_kind("Deployment")["trackhub-api"]
    hpa = by_kind("HorizontalPodAutoscaler")["trackhub-api"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "trackhub-api",
    }
    settings = Settings.model_construct(
        state_dir=Path(setting(api, "state_dir")),  # type: ignore[arg-type]
        api_db=Path(db) if (db := setting(api, "api_db")) else None,  # type: ignore[arg-type]
    )
    volume = mounted_at(api, api_db_path(settings))
    volumes = {v["name"]: v for v in api["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[volume]  # a cache: each pod rebuilds its own from Kafka


def test_the_delivery_is_one_statefulset_replica_with_its_queue_on_a_claim() -> None:
    assert "trackhub-delivery" not in by_kind("Deployment")
    delivery = by_kind("StatefulSet")["trackhub-delivery"]
    spec = delivery["spec"]
    # one process holds the group trackhub-delivery and the queue: order per shipment
    assert spec["replicas"] == 1
    assert spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
    scaled = {
        h["spec"]["scaleTargetRef"]["name"] for h in by_kind("HorizontalPodAutoscaler").values()
    }
    assert "trackhub-delivery" not in scaled
    claims = {c["metadata"]["name"]: c for c in spec["volumeClaimTemplates"]}
    settings = Settings.model_construct(
        state_dir=Path(setting(delivery, "state_dir")),  # type: ignore[arg-type]
        delivery_db=Path(db) if (db := setting(delivery, "delivery_db")) else None,  # type: ignore[arg-type]
    )
    volume = mounted_at(delivery, delivery_db_path(settings))
    assert volume in claims, f"the queue is on {volume}, no persistent volume claim"
    assert claims[volume]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claims[volume]["spec"]["resources"]["requests"]["storage"]
    service = by_kind("Service")[spec["serviceName"]]
    assert service["spec"]["clusterIP"] == "None"  # the StatefulSet's governing Service


def test_grace_periods_outlast_the_processes_own_shutdown() -> None:
    grace = {
        name: w["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        for name, w in workloads().items()
    }
    assert all(seconds >= 30 for seconds in grace.values()), grace
    # the API's runner waits this long for open SSE streams before it closes them
    sse_drain = inspect.signature(web_runner.BaseRunner.__init__).parameters["shutdown_timeout"]
    assert grace["trackhub-api"] > sse_drain.default
    # the delivery lets attempts in flight finish (their timeout + 1 s), then stops Kafka
    delivery = workloads()["trackhub-delivery"]
    attempt = float(setting(delivery, "delivery_timeout_s"))  # type: ignore[arg-type]
    assert grace["trackhub-delivery"] > attempt + 1


def test_the_config_names_only_real_settings() -> None:
    for variable in config():
        assert variable in SETTINGS, variable
    for name, workload in workloads().items():
        for variable in container(workload).get("env", []):
            assert variable["name"] in SETTINGS, (name, variable["name"])
    assert config()["TRACKHUB_WORKER_HTTP_HOST"] == "0.0.0.0"  # reachable by the kubelet


def test_services_select_their_pods() -> None:
    for name, service in by_kind("Service").items():
        labels = workloads()[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
    for name, statefulset in by_kind("StatefulSet").items():
        assert statefulset["spec"]["serviceName"] in by_kind("Service"), name


def test_the_image_runs_the_cli_on_the_ops_ports() -> None:
    assert 'ENTRYPOINT ["trackhub"]' in DOCKERFILE
    assert 'trackhub = "hub.cli:main"' in (PROJECT_ROOT / "pyproject.toml").read_text()
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.+)$", DOCKERFILE, re.M)[0].split()}
    assert exposed == set(OPS_PORTS.values())
    for variable in re.findall(r"\b(TRACKHUB_\w+)=", DOCKERFILE):
        assert variable in SETTINGS, variable
    for _command, host, _port in PROCESSES.values():  # `docker run` reachable too
        assert image_env()[f"TRACKHUB_{host.upper()}"] == "0.0.0.0", host
