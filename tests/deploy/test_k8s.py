"""deploy/k8s and the Dockerfile: consistent with the code they run.

Checked here: every manifest parses and is listed in the kustomization; each process has
liveness (/healthz) and readiness (/readyz) probes on the port it serves them on, resource
requests and a memory limit, and Prometheus scrape annotations on that port; the worker
autoscaler stops at the partition count; every setting named is a real one. Not checked:
the Kubernetes OpenAPI schema itself (no cluster or kubeconform schemas reachable here).
"""

from __future__ import annotations

import re

import yaml

from hub.settings import PROJECT_ROOT, Settings

K8S = PROJECT_ROOT / "deploy" / "k8s"
SETTINGS = {f"TRACKHUB_{name.upper()}" for name in Settings.model_fields}
OPS_PORTS = {"trackhub-gateway": 8080, "trackhub-worker": 6066}


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


def config() -> dict[str, str]:
    return by_kind("ConfigMap")["trackhub"]["data"]


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yml")} - {"kustomization.yml"}
    assert listed == present


def test_every_workload_has_probes_resources_and_scrape_annotations() -> None:
    workloads = by_kind("Deployment") | by_kind("StatefulSet")
    assert set(workloads) == set(OPS_PORTS)
    for name, workload in workloads.items():
        template = workload["spec"]["template"]
        (container,) = template["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert OPS_PORTS[name] in ports.values(), name
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            check = container[probe]["httpGet"]
            assert check["path"] == path, (name, probe)
            assert ports[check["port"]] == OPS_PORTS[name], (name, probe)
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["limits"]["memory"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert int(annotations["prometheus.io/port"]) == OPS_PORTS[name]
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= template["metadata"]["labels"].items()


def test_workers_scale_up_to_the_partition_count() -> None:
    hpa = by_kind("HorizontalPodAutoscaler")["trackhub-worker"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "trackhub-worker"
    assert hpa["spec"]["maxReplicas"] == int(config()["TRACKHUB_PARTITIONS"])
    assert hpa["spec"]["minReplicas"] >= 2


def test_the_config_names_only_real_settings() -> None:
    for variable in config():
        assert variable in SETTINGS, variable
    assert config()["TRACKHUB_WORKER_HTTP_HOST"] == "0.0.0.0"  # reachable by the kubelet


def test_services_select_their_pods() -> None:
    workloads = by_kind("Deployment") | by_kind("StatefulSet")
    for name, service in by_kind("Service").items():
        labels = workloads[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()


def test_the_image_runs_the_cli_on_the_ops_ports() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["trackhub"]' in dockerfile
    assert 'trackhub = "hub.cli:main"' in (PROJECT_ROOT / "pyproject.toml").read_text()
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.+)$", dockerfile, re.M)[0].split()}
    assert exposed == set(OPS_PORTS.values())
    for variable in re.findall(r"\b(TRACKHUB_\w+)=", dockerfile):
        assert variable in SETTINGS, variable
