"""deploy/ renders, validates against the Kubernetes schemas, and holds what the brief asks."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from amistore_operator.core import accounts

from tests.deploy import tools
from tests.sandbox.kubeapi import process

KUBERNETES_VERSION = "1.37.0"  # the newest schemas kubernetes-validate 1.37.0 ships
# Kinds kubernetes-validate has no schema for, checked against fixtures/monitoring-schemas.yaml.
OWN_SCHEMA_KINDS = {"ServiceMonitor", "PrometheusRule"}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
NAMESPACED_RULES = [
    {
        "apiGroups": ["amistore.io"],
        "resources": ["amistores", "amirestores"],
        "verbs": ["list", "watch", "patch"],
    },
    {
        "apiGroups": ["amistore.io"],
        "resources": ["amistores/status", "amirestores/status"],
        "verbs": ["patch"],
    },
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]
CRD_RULE = {
    "apiGroups": ["apiextensions.k8s.io"],
    "resources": ["customresourcedefinitions"],
    "verbs": ["list", "watch"],
}
Objects = list[dict[str, Any]]


def container(objects: Objects) -> dict[str, Any]:
    """The operator container of the Deployment."""
    pod = tools.find(objects, "Deployment", "amistore-operator")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    result: dict[str, Any] = pod["containers"][0]
    return result


CRDS = ["amistores.amistore.io", "amirestores.amistore.io"]


@pytest.mark.parametrize("form", [["-f", "crds/"], ["-k", "crds/"]])
def test_the_crds_install_with_apply_f_and_apply_k(form: list[str], tmp_path: Path) -> None:
    """Both ways users install the CRDs, with the real kubectl against the API emulator.

    kubectl's ``-f DIR`` reads every .yaml file as an object; kustomize also reads the
    extensionless ``Kustomization`` that deploy/ needs to include ``../crds``.
    """
    with process.KubeApiProcess(tmp_path) as api:

        def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [tools.kubectl(), *args],
                cwd=tools.REPO,
                env=api.env(),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        result = kubectl("apply", *form)
        assert result.returncode == 0, result.stderr
        assert sorted(result.stdout.splitlines()) == sorted(
            f"customresourcedefinition.apiextensions.k8s.io/{crd} created" for crd in CRDS
        )
        for crd in CRDS:
            established = kubectl(
                "wait", "--for=condition=Established", f"crd/{crd}", "--timeout=30s"
            )
            assert established.returncode == 0, established.stderr
        again = kubectl("apply", *form)
        assert again.returncode == 0, again.stderr
        assert sorted(again.stdout.splitlines()) == sorted(
            f"customresourcedefinition.apiextensions.k8s.io/{crd} unchanged" for crd in CRDS
        )


def test_base_renders_every_object(base_objects: Objects) -> None:
    kinds = sorted(obj["kind"] for obj in base_objects)
    assert kinds == sorted(
        [
            "Namespace", "CustomResourceDefinition", "CustomResourceDefinition",
            "ServiceAccount", "ClusterRole",
            "ClusterRoleBinding", "Deployment", "Service", "ServiceMonitor", "PrometheusRule",
            "ConfigMap", "ConfigMap", "NetworkPolicy",
        ]
    )  # fmt: skip
    for obj in base_objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == "amistore-system", obj["metadata"]["name"]


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_objects_validate_strictly(
    which: str, base_objects: Objects, overlay_objects: Objects, tmp_path: Path
) -> None:
    objects = base_objects if which == "base" else overlay_objects
    rendered = tmp_path / f"{which}.yaml"
    rendered.write_text(yaml.safe_dump_all(objects))
    crds = [str(tools.CRDS / f"{crd}.yaml") for crd in CRDS]
    result = tools.run(
        [
            tools.tool("kubernetes-validate"),
            "--strict",
            "-k",
            KUBERNETES_VERSION,
            str(rendered),
            *crds,
        ]
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    unknown = set(re.findall(r"Couldn't find schema for kind (\w+)", output))
    assert unknown <= OWN_SCHEMA_KINDS, output
    passed = len(re.findall(r"passed for resource", output))
    own = len([o for o in objects if o["kind"] not in OWN_SCHEMA_KINDS])
    assert passed == own + len(crds), output


@pytest.mark.parametrize("kind", sorted(OWN_SCHEMA_KINDS))
def test_monitoring_objects_match_their_schema(kind: str, base_objects: Objects) -> None:
    schemas = yaml.safe_load((tools.FIXTURES / "monitoring-schemas.yaml").read_text())
    jsonschema.validate(tools.find(base_objects, kind), schemas[kind])


def test_deployment_is_hardened(base_objects: Objects) -> None:
    deployment = tools.find(base_objects, "Deployment", "amistore-operator")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "amistore-operator"
    assert pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    main = container(base_objects)
    assert main["image"] == "amistore-operator:0.1.0"
    assert "--all-namespaces" in main["args"]
    security = main["securityContext"]
    assert isinstance(security["runAsUser"], int)
    assert security["runAsUser"] > 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert main["resources"] == {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert ports == {"metrics": 8000, "healthz": 8080}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert "readinessProbe" in main
    assert {"name": "AWS_REGION", "value": "us-east-1"} in main["env"]
    assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    # The account map as a directory (a subPath mount would never see an edit).
    assert "--accounts=/etc/amistore/accounts/accounts.yaml" in main["args"]
    mount = {"name": "accounts", "mountPath": "/etc/amistore/accounts", "readOnly": True}
    assert mount in main["volumeMounts"]
    assert {"name": "accounts", "configMap": {"name": "amistore-accounts"}} in pod["volumes"]


def test_cluster_rbac_is_exactly_what_kopf_uses(base_objects: Objects) -> None:
    role = tools.find(base_objects, "ClusterRole", "amistore-operator")
    assert role["rules"] == [*NAMESPACED_RULES, CRD_RULE]
    binding = tools.find(base_objects, "ClusterRoleBinding", "amistore-operator")
    assert binding["roleRef"]["name"] == "amistore-operator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "amistore-operator", "namespace": "amistore-system"}
    ]


def test_serviceaccount_documents_irsa() -> None:
    source = (tools.DEPLOY / "base" / "serviceaccount.yaml").read_text()
    assert "#   eks.amazonaws.com/role-arn: arn:aws:iam::" in source
    assert "pod-identity-association" in source


def test_overlay_is_namespace_scoped(overlay_objects: Objects) -> None:
    assert not CLUSTER_SCOPED & {obj["kind"] for obj in overlay_objects}
    role = tools.find(overlay_objects, "Role", "amistore-operator")
    assert role["rules"] == NAMESPACED_RULES
    binding = tools.find(overlay_objects, "RoleBinding", "amistore-operator")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "amistore-operator"
    }  # fmt: skip
    assert binding["subjects"][0]["namespace"] == binding["metadata"]["namespace"]
    main = container(overlay_objects)
    assert "--all-namespaces" not in main["args"]
    assert "--namespace=$(POD_NAMESPACE)" in main["args"]
    assert {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    } in main["env"]


def test_servicemonitor_scrapes_the_metrics_service(base_objects: Objects) -> None:
    service = tools.find(base_objects, "Service", "amistore-operator")
    assert service["spec"]["ports"][0]["name"] == "metrics"
    assert service["spec"]["ports"][0]["port"] == 8000
    monitor = tools.find(base_objects, "ServiceMonitor", "amistore-operator")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert "jobLabel" not in monitor["spec"]  # so job is the Service's name
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["honorLabels"] is True
    rules = tools.find(base_objects, "PrometheusRule")["spec"]["groups"][0]["rules"]
    down = next(rule for rule in rules if rule["alert"] == "AmiStoreOperatorDown")
    assert f'job="{service["metadata"]["name"]}"' in down["expr"]


def test_dashboard_configmap_for_the_grafana_sidecar(
    base_objects: Objects, overlay_objects: Objects
) -> None:
    dashboard = (tools.DEPLOY / "grafana" / "amistore-dashboard.json").read_text()
    for objects in (base_objects, overlay_objects):
        configmap = tools.find(objects, "ConfigMap", "amistore-dashboard")
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert configmap["data"] == {"amistore-dashboard.json": dashboard}


def test_iam_policy_allows_only_describe_store_image_tasks() -> None:
    policy = json.loads((tools.DEPLOY / "iam-policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "ec2:DescribeStoreImageTasks"
    assert statement["Resource"] == "*"
    assert set(statement) == {"Sid", "Effect", "Action", "Resource"}


def test_the_default_account_map_is_valid_and_grants_nothing(base_objects: Objects) -> None:
    configmap = tools.find(base_objects, "ConfigMap", "amistore-accounts")
    parsed = accounts.parse(yaml.safe_load(configmap["data"]["accounts.yaml"]))
    assert parsed == accounts.NO_MAP


def test_iam_policies_for_accounts() -> None:
    assume = json.loads((tools.DEPLOY / "iam-policy-assume-roles.json").read_text())
    [statement] = assume["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert all(":role/" in arn for arn in statement["Resource"])  # the mapped roles, no "*"
    trust = json.loads((tools.DEPLOY / "iam-trust-policy-target-role.json").read_text())
    [statement] = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert "sts:ExternalId" in statement["Condition"]["StringEquals"]
