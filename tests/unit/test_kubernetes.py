"""deploy/kubernetes/: valid against the Kubernetes API's own schema (offline, strict), and true to
the application: settings that exist, probes it answers, a grace period longer than its drain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import ValidationError

from homeroom.config import Settings

HERE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests support (preStop `sleep` is on by default from 1.30) and
# the newest the validator knows.
VERSIONS = ["1.30.0", "1.37.0"]
# Not applied by `kubectl apply -k`: the Secret's real values are created by hand, and the
# migration Job runs before each roll-out (docs/operations.md#kubernetes).
APPLIED_APART = {"secret.example.yaml", "migrate-job.yaml"}


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(HERE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == kind}


def config_env() -> dict[str, str]:
    config = by_kind("ConfigMap")["homeroom-config"]["data"]
    secret = by_kind("Secret")["homeroom-secrets"]["stringData"]
    return {**config, **secret}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("name", "doc"), documents(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_manifest_is_valid_for_the_api(name: str, doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_refuses_a_field_the_api_does_not_have() -> None:
    deployment = by_kind("Deployment")["homeroom-live"]
    wrong = {**deployment, "spec": {**deployment["spec"], "gracePeriod": 40}}
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(wrong, VERSIONS[-1], strict=True)


def test_kustomization_applies_every_manifest_but_the_secret_and_the_job() -> None:
    kustomization = yaml.safe_load((HERE / "kustomization.yaml").read_text())
    present = {path.name for path in HERE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == present - APPLIED_APART


def test_the_configuration_is_settings_homeroom_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = {f"HOMEROOM_{name.upper()}" for name in Settings.model_fields}
    env = config_env()
    assert set(env) <= fields, f"not settings of homeroom: {sorted(set(env) - fields)}"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # validates: ports, drain times, cookies from an https origin
    assert settings.secure_cookies and not settings.migrate_on_start


def container(deployment: str) -> dict[str, Any]:
    containers = by_kind("Deployment")[deployment]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def port_number(deployment: str, name: str) -> int:
    ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
    return int(ports[name])


@pytest.mark.parametrize("deployment", ["homeroom-http", "homeroom-live"])
def test_the_grace_period_outlasts_the_prestop_and_the_drain(deployment: str) -> None:
    env = config_env()
    pod = by_kind("Deployment")[deployment]["spec"]["template"]["spec"]
    pre_stop = container(deployment)["lifecycle"]["preStop"]["sleep"]["seconds"]
    deadline = float(env["HOMEROOM_DRAIN_DEADLINE_S"])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + deadline


def test_ports_and_probes_are_where_the_processes_listen() -> None:
    env = config_env()
    assert port_number("homeroom-http", "http") == int(env["HOMEROOM_PORT"])
    assert port_number("homeroom-live", "live") == int(env["HOMEROOM_LIVE_PORT"])
    assert port_number("homeroom-live", "health") == int(env["HOMEROOM_LIVE_HEALTH_PORT"])
    expected = {"homeroom-http": "http", "homeroom-live": "health"}
    for deployment, port in expected.items():
        probes = container(deployment)
        assert probes["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert probes["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}


def test_services_budgets_and_autoscalers_point_at_the_deployments() -> None:
    deployments = by_kind("Deployment")
    labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}
    for kind in ("Service", "PodDisruptionBudget"):
        for name, doc in by_kind(kind).items():
            if doc["spec"].get("type") == "ExternalName":
                continue
            selector = doc["spec"].get("selector")
            selector = selector.get("matchLabels", selector)
            assert selector.items() <= labels[name].items(), (kind, name)
    for name, hpa in by_kind("HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments, name
    services = by_kind("Service")
    for ingress in by_kind("Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                names = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in names


def test_the_live_autoscaler_reads_a_metric_the_gateway_exports() -> None:
    from homeroom.core.door import DoorLimits
    from homeroom.door import DoorCollector, Doorman

    metric = by_kind("HorizontalPodAutoscaler")["homeroom-live"]["spec"]["metrics"][0]
    exported = {
        m.name for m in DoorCollector(Doorman(DoorLimits(), count_files=lambda: 0)).collect()
    }
    assert metric["pods"]["metric"]["name"] in exported
