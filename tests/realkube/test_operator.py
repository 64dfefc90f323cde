"""The operator on the real API server, logged in as its service account with deploy/'s RBAC.

Whatever it asks is judged by kube-apiserver's own RBAC: a single refusal (HTTP 403, or
``Forbidden`` in its log) fails the test. Writes are counted from the server's audit log:
once a change is reported, three intervals and a restart write nothing, Events included.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import OperatorFactory
from tests.sandbox import auditlog, cluster, realkube
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.realkube

DONE = fs.ami(0x7E01)
BROKEN = fs.ami(0x7E02)
BUSY = fs.ami(0x7E03)  # pinned progress: polled every interval, never changing
REASON = "Access Denied for bucket acme-ami-archive"


def reasons(kubectl: harness.Kubectl, name: str) -> set[str]:
    """The reasons of the Events about the named object."""
    return {e["reason"] for e in kubectl.events(name)}


def refused(requests: Iterable[auditlog.Request]) -> list[auditlog.Request]:
    """Requests the server refused for want of a permission."""
    return [r for r in requests if r.code == 403]


def assert_never_refused(
    operator: harness.OperatorProcess, requests: list[auditlog.Request]
) -> None:
    """Nothing the operator asked was forbidden: not in the audit log, not in its log."""
    assert requests, "the operator made no request"
    assert {r.user for r in requests} <= {realkube.OPERATOR_USER, realkube.TEAM_USER}
    assert refused(requests) == []
    assert "forbidden" not in operator.logs().lower()


def test_a_whole_lifecycle_with_deploys_rbac_is_never_refused(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    api_requests: harness.ApiRequests,
) -> None:
    api_requests.clear()
    ec2.create_task(DONE, fs.BUCKET, duration_seconds=3600)
    ec2.create_task(BROKEN, fs.BUCKET, progress=20, state="Failed", failure_reason=REASON)
    operator = start_operator("--all-namespaces", namespaced=False)
    kubectl.apply(harness.amistore("life", imageIds=[DONE]))
    fs.wait_status(kubectl, "life", lambda s: s.get("state") == "InProgress", "InProgress")
    kubectl.apply(harness.amistore("life", imageIds=[DONE, BROKEN]))
    fs.wait_status(kubectl, "life", lambda s: s.get("tasksFailed") == 1, "the failed task")
    ec2.update_task(DONE, progress=100, state="Completed")
    fs.wait_status(kubectl, "life", lambda s: s.get("tasksCompleted") == 1, "completion")

    # Events as kube-apiserver stores them: about this object (its UID), from the operator.
    uid = kubectl.get("amistore", "life")["metadata"]["uid"]

    def all_three() -> list[dict[str, Any]] | None:
        found = kubectl.events("life")
        wanted = {"StoreStarted", "StoreFailed", "StoreCompleted"}
        return found if wanted <= {e["reason"] for e in found} else None

    events = harness.wait_until(all_three, timeout=fs.WAIT, what="the operator's Events")
    assert {e["involvedObject"]["uid"] for e in events} == {uid}
    assert {e["reason"]: e["type"] for e in events} == {
        "StoreStarted": "Normal",
        "StoreFailed": "Warning",
        "StoreCompleted": "Normal",
    }
    failed = next(e for e in events if e["reason"] == "StoreFailed")
    assert REASON in failed["message"]
    described = kubectl.run("describe", "amistore", "life").stdout
    assert "StoreFailed" in described
    assert REASON in described

    kubectl.run("delete", "amistore", "life", "--timeout=30s", timeout=40)
    requests = api_requests.by_operator()
    assert_never_refused(operator, requests)
    # In this test's namespace: cluster-wide, it also writes the status of AmiRestores other
    # tests left elsewhere (refused: this operator does not restore).
    here = [r for r in requests if r.is_write and r.namespace == kubectl.namespace]
    wrote = {(r.resource, r.verb) for r in here}
    assert wrote == {("amistores", "patch"), ("amistores/status", "patch"), ("events", "create")}


def test_the_namespaced_install_serves_its_namespace_with_its_role_only(
    ec2: control.Ec2SimControl,
    real_sandbox: cluster.Sandbox,
    start_operator: OperatorFactory,
    api_requests: harness.ApiRequests,
) -> None:
    """deploy/overlays/namespaced as docs/install.md says: Role and RoleBinding, no ClusterRole."""
    assert real_sandbox.real is not None
    team = realkube.TEAM_NAMESPACE
    admin = harness.Kubectl(real_sandbox.kubeconfig, team)
    if admin.run("get", "namespace", team, check=False).returncode != 0:
        admin.run("create", "namespace", team)
    # The overlay's own file, into the namespace (its subject takes the binding's namespace).
    admin.run("apply", "-f", str(harness.ROOT / "deploy/overlays/namespaced/role.yaml"))
    team_operator = harness.Kubectl(real_sandbox.real.team_kubeconfig, team)
    assert team_operator.run("auth", "can-i", "list", "amistores").stdout.strip() == "yes"
    cannot = team_operator.run("auth", "can-i", "list", "amistores", "-A", check=False)
    assert cannot.stdout.strip() == "no"

    api_requests.clear()
    ec2.create_task(DONE, fs.BUCKET, progress=100, state="Completed")
    operator = start_operator(
        "--namespace",
        team,
        namespaced=False,  # not the test's namespace: the team's
        env={"KUBECONFIG": str(real_sandbox.real.team_kubeconfig)},
    )
    try:
        admin.apply(harness.amistore("teamwork", imageIds=[DONE]))
        fs.wait_status(admin, "teamwork", lambda s: s.get("state") == "Completed", "Completed")
        harness.wait_until(
            lambda: "StoreCompleted" in reasons(admin, "teamwork"),
            timeout=fs.WAIT,
            what="the StoreCompleted Event",
        )
        admin.run("delete", "amistore", "teamwork", "--timeout=30s", timeout=40)
    finally:
        operator.stop()
        admin.run("delete", "events", "--all", check=False)
    requests = api_requests.by_operator()
    assert {r.user for r in requests} == {realkube.TEAM_USER}
    assert_never_refused(operator, requests)


def test_after_a_change_three_intervals_and_a_restart_write_nothing(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    api_requests: harness.ApiRequests,
) -> None:
    """Counted from the audit log: no status write, no patch, no Event, by anyone's operator.

    What the operator writes must also be what the server keeps: a status field the schema
    lacked would be pruned on every write, and the operator would write it again each poll.
    """
    ec2.create_tasks(
        [
            {"ami_id": a, "bucket": fs.BUCKET, "progress": p}
            for a, p in ((DONE, 70), (BROKEN, 20), (BUSY, 50))
        ]
    )
    operator = start_operator()
    kubectl.apply(harness.amistore("steady", imageIds=[DONE, BROKEN, BUSY]))
    fs.wait_status(kubectl, "steady", lambda s: s.get("tasksInProgress") == 3, "InProgress")
    ec2.update_task(DONE, state="Completed", progress=100)
    ec2.update_task(BROKEN, state="Failed", failure_reason=REASON)
    harness.wait_until(
        lambda: (
            {"StoreCompleted", "StoreFailed"} <= {e["reason"] for e in kubectl.events("steady")}
        ),
        timeout=fs.WAIT,
        what="the change reported",
    )
    # The change's writes are done once its Events are; then nothing more may come.
    api_requests.clear()
    fs.wait_intervals(ec2, 3)
    writes = [r for r in api_requests.by_operator() if r.is_write]
    assert writes == []

    assert operator.stop() == 0
    restarted = start_operator()
    fs.wait_intervals(ec2, 3)
    requests = api_requests.by_operator()
    assert [r for r in requests if r.is_write] == []
    assert_never_refused(restarted, requests)
    # It did read and watch in between: the quiet is the operator's, not an idle one.
    assert {"list", "watch"} <= {r.verb for r in requests if r.resource == "amistores"}
