"""The shipped RBAC held against reality: the operator's real requests, from the emulator's log.

Every request the operator makes during a full lifecycle (create, progress,
spec edit, completion, failure, deletion) must be allowed by the ClusterRole of
``deploy/rbac.yaml`` (cluster-wide mode) or the Role of the namespaced overlay,
and no rule may grant a verb on a resource that the operator never uses.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from typing import Any

import pytest
import yaml

from tests.e2e import harness
from tests.e2e.conftest import OperatorFactory
from tests.sandbox import cluster
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

AMI_A = "ami-0e1b2c3d4e5f60718"
AMI_B = "ami-0e2b2c3d4e5f60718"
# Discovery and OpenAPI are non-resource URLs every authenticated user may read
# (the system:discovery ClusterRole), so no rule of ours needs to grant them.
NON_RESOURCE = re.compile(r"^/(api|apis)(/[^/]+(/[^/]+)?)?/?$|^/(version|openapi)")
Permission = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)


def granted(manifest: str, kind: str) -> set[Permission]:
    """Every (group, resource, verb) the named kind in a manifest file grants."""
    docs = [d for d in yaml.safe_load_all((harness.ROOT / manifest).read_text()) if d]
    role = next(d for d in docs if d["kind"] == kind)
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def permission(method: str, path: str, query: str) -> Permission | None:
    """The RBAC permission one request needs (None for non-resource URLs)."""
    if NON_RESOURCE.match(path):
        return None
    parts = path.strip("/").split("/")
    if parts[0] == "api":  # /api/v1/...
        group, rest = "", parts[2:]
    else:  # /apis/<group>/<version>/...
        group, rest = parts[1], parts[3:]
    if rest and rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]  # /namespaces/<ns>/<resource>...
    resource = rest[0]
    named = len(rest) >= 2
    if len(rest) >= 3:
        resource = f"{resource}/{rest[2]}"
    params = urllib.parse.parse_qs(query)
    verb = {
        "GET": "watch" if params.get("watch") in (["true"], ["1"]) else "get" if named else "list",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if named else "deletecollection",
    }[method]
    return group, resource, verb


def operator_requests(sandbox: cluster.Sandbox) -> list[dict[str, Any]]:
    """The requests the operator (kopf's client) made, from the emulator's log."""
    with urllib.request.urlopen(f"{sandbox.kube_url}/_sandbox/requests", timeout=10) as response:
        entries: list[dict[str, Any]] = json.loads(response.read())
    return [e for e in entries if e["user_agent"].startswith("kopf")]


def lifecycle(ec2: control.Ec2SimControl, kubectl: harness.Kubectl) -> None:
    """Everything the operator does for an AmiStore, from creation to deletion."""
    ec2.create_task(AMI_A, "acme", duration_seconds=3600)
    ec2.create_task(AMI_B, "acme", progress=10, state="Failed", failure_reason="Disk full")
    kubectl.apply(harness.amistore("lifecycle", imageIds=[AMI_A]))
    harness.wait_until(
        lambda: kubectl.status("lifecycle").get("state") == "InProgress",
        timeout=30,
        what="InProgress",
    )
    kubectl.apply(harness.amistore("lifecycle", imageIds=[AMI_A, AMI_B]))
    harness.wait_until(
        lambda: kubectl.status("lifecycle").get("tasksFailed") == 1,
        timeout=30,
        what="the failed task of the edited spec",
    )
    ec2.update_task(AMI_A, progress=100, state="Completed")
    harness.wait_until(
        lambda: kubectl.status("lifecycle").get("tasksCompleted") == 1,
        timeout=30,
        what="completion",
    )
    harness.wait_until(
        lambda: (
            {"StoreStarted", "StoreFailed", "StoreCompleted"}
            <= {e["reason"] for e in kubectl.events("lifecycle")}
        ),
        timeout=30,
        what="the operator's Events",
    )
    kubectl.run("delete", "amistore", "lifecycle", "--timeout=30s", timeout=40)


@pytest.mark.parametrize(
    ("mode", "manifest", "kind"),
    [
        ("cluster-wide", "deploy/rbac.yaml", "ClusterRole"),
        ("namespaced", "deploy/overlays/namespaced/role.yaml", "Role"),
    ],
)
def test_rbac_grants_exactly_what_the_operator_uses(
    mode: str,
    manifest: str,
    kind: str,
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    emulated: cluster.Sandbox,
) -> None:
    urllib.request.urlopen(
        urllib.request.Request(f"{emulated.kube_url}/_sandbox/requests", method="DELETE"),
        timeout=10,
    ).close()
    if mode == "cluster-wide":
        start_operator("--all-namespaces", namespaced=False)
    else:
        start_operator()
    lifecycle(ec2, kubectl)

    used: set[Permission] = set()
    for request in operator_requests(emulated):
        needed = permission(request["method"], request["path"], request["query"])
        if needed is not None:
            used.add(needed)
    rules = granted(manifest, kind)
    assert used - rules == set(), f"{mode}: requests the {kind} does not allow"
    assert rules - used == set(), f"{mode}: the {kind} grants what the operator never uses"
