"""The shipped RBAC held against reality: the operator's real requests, from the server's log.

Every request the operator makes during a full lifecycle (create, progress,
spec edit, completion, failure, deletion; an AmiRestore's too) must be allowed by the ClusterRole of
``deploy/rbac.yaml`` (cluster-wide mode) or the Role of the namespaced overlay,
and no rule may grant a verb on a resource that the operator never uses. On the real
API server the requests come from its audit log, the operator logs in as its service
account with ``deploy/rbac.yaml`` applied as shipped, and none may be refused.
"""

from __future__ import annotations

import pytest
import yaml

from tests.e2e import harness
from tests.e2e.conftest import OperatorFactory
from tests.sandbox import auditlog, cluster, realkube
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

AMI_A = "ami-0e1b2c3d4e5f60718"
AMI_B = "ami-0e2b2c3d4e5f60718"
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


def used(requests: list[auditlog.Request]) -> set[Permission]:
    """The RBAC permissions the requests needed; discovery and OpenAPI are non-resource URLs
    every authenticated user may read (the system:discovery ClusterRole), so none is needed."""
    return {(r.group, r.resource, r.verb) for r in requests if r.resource}


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
    # An AmiRestore: without --allow-restore its status says so, and it goes.
    kubectl.apply(harness.amirestore("lifecycle", bucket="acme", objectKey=f"{AMI_A}.bin"))
    harness.wait_until(
        lambda: any(
            c.get("reason") == "RestoreNotAllowed"
            for c in (kubectl.get("amirestore", "lifecycle").get("status") or {}).get(
                "conditions", ()
            )
        ),
        timeout=30,
        what="the AmiRestore's Synced=False",
    )
    kubectl.run("delete", "amirestore", "lifecycle", "--timeout=30s", timeout=40)


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
    api_requests: harness.ApiRequests,
    sandbox: cluster.Sandbox,
) -> None:
    api_requests.clear()
    if mode == "cluster-wide":
        start_operator("--all-namespaces", namespaced=False)
    else:
        start_operator()
    lifecycle(ec2, kubectl)

    requests = api_requests.by_operator()
    needed = used(requests)
    rules = granted(manifest, kind)
    assert needed - rules == set(), f"{mode}: requests the {kind} does not allow"
    assert rules - needed == set(), f"{mode}: the {kind} grants what the operator never uses"
    if sandbox.real is not None:  # the server's own RBAC judged each request: none refused
        assert {r.user for r in requests} == {realkube.OPERATOR_USER}
        assert [r for r in requests if r.code == 403] == []
